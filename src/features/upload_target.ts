/**
 * Where an upload goes, and whether it may (uploads: `--upload`, class attribute
 * `SimpleHTTPRequestHandler.upload = true`; the requests themselves are in upload.ts). Everything
 * here is decided from the request's line and headers and the file system, before any byte of the
 * body is read: the names (single path segments, no `\`, NUL, control characters, `.` or `..`, at
 * most 255 bytes), the directory (inside the served directory's real path, through no link that
 * leads out, whatever `follow_symlinks` says; created only with `upload_mkdir`), the target (a
 * new name, or with `upload_overwrite` a regular file), dotfiles, CGI directories, the request's
 * `Origin`, and sizes (`upload_max`, `--upload-max`).
 */
import { realpath, stat } from "node:fs/promises";
import type { Stats } from "node:fs";
import type { HTTPMessage } from "../http/message.js";
import { fsencode, fsPath } from "../py/codecs.js";
import { unquoteWithFallback } from "../py/urllib.js";
import * as posixpath from "../py/posixpath.js";
import type { SimpleHTTPRequestHandler } from "../server/simple_handler.js";
import { isWithin } from "./symlinks.js";
import { isUploadTemp, lstatOrNull } from "./atomic_write.js";
import { hasHiddenSegment } from "./dotfiles.js";
import { describeSize } from "./limits.js";

export { DEFAULT_UPLOAD_MAX, describeSize, parseSize } from "./limits.js";

/** What a form may add to `upload_max` for its own framing and fields. */
export const FORM_OVERHEAD = 1024 * 1024;

/** The longest name most file systems take (`NAME_MAX`), in bytes. */
const NAME_MAX = 255;

/** What uploading needs of the handler. */
export type UploadHandler = Pick<
  SimpleHTTPRequestHandler,
  | "path"
  | "command"
  | "headers"
  | "directory"
  | "dotfiles"
  | "upload_overwrite"
  | "upload_mkdir"
  | "upload_max"
  | "body"
  | "form"
  | "send_error"
  | "send_response"
  | "send_header"
  | "end_headers"
  | "wfile"
  | "log_message"
> & { cgi_directories?: readonly string[] };

// ---------------------------------------------------------------------------------------------
// Sizes (the parsing and wording are limits.ts's, which the command line loads without uploads)

/** `413 Upload larger than 1 GiB`. */
export function tooLarge(limit: number): Refusal {
  return refusal(413, `Upload larger than ${describeSize(limit)}`);
}

// ---------------------------------------------------------------------------------------------
// Refusals

/** An answer other than success: the status and the message of Python's error page. */
export interface Refusal {
  code: number;
  message: string;
}

/** A refusal found while the upload runs. */
export class RefusalError extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
  }
}

export function refusal(code: number, message: string): Refusal {
  return { code, message };
}

export function isRefusal(value: object): value is Refusal {
  return "code" in value && "message" in value;
}

// ---------------------------------------------------------------------------------------------
// Names and targets

/** Control characters (C0, DEL, C1): never in a name we write. */
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;

/** Why `name` cannot be a file or directory name we create; null when it can. */
export function badName(name: string): string | null {
  if (name === "") return "empty";
  if (name === "." || name === "..") return "a dot segment";
  if (name.includes("/")) return "a slash";
  if (name.includes("\\")) return "a backslash";
  if (CONTROL.test(name)) return "a control character";
  if (isUploadTemp(name)) return "the name of the server's temporary files";
  let bytes: Buffer;
  try {
    bytes = fsencode(name); // U+DC80–U+DCFF stand for raw bytes, as in names Python lists
  } catch {
    return "not UTF-8";
  }
  if (bytes.length > NAME_MAX) return `longer than ${NAME_MAX} bytes`;
  return null;
}

/** Where an upload goes, once checked. */
export interface Target {
  /** The URL path, decoded (`/dir/a.bin`): for the log, the answer and `Location`. */
  urlPath: string;
  /** The file's path. */
  path: string;
  /** Its directory's path. */
  directory: string;
  /** Directories to create first (`upload_mkdir`), the outermost first. */
  missing: string[];
}

/**
 * The request path's segments, decoded as `translate_path` decodes them (without query and
 * fragment, `%2F` a separator); the last is `""` for a URL ending in `/`. Empty segments elsewhere
 * (`//`) are dropped. A `.` or `..` segment is refused (`400 Bad file name: a dot segment`): a
 * write is not normalised, and a path another header names (`Destination`, `If`) may not climb
 * out of the served directory either.
 */
export function pathWords(path: string): string[] | Refusal {
  const raw = path.split("#", 1)[0]!.split("?", 1)[0]!;
  if (!raw.startsWith("/")) return refusal(400, "Bad request path");
  const words = unquoteWithFallback(raw).split("/").slice(1);
  if (words.some((word) => word === "." || word === "..")) return refusal(400, "Bad file name: a dot segment");
  const last = words.pop()!;
  return [...words.filter((word) => word !== ""), last];
}

/**
 * The segments of a URL another header names (`Destination`, an `If` header's resource tag): an
 * absolute URL of this server (its host must be the request's `Host`; any scheme, so a TLS proxy
 * in front does not matter) or an absolute path, decoded as `pathWords` decodes a request path.
 * `"other host"` for a URL of another server.
 */
export function urlWords(url: string, host: string | undefined): string[] | Refusal | "other host" {
  let path = url;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  if (scheme) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return refusal(400, "Bad URL");
    }
    if (parsed.host.toLowerCase() !== (host ?? "").trim().toLowerCase()) return "other host";
    // The path as sent, not as the URL parser normalised it: `..` is refused below, not resolved.
    path = url.slice(scheme[0].length).replace(/^[^/?#]*/, "") || "/";
  }
  return pathWords(path);
}

/** Targets being written by this process: a second upload to one of them is refused at once. */
export const inProgress = new Set<string>();

/** A place to create a file or directory (`locateTarget`): where it is, and what is there now. */
export interface Location extends Target {
  /** What the name holds now (its own `lstat`, a link not followed); null when nothing. */
  existing: Stats | null;
}

/**
 * Checks an upload of `name` into the directory `dirWords` (segments from the served root) and
 * says where it goes, or why it may not.
 */
export async function resolveTarget(handler: UploadHandler, dirWords: readonly string[], name: string): Promise<Target | Refusal> {
  const located = await locateTarget(handler, dirWords, name, handler.upload_mkdir);
  if (isRefusal(located)) return located;
  const { existing, ...target } = located;
  if (existing !== null) {
    if (existing.isDirectory()) return refusal(409, "A directory of that name exists");
    if (!existing.isFile()) return refusal(409, "A file of that name exists and is not a regular file");
    if (!handler.upload_overwrite) return refusal(409, "A file of that name exists");
  }
  return target;
}

/**
 * The checks every new name gets, for uploads and for the directories, moves and copies of
 * manage.ts and webdav.ts: the names, dotfiles, CGI directories, the directory (each segment a
 * directory; a missing one created only with `mkdir`, else `409`), its real path inside the served
 * directory's, and no upload to it running. What the name holds now is the caller's to judge.
 */
export async function locateTarget(
  handler: Pick<UploadHandler, "directory" | "dotfiles" | "cgi_directories">,
  dirWords: readonly string[],
  name: string,
  mkdir: boolean,
): Promise<Location | Refusal> {
  const words = [...dirWords, name];
  for (const word of words) {
    const why = badName(word);
    if (why !== null) return refusal(400, `Bad file name: ${why}`);
  }
  if (!handler.dotfiles && hasHiddenSegment(words)) return refusal(403, "Names starting with a dot are not accepted");
  if (inCgiDirectory(handler, words, true)) return refusal(403, "Uploads into a CGI directory are refused");

  const root = handler.directory;
  let directory = root;
  const missing: string[] = [];
  for (const word of dirWords) {
    directory = posixpath.join(directory, word);
    if (missing.length > 0) {
      missing.push(directory);
      continue;
    }
    const stats = await statOrNull(directory);
    if (stats === null) {
      if (!mkdir) return refusal(409, "No such directory");
      missing.push(directory);
    } else if (!stats.isDirectory()) {
      return refusal(409, "Not a directory");
    }
  }
  const deepest = missing.length > 0 ? posixpath.dirname(missing[0]!) : directory;
  if (!(await resolvesInside(deepest, root))) return refusal(403, "Outside the served directory");

  const path = posixpath.join(directory, name);
  if (inProgress.has(path)) return refusal(409, "Another upload to this name is in progress");
  const existing = missing.length > 0 ? null : await lstatOrNull(path);
  return { urlPath: "/" + words.join("/"), path, directory, missing, existing };
}

/**
 * Whether the path is in one of a CGI handler's `cgi_directories`: there a Python file would run
 * as a script (`is_cgi()` matches `/cgi-bin`, then `/cgi-bin/sub`, … as prefixes). With
 * `itself`, also when the path is one of them (a CGI directory deleted, or made by a move).
 */
export function inCgiDirectory(handler: Pick<UploadHandler, "cgi_directories">, words: readonly string[], itself = false): boolean {
  const directories = handler.cgi_directories;
  if (!directories) return false;
  let prefix = "";
  for (const word of itself ? words : words.slice(0, -1)) {
    prefix += "/" + word;
    if (directories.includes(prefix)) return true;
  }
  return false;
}

/** Whether `path` (which exists) resolves inside the real path of `root`. */
export async function resolvesInside(path: string, root: string): Promise<boolean> {
  try {
    const [real, realRoot] = await Promise.all([
      realpath(fsencode(path), { encoding: "buffer" }),
      realpath(fsencode(root), { encoding: "buffer" }),
    ]);
    return isWithin(real, realRoot);
  } catch {
    return false;
  }
}

export async function statOrNull(path: string): Promise<Stats | null> {
  try {
    return await stat(fsPath(path));
  } catch {
    return null;
  }
}

/**
 * A page of another site making the browser upload here (a cross-site form needs no permission
 * to be sent): the request's `Origin` is not this server's own. Browsers send `Origin` with every
 * `POST` and `PUT`; scripts (curl) send none, and are let through.
 */
export function refusedOrigin(headers: HTTPMessage): Refusal | null {
  const origin = headers.get("Origin");
  if (origin === undefined) return null;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    host = ""; // "null": a sandboxed frame, a file: page
  }
  if (host !== "" && host.toLowerCase() === (headers.get("Host") ?? "").trim().toLowerCase()) return null;
  return refusal(403, "Uploads from another site are refused");
}

/** The body's length from `Content-Length` (the framing is checked already); null when chunked. */
export function declaredLength(headers: HTTPMessage): number | null {
  if (headers.has("Transfer-Encoding")) return null;
  const value = headers.get("Content-Length");
  return value === undefined ? 0 : Number(value.split(",")[0]!.trim());
}
