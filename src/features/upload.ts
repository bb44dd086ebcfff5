/**
 * Receiving files. Turned on by the command line's `--upload` and by the class attribute
 * `SimpleHTTPRequestHandler.upload = true` (default `false`: `PUT` and `POST` get Python's `501`);
 * `--upload-overwrite` (`upload_overwrite`), `--upload-mkdir` (`upload_mkdir`) and
 * `--upload-max SIZE` (`upload_max`, default 1 GiB) shape it.
 *
 * - `PUT /dir/name` writes the body as `name` in `/dir/`: `201 Created` with `Location` for a new
 *   file, `204 No Content` for a replaced one (`upload_overwrite`). `curl -T a.bin http://host/dir/`
 *   sends exactly that: curl adds the file's name to a URL that ends in `/`.
 * - `POST /dir/` with a `multipart/form-data` body (the listing's form, `curl -F file=@a.bin`)
 *   writes each file of the form into `/dir/` under the name the client gave: a browser's form
 *   (`Accept: text/html`) is sent back to the listing with `303 See Other`; anyone else gets `201`
 *   (or `200` when every file replaced one), a line per file in the body.
 * - Refusals, before any byte of the body is read when the headers tell: `400` a bad name, `403`
 *   outside the served tree (through a link), a dotfile under `dotfiles = false`, a CGI directory,
 *   no permission, a browser upload from another site; `409` the name exists (and may not be
 *   replaced), is a directory, or is being uploaded, or the directory is missing (without
 *   `upload_mkdir`); `413` over `upload_max`; `507` the disk is full.
 *
 * Files are written whole or not at all (atomic_write.ts): to a temporary file beside the target,
 * put in place only once complete. Names are checked as single path segments (no `/`, `\`, NUL,
 * control characters, `.` or `..`, at most 255 bytes), and the target's directory must resolve
 * inside the real path of the served directory whatever `follow_symlinks` says: an upload never
 * goes through a link that leads out. Each upload is logged in one line after Python's request
 * line: `uploaded /dir/a.bin (1048576 bytes)`.
 */
import { lstat, mkdir, realpath, rmdir, stat } from "node:fs/promises";
import type { Stats } from "node:fs";
import type { HTTPMessage } from "../http/message.js";
import { fsencode, fsPath } from "../py/codecs.js";
import { quote, unquoteWithFallback } from "../py/urllib.js";
import * as posixpath from "../py/posixpath.js";
import { isWithin } from "./symlinks.js";
import { RequestBodyError } from "../server/request_body.js";
import type { FormPart } from "../server/forms.js";
import type { SimpleHTTPRequestHandler } from "../server/simple_handler.js";
import { AtomicFile, LengthMismatchError, TargetExistsError, isUploadTemp } from "./atomic_write.js";
import { hasHiddenSegment } from "./dotfiles.js";

/** `upload_max`'s default: 1 GiB. */
export const DEFAULT_UPLOAD_MAX = 1024 ** 3;

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
// Sizes

const UNITS: readonly [suffix: string, bytes: number][] = [
  ["T", 1024 ** 4],
  ["G", 1024 ** 3],
  ["M", 1024 ** 2],
  ["K", 1024],
];
const SIZE = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i;

/**
 * A size as `--upload-max` takes it: bytes, or a number with `K`, `M`, `G` or `T` (powers of 1024;
 * `KB`, `KiB`, any case, the same), e.g. `500M`, `1.5G`. `0` is `null`: no limit.
 * @throws RangeError for anything else
 */
export function parseSize(text: string): number | null {
  const match = SIZE.exec(text);
  if (!match) throw new RangeError(`invalid size ${JSON.stringify(text)} (expected bytes, or a number with K, M, G or T)`);
  const unit = UNITS.find(([suffix]) => suffix === match[2]!.toUpperCase())?.[1] ?? 1;
  const bytes = Math.floor(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`size ${JSON.stringify(text)} is too large`);
  return bytes === 0 ? null : bytes;
}

/** `1 GiB`, `500 MiB`, `1536 bytes`: the largest unit that divides it exactly. */
export function describeSize(bytes: number): string {
  for (const [suffix, unit] of UNITS) if (bytes >= unit && bytes % unit === 0) return `${bytes / unit} ${suffix}iB`;
  return `${bytes} byte${bytes === 1 ? "" : "s"}`;
}

// ---------------------------------------------------------------------------------------------
// Refusals

/** An answer other than success: the status and the message of Python's error page. */
export interface Refusal {
  code: number;
  message: string;
}

/** A refusal found while the upload runs. */
class RefusalError extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
  }
}

function refusal(code: number, message: string): Refusal {
  return { code, message };
}

function isRefusal(value: object): value is Refusal {
  return "code" in value && "message" in value;
}

/** File-system errors and what they mean for the client. */
const ERRNO_REFUSALS: Readonly<Record<string, Refusal>> = {
  ENOSPC: refusal(507, "Insufficient Storage: the disk is full"),
  EDQUOT: refusal(507, "Insufficient Storage: the disk quota is used up"),
  EFBIG: refusal(507, "Insufficient Storage: the file is larger than the file system takes"),
  EACCES: refusal(403, "No permission to write here"),
  EPERM: refusal(403, "No permission to write here"),
  EROFS: refusal(403, "No permission to write here: the file system is read-only"),
  ENAMETOOLONG: refusal(400, "Bad file name: too long"),
  ENOENT: refusal(409, "The directory changed during the upload"),
  ENOTDIR: refusal(409, "The directory changed during the upload"),
  EISDIR: refusal(409, "A directory of that name exists"),
  EEXIST: refusal(409, "A file or directory of that name exists"),
};

/**
 * The answer an error during an upload calls for; null for one to rethrow (a client gone, a
 * timeout, a bug). `limit` is `upload_max`, named in a 413.
 */
function refusalFor(error: unknown, limit: number | null): Refusal | null {
  if (error instanceof RefusalError) return error.refusal;
  if (error instanceof TargetExistsError) return refusal(409, "A file of that name exists");
  if (error instanceof LengthMismatchError) return refusal(500, "The file written does not match what was received");
  // The body and form readers: 413 too large, 400 malformed or cut short, 415 not a form.
  if (error instanceof RequestBodyError) {
    return error.status === 413 && limit !== null ? tooLarge(limit) : refusal(error.status, error.message);
  }
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return (typeof code === "string" && (error as NodeJS.ErrnoException).syscall !== undefined && ERRNO_REFUSALS[code]) || null;
}

/** Sends the refusal (Python's error page; the connection then closes, the body unread). */
function refuse(handler: UploadHandler, { code, message }: Refusal): Promise<void> {
  return handler.send_error(code, message);
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
 * (`//`) are dropped; `.` and `..` are kept, for `badName` to refuse: a write is not normalised.
 */
function pathWords(path: string): string[] | Refusal {
  const raw = path.split("#", 1)[0]!.split("?", 1)[0]!;
  if (!raw.startsWith("/")) return refusal(400, "Bad request path");
  const words = unquoteWithFallback(raw).split("/").slice(1);
  const last = words.pop()!;
  return [...words.filter((word) => word !== ""), last];
}

/** Targets being written by this process: a second upload to one of them is refused at once. */
const inProgress = new Set<string>();

/**
 * Checks an upload of `name` into the directory `dirWords` (segments from the served root) and
 * says where it goes, or why it may not.
 */
async function resolveTarget(handler: UploadHandler, dirWords: readonly string[], name: string): Promise<Target | Refusal> {
  const words = [...dirWords, name];
  for (const word of words) {
    const why = badName(word);
    if (why !== null) return refusal(400, `Bad file name: ${why}`);
  }
  if (!handler.dotfiles && hasHiddenSegment(words)) return refusal(403, "Names starting with a dot are not accepted");
  if (inCgiDirectory(handler, words)) return refusal(403, "Uploads into a CGI directory are refused");

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
      if (!handler.upload_mkdir) return refusal(409, "No such directory");
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
  if (existing !== null) {
    if (existing.isDirectory()) return refusal(409, "A directory of that name exists");
    if (!existing.isFile()) return refusal(409, "A file of that name exists and is not a regular file");
    if (!handler.upload_overwrite) return refusal(409, "A file of that name exists");
  }
  return { urlPath: "/" + words.join("/"), path, directory, missing };
}

/**
 * Whether the path is in one of a CGI handler's `cgi_directories`: there a Python file would run
 * as a script (`is_cgi()` matches `/cgi-bin`, then `/cgi-bin/sub`, … as prefixes).
 */
function inCgiDirectory(handler: UploadHandler, words: readonly string[]): boolean {
  const directories = handler.cgi_directories;
  if (!directories) return false;
  let prefix = "";
  for (const word of words.slice(0, -1)) {
    prefix += "/" + word;
    if (directories.includes(prefix)) return true;
  }
  return false;
}

/** Whether `path` (which exists) resolves inside the real path of `root`. */
async function resolvesInside(path: string, root: string): Promise<boolean> {
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

async function statOrNull(path: string): Promise<Stats | null> {
  try {
    return await stat(fsPath(path));
  } catch {
    return null;
  }
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(fsPath(path));
  } catch {
    return null;
  }
}

/**
 * A page of another site making the browser upload here (a cross-site form needs no permission
 * to be sent): the request's `Origin` is not this server's own. Browsers send `Origin` with every
 * `POST` and `PUT`; scripts (curl) send none, and are let through.
 */
function refusedOrigin(headers: HTTPMessage): Refusal | null {
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
function declaredLength(headers: HTTPMessage): number | null {
  if (headers.has("Transfer-Encoding")) return null;
  const value = headers.get("Content-Length");
  return value === undefined ? 0 : Number(value.split(",")[0]!.trim());
}

// ---------------------------------------------------------------------------------------------
// One file

/** One file on its way: its target, its temporary file, and the directories made for it. */
class Upload {
  /** Whether `commit` replaced a file. */
  replaced = false;

  private constructor(
    readonly target: Target,
    private readonly file: AtomicFile,
    private readonly madeDirectories: readonly string[],
  ) {}

  /** Creates the missing directories, then the temporary file. */
  static async start(target: Target): Promise<Upload> {
    const made: string[] = [];
    try {
      for (const directory of target.missing) {
        await mkdir(fsPath(directory));
        made.push(directory);
      }
      return new Upload(target, await AtomicFile.create(target.directory), made);
    } catch (error) {
      await removeDirectories(made);
      throw error;
    }
  }

  /** The file's name in its directory. */
  get name(): string {
    return this.target.urlPath.slice(this.target.urlPath.lastIndexOf("/") + 1);
  }

  get bytes(): number {
    return this.file.written;
  }

  /** Writes `chunks` to the temporary file. */
  async receive(chunks: AsyncIterable<Buffer>): Promise<void> {
    for await (const chunk of chunks) await this.file.write(chunk);
  }

  /** Puts the file in place (see `AtomicFile.commit`). */
  async commit(overwrite: boolean, expectedLength: number | null): Promise<void> {
    this.replaced = await this.file.commit(this.target.path, { overwrite, expectedLength });
  }

  /** Leaves nothing: the temporary file and the directories made for it are removed. */
  async abort(): Promise<void> {
    await this.file.abort();
    await removeDirectories(this.madeDirectories);
  }
}

/** Removes the directories made for an upload that failed, the innermost first, if still empty. */
async function removeDirectories(directories: readonly string[]): Promise<void> {
  for (const directory of [...directories].reverse()) await rmdir(fsPath(directory)).catch(() => {});
}

function tooLarge(limit: number): Refusal {
  return refusal(413, `Upload larger than ${describeSize(limit)}`);
}

/** `uploaded /dir/a.bin (1048576 bytes)`, after the request line. */
function logUploaded(handler: UploadHandler, upload: Upload): void {
  handler.log_message("uploaded %s (%d bytes)", upload.target.urlPath, upload.bytes);
}

/** The target's URL for `Location`: quoted as the listings quote their links. */
function locationOf(target: Target): string {
  return quote(target.urlPath, { errors: "surrogatepass" });
}

// ---------------------------------------------------------------------------------------------
// PUT

/** Checks a `PUT` from its headers alone: where it goes, or why not. */
async function planPut(handler: UploadHandler): Promise<Target | Refusal> {
  const foreign = refusedOrigin(handler.headers);
  if (foreign !== null) return foreign;
  const words = pathWords(handler.path);
  if (isRefusal(words)) return words;
  const name = words[words.length - 1]!;
  if (name === "") return refusal(400, "Bad file name: PUT needs one after the directory (/dir/NAME)");
  const length = declaredLength(handler.headers);
  if (handler.upload_max !== null && length !== null && length > handler.upload_max) return tooLarge(handler.upload_max);
  return resolveTarget(handler, words.slice(0, -1), name);
}

/** `PUT /dir/name`: the body becomes that file. */
export async function receivePut(handler: UploadHandler): Promise<void> {
  const target = await planPut(handler);
  if (isRefusal(target)) return refuse(handler, target);
  // Checked again here, with nothing awaited between the check and the mark.
  if (inProgress.has(target.path)) return refuse(handler, refusal(409, "Another upload to this name is in progress"));
  inProgress.add(target.path);
  let upload: Upload | null = null;
  try {
    upload = await Upload.start(target);
    // A body cut short (the client closed early) is a RequestBodyError 400; one past the limit, 413.
    await upload.receive(handler.body({ limit: handler.upload_max ?? Infinity }));
    await upload.commit(handler.upload_overwrite, declaredLength(handler.headers));
  } catch (error) {
    await upload?.abort();
    const answer = refusalFor(error, handler.upload_max);
    if (answer === null) throw error;
    return refuse(handler, answer);
  } finally {
    inProgress.delete(target.path);
  }
  await answerPut(handler, upload);
}

/** `201` with `Location` and a line saying what was written, or `204` for a replaced file. */
async function answerPut(handler: UploadHandler, upload: Upload): Promise<void> {
  handler.send_response(upload.replaced ? 204 : 201);
  logUploaded(handler, upload);
  if (upload.replaced) {
    await handler.end_headers();
    return;
  }
  const body = Buffer.from(`uploaded ${upload.target.urlPath} (${upload.bytes} bytes)\n`, "utf8");
  handler.send_header("Location", locationOf(upload.target));
  handler.send_header("Content-Type", "text/plain; charset=utf-8");
  handler.send_header("Content-Length", String(body.length));
  await handler.end_headers();
  await handler.wfile.write(body);
}

// ---------------------------------------------------------------------------------------------
// POST of a form

/** The limits a form is parsed with: each file, and the whole body, within `upload_max`. */
export function formLimits(handler: Pick<UploadHandler, "upload_max">): { limit: number; fileSize: number } {
  const max = handler.upload_max;
  return max === null ? { limit: Infinity, fileSize: Infinity } : { limit: max + FORM_OVERHEAD, fileSize: max };
}

/** The directory a `POST` names: all its segments (the last, after a final `/`, is empty). */
function postDirectory(handler: UploadHandler): string[] | Refusal {
  const foreign = refusedOrigin(handler.headers);
  if (foreign !== null) return foreign;
  const words = pathWords(handler.path);
  if (isRefusal(words)) return words;
  return words.filter((word) => word !== "");
}

/**
 * `POST /dir/` of a `multipart/form-data` body: each file of the form is written into `/dir/`
 * under its own name; all are put in place once the whole form has arrived, so a form cut short
 * or refused leaves none of its files.
 */
export async function receiveForm(handler: UploadHandler, parts: AsyncIterable<FormPart>): Promise<void> {
  const dirWords = postDirectory(handler);
  if (isRefusal(dirWords)) return refuse(handler, dirWords);
  const uploads: Upload[] = [];
  try {
    for await (const part of parts) {
      if (part.type !== "file") continue;
      // A form sent with no file chosen still has the part, with no name and no bytes.
      if (!part.filename) {
        part.stream.resume();
        continue;
      }
      if (uploads.some((upload) => upload.name === part.filename)) throw new RefusalError(refusal(409, "The form names a file twice"));
      const target = await resolveTarget(handler, dirWords, part.filename);
      if (isRefusal(target)) throw new RefusalError(target);
      if (inProgress.has(target.path)) throw new RefusalError(refusal(409, "Another upload to this name is in progress"));
      inProgress.add(target.path);
      const upload = await Upload.start(target).catch((error) => {
        inProgress.delete(target.path);
        throw error;
      });
      uploads.push(upload);
      await upload.receive(part.stream);
    }
    if (uploads.length === 0) throw new RefusalError(refusal(400, "No file in the form"));
    for (const upload of uploads) await upload.commit(handler.upload_overwrite, null);
  } catch (error) {
    for (const upload of uploads) await upload.abort();
    const answer = refusalFor(error, handler.upload_max);
    if (answer === null) throw error;
    return refuse(handler, answer);
  } finally {
    for (const upload of uploads) inProgress.delete(upload.target.path);
  }
  await answerForm(handler, uploads);
}

/**
 * A browser's form (it accepts HTML) goes back to the listing: `303 See Other`. Anyone else gets
 * `201 Created` (`200 OK` when every file replaced one), a line per file, and `Location` when one
 * file was created.
 */
async function answerForm(handler: UploadHandler, uploads: readonly Upload[]): Promise<void> {
  if ((handler.headers.get("Accept") ?? "").includes("text/html")) {
    handler.send_response(303);
    for (const upload of uploads) logUploaded(handler, upload);
    handler.send_header("Location", listingLocation(handler.path));
    handler.send_header("Content-Length", "0");
    await handler.end_headers();
    return;
  }
  const created = uploads.filter((upload) => !upload.replaced);
  handler.send_response(created.length > 0 ? 201 : 200);
  for (const upload of uploads) logUploaded(handler, upload);
  const body = Buffer.from(uploads.map((upload) => `uploaded ${upload.target.urlPath} (${upload.bytes} bytes)\n`).join(""), "utf8");
  if (created.length === 1) handler.send_header("Location", locationOf(created[0]!.target));
  handler.send_header("Content-Type", "text/plain; charset=utf-8");
  handler.send_header("Content-Length", String(body.length));
  await handler.end_headers();
  await handler.wfile.write(body);
}

/**
 * The listing the form was posted from: the request's path, requoted (so no `\` or `//` can make it
 * point at another host), with its query when that is plain ASCII (a sort order).
 */
function listingLocation(path: string): string {
  const raw = path.split("#", 1)[0]!;
  const mark = raw.indexOf("?");
  const directory = quote(unquoteWithFallback(mark < 0 ? raw : raw.slice(0, mark)).replace(/\/+/g, "/"), { errors: "surrogatepass" });
  const query = mark < 0 ? "" : raw.slice(mark);
  return directory + (/^\?[\x21-\x7e]*$/.test(query) ? query : "");
}

/** `POST` of a form to a directory: its files, parsed within `upload_max` (see `receiveForm`). */
export function receiveFiles(handler: UploadHandler): Promise<void> {
  return receiveForm(handler, handler.form(formLimits(handler)));
}

// ---------------------------------------------------------------------------------------------
// The hook

/**
 * With `upload` on, gives a handler `do_PUT` and `do_POST` — as its own properties, and only where
 * its class has no method of that name (a subclass's own `do_POST` wins). Without `upload`, the
 * class has neither, so `PUT` and `POST` get Python's `501`, and a subclass that defines them
 * overrides nothing.
 */
export function addUploadMethods(handler: UploadHandler): void {
  const methods = handler as unknown as Record<string, unknown>;
  if (typeof methods["do_PUT"] !== "function") methods["do_PUT"] = () => receivePut(handler);
  if (typeof methods["do_POST"] !== "function") methods["do_POST"] = () => receiveFiles(handler);
}

// ---------------------------------------------------------------------------------------------
// Before `100 Continue`

/**
 * Checks an upload from its headers before the client sends the body (`Expect: 100-continue`):
 * false, having answered, when it would be refused anyway.
 */
export async function precheckUpload(handler: UploadHandler): Promise<boolean> {
  let answer: Refusal | null = null;
  if (handler.command === "PUT") {
    const target = await planPut(handler);
    if (isRefusal(target)) answer = target;
  } else if (handler.command === "POST") {
    const directory = postDirectory(handler);
    if (isRefusal(directory)) answer = directory;
    const length = declaredLength(handler.headers);
    const { limit } = formLimits(handler);
    if (length !== null && length > limit) answer ??= tooLarge(handler.upload_max!);
  }
  if (answer === null) return true;
  await refuse(handler, answer);
  return false;
}
