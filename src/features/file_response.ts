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
 */
import type { Stats } from "node:fs";
import type { FileIO, FileLike } from "../py/io.js";
import type { SimpleHTTPRequestHandler } from "../server/simple_handler.js";
import { evaluatePreconditions, fileETag, ifRangeHolds } from "./conditional.js";
import { contentRange, decideRanges, multipartLayout, rangeLength, SegmentedBody, unsatisfiedRange, type ByteRange } from "./ranges.js";
import { chooseCoding, ChunkedBody, COMPRESS_MIN_SIZE, CompressedBody, isCompressible, openPrecompressed, type Coding } from "./compression.js";

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

/** The file chosen to answer with, and what its response states about it. */
interface Representation {
  file: FileIO;
  stats: Stats;
  /** The coding of a precompressed file served as is. */
  coding: Coding | null;
  etag: string | null;
  /** Whether responses for this URL vary with `Accept-Encoding`. */
  vary: boolean;
  /** Whether it would be compressed on the fly for a client that accepts a coding. */
  compressible: boolean;
}

/**
 * Sends the head of the response for `file` (the file at `path`, of type `ctype`) and returns its
 * body, or null when there is none (304, 412, 416). Closes `file` when it is not returned.
 */
export async function sendFileHead(handler: Handler, file: FileIO, path: string, ctype: string, stats: Stats): Promise<FileLike | null> {
  const representation = await chooseRepresentation(handler, file, path, ctype, stats);
  try {
    return await respond(handler, representation, ctype);
  } catch (error) {
    await representation.file.close();
    throw error;
  }
}

/** Picks the precompressed sibling the client accepts, if that option is on; else `file`. */
async function chooseRepresentation(handler: Handler, file: FileIO, path: string, ctype: string, stats: Stats): Promise<Representation> {
  let coding: Coding | null = null;
  let vary = false;
  if (handler.precompressed) {
    const { found, chosen } = await openPrecompressed(
      path,
      handler.headers.get_all("Accept-Encoding"),
      handler.follow_symlinks ? null : handler.directory,
    );
    vary = found.length > 0;
    if (chosen) {
      await file.close();
      ({ file, stats, coding } = chosen);
    }
  }
  const compressible = coding === null && handler.compress && isCompressible(ctype) && stats.size >= COMPRESS_MIN_SIZE;
  const etag = handler.etag ? fileETag(stats) : null;
  return { file, stats, coding, etag, vary: vary || compressible, compressible };
}

async function respond(handler: Handler, rep: Representation, ctype: string): Promise<FileLike | null> {
  const { file, stats, etag } = rep;
  const verdict = evaluatePreconditions(handler.headers, stats.mtimeMs, etag);
  if (verdict === "precondition-failed") {
    await file.close();
    await handler.send_error(412);
    return null;
  }
  if (verdict === "not-modified") {
    handler.send_response(304);
    sendCacheHeaders(handler, rep);
    await handler.end_headers();
    await file.close();
    return null;
  }

  const range = handler.command === "GET" ? handler.headers.get("Range") : undefined;
  if (range !== undefined && ifRangeHolds(handler.headers.get("If-Range"), stats.mtimeMs, etag)) {
    const decision = decideRanges(range, stats.size);
    if (decision.kind === "unsatisfiable") {
      await file.close();
      handler.defer_header("Content-Range", unsatisfiedRange(stats.size));
      await handler.send_error(416);
      return null;
    }
    if (decision.kind === "partial") return sendPartial(handler, rep, ctype, decision.ranges);
  }

  // Ranges count in identity bytes, so a request with a Range header is never compressed.
  const onTheFly = rep.compressible && !handler.headers.has("Range") ? chooseCoding(handler.headers.get_all("Accept-Encoding")) : null;
  handler.send_response(200);
  handler.send_header("Content-type", ctype);
  const coding = rep.coding ?? onTheFly;
  if (coding) handler.send_header("Content-Encoding", coding);
  if (!onTheFly) handler.send_header("Content-Length", String(stats.size));
  handler.send_header("Last-Modified", handler.date_time_string(stats.mtimeMs / 1000));
  sendCacheHeaders(handler, rep);
  if (!onTheFly) {
    await handler.end_headers();
    return file;
  }
  const body = new CompressedBody(file, onTheFly, stats.size);
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
async function sendPartial(handler: Handler, rep: Representation, ctype: string, ranges: ByteRange[]): Promise<FileLike> {
  const { file, stats } = rep;
  handler.send_response(206);
  let body: SegmentedBody;
  if (ranges.length === 1) {
    const range = ranges[0]!;
    handler.send_header("Content-type", ctype);
    if (rep.coding) handler.send_header("Content-Encoding", rep.coding);
    handler.send_header("Content-Range", contentRange(range, stats.size));
    handler.send_header("Content-Length", String(rangeLength(range)));
    body = new SegmentedBody(file, ranges);
  } else {
    const layout = multipartLayout(ranges, stats.size, ctype);
    handler.send_header("Content-type", layout.contentType);
    if (rep.coding) handler.send_header("Content-Encoding", rep.coding);
    handler.send_header("Content-Length", String(layout.length));
    body = new SegmentedBody(file, layout.segments);
  }
  handler.send_header("Last-Modified", handler.date_time_string(stats.mtimeMs / 1000));
  sendCacheHeaders(handler, rep);
  await handler.end_headers();
  return body;
}

/** `ETag`, `Vary` and `Cache-Control`: on 200, 206 and 304 alike (RFC 9110 §15.4.5). */
function sendCacheHeaders(handler: Handler, rep: Representation): void {
  if (rep.etag !== null) handler.send_header("ETag", rep.etag);
  if (rep.vary) handler.send_header("Vary", "Accept-Encoding");
  if (handler.cache_control !== null) handler.send_header("Cache-Control", handler.cache_control);
}
