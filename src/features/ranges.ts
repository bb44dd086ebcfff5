/**
 * Byte ranges (RFC 9110 §14): parsing `Range: bytes=…` against a file's size, coalescing, the
 * `multipart/byteranges` layout, and a body that streams only the requested slices of a file.
 *
 * Turned on by the request itself (`Range` on a GET of a file); no flag or attribute. Not Python:
 * `http.server` ignores `Range`. See docs/FEATURES.md for the rules chosen.
 */

import type { FileIO, FileLike } from "../py/io.js";

/** A satisfiable range of a file: the first and last byte offsets, both included. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * What to do with a `Range` header:
 * - `ignore`: serve the whole file as usual (no header, a syntax error, another unit, or more
 *   than `MAX_RANGES` ranges once coalesced);
 * - `unsatisfiable`: answer 416 (every range starts at or beyond the end of the file);
 * - `partial`: answer 206 with these ranges, disjoint, non-adjacent, in the order requested.
 */
export type RangeDecision =
  | { kind: "ignore" }
  | { kind: "unsatisfiable" }
  | { kind: "partial"; ranges: ByteRange[] };

/**
 * The most ranges served in one response, after coalescing. More, and the header is ignored and
 * the whole file sent (nginx's `max_ranges` behaviour): many tiny parts would make the
 * multipart framing outweigh the bytes asked for.
 */
export const MAX_RANGES = 16;

const IGNORE: RangeDecision = { kind: "ignore" };
const UNSATISFIABLE: RangeDecision = { kind: "unsatisfiable" };

/** `first-pos "-" [last-pos]` or `"-" suffix-length`, digits only. */
const RANGE_SPEC = /^(\d*)-(\d*)$/;

/**
 * Decides how to answer `Range: <value>` for a file of `size` bytes:
 * - `a-b` is bytes a to b, `a-` is a to the end, `-n` the last n bytes; an end beyond the file is
 *   clamped to its last byte;
 * - a range that starts at or beyond the end (or `-0`) is unsatisfiable and dropped; if none is
 *   left, the answer is 416;
 * - `b < a`, a missing `bytes=`, a non-digit or an empty set makes the whole header invalid,
 *   and an invalid header is ignored (RFC 9110 §14.2);
 * - overlapping or adjacent ranges are merged into one, which keeps the position of the first.
 *
 * ```ts
 * decideRanges("bytes=0-4,-3", 10) // { kind: "partial", ranges: [{start: 0, end: 4}, {start: 7, end: 9}] }
 * decideRanges("bytes=20-", 10)    // { kind: "unsatisfiable" }
 * decideRanges("bytes=5-1", 10)    // { kind: "ignore" }
 * ```
 */
export function decideRanges(value: string, size: number): RangeDecision {
  const specs = parseRangeSet(value);
  if (specs === null) return IGNORE;
  const satisfiable: ByteRange[] = [];
  for (const [first, last] of specs) {
    const range = first === null ? suffixRange(last!, size) : intRange(first, last, size);
    if (range) satisfiable.push(range);
  }
  if (satisfiable.length === 0) return UNSATISFIABLE;
  const ranges = coalesce(satisfiable);
  return ranges.length > MAX_RANGES ? IGNORE : { kind: "partial", ranges };
}

/** The range specs as `[first, last]` (null where omitted), or null for an invalid header. */
function parseRangeSet(value: string): [bigint | null, bigint | null][] | null {
  const equals = value.indexOf("=");
  if (equals < 0 || value.slice(0, equals).trim().toLowerCase() !== "bytes") return null;
  const specs: [bigint | null, bigint | null][] = [];
  for (const element of value.slice(equals + 1).split(",")) {
    const text = element.trim();
    if (text === "") continue; // a list may hold empty elements (RFC 9110 §5.6.1)
    const match = RANGE_SPEC.exec(text);
    if (!match || (match[1] === "" && match[2] === "")) return null;
    const first = match[1] === "" ? null : BigInt(match[1]!);
    const last = match[2] === "" ? null : BigInt(match[2]!);
    if (first !== null && last !== null && last < first) return null;
    specs.push([first, last]);
  }
  return specs.length ? specs : null;
}

function intRange(first: bigint, last: bigint | null, size: number): ByteRange | null {
  if (first >= BigInt(size)) return null;
  const end = last === null || last >= BigInt(size) ? size - 1 : Number(last);
  return { start: Number(first), end };
}

function suffixRange(length: bigint, size: number): ByteRange | null {
  if (length === 0n || size === 0) return null;
  return { start: length >= BigInt(size) ? 0 : size - Number(length), end: size - 1 };
}

/**
 * Merges overlapping and adjacent ranges. The result keeps the request's order (RFC 9110 §14.6:
 * parts in the order asked), a merged range taking the place of its earliest member.
 */
export function coalesce(ranges: readonly ByteRange[]): ByteRange[] {
  const byStart = ranges.map((range, order) => ({ ...range, order })).sort((a, b) => a.start - b.start);
  const merged: { start: number; end: number; order: number }[] = [];
  for (const range of byStart) {
    const last = merged[merged.length - 1];
    if (last && range.start <= last.end + 1) {
      last.end = Math.max(last.end, range.end);
      last.order = Math.min(last.order, range.order);
    } else {
      merged.push(range);
    }
  }
  return merged.sort((a, b) => a.order - b.order).map(({ start, end }) => ({ start, end }));
}

/** `bytes a-b/size`, the `Content-Range` of a part. */
export function contentRange({ start, end }: ByteRange, size: number): string {
  return `bytes ${start}-${end}/${size}`;
}

/** The `Content-Range` of a 416: `bytes` then an asterisk, a slash and the size. */
export function unsatisfiedRange(size: number): string {
  return `bytes */${size}`;
}

/** A piece of a response body: literal bytes, or a range of the file. */
export type Segment = Buffer | ByteRange;

/** A `multipart/byteranges` body laid out in advance: its type, its segments and exact length. */
export interface MultipartLayout {
  contentType: string;
  segments: Segment[];
  length: number;
}

/** A boundary that cannot be guessed, so a file cannot contain it by design. */
export function makeBoundary(): string {
  return process.getBuiltinModule("node:crypto").randomBytes(16).toString("hex");
}

/**
 * Lays out the multipart body for `ranges` of a file of `size` bytes and type `type`. Each part
 * has its own `Content-Type` and `Content-Range`:
 *
 * ```text
 * --B\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-4/10\r\n\r\n<bytes 0-4>
 * \r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 7-9/10\r\n\r\n<bytes 7-9>
 * \r\n--B--\r\n
 * ```
 */
export function multipartLayout(ranges: readonly ByteRange[], size: number, type: string, boundary = makeBoundary()): MultipartLayout {
  const segments: Segment[] = [];
  let length = 0;
  ranges.forEach((range, index) => {
    const head = Buffer.from(
      `${index ? "\r\n" : ""}--${boundary}\r\nContent-Type: ${type}\r\nContent-Range: ${contentRange(range, size)}\r\n\r\n`,
      "latin1",
    );
    segments.push(head, range);
    length += head.length + rangeLength(range);
  });
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, "latin1");
  segments.push(tail);
  length += tail.length;
  return { contentType: `multipart/byteranges; boundary=${boundary}`, segments, length };
}

/** The number of bytes in a range. */
export function rangeLength({ start, end }: ByteRange): number {
  return end - start + 1;
}

const EMPTY = Buffer.alloc(0);

/**
 * A body made of literal bytes and ranges of an open file, read in order. File ranges are read
 * at their offsets, `n` bytes at most at a time, so memory stays flat whatever the ranges' size.
 * Closing it closes the file.
 */
export class SegmentedBody implements FileLike {
  private index = 0;
  private offset = 0; // within the current segment

  /** `file`: the open file, or its content in memory (a small file). */
  constructor(private readonly file: FileIO | Buffer, private readonly segments: readonly Segment[]) {}

  async read(n = -1): Promise<Buffer> {
    for (;;) {
      const segment = this.segments[this.index];
      if (segment === undefined) return EMPTY;
      const remaining = (Buffer.isBuffer(segment) ? segment.length : rangeLength(segment)) - this.offset;
      if (remaining <= 0) {
        this.index++;
        this.offset = 0;
        continue;
      }
      const count = n < 0 ? remaining : Math.min(n, remaining);
      if (count === 0) return EMPTY;
      const chunk = Buffer.isBuffer(segment)
        ? segment.subarray(this.offset, this.offset + count)
        : await this.readFile(segment.start + this.offset, count);
      // A file that shrank under us ends the body early, as Python's copy of a whole file would.
      if (chunk.length === 0) this.index = this.segments.length;
      this.offset += chunk.length;
      return chunk;
    }
  }

  private async readFile(position: number, count: number): Promise<Buffer> {
    if (Buffer.isBuffer(this.file)) return this.file.subarray(position, position + count);
    const buffer = Buffer.allocUnsafe(count);
    const { bytesRead } = await this.file.handle.read(buffer, 0, count, position);
    return bytesRead === count ? buffer : buffer.subarray(0, bytesRead);
  }

  close(): Promise<void> | void {
    if (!Buffer.isBuffer(this.file)) return this.file.close();
  }
}
