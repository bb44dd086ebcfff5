/**
 * File objects as `send_head()` returns them: the little of Python's `io` that
 * `SimpleHTTPRequestHandler` needs (`read`, `close`), over a file descriptor or bytes in memory.
 */
import { open, type FileHandle } from "node:fs/promises";
import { constants, readSync, type Stats } from "node:fs";

/**
 * `open()` flags for a file about to be served: read-only and non-blocking. Opening a FIFO for
 * reading otherwise waits for a writer, holding one of libuv's four file-system threads until
 * one comes (a few such requests stall every file read of the process); with `O_NONBLOCK` it
 * returns at once, and the `fstat` that follows turns it away. Regular files ignore the flag.
 */
export const OPEN_TO_SERVE = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/**
 * What `send_head()` returns and `copyfile()` reads: `read(n)` resolves to at most `n` bytes
 * (everything left when `n` is omitted or negative), and to an empty buffer at the end.
 */
export interface FileLike {
  read(n?: number): Promise<Buffer>;
  close(): void | Promise<void>;
  /**
   * Optional, as Python's raw files have it: reads up to `b.length` bytes into `b`, resolving to
   * how many (0 at the end). With it, `copyfile()` reads into buffers it reuses.
   */
  readinto?(b: Uint8Array): Promise<number>;
  /** Optional: `readinto` without the thread pool, blocking (for data the page cache holds). */
  readintoSync?(b: Uint8Array): number;
}

const EMPTY = Buffer.alloc(0);

/** A file opened for reading (`open(path, 'rb')`), read sequentially. */
export class FileIO implements FileLike {
  private closed = false;

  private constructor(readonly handle: FileHandle) {}

  /** Opens `path` (a string or the raw bytes of a file name) for reading. */
  static async open(path: string | Buffer, flags: string | number = "r"): Promise<FileIO> {
    return new FileIO(await open(path, flags));
  }

  /**
   * Opens `path` for serving if it is a regular file (following links), with its `fstat`; null
   * when it is missing, unreadable, or anything else: a directory, a FIFO, a socket, a device.
   * The type is checked on the open descriptor, so a file swapped for a FIFO after an earlier
   * `stat` is still turned away, and the open itself never waits (`OPEN_TO_SERVE`).
   */
  static async openRegular(path: string | Buffer): Promise<{ file: FileIO; stats: Stats } | null> {
    let file: FileIO;
    try {
      file = await FileIO.open(path, OPEN_TO_SERVE);
    } catch {
      return null;
    }
    try {
      const stats = await file.fstat();
      if (stats.isFile()) return { file, stats };
    } catch {
      // unreadable: as if absent
    }
    await file.close();
    return null;
  }

  /** `os.fstat(f.fileno())`. */
  fstat(): Promise<Stats> {
    return this.handle.stat();
  }

  /** `readinto(b)`: reads up to `b.length` bytes into `b`; resolves to how many (0 at the end). */
  async readinto(b: Uint8Array): Promise<number> {
    if (this.closed) throw new Error("ValueError: read of closed file");
    if (b.length === 0) return 0;
    const { bytesRead } = await this.handle.read(b, 0, b.length, null);
    return bytesRead;
  }

  /**
   * `readinto(b)` done here and now (`readSync` on the descriptor, at the same position): no trip
   * through libuv's thread pool, which costs two context switches per chunk, but the event loop
   * waits for the disk if the data is not in memory (see copy_chunks.ts for when it is used).
   */
  readintoSync(b: Uint8Array): number {
    if (this.closed) throw new Error("ValueError: read of closed file");
    if (b.length === 0) return 0;
    return readSync(this.handle.fd, b, 0, b.length, null);
  }

  async read(n = -1): Promise<Buffer> {
    if (this.closed) throw new Error("ValueError: read of closed file");
    if (n < 0) return this.handle.readFile();
    if (n === 0) return EMPTY;
    const buffer = Buffer.allocUnsafe(n);
    const { bytesRead } = await this.handle.read(buffer, 0, n, null);
    return bytesRead === n ? buffer : buffer.subarray(0, bytesRead);
  }

  /** Closes the descriptor; closing twice does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

/**
 * An in-memory file (`io.BytesIO`): a generated directory listing, or — as in Python's own tests —
 * a handler's `rfile` and `wfile` with no socket at all (`read`, `readline`, `write`, `getvalue`,
 * `seek`, `tell`).
 */
export class BytesIO implements FileLike {
  private position = 0;
  /** Bytes in use at the start of `data` (which may have room to grow beyond). */
  private size: number;
  private owned = false;

  constructor(private data: Buffer = EMPTY) {
    this.size = data.length;
  }

  /** The whole content, whatever has been read (`getvalue()`). */
  getvalue(): Buffer {
    return this.size === this.data.length ? this.data : this.data.subarray(0, this.size);
  }

  async read(n: number | null = -1): Promise<Buffer> {
    return this.readRest(n);
  }

  /** `read(n)` without the Promise: the bytes are already here. */
  readRest(n: number | null = -1): Buffer {
    const end = n === null || n < 0 ? this.size : Math.min(this.size, this.position + n);
    const chunk = this.data.subarray(this.position, Math.max(end, this.position));
    this.position = Math.max(end, this.position);
    return chunk;
  }

  /** `readline(size)`: through the next `\n`, at most `size` bytes (all if negative or null). */
  async readline(size: number | null = -1): Promise<Buffer> {
    const newline = this.data.subarray(0, this.size).indexOf(0x0a, this.position);
    let end = newline < 0 ? this.size : newline + 1;
    if (size !== null && size >= 0) end = Math.min(end, this.position + size);
    return this.readRest(end - this.position);
  }

  /** `write(b)`: writes at the current position (growing the file) and returns how many bytes. */
  write(data: Uint8Array | string): number {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    const end = this.position + bytes.length;
    // The buffer given to the constructor is the caller's: written only after a copy.
    if (end > this.data.length || !this.owned) this.grow(end);
    this.data.set(bytes, this.position);
    this.position = end;
    this.size = Math.max(this.size, end);
    return bytes.length;
  }

  /** `seek(pos)`: moves to `pos` (from the start) and returns it. */
  seek(position: number): number {
    this.position = Math.max(0, position);
    return this.position;
  }

  /** `tell()`: the current position. */
  tell(): number {
    return this.position;
  }

  /** Room for at least `bytes`, doubling so that many small writes cost few copies. */
  private grow(bytes: number): void {
    const grown = Buffer.alloc(Math.max(bytes, this.data.length * 2, 256));
    this.data.copy(grown, 0, 0, this.size);
    this.data = grown;
    this.owned = true;
  }

  close(): void {
    this.data = EMPTY;
    this.owned = false;
    this.size = 0;
    this.position = 0;
  }
}
