/**
 * The small-file cache behind SimpleHTTPRequestHandler: an entry is served only while a fresh
 * stat still describes the file, and the least recently served files leave first.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SmallFileCache } from "../src/server/file_cache.js";

function withDir(body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "file-cache-"));
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a cached file is served while its stat is unchanged, and dropped once it changes", () => {
  withDir((dir) => {
    const cache = new SmallFileCache();
    const path = join(dir, "a.txt");
    writeFileSync(path, "one");
    assert.equal(cache.get(path, statSync(path)), null, "nothing cached yet");
    assert.equal(cache.read(path)!.data.toString(), "one");
    assert.equal(cache.get(path, statSync(path))!.data.toString(), "one");
    writeFileSync(path, "two!");
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    assert.equal(cache.get(path, statSync(path)), null, "a new size and mtime: not the cached file");
    assert.equal(cache.size, 0);
  });
});

test("files over maxFileSize are not kept", () => {
  withDir((dir) => {
    const cache = new SmallFileCache(4, 100);
    const path = join(dir, "big.bin");
    writeFileSync(path, "12345");
    assert.equal(cache.read(path), null);
    assert.equal(cache.size, 0);
  });
});

test("past maxBytes, the least recently served files are dropped first", () => {
  withDir((dir) => {
    const cache = new SmallFileCache(10, 30);
    const paths = ["a", "b", "c"].map((name) => join(dir, name));
    for (const path of paths) {
      writeFileSync(path, "0123456789");
      cache.read(path);
    }
    assert.equal(cache.size, 30);
    assert.ok(cache.get(paths[0]!, statSync(paths[0]!)), "a served again: now the most recent");
    const d = join(dir, "d");
    writeFileSync(d, "0123456789");
    cache.read(d);
    assert.equal(cache.size, 30);
    assert.equal(cache.get(paths[1]!, statSync(paths[1]!)), null, "b, the least recently served, left");
    assert.ok(cache.get(paths[0]!, statSync(paths[0]!)));
    assert.ok(cache.get(paths[2]!, statSync(paths[2]!)));
    assert.ok(cache.get(d, statSync(d)));
  });
});
