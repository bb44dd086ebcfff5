/**
 * A folder as one download. Turned on by the command line's `--archive` and by the class
 * attribute `SimpleHTTPRequestHandler.archive = true` (default `false`: `?download=` is an
 * ordinary query, and the listing is served as by Python).
 *
 * `GET /dir/?download=zip` (or `tar`, or `tar.gz`) answers the directory as an archive whose
 * entries sit in one folder named after it (`dir/…`), streamed as it is built: no temporary
 * file, the first bytes leave at once, and memory stays flat but for what the zip format itself
 * keeps for its central directory (yazl's record of each entry, about 1.5 KiB per entry; tar
 * keeps nothing).
 * Files are read 64 KiB at a time, and nothing is read faster than the client takes it.
 *
 * The writers are in archive_writers.ts:
 * - zip through yazl: ZIP64 where sizes, offsets or counts need it; names in UTF-8 with the UTF-8
 *   flag; times (DOS and Info-ZIP's UTC field) and Unix modes kept; text-like files deflated,
 *   files compressed already (images, video, archives) stored.
 * - tar through tar-stream (PAX headers for long or non-ASCII names, GNU base-256 for sizes over
 *   8 GiB), times and modes kept, owners not (uid/gid 0); `tar.gz` gzips that stream.
 *
 * What goes in is what serving would give (tree_walk.ts): no dotfiles under `dotfiles = false`,
 * no link leading out under `follow_symlinks = false`, no upload in progress, no CGI directory.
 * What cannot be read — a symbolic link loop, an unreadable file or folder, a file that shrinks
 * or fails while being read — is left out (or, for a file already begun, filled with zeros to its
 * announced size), logged in one line each, and named in a note added at the end of the archive,
 * `simplehttp-skipped.txt` in its top folder. An archive that cannot be finished at all is cut
 * off: the connection closes without the end of the chunked body (or, in HTTP/1.0, before the
 * zip's central directory or the tar's end), so no client takes it for whole. A client that goes
 * away stops the work at once (`this.signal`).
 */
import { open, type FileHandle } from "node:fs/promises";
import { closeSync, openSync, readSync, type Stats } from "node:fs";
import { statOrNull } from "../server/listdir.js";
import { Readable } from "node:stream";
import { basename } from "node:path";
import { OPEN_TO_SERVE, type FileLike } from "../py/io.js";
import { fsPath } from "../py/codecs.js";
import { quote, unquoteWithFallback } from "../py/urllib.js";
import * as posixpath from "../py/posixpath.js";
import { guess_file_type } from "../http/mime.js";
import { COMPRESS_MIN_SIZE, ChunkedBody, isCompressible } from "./compression.js";
import { describeFailure, walkTree, type WalkRules } from "./tree_walk.js";
import { TarWriter, ZipWriter, type ArchiveWriter } from "./archive_writers.js";
import { ConnectionClosedError } from "../socketserver/writer.js";

/** The formats `?download=` takes, with their type and file name suffix. */
export const ARCHIVE_FORMATS = {
  zip: { contentType: "application/zip", suffix: ".zip" },
  tar: { contentType: "application/x-tar", suffix: ".tar" },
  "tar.gz": { contentType: "application/gzip", suffix: ".tar.gz" },
} as const;
export type ArchiveFormat = keyof typeof ARCHIVE_FORMATS;

/** The query parameter that asks for an archive. */
export const DOWNLOAD_PARAMETER = "download";
/** The note listing what was left out, in the archive's top folder (another name if taken). */
export const SKIPPED_NOTE = "simplehttp-skipped.txt";

/** How much of a file is read at once. */
const READ_CHUNK = 64 * 1024;
const EMPTY = Buffer.alloc(0);
const ZEROS = Buffer.alloc(READ_CHUNK);

/** What the archive needs of the handler. */
export interface ArchiveHandler {
  path: string;
  directory: string;
  dotfiles: boolean;
  follow_symlinks: boolean;
  cgi_directories?: readonly string[];
  request_version: string;
  protocol_version: string;
  close_connection: boolean;
  command: string | null;
  readonly signal: AbortSignal;
  connection: { destroy(): void };
  send_response(code: number, message?: string | null): void;
  send_header(keyword: string, value: string): void;
  end_headers(): Promise<void>;
  send_error(code: number, message?: string | null, explain?: string | null): Promise<void>;
  log_message(format: string, ...args: unknown[]): void;
}

/**
 * The archive a request asks for: its `download` parameter's value when it is one of
 * `ARCHIVE_FORMATS`, `"unknown"` for another value, null when there is none.
 */
export function requestedArchive(path: string): ArchiveFormat | "unknown" | null {
  const query = queryOf(path);
  if (query === "" || !query.includes(DOWNLOAD_PARAMETER)) return null;
  const value = new URLSearchParams(query).get(DOWNLOAD_PARAMETER);
  if (value === null) return null;
  return Object.hasOwn(ARCHIVE_FORMATS, value) ? (value as ArchiveFormat) : "unknown";
}

/** The query of a request path (without `?` and fragment). */
export function queryOf(path: string): string {
  const withoutFragment = path.split("#", 1)[0]!;
  const mark = withoutFragment.indexOf("?");
  return mark < 0 ? "" : withoutFragment.slice(mark + 1);
}

/** The decoded segments of a request path's URL path. */
export function urlWords(path: string): string[] {
  const urlPath = path.split("#", 1)[0]!.split("?", 1)[0]!;
  return posixpath.normpath(unquoteWithFallback(urlPath)).split("/").filter((word) => word !== "" && word !== ".");
}

/** Links to each format, for a listing: `?download=zip` … */
export function downloadLinks(): string {
  return DOWNLOAD_LINKS;
}

const DOWNLOAD_LINKS = `Download this folder: ${Object.keys(ARCHIVE_FORMATS)
  .map((format) => `<a href="?${DOWNLOAD_PARAMETER}=${format}" download>${format}</a>`)
  .join(" ")}`;

/**
 * Answers `GET` or `HEAD` of the directory `path` with the archive `format`: sends the headers
 * and returns the body, built as it is read (a HEAD never starts it). An unknown format is `400`.
 */
export async function sendArchive(handler: ArchiveHandler, path: string, format: ArchiveFormat | "unknown"): Promise<FileLike | null> {
  if (format === "unknown") {
    await handler.send_error(400, `Unknown archive format (use ${Object.keys(ARCHIVE_FORMATS).map((name) => `?${DOWNLOAD_PARAMETER}=${name}`).join(", ")})`);
    return null;
  }
  const words = urlWords(handler.path);
  const folder = archiveFolderName(words, handler.directory);
  const fileName = folder + ARCHIVE_FORMATS[format].suffix;
  handler.send_response(200);
  handler.send_header("Content-type", ARCHIVE_FORMATS[format].contentType);
  handler.send_header("Content-Disposition", contentDisposition(fileName));
  handler.send_header("Cache-Control", "no-store");
  const job = new ArchiveJob(handler, path, words, folder, format);
  // No length is known in advance: chunks on HTTP/1.1, else the end of the connection.
  if (handler.request_version >= "HTTP/1.1" && handler.protocol_version >= "HTTP/1.1") {
    handler.send_header("Transfer-Encoding", "chunked");
    await handler.end_headers();
    return new ChunkedBody(job);
  }
  if (!handler.close_connection) handler.send_header("Connection", "close");
  handler.close_connection = true;
  await handler.end_headers();
  return job;
}

/** The top folder's name: the directory's own (the served folder's name for `/`). */
export function archiveFolderName(words: readonly string[], directory: string): string {
  const name = words.length > 0 ? words[words.length - 1]! : basename(directory.replace(/\/+$/, ""));
  return toUtf8Name(name) || "files";
}

/** A name as the archive stores it: UTF-8, so a byte that is not (a lone surrogate) becomes U+FFFD. */
function toUtf8Name(name: string): string {
  return name.toWellFormed();
}

/**
 * `attachment` with the name in UTF-8 (RFC 6266 `filename*`, RFC 8187) and a plain-ASCII
 * fallback for old clients.
 */
export function contentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  if (ascii === fileName) return `attachment; filename="${ascii}"`;
  return `attachment; filename="${ascii}"; filename*=UTF-8''${quote(fileName, { safe: "" })}`;
}

/** Archives being built now, in this process (for tests and the soak script). */
let running = 0;
export function archivesRunning(): number {
  return running;
}

/** One entry written, or one left out. */
interface Tally {
  files: number;
  folders: number;
  bytes: number;
  skipped: string[];
}

/**
 * An archive as a body: the first `read()` starts the walk and the writer, each `read()` takes
 * what the writer has produced (the writer waits while nobody reads). `close()` (the response
 * ended, or the client went away: `signal`) stops everything and closes the open file.
 */
class ArchiveJob implements FileLike {
  private writer: ArchiveWriter | null = null;
  private chunks: AsyncIterator<Buffer> | null = null;
  private pending: Buffer = EMPTY;
  private readonly stop = new AbortController();
  private readonly tally: Tally = { files: 0, folders: 0, bytes: 0, skipped: [] };
  private failure: unknown = null;
  private done = false;

  constructor(
    private readonly handler: ArchiveHandler,
    private readonly path: string,
    private readonly words: readonly string[],
    private readonly folder: string,
    private readonly format: ArchiveFormat,
  ) {}

  async read(n = -1): Promise<Buffer> {
    if (this.chunks === null) this.start();
    while (this.pending.length === 0) {
      if (this.done) return EMPTY;
      let next: IteratorResult<Buffer>;
      try {
        next = await this.chunks!.next();
      } catch (error) {
        this.failure ??= error;
        next = { done: true, value: undefined };
      }
      if (next.done) {
        this.done = true;
        if (this.failure !== null) return this.cutOff();
        return EMPTY;
      }
      this.pending = next.value;
    }
    const count = n < 0 ? this.pending.length : Math.min(n, this.pending.length);
    const chunk = this.pending.subarray(0, count);
    this.pending = this.pending.subarray(count);
    return chunk;
  }

  close(): void {
    this.done = true;
    this.stop.abort();
    this.writer?.destroy();
  }

  private start(): void {
    const writer = (this.writer = this.format === "zip" ? new ZipWriter() : new TarWriter(this.format === "tar.gz"));
    this.chunks = (writer.output as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    const onGone = () => this.close();
    if (this.handler.signal.aborted) onGone();
    else this.handler.signal.addEventListener("abort", onGone, { once: true });
    running++;
    this.build(writer).then(
      () => {
        if (!this.stop.signal.aborted) this.logSummary();
      },
      (error: unknown) => {
        if (this.stop.signal.aborted) return; // the client went away: nothing to tell it
        this.failure = error;
        writer.destroy(error as Error);
      },
    ).finally(() => {
      running--;
      this.handler.signal.removeEventListener("abort", onGone);
    });
  }

  /** Walks the directory and writes each entry, then the note of what was left out. */
  private async build(writer: ArchiveWriter): Promise<void> {
    const { handler } = this;
    const rules: WalkRules = {
      root: handler.directory,
      dotfiles: handler.dotfiles,
      follow_symlinks: handler.follow_symlinks,
      cgi_directories: handler.cgi_directories ?? null,
    };
    const signal = this.stop.signal;
    const topNames = new Set<string>();
    // The top folder is an entry too, so that its time and mode are kept.
    const top = statOrNull(this.path);
    if (top?.isDirectory()) await writer.directory(this.folder, top, signal);
    for await (const entry of walkTree(this.path, this.words, rules, { signal })) {
      if (signal.aborted) return;
      const relative = entry.relative.map(toUtf8Name);
      if (relative.length === 1) topNames.add(relative[0]!);
      const name = [this.folder, ...relative].join("/");
      if (entry.kind === "problem") {
        this.skip(relative.join("/"), entry.reason);
      } else if (entry.kind === "directory") {
        await writer.directory(name, entry.stats!, signal);
        this.tally.folders++;
      } else if (entry.kind === "other") {
        this.skip(relative.join("/"), "not a regular file (a FIFO, socket or device)");
      } else {
        await this.addFile(writer, entry.path, name, relative.join("/"), entry.stats!, signal);
      }
    }
    if (signal.aborted) return;
    if (this.tally.skipped.length > 0) await writer.note(`${this.folder}/${noteName(topNames)}`, this.noteText(), signal);
    await writer.finish(signal);
  }

  /**
   * Opens the file first: one that cannot be opened is left out before its header is written. A
   * small file (at most `READ_CHUNK`) is read at once, synchronously, as serving reads small
   * files: a tree of many small files costs one system call each, not four trips through libuv.
   */
  private async addFile(writer: ArchiveWriter, path: string, name: string, shown: string, stats: Stats, signal: AbortSignal): Promise<void> {
    if (stats.size <= READ_CHUNK) {
      let data: Buffer;
      try {
        data = readSmallFile(path, stats.size, (why) => this.skip(shown, why));
      } catch (error) {
        this.skip(shown, describeFailure(error));
        return;
      }
      await writer.file(name, stats, Readable.from([data], { objectMode: false }), compressible(name, stats.size), signal);
      this.tally.files++;
      this.tally.bytes += stats.size;
      return;
    }
    let handle: FileHandle;
    try {
      handle = await open(fsPath(path), "r");
    } catch (error) {
      this.skip(shown, describeFailure(error));
      return;
    }
    try {
      const source = Readable.from(exactBytes(handle, stats.size, (why) => this.skip(shown, why), signal), { objectMode: false, highWaterMark: READ_CHUNK });
      await writer.file(name, stats, source, compressible(name, stats.size), signal);
      this.tally.files++;
      this.tally.bytes += stats.size;
    } finally {
      await handle.close();
    }
  }

  private skip(shown: string, reason: string): void {
    this.tally.skipped.push(`${shown || "."}: ${reason}`);
    this.handler.log_message("archive %s: left out %s: %s", this.urlPath(), shown || ".", reason);
  }

  private urlPath(): string {
    return "/" + this.words.map((word) => word + "/").join("");
  }

  private noteText(): string {
    const when = new Date().toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    const count = this.tally.skipped.length;
    return (
      `simplehttp could not put ${count === 1 ? "1 entry" : `${count} entries`} of ${this.urlPath()} in this archive whole (made ${when}):\n\n` +
      this.tally.skipped.join("\n") +
      "\n"
    );
  }

  private logSummary(): void {
    const { files, folders, bytes, skipped } = this.tally;
    this.handler.log_message(
      "archive %s (%s): %d files, %d folders, %d bytes%s",
      this.urlPath(),
      this.format,
      files,
      folders,
      bytes,
      skipped.length > 0 ? `, ${skipped.length} left out (named in ${SKIPPED_NOTE})` : "",
    );
  }

  /**
   * The archive could not be finished: say so in the log and close the connection without the
   * body's proper end, so the client sees a broken transfer, never a shorter archive.
   */
  private cutOff(): never {
    const reason = (this.failure as Error | null)?.message ?? String(this.failure);
    this.handler.log_message("archive %s failed, the connection is closed unfinished: %s", this.urlPath(), reason);
    this.handler.close_connection = true;
    this.handler.connection.destroy();
    throw new ConnectionClosedError("ECONNABORTED", "ConnectionAbortedError");
  }
}

/** A note name not already taken in the top folder. */
function noteName(taken: ReadonlySet<string>): string {
  if (!taken.has(SKIPPED_NOTE)) return SKIPPED_NOTE;
  for (let n = 1; ; n++) {
    const candidate = SKIPPED_NOTE.replace(".txt", `-${n}.txt`);
    if (!taken.has(candidate)) return candidate;
  }
}

/** Worth deflating in a zip: a textual type (as `--compress` judges it) of at least 1 KiB. */
function compressible(name: string, size: number): boolean {
  return size >= COMPRESS_MIN_SIZE && isCompressible(guess_file_type(name)[0] ?? "application/octet-stream");
}

/**
 * Exactly `size` bytes of the file (its size when the walk met it): the header already announced
 * that many. A file that has grown is cut at that size; one that shrank or fails to read is filled
 * with zeros to it, and `problem` says so (the note names it).
 */
export async function* exactBytes(handle: FileHandle, size: number, problem: (reason: string) => void, signal: AbortSignal): AsyncGenerator<Buffer> {
  let position = 0;
  while (position < size) {
    if (signal.aborted) return;
    const want = Math.min(READ_CHUNK, size - position);
    let got = 0;
    let buffer = Buffer.allocUnsafe(want);
    try {
      got = (await handle.read(buffer, 0, want, position)).bytesRead;
    } catch (error) {
      problem(`read failed after ${position} bytes (${describeFailure(error)}): the rest is zeros`);
      yield* zeros(size - position);
      return;
    }
    if (got === 0) {
      problem(`shrank to ${position} bytes while being archived: the rest of its ${size} bytes is zeros`);
      yield* zeros(size - position);
      return;
    }
    if (got < want) buffer = buffer.subarray(0, got);
    position += got;
    yield buffer;
  }
}

/**
 * A file of at most `READ_CHUNK` bytes, read whole (opened without waiting, as serving opens):
 * exactly `size` bytes, zero-filled if it shrank (which `problem` says).
 */
function readSmallFile(path: string, size: number, problem: (reason: string) => void): Buffer {
  const fd = openSync(fsPath(path), OPEN_TO_SERVE);
  try {
    const data = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const count = readSync(fd, data, got, size - got, got);
      if (count === 0) {
        problem(`shrank to ${got} bytes while being archived: the rest of its ${size} bytes is zeros`);
        break;
      }
      got += count;
    }
    return data;
  } finally {
    closeSync(fd);
  }
}

function* zeros(count: number): Generator<Buffer> {
  for (let left = count; left > 0; left -= READ_CHUNK) yield ZEROS.subarray(0, Math.min(READ_CHUNK, left));
}
