/**
 * File objects as `send_head()` returns them: the little of Python's `io` that
 * `SimpleHTTPRequestHandler` needs (`read`, `close`), over a file descriptor or bytes in memory.
 */
import { open, type FileHandle } from "node:fs/promises";
import { constants, type Stats } from "node:fs";

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

/** An in-memory file (`io.BytesIO`), e.g. a generated directory listing. */
export class BytesIO implements FileLike {
  private position = 0;

  constructor(private data: Buffer = EMPTY) {}

  /** The whole content, whatever has been read (`getvalue()`). */
  getvalue(): Buffer {
    return this.data;
  }

  async read(n = -1): Promise<Buffer> {
    return this.readRest(n);
  }

  /** `read(n)` without the Promise: the bytes are already here. */
  readRest(n = -1): Buffer {
    const end = n < 0 ? this.data.length : Math.min(this.data.length, this.position + n);
    const chunk = this.data.subarray(this.position, end);
    this.position = end;
    return chunk;
  }

  close(): void {
    this.data = EMPTY;
    this.position = 0;
  }
}
