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
 * Where a file may go is checked in upload_target.ts; files are written whole or not at all by
 * atomic_write.ts: to a temporary file beside the target, put in place only once complete. Each
 * upload is logged in one line after Python's request line: `uploaded /dir/a.bin (1048576 bytes)`.
 */
import { mkdir, rmdir } from "node:fs/promises";
import { fsPath } from "../py/codecs.js";
import { quote, unquoteWithFallback } from "../py/urllib.js";
import { RequestBodyError } from "../server/request_body.js";
import type { FormPart } from "../server/forms.js";
import { AtomicFile, LengthMismatchError, TargetExistsError } from "./atomic_write.js";
import {
  FORM_OVERHEAD,
  RefusalError,
  declaredLength,
  inProgress,
  isRefusal,
  pathWords,
  refusal,
  refusedOrigin,
  resolveTarget,
  tooLarge,
  type Refusal,
  type Target,
  type UploadHandler,
} from "./upload_target.js";

export { DEFAULT_UPLOAD_MAX, FORM_OVERHEAD, badName, describeSize, parseSize, type UploadHandler } from "./upload_target.js";

// ---------------------------------------------------------------------------------------------
// Errors

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
export function refusalFor(error: unknown, limit: number | null): Refusal | null {
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
export function refuse(handler: Pick<UploadHandler, "send_error">, { code, message }: Refusal): Promise<void> {
  return handler.send_error(code, message);
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
  const added = new Set<string>();
  for (const [command, receive] of [["PUT", receivePut], ["POST", receiveFiles]] as const) {
    if (typeof methods[`do_${command}`] === "function") continue;
    methods[`do_${command}`] = () => receive(handler);
    added.add(command);
  }
  uploadCommands.set(handler, added);
}

/** The commands `addUploadMethods` gave each handler (not those its class answers itself, as a CGI script's POST). */
const uploadCommands = new WeakMap<UploadHandler, ReadonlySet<string>>();

// ---------------------------------------------------------------------------------------------
// Before `100 Continue`

/**
 * Checks an upload from its headers before the client sends the body (`Expect: 100-continue`):
 * false, having answered, when it would be refused anyway. Only a `PUT` or `POST` that goes to the
 * methods `addUploadMethods` gave: a subclass's own `do_POST`, or a CGI script's, is not an upload.
 */
export async function precheckUpload(handler: UploadHandler): Promise<boolean> {
  if (!uploadCommands.get(handler)?.has(handler.command ?? "")) return true;
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
