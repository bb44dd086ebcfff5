/**
 * Managing files: deleting, making directories, renaming and moving. Turned on by the command
 * line's `--allow-delete`, `--allow-mkdir` and `--allow-move`, and by the class attributes
 * `SimpleHTTPRequestHandler.allow_delete`, `allow_mkdir` and `allow_move` (each default `false`:
 * the method gets Python's `501`). Each is one plain request, the WebDAV method of that name
 * (RFC 4918), which the rich listing's buttons send and scripts can send too:
 *
 * - `DELETE /path` removes a file (or a link itself, never what it points to): `204`. A directory
 *   only when empty, unless asked for its contents too: `?recursive=1` or `Depth: infinity`
 *   (with `--webdav`, as RFC 4918 §9.6.1 has it, a `DELETE` of a directory always means all of it).
 * - `MKCOL /dir/new/` makes a directory: `201` (`405` when the name exists, `409` when its parent
 *   does not, `415` with a body).
 * - `MOVE /a` with `Destination: /b` (a path or a URL of this server) renames or moves: `201`, or
 *   `204` when it replaced what was there — only with `Overwrite: T` and `allow_delete` (without
 *   `--webdav` the default is `Overwrite: F`: an existing destination is `412`).
 *
 * The refusals are the uploads' (upload_target.ts checks names and confinement for both): `400` a
 * bad name, `403` outside the served directory (through a link leading out, whatever
 * `follow_symlinks` says), a CGI directory under `--cgi`, the served directory itself, a page of
 * another site, a new dotfile under `dotfiles = false`; `404` nothing there (an existing dotfile
 * under `dotfiles = false` too, as serving answers); `409` a missing parent, a directory not
 * empty, a name being uploaded. With `dotfiles = false` a recursive delete of a directory holding
 * a dotfile is refused whole (`403`) before anything is removed, and a move or copy leaves hidden
 * names alone. Every change is one log line after the request line: `deleted /a.txt`,
 * `made directory /new/`, `moved /a to /b`.
 *
 * COPY (WebDAV only, webdav.ts) shares the copying code here; files are copied through
 * atomic_write.ts, so a copy appears whole or not at all.
 */
import { lstat, mkdir, opendir, rename, rm, rmdir, unlink, link, open, stat } from "node:fs/promises";
import { constants, type Stats } from "node:fs";
import { fsdecode, fsPath } from "../py/codecs.js";
import { quote } from "../py/urllib.js";
import * as posixpath from "../py/posixpath.js";
import type { SimpleHTTPRequestHandler } from "../server/simple_handler.js";
import { AtomicFile, TargetExistsError, isUploadTemp } from "./atomic_write.js";
import { hasHiddenSegment } from "./dotfiles.js";
import { refuse, refusalFor } from "./upload.js";
import {
  RefusalError,
  inCgiDirectory,
  inProgress,
  isRefusal,
  locateTarget,
  pathWords,
  refusal,
  declaredLength,
  refusedOrigin,
  resolvesInside,
  statOrNull,
  urlWords,
  type Location,
  type Refusal,
} from "./upload_target.js";
import { confirmLocks, isAtOrBelow, locks, type Change } from "./locks.js";
import { deadProperties } from "./webdav_props.js";

/** `opendir` reading names as bytes (typed as an encoding, which Node takes): see `fsdecode`. */
export const BYTE_NAMES = { encoding: "buffer" as BufferEncoding };

/** What managing files needs of the handler. */
export type ManageHandler = Pick<
  SimpleHTTPRequestHandler,
  | "path"
  | "command"
  | "headers"
  | "directory"
  | "dotfiles"
  | "allow_delete"
  | "allow_mkdir"
  | "allow_move"
  | "upload"
  | "webdav"
  | "send_error"
  | "send_response"
  | "send_header"
  | "end_headers"
  | "wfile"
  | "log_message"
  | "body_bytes"
> & { cgi_directories?: readonly string[] };

/** An existing resource a request names, checked. */
export interface Source {
  /** Its URL path, decoded (`/dir/a.txt`, `/dir/sub`). */
  urlPath: string;
  path: string;
  /** Its own `lstat` (a link is not followed). */
  stats: Stats;
}

// ---------------------------------------------------------------------------------------------
// Where

/** The request path's segments without the final empty one of a URL ending in `/`. */
export function requestWords(handler: Pick<ManageHandler, "path">): string[] | Refusal {
  // A fragment is never part of what a request names: a client that sends one is confused, and
  // `DELETE /dir/#x` must not delete `/dir/`.
  if (handler.path.includes("#")) return refusal(400, "Bad request path: a fragment (#)");
  const words = pathWords(handler.path);
  if (isRefusal(words)) return words;
  return words.filter((word) => word !== "");
}

/**
 * The existing resource `words` name, if the request may change it: not the served directory,
 * not through a directory that resolves outside it, not a hidden name under `dotfiles = false`
 * (`404`, as serving answers), not in or a CGI directory, not one of our temporary files.
 */
export async function resolveSource(handler: ManageHandler, words: readonly string[]): Promise<Source | Refusal> {
  if (words.length === 0) return refusal(403, "The served directory itself cannot be changed");
  for (const word of words) {
    if (word === "." || word === "..") return refusal(400, "Bad file name: a dot segment");
  }
  if (!handler.dotfiles && hasHiddenSegment(words)) return refusal(404, "File not found");
  if (isUploadTemp(words[words.length - 1]!)) return refusal(404, "File not found");
  if (inCgiDirectory(handler, words, true)) return refusal(403, "CGI directories are not changed");
  const root = handler.directory;
  const parent = posixpath.join(root, ...words.slice(0, -1));
  if ((await statOrNull(parent)) === null) return refusal(404, "File not found");
  if (!(await resolvesInside(parent, root))) return refusal(403, "Outside the served directory");
  const path = posixpath.join(parent, words[words.length - 1]!);
  let stats: Stats;
  try {
    stats = await lstat(fsPath(path));
  } catch {
    return refusal(404, "File not found");
  }
  return { urlPath: "/" + words.join("/"), path, stats };
}

/** The existing resource a write request names, from a page of this site or a script (`resolveSource`). */
async function requestedSource(handler: ManageHandler): Promise<Source | Refusal> {
  const foreign = refusedOrigin(handler.headers);
  if (foreign) return foreign;
  const words = requestWords(handler);
  if (isRefusal(words)) return words;
  return resolveSource(handler, words);
}

/**
 * Where `Destination` points, as a new name (names, dotfiles, CGI directories, confinement, as
 * for uploads), with what is there now. `502` for another server, `400` for none or a bad one.
 */
export async function resolveDestination(handler: ManageHandler): Promise<Location | Refusal> {
  const destination = handler.headers.get("Destination");
  if (destination === undefined || destination.trim() === "") return refusal(400, "A Destination header is needed");
  const words = urlWords(destination.trim(), handler.headers.get("Host"));
  if (words === "other host") return refusal(502, "The Destination is on another server");
  if (isRefusal(words)) return words;
  const names = words.filter((word) => word !== "");
  if (names.length === 0) return refusal(403, "The served directory itself cannot be replaced");
  return locateTarget(handler, names.slice(0, -1), names[names.length - 1]!, false);
}

/** `Overwrite: T` or `F`; absent, `T` with WebDAV (RFC 4918 §10.6), else `F`. Null for anything else. */
function overwriteOf(handler: ManageHandler): boolean | null {
  const value = handler.headers.get("Overwrite")?.trim().toUpperCase();
  if (value === undefined) return handler.webdav;
  return value === "T" ? true : value === "F" ? false : null;
}

/** The `Depth` header: `0`, `1`, `infinity`, or undefined when absent; null for anything else. */
export function depthOf(handler: Pick<ManageHandler, "headers">): 0 | 1 | "infinity" | undefined | null {
  const value = handler.headers.get("Depth")?.trim().toLowerCase();
  if (value === undefined) return undefined;
  return value === "0" ? 0 : value === "1" ? 1 : value === "infinity" ? "infinity" : null;
}

/** Whether the query asks for `recursive=1`. */
function askedRecursive(path: string): boolean {
  const query = path.split("#", 1)[0]!.split("?")[1];
  return query !== undefined && new URLSearchParams(query).get("recursive") === "1";
}

/** A URL path as listings quote their links (for `Location`). */
export function quotedUrl(urlPath: string): string {
  return quote(urlPath, { errors: "surrogatepass" });
}

// ---------------------------------------------------------------------------------------------
// Trees

/**
 * Why a directory may not be removed whole: a dotfile in it under `dotfiles = false` (which
 * nothing may touch), an upload running into it; null when it may. Walks without following links.
 */
async function treeRefusal(handler: ManageHandler, path: string): Promise<Refusal | null> {
  for await (const entry of walk(path)) {
    if (!handler.dotfiles && entry.name.startsWith(".")) {
      return refusal(403, "The directory holds names starting with a dot, which are not changed");
    }
    if (inProgress.has(entry.path)) return refusal(409, "An upload into this directory is in progress");
  }
  return null;
}

/** Every entry below `path`, depth first, links not followed. */
async function* walk(path: string): AsyncGenerator<{ path: string; name: string; isDirectory: boolean }> {
  const dir = await opendir(fsPath(path), BYTE_NAMES);
  for await (const entry of dir) {
    const name = fsdecode(entry.name as unknown as Buffer);
    const child = posixpath.join(path, name);
    const isDirectory = entry.isDirectory();
    yield { path: child, name, isDirectory };
    if (isDirectory) yield* walk(child);
  }
}

/** Removes `path` (a directory with all it holds, or anything else), links not followed. */
async function removeAll(path: string, stats: Stats): Promise<void> {
  if (stats.isDirectory()) await rm(fsPath(path), { recursive: true });
  else await unlink(fsPath(path));
  locks.removeTree(path);
  deadProperties.removeTree(path);
}

/** Removes what is at a destination about to be replaced. */
export function removeTarget(target: Location): Promise<void> {
  return removeAll(target.path, target.existing!);
}

// ---------------------------------------------------------------------------------------------
// DELETE

/** `DELETE /path`: the file, the link, the empty directory — or the whole one when asked. */
export async function deleteRequest(handler: ManageHandler): Promise<void> {
  const outcome = await deleteResource(handler);
  if (outcome === ANSWERED) return;
  if (typeof outcome !== "string") return refuse(handler, outcome);
  handler.send_response(204);
  handler.log_message("%s", outcome);
  await handler.end_headers();
}

/** The request was answered already (by `confirmLocks`). */
const ANSWERED = Symbol("answered");

/** Deletes what the request names: the line to log, or why not. */
async function deleteResource(handler: ManageHandler): Promise<Refusal | typeof ANSWERED | string> {
  const source = await requestedSource(handler);
  if (isRefusal(source)) return source;
  const isDirectory = source.stats.isDirectory();
  const depth = depthOf(handler);
  if (depth === null || (handler.webdav && isDirectory && depth !== undefined && depth !== "infinity")) {
    return refusal(400, "Bad Depth header (a directory is deleted with Depth: infinity)");
  }
  const recursive = isDirectory && (depth === "infinity" || askedRecursive(handler.path) || (handler.webdav && depth === undefined));
  if (inProgress.has(source.path)) return refusal(409, "Another request is changing this name");
  const changes: Change[] = [{ path: source.path, tree: isDirectory, membership: true }];
  if (!(await confirmLocks(handler, source.path, changes))) return ANSWERED;
  if (recursive) {
    const refused = await treeRefusal(handler, source.path);
    if (refused) return refused;
  }
  inProgress.add(source.path);
  try {
    if (recursive) await removeAll(source.path, source.stats);
    else if (isDirectory) await rmdir(fsPath(source.path));
    else await unlink(fsPath(source.path));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOTEMPTY" || code === "EEXIST") {
      return refusal(409, "The directory is not empty (ask for ?recursive=1 or Depth: infinity)");
    }
    if (code === "ENOENT") return refusal(404, "File not found");
    const answer = refusalFor(error, null);
    if (answer === null) throw error;
    return answer;
  } finally {
    inProgress.delete(source.path);
  }
  locks.removeTree(source.path);
  deadProperties.removeTree(source.path);
  return `deleted ${source.urlPath}${isDirectory ? "/" : ""}${recursive ? " (with its contents)" : ""}`;
}

// ---------------------------------------------------------------------------------------------
// MKCOL

/** `MKCOL /dir/new/`: a new directory. */
export async function mkcolRequest(handler: ManageHandler): Promise<void> {
  const made = await makeDirectory(handler);
  if (made === null) return;
  if (isRefusal(made)) return refuse(handler, made);
  await answerCreated(handler, made.urlPath + "/", `made directory ${made.urlPath}/`);
}

async function makeDirectory(handler: ManageHandler): Promise<Location | Refusal | null> {
  const foreign = refusedOrigin(handler.headers);
  if (foreign) return foreign;
  // RFC 4918 §9.3: a body MKCOL does not understand is refused, and never read.
  if (declaredLength(handler.headers) !== 0) {
    return refusal(415, "MKCOL takes no body");
  }
  const words = requestWords(handler);
  if (isRefusal(words)) return words;
  if (words.length === 0) return refusal(405, "The served directory exists");
  const target = await locateTarget(handler, words.slice(0, -1), words[words.length - 1]!, false);
  if (isRefusal(target)) return target;
  if (target.existing !== null) return refusal(405, "A file or directory of that name exists");
  if (!(await confirmLocks(handler, target.path, [{ path: target.path, membership: true }]))) return null;
  try {
    await mkdir(fsPath(target.path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return refusal(405, "A file or directory of that name exists");
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return refusal(409, "No such directory");
    const answer = refusalFor(error, null);
    if (answer === null) throw error;
    return answer;
  }
  deadProperties.removeTree(target.path);
  return target;
}

/** `201 Created`, `Location`, and one line saying what was made (logged too, after the request's line). */
export async function answerCreated(handler: ManageHandler, urlPath: string, line: string): Promise<void> {
  const body = Buffer.from(line + "\n", "utf8");
  handler.send_response(201);
  handler.log_message("%s", line);
  handler.send_header("Location", quotedUrl(urlPath));
  handler.send_header("Content-Type", "text/plain; charset=utf-8");
  handler.send_header("Content-Length", String(body.length));
  await handler.end_headers();
  await handler.wfile.write(body);
}

// ---------------------------------------------------------------------------------------------
// MOVE and COPY

/** A move or copy checked: what, where to, and whether what is there goes first. */
export interface Transfer {
  source: Source;
  target: Location;
  /** The destination exists and is to be replaced. */
  replacing: boolean;
}

/**
 * The checks MOVE and COPY share: the source, the `Destination`, `Overwrite` (replacing needs
 * `allow_delete`), not onto itself or into itself, and the locks on both.
 */
export async function planTransfer(handler: ManageHandler, copying: boolean): Promise<Transfer | Refusal | null> {
  const source = await requestedSource(handler);
  if (isRefusal(source)) return source;
  const overwrite = overwriteOf(handler);
  if (overwrite === null) return refusal(400, "Bad Overwrite header (T or F)");
  const target = await resolveDestination(handler);
  if (isRefusal(target)) return target;
  if (target.path === source.path) return refusal(403, "The source and the destination are the same");
  if (source.stats.isDirectory() && isAtOrBelow(target.path, source.path)) {
    return refusal(409, "A directory cannot go inside itself");
  }
  if (inProgress.has(source.path) || inProgress.has(target.path)) return refusal(409, "Another request is changing this name");
  const replacing = target.existing !== null;
  if (replacing && !overwrite) return refusal(412, "The destination exists (Overwrite: F)");
  if (replacing && !handler.allow_delete) return refusal(403, "Replacing the destination needs --allow-delete");
  if (replacing && target.existing!.isDirectory()) {
    const refused = await treeRefusal(handler, target.path);
    if (refused) return refused;
  }
  const changes: Change[] = [
    { path: target.path, tree: replacing, membership: !replacing },
    ...(copying ? [] : [{ path: source.path, tree: true, membership: true }]),
  ];
  if (!(await confirmLocks(handler, source.path, changes))) return null;
  if (!copying && source.stats.isDirectory()) {
    const refused = await treeRefusal(handler, source.path);
    if (refused) return refused;
  }
  return { source, target, replacing };
}

/** `MOVE /a` with `Destination: /b`. */
export async function moveRequest(handler: ManageHandler): Promise<void> {
  const depth = depthOf(handler);
  const badDepth = refusal(400, "Bad Depth header (MOVE takes Depth: infinity)");
  if (depth === null) return refuse(handler, badDepth);
  if (depth === 0 || depth === 1) {
    // RFC 4918 §9.9.2: a collection moves whole; a file has no depth, but 0 and 1 mean nothing.
    // The source as the move checks it: what the request may not name is never looked at here.
    const source = await requestedSource(handler);
    if (!isRefusal(source) && source.stats.isDirectory()) return refuse(handler, badDepth);
  }
  const transfer = await planTransfer(handler, false);
  if (transfer === null) return;
  if (isRefusal(transfer)) return refuse(handler, transfer);
  const { source, target, replacing } = transfer;
  inProgress.add(source.path);
  inProgress.add(target.path);
  try {
    await moveInto(source, target, replacing);
  } catch (error) {
    const answer = moveErrorRefusal(error);
    if (answer === null) throw error;
    return refuse(handler, answer);
  } finally {
    inProgress.delete(source.path);
    inProgress.delete(target.path);
  }
  const slash = source.stats.isDirectory() ? "/" : "";
  const line = `moved ${source.urlPath + slash} to ${target.urlPath + slash}`;
  if (replacing) {
    handler.send_response(204);
    handler.log_message("%s", line);
    await handler.end_headers();
  } else {
    await answerCreated(handler, target.urlPath + slash, line);
  }
}

function moveErrorRefusal(error: unknown): Refusal | null {
  if (error instanceof RefusalError) return error.refusal;
  if (error instanceof TargetExistsError) return refusal(412, "The destination appeared meanwhile");
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EEXIST" || code === "ENOTEMPTY") return refusal(412, "The destination appeared meanwhile");
  if (code === "ENOENT") return refusal(409, "The source or the destination's directory changed meanwhile");
  return refusalFor(error, null);
}

/**
 * Puts `source` at `target`: a file by `link()` then `unlink()` (so nothing that appeared at the
 * target meanwhile is overwritten), or `rename()` over a file it replaces (atomic); a directory or
 * a link by `rename()`, what it replaces removed first. Across file systems, a copy then a removal.
 */
async function moveInto(source: Source, target: Location, replacing: boolean): Promise<void> {
  const existing = target.existing;
  const fileOverFile = existing !== null && !existing.isDirectory() && !source.stats.isDirectory();
  if (replacing && !fileOverFile) await removeAll(target.path, existing!);
  try {
    if (fileOverFile) await rename(fsPath(source.path), fsPath(target.path));
    else if (source.stats.isFile()) await linkThenUnlink(source.path, target.path);
    else await renameNew(source.path, target.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
    const failures = await copyTree(source.path, source.stats, target.path, "infinity", () => true, source.urlPath, target.urlPath);
    if (failures.length > 0) throw new RefusalError(refusal(409, "Part of it could not be copied to the other file system"));
    await removeAll(source.path, source.stats);
  }
  locks.removeTree(source.path);
  locks.removeTree(target.path);
  deadProperties.move(source.path, target.path);
}

async function linkThenUnlink(from: string, to: string): Promise<void> {
  try {
    await link(fsPath(from), fsPath(to));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // No hard links here (FAT, some network file systems): check, then rename.
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EMLINK") throw error;
    return renameNew(from, to);
  }
  await unlink(fsPath(from));
}

/** `rename()` to a name that must be free (checked just before: Node has no `RENAME_NOREPLACE`). */
async function renameNew(from: string, to: string): Promise<void> {
  if ((await lstat(fsPath(to)).catch(() => null)) !== null) throw new TargetExistsError(`${to} exists`);
  await rename(fsPath(from), fsPath(to));
}

/** A member a copy could not take, for a `207` (RFC 4918 §9.8.8). */
export interface CopyFailure {
  urlPath: string;
  code: number;
}

const OPEN_SOURCE = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Copies a regular file to `target` (a new name, or `overwrite` a file) through an `AtomicFile`. */
export async function copyFile(from: string, to: string, overwrite: boolean): Promise<void> {
  const handle = await open(fsPath(from), OPEN_SOURCE);
  let file: AtomicFile | null = null;
  try {
    if (!(await handle.stat()).isFile()) throw new RefusalError(refusal(403, "Only regular files are copied"));
    file = await AtomicFile.create(posixpath.dirname(to));
    for await (const chunk of handle.createReadStream({ autoClose: false })) await file.write(chunk as Buffer);
    await file.commit(to, { overwrite });
  } catch (error) {
    await file?.abort();
    throw error;
  } finally {
    await handle.close();
  }
}

/**
 * Copies `from` (a file, or a directory with `depth` infinity all it holds, with 0 itself alone)
 * to the new name `to`. Links, special files, our temporary files and names `keep` refuses
 * (dotfiles under `dotfiles = false`) are left out; a member that could not be copied is listed,
 * the rest copied still.
 */
export async function copyTree(
  from: string,
  stats: Stats,
  to: string,
  depth: 0 | "infinity",
  keep: (name: string) => boolean,
  fromUrl: string,
  toUrl: string,
): Promise<CopyFailure[]> {
  if (!stats.isDirectory()) {
    await copyFile(from, to, false);
    return [];
  }
  await mkdir(fsPath(to));
  const failures: CopyFailure[] = [];
  if (depth === 0) return failures;
  const dir = await opendir(fsPath(from), BYTE_NAMES);
  for await (const entry of dir) {
    const name = fsdecode(entry.name as unknown as Buffer);
    if (!keep(name) || isUploadTemp(name)) continue;
    const child = posixpath.join(from, name);
    const childUrl = `${fromUrl}/${name}`;
    try {
      if (entry.isDirectory()) {
        failures.push(...(await copyTree(child, await lstat(fsPath(child)), posixpath.join(to, name), depth, keep, childUrl, `${toUrl}/${name}`)));
      } else if (entry.isFile()) {
        await copyFile(child, posixpath.join(to, name), false);
      } else {
        failures.push({ urlPath: childUrl, code: 403 }); // a link or a special file: not copied
      }
    } catch (error) {
      failures.push({ urlPath: childUrl, code: refusalFor(error, null)?.code ?? 500 });
    }
  }
  return failures;
}

/** `stat` of what a link at the top of a copy points to, if that is inside the served directory. */
export async function followInside(path: string, root: string): Promise<Stats | null> {
  if (!(await resolvesInside(path, root))) return null;
  return stat(fsPath(path)).catch(() => null);
}

// ---------------------------------------------------------------------------------------------
// The hook

const MANAGE_METHODS = [
  ["DELETE", "allow_delete", deleteRequest],
  ["MKCOL", "allow_mkdir", mkcolRequest],
  ["MOVE", "allow_move", moveRequest],
] as const;

/**
 * Gives a handler `do_DELETE`, `do_MKCOL` and `do_MOVE` for the permissions it has — as its own
 * properties, and only where its class has no method of that name. Without them the class has
 * none, and the methods get Python's `501`.
 */
export function addManageMethods(handler: ManageHandler): void {
  const methods = handler as unknown as Record<string, unknown>;
  for (const [command, permission, run] of MANAGE_METHODS) {
    if (!handler[permission] || typeof methods[`do_${command}`] === "function") continue;
    methods[`do_${command}`] = () => run(handler);
  }
}
