/**
 * One request's body, as its framing delimits it (`http/framing.ts`): read for a handler that asks
 * (`read_body()`), decoded if chunked, never past its end; and afterwards skipped, so that what a
 * handler left unread is not taken for the next request.
 *
 * `rfile` stays the raw stream, as in Python, and a handler may read the body from it directly:
 * positions in the stream (`rfile.consumed`) tell how much of a `Content-Length` body is left
 * whichever way it was read. A chunked body read partly around the decoder cannot be found again.
 */
import type { SocketReader } from "../socketserver/reader.js";
import { CHUNKED } from "../http/framing.js";
import { ChunkedReader } from "../http/chunked.js";

const EMPTY = Buffer.alloc(0);

export class RequestBody {
  /** `rfile.consumed` where the body starts. */
  private readonly start: number;
  /** `rfile.consumed` after the decoder's last read (chunked bodies). */
  private position: number;
  private decoder: ChunkedReader | null = null;

  /** `framing` is a length in bytes or `CHUNKED`. */
  constructor(
    private readonly rfile: SocketReader,
    private readonly framing: number,
  ) {
    this.start = this.position = rfile.consumed;
  }

  get chunked(): boolean {
    return this.framing === CHUNKED;
  }

  /**
   * Up to `n` bytes of the body (all that is left when `n` is negative), decoded if chunked;
   * empty at its end.
   * @throws ChunkedEncodingError for a malformed chunked body
   */
  async read(n = -1): Promise<Buffer> {
    if (this.chunked) {
      this.decoder ??= new ChunkedReader(this.rfile);
      const data = await this.decoder.read(n);
      this.position = this.rfile.consumed;
      return data;
    }
    const left = this.left();
    if (left <= 0 || n === 0) return EMPTY;
    return this.rfile.read(n < 0 ? left : Math.min(n, left));
  }

  /**
   * Reads and drops what is left of the body if that is at most `limit` bytes; returns whether
   * the stream is now at the next request (false: the connection must close).
   */
  async skip(limit: number): Promise<boolean> {
    if (!this.chunked) {
      const left = this.left();
      return left <= 0 || (left <= limit && (await this.rfile.skip(left)));
    }
    if (this.decoder?.done) return true;
    if (this.rfile.consumed !== this.position) return false; // read around the decoder
    this.decoder ??= new ChunkedReader(this.rfile);
    return this.decoder.skip(limit).catch(() => false);
  }

  /** Bytes of a `Content-Length` body not yet read, however they were read. */
  private left(): number {
    return this.framing - (this.rfile.consumed - this.start);
  }
}
