/**
 * How `SimpleHTTPRequestHandler.copyfile()` moves a file to the socket: chunks that grow while the
 * client keeps up, a budget for the large ones across connections, and a pool of chunk buffers
 * the socket has finished with (docs/ARCHITECTURE.md, "Performance").
 */
import type { FileLike } from "../py/io.js";

/** Bytes read from a file per write to the client (`shutil.COPY_BUFSIZE` on Linux). */
export const COPY_BUFSIZE = 64 * 1024;

/** The largest chunk `copyfile()` reads at once, for a client that keeps up. */
export const MAX_COPY_CHUNK = 512 * 1024;

/** Where `copyfile()` writes: `wfile`, or anything with an awaitable `write`. */
export interface Writable {
  write(data: Buffer): void | Promise<void>;
  /** True while written data waits for the peer (`wfile` has it): then chunks stay small. */
  readonly needsDrain?: boolean;
  /**
   * Bytes written and not yet handed to the kernel (`wfile` has it). At 0 after a write, the
   * chunk just written is free again, and `copyfile()` reuses it for a later read.
   */
  readonly writableLength?: number;
}

/**
 * Bytes in chunks larger than `COPY_BUFSIZE` that copies have read and their sockets not yet
 * taken, across all connections. A client that stops reading keeps its last chunk, so the large
 * ones share a budget: past it, copies go on in `COPY_BUFSIZE` chunks.
 */
let largeChunkBytes = 0;
const LARGE_CHUNK_BUDGET = 8 * 1024 * 1024;

/**
 * Chunk buffers the socket has finished with (every byte handed to the kernel), by size, for the
 * next reads of any copy, so a steady stream of large files allocates no new buffers. A fresh
 * 64–512 KiB buffer per chunk counts as external memory for V8, and each 64 MiB of it starts a
 * full garbage collection: up to 25 a second while 50 clients fetch 1 MiB files. The pool keeps
 * at most `FREE_CHUNK_LIMIT` bytes (16 MiB: with 8 MiB, 50 such clients missed a quarter of their
 * takes; with 16, one in 200), and empties once no copy has taken a chunk for `TRIM_AFTER_MS`.
 */
const freeChunks = new Map<number, Buffer[]>();
let freeChunkBytes = 0;
let chunksTaken = 0;
let trimTimer: NodeJS.Timeout | null = null;
const FREE_CHUNK_LIMIT = 16 * 1024 * 1024;
const TRIM_AFTER_MS = 5000;

function takeChunk(size: number): Buffer {
  chunksTaken++;
  const buffer = freeChunks.get(size)?.pop();
  if (buffer === undefined) return Buffer.allocUnsafeSlow(size);
  freeChunkBytes -= size;
  return buffer;
}

function giveBackChunk(buffer: Buffer): void {
  if (freeChunkBytes + buffer.length > FREE_CHUNK_LIMIT) return;
  const list = freeChunks.get(buffer.length);
  if (list) list.push(buffer);
  else freeChunks.set(buffer.length, [buffer]);
  freeChunkBytes += buffer.length;
  trimWhenIdle();
}

/** Empties the pool once a whole `TRIM_AFTER_MS` passes without a take (checked by one timer). */
function trimWhenIdle(): void {
  if (trimTimer) return;
  let seen = chunksTaken;
  trimTimer = setInterval(() => {
    if (chunksTaken !== seen) {
      seen = chunksTaken;
      return;
    }
    freeChunks.clear();
    freeChunkBytes = 0;
    clearInterval(trimTimer!);
    trimTimer = null;
  }, TRIM_AFTER_MS);
  trimTimer.unref();
}

/** Bytes of chunk buffers kept for reuse (for tests). */
export function pooledChunkBytes(): number {
  return freeChunkBytes;
}

/** `size` if it is a large chunk the budget allows (and counts it), else 0. */
function borrowLargeChunk(size: number): number {
  if (size <= COPY_BUFSIZE || largeChunkBytes + size > LARGE_CHUNK_BUDGET) return 0;
  largeChunkBytes += size;
  return size;
}

/**
 * A chunk read synchronously that took longer than this (ms) was not in the page cache: the rest
 * of that copy reads through the thread pool, so a slow disk holds one thread, not the event loop.
 * The first chunk of every copy is read through the pool, and the copy goes on synchronously only
 * if that read came back within this time.
 */
const SLOW_READ_MS = 1;

/** How a copy reads its chunks: synchronously while reads are fast (see `SLOW_READ_MS`). */
interface ReadMode {
  sync: boolean;
  /** A synchronous read was slow: this copy stays on the pool. */
  slow: boolean;
}

type ReadableFile = Required<Pick<FileLike, "readinto">> & Pick<FileLike, "readintoSync">;

/** Reads the next chunk into `buffer`, synchronously while that stays fast; updates `mode`. */
function readChunk(source: ReadableFile, buffer: Buffer, mode: ReadMode): number | Promise<number> {
  const started = performance.now();
  if (mode.sync && source.readintoSync) {
    const n = source.readintoSync(buffer);
    if (performance.now() - started > SLOW_READ_MS) mode.sync = !(mode.slow = true);
    return n;
  }
  return source.readinto(buffer).then((n) => {
    mode.sync = !mode.slow && source.readintoSync !== undefined && performance.now() - started <= SLOW_READ_MS;
    return n;
  });
}

/**
 * One chunk of a file on disk, read into a pooled buffer that goes back to the pool once the
 * socket has handed all of it to the kernel (never while the socket may still read it). False
 * at the end of the file.
 */
async function copyChunk(source: ReadableFile, outputfile: Writable, size: number, mode: ReadMode): Promise<boolean> {
  const buffer = takeChunk(size);
  const read = readChunk(source, buffer, mode);
  const n = typeof read === "number" ? read : await read;
  if (n === 0) {
    giveBackChunk(buffer);
    return false;
  }
  const written = outputfile.write(n === size ? buffer : buffer.subarray(0, n));
  if (written) await written;
  if (outputfile.writableLength === 0) giveBackChunk(buffer);
  return true;
}

/** One chunk of any other `FileLike`. False at its end. */
async function readAndWrite(source: FileLike, outputfile: Writable, size: number): Promise<boolean> {
  const chunk = await source.read(size);
  if (chunk.length === 0) return false;
  await outputfile.write(chunk);
  return true;
}

/**
 * Each file read costs a trip through libuv's thread pool, so a client that keeps up gets larger
 * chunks (doubling up to `MAX_COPY_CHUNK`); one that makes us wait for a drain goes back to
 * `COPY_BUFSIZE`, so a stalled client holds at most one small chunk.
 */
function nextChunkSize(size: number, outputfile: Writable): number {
  if (outputfile.needsDrain !== false) return COPY_BUFSIZE;
  return Math.min(size * 2, MAX_COPY_CHUNK);
}

/**
 * Copies `source` to `outputfile` chunk by chunk, each write awaited (see `copyfile()`), reading
 * into pooled buffers when the source can (`readinto`).
 */
export async function copyInChunks(source: FileLike, outputfile: Writable): Promise<void> {
  let size = COPY_BUFSIZE;
  const mode: ReadMode = { sync: false, slow: false };
  for (;;) {
    const large = borrowLargeChunk(size);
    const want = large || COPY_BUFSIZE;
    try {
      const more = source.readinto ? await copyChunk(source as ReadableFile, outputfile, want, mode) : await readAndWrite(source, outputfile, want);
      if (!more) return;
    } finally {
      largeChunkBytes -= large;
    }
    size = nextChunkSize(want, outputfile);
  }
}
