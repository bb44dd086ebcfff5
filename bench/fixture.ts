/**
 * The served tree, built in a fresh temp dir: files of 1 KiB, 64 KiB, 1 MiB and 100 MiB, and a
 * directory of 1000 entries. Contents are fixed pseudo-random bytes (incompressible, the same
 * every run).
 */
import { mkdtempSync, mkdirSync, openSync, writeSync, closeSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** The files served, by URL path, with their sizes. */
export const FILES = {
  "/1k.bin": KiB,
  "/64k.bin": 64 * KiB,
  "/1m.bin": MiB,
  "/100m.bin": 100 * MiB,
} as const;

export type FilePath = keyof typeof FILES;

export const LISTING_PATH = "/dir1000/";
export const LISTING_ENTRIES = 1000;
export const MISSING_PATH = "/no-such-file.bin";

export interface Fixture {
  /** The temp dir: logs, configs and profiles go here too. */
  root: string;
  /** The served directory (`root/www`). */
  www: string;
}

/** 1 MiB of xorshift bytes: deterministic, incompressible. */
export function noise(size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let x = 0x9e3779b9;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf.writeUInt32LE(x >>> 0, i);
  }
  return buf;
}

/** Writes `size` bytes made of repeated 1 MiB noise blocks (or its prefix). */
function writeFile(path: string, size: number, block: Buffer): void {
  const fd = openSync(path, "w");
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(block.length, size - done);
      done += writeSync(fd, block, 0, n);
    }
  } finally {
    closeSync(fd);
  }
}

function writeListing(dir: string): void {
  mkdirSync(dir);
  for (let i = 0; i < LISTING_ENTRIES; i++) {
    writeFileSync(join(dir, `entry-${String(i).padStart(4, "0")}.txt`), `entry ${i}\n`);
  }
}

/** Builds the fixture in a new temp dir. */
export function buildFixture(): Fixture {
  const root = mkdtempSync(join(tmpdir(), "simplehttp-bench-"));
  const www = join(root, "www");
  mkdirSync(www);
  const block = noise(MiB);
  for (const [path, size] of Object.entries(FILES)) writeFile(join(www, path), size, block);
  writeListing(join(www, LISTING_PATH));
  return { root, www };
}

export function removeFixture(fixture: Fixture): void {
  rmSync(fixture.root, { recursive: true, force: true });
}
