/**
 * Files kept in memory, each entry checked against a fresh `stat` on every request: a file whose
 * inode, size, mtime or ctime changed (an edit, a replace, a chmod) is read again. For a cached
 * file, Python's per-request stat + open + fstat + read + close becomes one stat.
 *
 * `StatValidatedCache` is the rule and the memory bound (least recently served first out); it
 * holds the small files themselves (`SmallFileCache`, here) and what `--compress` made of a file
 * (features/compression.ts).
 *
 * The reads are synchronous on purpose: for a file of a few KiB in the page cache, `readSync`
 * takes microseconds, while a round trip through libuv's thread pool and a promise takes tens.
 */
import { closeSync, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { OPEN_TO_SERVE } from "../py/io.js";

/** The fields of a stat that a change to the file (content, replacement, permissions) alters. */
export type FileIdentity = Pick<Stats, "ino" | "dev" | "size" | "mtimeMs" | "ctimeMs">;

/** The same file, unchanged, if every field a change would touch is equal. */
export function unchanged(a: FileIdentity, b: FileIdentity): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

interface Entry<V> {
  stats: FileIdentity;
  value: V;
  bytes: number;
  /** When it was last served (the cache's clock): the least recent go first. */
  used: number;
}

/**
 * Values derived from a file, by key, each kept with the stat of the file it was made from and
 * served only while a fresh stat of the file is unchanged; at most `maxBytes` in all (each value
 * counts the bytes it was stored with), the least recently served dropped first.
 */
export class StatValidatedCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private bytes = 0;
  private clock = 0;

  constructor(readonly maxBytes: number) {}

  /** The value stored under `key` if `stats` (a fresh stat of its file) still describes that file. */
  get(key: string, stats: FileIdentity): V | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (!unchanged(entry.stats, stats)) {
      this.remove(key, entry);
      return null;
    }
    entry.used = ++this.clock;
    return entry.value;
  }

  /** Keeps `value` (made from the file `stats` describes, `bytes` long) under `key`; not past `maxBytes`. */
  set(key: string, stats: FileIdentity, value: V, bytes: number): void {
    const old = this.entries.get(key);
    if (old) this.remove(key, old);
    if (bytes > this.maxBytes) return;
    if (this.bytes + bytes > this.maxBytes) this.evictFor(bytes);
    this.entries.set(key, { stats, value, bytes, used: ++this.clock });
    this.bytes += bytes;
  }

  private remove(key: string, entry: Entry<V>): void {
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }

  /** Drops the least recently served values until `size` more bytes fit (rare: no order kept per hit). */
  private evictFor(size: number): void {
    const byAge = [...this.entries].sort((a, b) => a[1].used - b[1].used);
    for (const [key, oldest] of byAge) {
      if (this.bytes + size <= this.maxBytes) break;
      this.remove(key, oldest);
    }
  }

  /** Bytes held. */
  get size(): number {
    return this.bytes;
  }

  /** How many values are held. */
  get count(): number {
    return this.entries.size;
  }
}

export interface CachedFile {
  stats: Stats;
  data: Buffer;
}

export class SmallFileCache {
  private readonly cache: StatValidatedCache<CachedFile>;

  /**
   * @param maxFileSize the largest file kept (bytes)
   * @param maxBytes the most kept in all; the least recently used files go first
   */
  constructor(
    readonly maxFileSize = 64 * 1024,
    readonly maxBytes = 32 * 1024 * 1024,
  ) {
    this.cache = new StatValidatedCache(maxBytes);
  }

  /** The content of `path` if it is cached and `stats` (a fresh stat of it) still describes it. */
  get(path: string, stats: Stats): CachedFile | null {
    return this.cache.get(path, stats);
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
      const entry = { stats, data: filled === data.length ? data : data.subarray(0, filled) };
      this.cache.set(path, stats, entry, entry.data.length);
      return entry;
    } finally {
      closeSync(fd);
    }
  }

  /** The content of `path` from the cache (validated by `stats`) or read now when small; null for a larger file. */
  lookup(path: string, stats: Stats, name: string | Buffer = path): CachedFile | null {
    if (stats.size > this.maxFileSize) return null;
    return this.get(path, stats) ?? this.read(path, name);
  }

  /** Bytes held. */
  get size(): number {
    return this.cache.size;
  }
}

/** Small files served from memory, each checked against the request's own stat (one per process). */
export const smallFiles = new SmallFileCache();
