/**
 * File objects as `send_head()` returns them: the little of Python's `io` that
 * `SimpleHTTPRequestHandler` needs (`read`, `close`), over a file descriptor or bytes in memory.
 */
import { open, type FileHandle } from "node:fs/promises";
import type { Stats } from "node:fs";

/**
 * What `send_head()` returns and `copyfile()` reads: `read(n)` resolves to at most `n` bytes
 * (everything left when `n` is omitted or negative), and to an empty buffer at the end.
 */
export interface FileLike {
  read(n?: number): Promise<Buffer>;
  close(): void | Promise<void>;
}

const EMPTY = Buffer.alloc(0);

/** A file opened for reading (`open(path, 'rb')`), read sequentially. */
export class FileIO implements FileLike {
  private closed = false;

  private constructor(readonly handle: FileHandle) {}

  /** Opens `path` (a string or the raw bytes of a file name) for reading. */
  static async open(path: string | Buffer): Promise<FileIO> {
    return new FileIO(await open(path, "r"));
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
