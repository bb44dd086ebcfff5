/**
 * Decoding a `Transfer-Encoding: chunked` request body (RFC 9112 §7.1): chunks of data, each
 * announced by its size in hex on a line of its own (extensions after `;` are ignored) and
 * followed by CRLF, up to a chunk of size 0, then trailer lines and a blank line.
 *
 * Strict where leniency lets two parsers disagree about where the body ends: every line ends in
 * CRLF, a size is 1–15 hex digits, the data is followed by exactly CRLF. Every line is bounded, so
 * a client cannot make it buffer without limit.
 */
import { HTTPException, MAXHEADERS, MAXLINE } from "./message.js";

/** What the decoder needs of `rfile`. */
export interface BodySource {
  readline(limit?: number): Promise<Buffer>;
  readlineIfBuffered?(limit?: number): Buffer | null;
  read(n?: number): Promise<Buffer>;
  read1(n?: number): Promise<Buffer>;
}

/** A malformed chunked body; the connection cannot be used for another request. */
export class ChunkedEncodingError extends HTTPException {
  override name = "ChunkedEncodingError";
}

/** The longest chunk-size line, extensions and CRLF included (Node's llhttp allows 16 KiB). */
const MAX_SIZE_LINE = 16 * 1024;
/** More hex digits than this could lose precision as a JavaScript number. */
const MAX_SIZE_DIGITS = 13;
/** Bytes skipped per read by `skip()`. */
const SKIP_CHUNK = 64 * 1024;
const EMPTY = Buffer.alloc(0);
const CR = 0x0d;
const LF = 0x0a;

export class ChunkedReader {
  /** Bytes left in the current chunk. */
  private remaining = 0;
  /** The current chunk's data has been read and its CRLF has not. */
  private dataEnded = false;
  /** The last chunk and the trailers have been read. */
  done = false;

  constructor(private readonly source: BodySource) {}

  /** Up to `n` bytes of decoded data (all that is left when `n` is negative); empty at the end. */
  async read(n = -1): Promise<Buffer> {
    const parts: Buffer[] = [];
    let total = 0;
    while (!this.done && (n < 0 || total < n)) {
      if (this.remaining === 0) {
        await this.nextChunk();
        continue;
      }
      const want = n < 0 ? this.remaining : Math.min(this.remaining, n - total);
      const data = await this.source.read1(want);
      if (data.length === 0) throw new ChunkedEncodingError("connection closed inside a chunk");
      this.remaining -= data.length;
      if (this.remaining === 0) this.dataEnded = true;
      parts.push(data);
      total += data.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
  }

  /**
   * Up to `n` bytes of decoded data, from one chunk, waiting only when none is buffered (Python's
   * `read1`): what a streaming reader wants, never holding more than arrived. Empty at the end.
   */
  async read1(n = 64 * 1024): Promise<Buffer> {
    while (!this.done && this.remaining === 0) await this.nextChunk();
    if (this.done) return EMPTY;
    const data = await this.source.read1(Math.min(this.remaining, n));
    if (data.length === 0) throw new ChunkedEncodingError("connection closed inside a chunk");
    this.remaining -= data.length;
    if (this.remaining === 0) this.dataEnded = true;
    return data;
  }

  /**
   * Reads and drops the rest of the body, if it ends within `limit` more bytes of data; returns
   * whether it did (false: the connection must close, its position in the stream unknown).
   */
  async skip(limit: number): Promise<boolean> {
    let skipped = 0;
    while (!this.done) {
      if (skipped > limit) return false;
      skipped += (await this.read(Math.min(SKIP_CHUNK, limit - skipped + 1))).length;
    }
    return skipped <= limit;
  }

  /** Reads the CRLF after the previous chunk's data, then the next chunk-size line. */
  private async nextChunk(): Promise<void> {
    if (this.dataEnded) {
      const crlf = await this.source.read(2);
      if (crlf.length !== 2 || crlf[0] !== CR || crlf[1] !== LF) {
        throw new ChunkedEncodingError("chunk data not followed by CRLF");
      }
      this.dataEnded = false;
    }
    const size = parseChunkSize(await this.line(MAX_SIZE_LINE, "chunk size line"));
    if (size > 0) {
      this.remaining = size;
      return;
    }
    await this.skipTrailers();
    this.done = true;
  }

  /** Trailer fields are read (bounded as headers are) and dropped, up to the blank line. */
  private async skipTrailers(): Promise<void> {
    for (let count = 0; ; count++) {
      if (count >= MAXHEADERS) throw new ChunkedEncodingError(`got more than ${MAXHEADERS} trailer lines`);
      const line = await this.line(MAXLINE, "trailer line");
      if (line.length === 2) return;
    }
  }

  /** One line ending in CRLF, of at most `limit` bytes. */
  private async line(limit: number, what: string): Promise<Buffer> {
    const line = this.source.readlineIfBuffered?.(limit + 1) ?? (await this.source.readline(limit + 1));
    if (line.length > limit) throw new ChunkedEncodingError(`${what} too long`);
    const n = line.length;
    if (n < 2 || line[n - 1] !== LF || line[n - 2] !== CR) throw new ChunkedEncodingError(`${what} not ended by CRLF`);
    return line;
  }
}

/** `chunk-size [ chunk-ext ] CRLF`: the size in hex, then nothing or `;` extensions (after spaces or tabs). */
export function parseChunkSize(line: Buffer): number {
  const end = line.length - 2;
  let i = 0;
  let size = 0;
  while (i < end && hexValue(line[i]!) >= 0) {
    size = size * 16 + hexValue(line[i]!);
    i++;
  }
  if (i === 0 || i > MAX_SIZE_DIGITS) throw new ChunkedEncodingError("bad chunk size");
  while (i < end && (line[i] === 0x20 || line[i] === 0x09)) i++;
  if (i < end && line[i] !== 0x3b) throw new ChunkedEncodingError("bad chunk size");
  // Extensions are ignored; a bare CR or LF inside them is not.
  for (; i < end; i++) if (line[i] === CR || line[i] === LF) throw new ChunkedEncodingError("bad chunk extension");
  return size;
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  return -1;
}
