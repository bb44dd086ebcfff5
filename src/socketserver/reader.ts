/**
 * `rfile`: an async buffered reader over a socket, with the semantics of Python's
 * `BufferedReader`: `read(n)` returns n bytes unless the stream ends first, `read()` reads to the end,
 * `readline(limit)` stops after `\n`, after `limit` bytes, or at the end.
 *
 * Bytes are held as the socket delivered them (no copying until a read spans chunks), and the socket
 * is paused while more than `highWaterMark` bytes wait unread, so a client cannot make the server
 * buffer without bound: only a read that asks for more resumes it.
 *
 * A client sending a byte per TCP segment must not cost more than one sending the same bytes at
 * once: small chunks arriving behind unread bytes are copied into a buffer of our own (a Buffer
 * per byte held about 500 bytes of memory), and a line is searched for from where the last search
 * stopped, never from its start (which made such a line's cost quadratic).
 */
import type { Duplex } from "node:stream";
import { describeValue } from "./address.js";

const EMPTY = Buffer.alloc(0);
const NEWLINE = 0x0a;
/** Chunks up to this size that arrive behind unread bytes are copied rather than kept. */
const SMALL_CHUNK = 1024;
/** The size of the buffers small chunks are copied into. */
const COALESCE_SIZE = 16 * 1024;

/** Python's `TimeoutError('timed out')`, raised by reads and writes when `timeout` expires. */
export class SocketTimeoutError extends Error {
  override name = "TimeoutError";
  constructor() {
    super("timed out");
  }
}

export class SocketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes at the start of the buffer already known to hold no newline. */
  private scanned = 0;
  /** Where the next search for a newline resumes: a chunk's index, and that chunk's offset. */
  private scanIndex = 0;
  private scanOffset = 0;
  /** Our own buffer that small chunks are copied into; its first `tailEnd` bytes are used. */
  private tail: Buffer = EMPTY;
  private tailEnd = 0;
  private ended = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private paused = false;
  closed = false;
  /** Bytes the socket has delivered so far (read or not): a change means the peer sent something. */
  received = 0;

  constructor(
    private readonly socket: Duplex,
    private readonly highWaterMark = 64 * 1024,
  ) {
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("close", this.onEnd);
    // Before `close` (which comes a loop iteration later): a read waiting on a reset connection
    // fails with the error, rather than ending as if the peer had finished.
    socket.on("error", this.onError);
    // Accepted sockets start paused (the accept queue must not read ahead); reading starts here.
    socket.resume();
  }

  /** Bytes received and not yet read. */
  get pending(): number {
    return this.buffered;
  }

  /** Bytes taken by reads so far: how far into the stream the reader is. */
  get consumed(): number {
    return this.received - this.buffered;
  }

  /** True while a read waits for bytes from the peer. */
  get waiting(): boolean {
    return this.wake !== null;
  }

  /** True once the peer has finished sending (or the socket failed) and every byte was read. */
  get atEnd(): boolean {
    return this.buffered === 0 && (this.ended || this.failure !== null);
  }

  private readonly onData = (chunk: Buffer) => {
    if (this.closed) return; // the handler is done: what the peer still sends is dropped
    if (chunk.length <= SMALL_CHUNK && this.chunks.length > 0) this.append(chunk);
    else this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.received += chunk.length;
    if (this.buffered > this.highWaterMark && !this.wake) this.pause();
    this.notify();
  };

  private readonly onEnd = () => {
    this.ended = true;
    this.notify();
  };


  private readonly onError = (error: Error) => {
    this.failure ??= error;
    this.notify();
  };

  /**
   * Adds a small chunk behind unread bytes by copying it into `tail`: onto the end of the last
   * chunk when that ends where the used part of `tail` does, else as a chunk of its own there. A
   * new `tail` is made when the chunk does not fit.
   */
  private append(chunk: Buffer): void {
    let tail = this.tail;
    const start = this.tailEnd;
    if (start + chunk.length > tail.length) {
      // Not from Buffer's shared pool: `tail.buffer` must be ours alone (and start at offset 0).
      tail = this.tail = Buffer.allocUnsafeSlow(COALESCE_SIZE);
      this.tailEnd = chunk.copy(tail, 0);
      this.chunks.push(tail.subarray(0, this.tailEnd));
      return;
    }
    chunk.copy(tail, start);
    this.tailEnd = start + chunk.length;
    const last = this.chunks.length - 1;
    const previous = this.chunks[last]!;
    if (previous.buffer === tail.buffer && previous.byteOffset + previous.length === start) {
      this.chunks[last] = tail.subarray(previous.byteOffset, this.tailEnd);
    } else {
      this.chunks.push(tail.subarray(start, this.tailEnd));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  /** Fails pending and later reads with `error` (used for timeouts). */
  fail(error: Error): void {
    this.failure ??= error;
    this.notify();
  }

  /** Waits until more bytes arrive, the stream ends, or it fails. */
  private more(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private get exhausted(): boolean {
    return this.ended || this.failure !== null || this.closed;
  }

  /** Removes and returns the first `n` buffered bytes (`n` ≤ `buffered`). */
  private take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length > n) {
      out = first.subarray(0, n);
      this.chunks[0] = first.subarray(n);
    } else if (first.length === n) {
      out = first;
      this.chunks.shift();
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const chunk = this.chunks[0]!;
        const want = n - filled;
        if (chunk.length <= want) {
          chunk.copy(out, filled);
          filled += chunk.length;
          this.chunks.shift();
        } else {
          chunk.copy(out, filled, 0, want);
          this.chunks[0] = chunk.subarray(want);
          filled = n;
        }
      }
    }
    this.buffered -= n;
    this.scanned = Math.max(0, this.scanned - n);
    this.scanIndex = 0;
    this.scanOffset = 0;
    if (this.paused && this.buffered <= this.highWaterMark) {
      this.paused = false;
      this.socket.resume();
    }
    return out;
  }

  /**
   * The length of the next line (through `\n`) if buffered within `limit`, else -1. The search
   * resumes where the last one stopped: at the last chunk it reached, which may have grown since.
   */
  private lineLength(limit: number): number {
    const chunks = this.chunks;
    let offset = this.scanOffset;
    for (let index = this.scanIndex; index < chunks.length; index++) {
      const chunk = chunks[index]!;
      this.scanIndex = index;
      this.scanOffset = offset;
      const end = offset + chunk.length;
      if (end > this.scanned) {
        const at = chunk.indexOf(NEWLINE, this.scanned - offset);
        if (at >= 0) return Math.min(offset + at + 1, limit);
        this.scanned = end;
      }
      if (end >= limit) return limit;
      offset = end;
    }
    return -1;
  }

  /**
   * The next line if it can be returned without waiting: a full line, `limit` bytes, or what is
   * left at the end of the stream. `null` means the caller must `await readline()`.
   */
  readlineIfBuffered(limit: number | null = -1): Buffer | null {
    limit = sizeArgument(limit, "readlineIfBuffered");
    const max = limit < 0 ? Infinity : limit;
    const length = this.lineLength(max);
    if (length >= 0) return this.take(length);
    // A partial line is returned only at the end of the stream. After a failure (a timeout) it
    // stays unread and `readline()` raises, as Python's does: a request line cut short by a
    // timeout must not be taken for a whole one.
    if (this.ended || this.closed) return this.take(this.buffered);
    return null;
  }

  /**
   * The lines of a request head, through its first empty line, decoded as Latin-1 and each with
   * its line break: taken at once when the first buffered chunk holds the whole head, in at most
   * `maxLines` lines of at most `maxLine` bytes. Otherwise null, and nothing is taken: the head is
   * then read line by line (`readlineIfBuffered`, `readline`), which raises what Python's reads
   * raise. One search and one decode for the whole head, where reading it line by line makes a
   * Buffer and a decode per line.
   */
  takeHeadLinesIfBuffered(maxLine: number, maxLines: number): string[] | null {
    const first = this.chunks[0];
    if (first === undefined) return null;
    const end = headEnd(first);
    if (end < 0) return null;
    const lines = splitLines(first.toString("latin1", 0, end), maxLine, maxLines);
    if (lines !== null) this.take(end);
    return lines;
  }

  /** `readline(limit)`: up to and including `\n`, at most `limit` bytes (all if negative). */
  async readline(limit: number | null = -1): Promise<Buffer> {
    limit = sizeArgument(limit, "readline");
    for (;;) {
      const line = this.readlineIfBuffered(limit);
      if (line) return line;
      await this.more();
    }
  }

  /** `read(n)`: n bytes, or fewer at the end of the stream; `read()` reads to the end. */
  async read(n: number | null = -1): Promise<Buffer> {
    n = sizeArgument(n, "read");
    if (n < 0) {
      while (!this.exhausted) await this.more();
      if (this.failure && !this.ended) throw this.failure;
      return this.take(this.buffered);
    }
    while (this.buffered < n && !this.exhausted) await this.more();
    // Short reads happen only at the end of the stream; a timeout before it raises.
    if (this.buffered < n && this.failure && !this.ended) throw this.failure;
    return this.take(Math.min(n, this.buffered));
  }

  /** `read1(n)`: whatever is buffered (up to n), waiting only if nothing is. */
  async read1(n: number | null = -1): Promise<Buffer> {
    n = sizeArgument(n, "read1");
    while (this.buffered === 0 && !this.exhausted) await this.more();
    if (this.buffered === 0 && this.failure && !this.ended) throw this.failure;
    return this.take(n < 0 ? this.buffered : Math.min(n, this.buffered));
  }

  /**
   * Reads and drops `n` bytes without holding more than a chunk at a time; resolves false if the
   * stream ends first.
   */
  async skip(n: number): Promise<boolean> {
    while (n > 0) {
      while (this.buffered === 0 && !this.exhausted) await this.more();
      if (this.buffered === 0) {
        if (this.failure && !this.ended) throw this.failure;
        return false;
      }
      n -= this.take(Math.min(n, this.chunks[0]!.length)).length;
    }
    return true;
  }

  /**
   * Stops reading: unread bytes are dropped, and so is what arrives later. The listeners stay
   * (a closed reader ignores them) and go with the socket: removing each costs more than the
   * rest of a short connection's reading.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.chunks = [];
    this.buffered = 0;
    this.notify();
  }
}

const BLANK_AFTER_CRLF = Buffer.from("\n\r\n");
const BLANK_AFTER_LF = Buffer.from("\n\n");

/**
 * Where a head that starts `chunk` ends: just past its first empty line (`\r\n` or `\n` alone on
 * a line); -1 when the chunk does not hold it. The bare-LF search after a CRLF one is bounded by
 * where that one ended, so a body behind the head is not scanned twice.
 */
function headEnd(chunk: Buffer): number {
  if (chunk[0] === NEWLINE) return 1;
  if (chunk[0] === 0x0d && chunk[1] === NEWLINE) return 2;
  const crlf = chunk.indexOf(BLANK_AFTER_CRLF);
  const searched = crlf < 0 ? chunk : chunk.subarray(0, crlf + 2);
  const lf = searched.indexOf(BLANK_AFTER_LF);
  if (lf >= 0) return lf + 2;
  return crlf < 0 ? -1 : crlf + 3;
}

/** `text` (ending in `\n`) cut after each `\n`; null past `maxLines` lines or a line over `maxLine`. */
function splitLines(text: string, maxLine: number, maxLines: number): string[] | null {
  const lines: string[] = [];
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf("\n", start) + 1;
    if (end - start > maxLine || lines.length === maxLines) return null;
    lines.push(text.slice(start, end));
    start = end;
  }
  return lines;
}

/**
 * Python's `size` argument: an integer; `null`, `undefined` or a negative number mean "to the end".
 * Anything else (`NaN` — `Number()` of a missing `Content-Length` — a string, a fraction) is a
 * `TypeError` naming the argument, as Python's `int(None)` or `read(1.5)` would raise.
 */
function sizeArgument(size: unknown, method: string): number {
  if (typeof size === "number" && Number.isInteger(size)) return size;
  if (size === null || size === undefined) return -1;
  const hint = typeof size === "number" && Number.isNaN(size) ? " (Number() of a missing or non-numeric header is NaN)" : "";
  throw new TypeError(`rfile.${method}(size): size must be an integer, or null, undefined or negative to read to the end; got ${describeValue(size)}${hint}`);
}
