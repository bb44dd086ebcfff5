/**
 * The small-file cache behind SimpleHTTPRequestHandler: an entry is served only while a fresh
 * stat still describes the file, and the least recently served files leave first.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SmallFileCache, StatValidatedCache } from "../src/server/file_cache.js";

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

test("StatValidatedCache: a value is served only for the stat it was made from, and the total stays within maxBytes", () => {
  withDir((dir) => {
    const cache = new StatValidatedCache<string>(100);
    const path = join(dir, "x");
    writeFileSync(path, "1");
    cache.set("x", statSync(path), "from 1", 40);
    assert.equal(cache.get("x", statSync(path)), "from 1");
    writeFileSync(path, "22");
    assert.equal(cache.get("x", statSync(path)), null, "changed: dropped");
    assert.equal(cache.size, 0);
    const stats = statSync(path);
    cache.set("a", stats, "a", 40);
    cache.set("b", stats, "b", 40);
    assert.equal(cache.get("a", stats), "a"); // a is now the more recent
    cache.set("c", stats, "c", 40);
    assert.deepEqual([cache.get("a", stats), cache.get("b", stats), cache.get("c", stats)], ["a", null, "c"], "b, the least recently served, left");
    assert.equal(cache.size, 80);
    cache.set("big", stats, "too big", 101);
    assert.equal(cache.get("big", stats), null, "larger than the whole cache: not kept");
    assert.ok(cache.size <= 100);
  });
});
