/**
 * Small files kept in memory, each entry checked against a fresh `stat` on every request: a file
 * whose inode, size, mtime or ctime changed (an edit, a replace, a chmod) is read again. For a
 * cached file, Python's per-request stat + open + fstat + read + close becomes one stat.
 *
 * The reads are synchronous on purpose: for a file of a few KiB in the page cache, `readSync`
 * takes microseconds, while a round trip through libuv's thread pool and a promise takes tens.
 */
import { closeSync, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { OPEN_TO_SERVE } from "../py/io.js";

export interface CachedFile {
  stats: Stats;
  data: Buffer;
  /** When it was last served (the cache's clock): the least recent go first. */
  used: number;
}

/** The same file, unchanged, if every field a change would touch is equal. */
function unchanged(a: Stats, b: Stats): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

export class SmallFileCache {
  private readonly entries = new Map<string, CachedFile>();
  private bytes = 0;
  private clock = 0;

  /**
   * @param maxFileSize the largest file kept (bytes)
   * @param maxBytes the most kept in all; the least recently used files go first
   */
  constructor(
    readonly maxFileSize = 64 * 1024,
    readonly maxBytes = 32 * 1024 * 1024,
  ) {}

  /** The content of `path` if it is cached and `stats` (a fresh stat of it) still describes it. */
  get(path: string, stats: Stats): CachedFile | null {
    const entry = this.entries.get(path);
    if (!entry) return null;
    if (!unchanged(entry.stats, stats)) {
      this.entries.delete(path);
      this.bytes -= entry.data.length;
      return null;
    }
    entry.used = ++this.clock;
    return entry;
  }

  /**
   * Opens, fstats and reads a file of at most `maxFileSize` bytes, and caches it under `path`
   * (`name` is what to open, when the path needs encoding). Throws what `open` throws (the caller
   * answers 404); returns null when the file is too large to keep or not a regular file.
   */
  read(path: string, name: string | Buffer = path): CachedFile | null {
    // Non-blocking: a FIFO put in the file's place since the caller's stat must not hang the process.
    const fd = openSync(name, OPEN_TO_SERVE);
    try {
      const stats = fstatSync(fd);
      if (!stats.isFile() || stats.size > this.maxFileSize) return null;
      const data = Buffer.allocUnsafe(stats.size);
      let filled = 0;
      while (filled < data.length) {
        const n = readSync(fd, data, filled, data.length - filled, filled);
        if (n === 0) break;
        filled += n;
      }
      const entry = { stats, data: filled === data.length ? data : data.subarray(0, filled), used: ++this.clock };
      this.store(path, entry);
      return entry;
    } finally {
      closeSync(fd);
    }
  }

  private store(path: string, entry: CachedFile): void {
    const old = this.entries.get(path);
    if (old) {
      this.entries.delete(path);
      this.bytes -= old.data.length;
    }
    if (this.bytes + entry.data.length > this.maxBytes) this.evictFor(entry.data.length);
    this.entries.set(path, entry);
    this.bytes += entry.data.length;
  }

  /** Drops the least recently served files until `size` more bytes fit (rare: no order kept per hit). */
  private evictFor(size: number): void {
    const byAge = [...this.entries].sort((a, b) => a[1].used - b[1].used);
    for (const [key, oldest] of byAge) {
      if (this.bytes + size <= this.maxBytes) break;
      this.entries.delete(key);
      this.bytes -= oldest.data.length;
    }
  }

  /** Bytes held. */
  get size(): number {
    return this.bytes;
  }
}
