/**
 * The head of a file response when a request or the handler's options ask for more than Python
 * does: preconditions and ETags (conditional.ts), ranges (ranges.ts), content codings
 * (compression.ts) and `Cache-Control` (headers.ts). `send_head` calls `sendFileHead` only then
 * (`needsFileFeatures`: one of `etag`, `compress`, `precompressed`, `cache_control` is on, or the
 * request sends `If-Match`, `If-Unmodified-Since` or `Range`); every other file response is
 * Python's own.
 *
 * Header order of a file response (Python's three keep their places):
 * `Content-type`, [`Content-Encoding`], [`Content-Range`], `Content-Length` (not when compressed
 * on the fly), `Last-Modified`, [`ETag`], [`Vary`], [`Cache-Control`], [`Transfer-Encoding` or
 * `Connection`]; then what `end_headers()` adds to every response (CORS, extra headers).
 *
 * What is sent is chosen from stats (the file's and its precompressed siblings'), and only the
 * file to send is then opened: from memory when it is small (the small-file cache,
 * server/file_cache.ts), or not at all when its compression is cached. So a precompressed file, or
 * a file with `--etag`, costs what Python's plain file costs (a stat, and a read from memory).
 *
 * compression.ts is loaded with `compress` or `precompressed` (server/feature_modules.ts), and
 * read here as `loaded.compression` only where one of them is on.
 */
import { accessSync, constants, type Stats } from "node:fs";
import { BytesIO, FileIO, type FileLike } from "../py/io.js";
import { fsPath } from "../py/codecs.js";
import type { SimpleHTTPRequestHandler } from "../server/simple_handler.js";
import { smallFiles } from "../server/file_cache.js";
import { evaluatePreconditions, fileETag, ifRangeHolds } from "./conditional.js";
import { contentRange, decideRanges, multipartLayout, rangeLength, SegmentedBody, unsatisfiedRange, type ByteRange } from "./ranges.js";
import type { Coding, FoundPrecompressed } from "./compression.js";
import { loadFeature, loaded } from "../server/feature_modules.js";

type Handler = SimpleHTTPRequestHandler<any>;

/**
 * Whether a file response needs `sendFileHead`: an option that changes file responses is on, or
 * the request carries a header that Python ignores and we evaluate (`If-Match`,
 * `If-Unmodified-Since`, or `Range` on a GET).
 */
export function needsFileFeatures(handler: Handler): boolean {
  if (handler.etag || handler.compress || handler.precompressed || handler.cache_control !== null) return true;
  const headers = handler.headers;
  return headers.has("If-Match") || headers.has("If-Unmodified-Since") || (handler.command === "GET" && headers.has("Range"));
}

/** The file chosen to answer with (the one asked for, or a precompressed sibling). */
interface Representation {
  path: string;
  stats: Stats;
  /** The coding of a precompressed file served as is. */
  coding: Coding | null;
  /** Whether responses for this URL vary with `Accept-Encoding`. */
  vary: boolean;
}

/** The representation's content, opened: in memory (`data`) or on disk (`file`), with the stats of what was opened. */
interface Opened {
  stats: Stats;
  data: Buffer | null;
  file: FileIO | null;
}

/**
 * Sends the head of the response for the file at `path` (a regular file, as `stats` says; of type
 * `ctype`) and returns its body, or null when there is none (304, 412, 416), or when the file
 * cannot be opened (`404 File not found`, sent here, as Python's `open()` failing would).
 */
export async function sendFileHead(handler: Handler, path: string, ctype: string, stats: Stats): Promise<FileLike | null> {
  if ((handler.compress || handler.precompressed) && loaded.compression === undefined) await loadFeature("compression");
  const unopened = new Set<Coding>();
  for (;;) {
    const choosing = chooseRepresentation(handler, path, stats, unopened);
    const rep = choosing instanceof Promise ? await choosing : choosing;
    const onTheFly = compressionFor(handler, rep, ctype, rep.stats);
    // A kept compression needs no file: the stat just taken has validated it.
    const replay = onTheFly && handler.compress_cache ? loaded.compression!.cachedCompression(rep.path, onTheFly, rep.stats) : null;
    if (replay) return respond(handler, rep, ctype, { stats: rep.stats, data: null, file: null }, onTheFly, replay);
    const opened = openRepresentation(rep, path, stats);
    const content = opened instanceof Promise ? await opened : opened;
    if (content) {
      try {
        return await respond(handler, rep, ctype, content, compressionFor(handler, rep, ctype, content.stats), null);
      } catch (error) {
        await content.file?.close();
        throw error;
      }
    }
    if (rep.coding === null) {
      // Python's `open()` failed: missing, unreadable, a NUL in the name.
      await handler.send_error(404, "File not found");
      return null;
    }
    // A precompressed sibling that cannot be opened is as if absent.
    unopened.add(rep.coding);
  }
}

/**
 * The precompressed sibling the client accepts, if that option is on; else the file itself.
 * `unopened`: codings whose file could not be opened, as if absent.
 */
function chooseRepresentation(handler: Handler, path: string, stats: Stats, unopened: ReadonlySet<Coding>): Representation | Promise<Representation> {
  if (!handler.precompressed) return { path, stats, coding: null, vary: false };
  const confinedTo = handler.follow_symlinks ? null : handler.directory;
  const found = loaded.compression!.findPrecompressed(path, handler.headers.get_all("Accept-Encoding"), confinedTo, unopened, stats);
  const represent = ({ chosen, any }: FoundPrecompressed): Representation =>
    chosen ? { path: chosen.path, stats: chosen.stats, coding: chosen.coding, vary: true } : { path, stats, coding: null, vary: any };
  return found instanceof Promise ? found.then(represent) : represent(found);
}

/** Whether compressing on the fly applies: the option, a compressible type of at least 1 KiB. */
function compressible(handler: Handler, rep: Representation, ctype: string, stats: Stats): boolean {
  if (rep.coding !== null || !handler.compress) return false;
  const { isCompressible, COMPRESS_MIN_SIZE } = loaded.compression!;
  return isCompressible(ctype) && stats.size >= COMPRESS_MIN_SIZE;
}

/**
 * The coding to compress this response with on the fly, or null. Ranges count in identity
 * bytes, so a request with a Range header is never compressed.
 */
function compressionFor(handler: Handler, rep: Representation, ctype: string, stats: Stats): Coding | null {
  if (!compressible(handler, rep, ctype, stats) || handler.headers.has("Range")) return null;
  return loaded.compression!.chooseCoding(handler.headers.get_all("Accept-Encoding"));
}

/**
 * Opens the representation: from the small-file cache when it is small (validated by its stat),
 * else on disk. Null when it cannot be opened. A precompressed sibling is served only while the
 * file asked for is readable, as when that file was opened first.
 */
function openRepresentation(rep: Representation, path: string, stats: Stats): Opened | null | Promise<Opened | null> {
  if (rep.coding !== null && !readable(path, stats)) return null;
  if (rep.stats.size <= smallFiles.maxFileSize) {
    try {
      const cached = smallFiles.lookup(rep.path, rep.stats, fsPath(rep.path));
      if (cached) return { stats: cached.stats, data: cached.data, file: null };
    } catch {
      return null;
    }
  }
  return FileIO.openRegular(fsPath(rep.path)).then((opened) => opened && { stats: opened.stats, data: null, file: opened.file });
}

/**
 * Whether `path` (whose stat is `stats`) can be opened for reading. A file that everyone may read
 * needs no `access()` call: only a POSIX ACL entry naming this process's user could refuse it, and
 * serving the file's precompressed sibling then is the one difference.
 */
function readable(path: string, stats: Stats): boolean {
  if ((stats.mode & constants.S_IROTH) !== 0) return true;
  try {
    accessSync(fsPath(path), constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** The content as a body: the memory file, or the open file. */
function bodyOf(content: Opened): FileLike {
  return content.data ? new BytesIO(content.data) : content.file!;
}

async function respond(handler: Handler, rep: Representation, ctype: string, content: Opened, onTheFly: Coding | null, replay: FileLike | null): Promise<FileLike | null> {
  const { stats } = content;
  const etag = handler.etag ? fileETag(stats) : null;
  const vary = rep.vary || compressible(handler, rep, ctype, stats);
  const verdict = evaluatePreconditions(handler.headers, stats.mtimeMs, etag);
  if (verdict === "precondition-failed") {
    await content.file?.close();
    await handler.send_error(412);
    return null;
  }
  if (verdict === "not-modified") {
    handler.send_response(304);
    sendCacheHeaders(handler, etag, vary);
    await handler.end_headers();
    await content.file?.close();
    return null;
  }

  const range = handler.command === "GET" ? handler.headers.get("Range") : undefined;
  if (range !== undefined && ifRangeHolds(handler.headers.get("If-Range"), stats.mtimeMs, etag)) {
    const decision = decideRanges(range, stats.size);
    if (decision.kind === "unsatisfiable") {
      await content.file?.close();
      handler.defer_header("Content-Range", unsatisfiedRange(stats.size));
      await handler.send_error(416);
      return null;
    }
    if (decision.kind === "partial") return sendPartial(handler, rep, ctype, content, etag, vary, decision.ranges);
  }

  handler.send_response(200);
  handler.send_header("Content-type", ctype);
  const coding = rep.coding ?? onTheFly;
  if (coding) handler.send_header("Content-Encoding", coding);
  if (!onTheFly) handler.send_header("Content-Length", String(stats.size));
  handler.send_header("Last-Modified", handler.date_time_string(stats.mtimeMs / 1000));
  sendCacheHeaders(handler, etag, vary);
  if (!onTheFly) {
    await handler.end_headers();
    return bodyOf(content);
  }
  const record = handler.compress_cache ? { path: rep.path, stats } : null;
  const { ChunkedBody, CompressedBody } = loaded.compression!;
  const body = replay ?? new CompressedBody(bodyOf(content), onTheFly, stats.size, record);
  // No length is known in advance: chunks on HTTP/1.1, else the end of the connection.
  if (handler.request_version >= "HTTP/1.1" && handler.protocol_version >= "HTTP/1.1") {
    handler.send_header("Transfer-Encoding", "chunked");
    await handler.end_headers();
    return new ChunkedBody(body);
  }
  if (!handler.close_connection) handler.send_header("Connection", "close");
  await handler.end_headers();
  return body;
}

/** 206: one range as is, several as `multipart/byteranges`. */
async function sendPartial(handler: Handler, rep: Representation, ctype: string, content: Opened, etag: string | null, vary: boolean, ranges: ByteRange[]): Promise<FileLike> {
  const { stats } = content;
  const source = content.data ?? content.file!;
  handler.send_response(206);
  let body: SegmentedBody;
  if (ranges.length === 1) {
    const range = ranges[0]!;
    handler.send_header("Content-type", ctype);
    if (rep.coding) handler.send_header("Content-Encoding", rep.coding);
    handler.send_header("Content-Range", contentRange(range, stats.size));
    handler.send_header("Content-Length", String(rangeLength(range)));
    body = new SegmentedBody(source, ranges);
  } else {
    const layout = multipartLayout(ranges, stats.size, ctype);
    handler.send_header("Content-type", layout.contentType);
    if (rep.coding) handler.send_header("Content-Encoding", rep.coding);
    handler.send_header("Content-Length", String(layout.length));
    body = new SegmentedBody(source, layout.segments);
  }
  handler.send_header("Last-Modified", handler.date_time_string(stats.mtimeMs / 1000));
  sendCacheHeaders(handler, etag, vary);
  await handler.end_headers();
  return body;
}

/** `ETag`, `Vary` and `Cache-Control`: on 200, 206 and 304 alike (RFC 9110 §15.4.5). */
function sendCacheHeaders(handler: Handler, etag: string | null, vary: boolean): void {
  if (etag !== null) handler.send_header("ETag", etag);
  if (vary) handler.send_header("Vary", "Accept-Encoding");
  if (handler.cache_control !== null) handler.send_header("Cache-Control", handler.cache_control);
}
