/**
 * One request's body, as its framing delimits it (`http/framing.ts`): read for a handler that asks
 * (`body()`, `body_bytes()`, `read_body()`), decoded if chunked, never past its end; and
 * afterwards skipped, so that what a handler left unread is not taken for the next request.
 *
 * `rfile` stays the raw stream, as in Python, and a handler may read the body from it directly:
 * positions in the stream (`rfile.consumed`) tell how much of a `Content-Length` body is left
 * whichever way it was read. A chunked body read partly around the decoder cannot be found again.
 * A Python-style `rfile` (a `BytesIO` in a test, with no `consumed`) is read through an adapter
 * that counts for it.
 */
import type { SocketReader } from "../socketserver/reader.js";
import { CHUNKED } from "../http/framing.js";
import { ChunkedReader, type BodySource } from "../http/chunked.js";

const EMPTY = Buffer.alloc(0);
/** The largest piece `body()` yields: what one socket read brings, at most. */
const CHUNK_BYTES = 64 * 1024;

/**
 * A request body the handler cannot take: too large (413), malformed or cut short (400), of a type
 * the reader does not understand (415). Thrown out of a handler, it becomes that error response
 * (when no response was started) and the connection closes.
 */
export class RequestBodyError extends Error {
  override name = "RequestBodyError";
  /** The HTTP status to answer with: 400, 413 or 415. */
  readonly status: number;

  constructor(status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
  }
}

/** Options of `body()` and `body_bytes()`. */
export interface BodyOptions {
  /**
   * The most bytes of (decoded) body accepted; a longer body is a `RequestBodyError` with status 413
   * — at once when `Content-Length` says so, before anything is read.
   * @default Infinity for `body()`, 1048576 (1 MiB) for `body_bytes()`
   */
  limit?: number;
}

/** What the body needs of `rfile`: a `SocketReader`, or a Python-style file behind `countingSource`. */
type Source = BodySource & { consumed: number; skip?(n: number): Promise<boolean> };

export class RequestBody {
  private readonly source: Source;
  /** `source.consumed` where the body starts. */
  private readonly start: number;
  /** `source.consumed` after the decoder's last read (chunked bodies). */
  private position: number;
  private decoder: ChunkedReader | null = null;

  /** `framing` is a length in bytes or `CHUNKED`. */
  constructor(
    rfile: SocketReader | PythonFile,
    private readonly framing: number,
  ) {
    this.source = typeof (rfile as SocketReader).consumed === "number" ? (rfile as SocketReader) : countingSource(rfile as PythonFile);
    this.start = this.position = this.source.consumed;
  }

  get chunked(): boolean {
    return this.framing === CHUNKED;
  }

  /** The length `Content-Length` announced; null for a chunked body. */
  get length(): number | null {
    return this.chunked ? null : this.framing;
  }

  /**
   * Up to `n` bytes of the body (all that is left when `n` is negative), decoded if chunked;
   * empty at its end.
   * @throws ChunkedEncodingError for a malformed chunked body
   */
  async read(n = -1): Promise<Buffer> {
    if (this.chunked) {
      const data = await this.chunkedReader().read(n);
      this.position = this.source.consumed;
      return data;
    }
    const left = this.left();
    if (left <= 0 || n === 0) return EMPTY;
    return this.source.read(n < 0 ? left : Math.min(n, left));
  }

  /**
   * The body's pieces as they arrive, decoded if chunked, each at most 64 KiB: memory stays flat
   * however large the body. Ends at the end of the body.
   * @throws RequestBodyError 413 past `limit`, 400 when the client stops before the end
   * @throws ChunkedEncodingError for a malformed chunked body
   */
  async *chunks(limit = Infinity): AsyncGenerator<Buffer, void, undefined> {
    checkLimit(limit);
    if (!this.chunked && this.framing > limit) throw tooLarge(limit);
    let total = 0;
    for (;;) {
      const data = await this.readChunk();
      if (data.length === 0) return;
      total += data.length;
      if (total > limit) throw tooLarge(limit);
      yield data;
    }
  }

  /**
   * The whole body in one Buffer, at most `limit` bytes.
   * @throws RequestBodyError 413 past `limit`, 400 when the client stops before the end
   */
  async bytes(limit = 1 << 20): Promise<Buffer> {
    const parts: Buffer[] = [];
    let total = 0;
    for await (const data of this.chunks(limit)) {
      parts.push(data);
      total += data.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
  }

  /** The next piece of the body (empty at its end). */
  private async readChunk(): Promise<Buffer> {
    if (this.chunked) {
      const data = await this.chunkedReader().read1(CHUNK_BYTES);
      this.position = this.source.consumed;
      return data;
    }
    const left = this.left();
    if (left <= 0) return EMPTY;
    const data = await this.source.read1(Math.min(left, CHUNK_BYTES));
    if (data.length === 0) {
      throw new RequestBodyError(400, `the client closed the connection ${left} bytes before the end of the body`);
    }
    return data;
  }

  /**
   * Reads and drops what is left of the body if that is at most `limit` bytes; returns whether
   * the stream is now at the next request (false: the connection must close).
   */
  async skip(limit: number): Promise<boolean> {
    if (!this.chunked) {
      const left = this.left();
      return left <= 0 || (left <= limit && (await skipBytes(this.source, left)));
    }
    if (this.decoder?.done) return true;
    if (this.source.consumed !== this.position) return false; // read around the decoder
    return this.chunkedReader().skip(limit).catch(() => false);
  }

  private chunkedReader(): ChunkedReader {
    return (this.decoder ??= new ChunkedReader(this.source));
  }

  /** Bytes of a `Content-Length` body not yet read, however they were read. */
  private left(): number {
    return this.framing - (this.source.consumed - this.start);
  }
}

/** What a Python-style `rfile` has: `read(n)` and `readline(n)`, returning bytes or Promises of them. */
export interface PythonFile {
  read(size?: number | null): Buffer | Uint8Array | Promise<Buffer | Uint8Array>;
  readline(size?: number | null): Buffer | Uint8Array | Promise<Buffer | Uint8Array>;
}

/** A `BodySource` over a Python-style file, counting what it reads (the file cannot tell). */
function countingSource(file: PythonFile): Source {
  const source: Source = {
    consumed: 0,
    async read(n = -1) {
      const data = asBuffer(await file.read(n));
      source.consumed += data.length;
      return data;
    },
    async read1(n = -1) {
      return source.read(n);
    },
    async readline(limit = -1) {
      const data = asBuffer(await file.readline(limit));
      source.consumed += data.length;
      return data;
    },
  };
  return source;
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Reads and drops `n` bytes; false when the stream ends first. */
async function skipBytes(source: Source, n: number): Promise<boolean> {
  if (source.skip) return source.skip(n);
  while (n > 0) {
    const data = await source.read(Math.min(n, CHUNK_BYTES));
    if (data.length === 0) return false;
    n -= data.length;
  }
  return true;
}

function checkLimit(limit: unknown): void {
  if (typeof limit !== "number" || Number.isNaN(limit) || limit < 0) {
    throw new TypeError(`body limit must be a number of bytes (0 or more, or Infinity); got ${String(limit)}`);
  }
}

function tooLarge(limit: number): RequestBodyError {
  return new RequestBodyError(413, `Request body larger than ${limit} bytes`);
}
