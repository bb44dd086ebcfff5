/**
 * The served tree for the SimpleHTTPRequestHandler tests: a copy of test/fixtures/site plus what
 * git cannot carry portably, made at test time: symlinks (to a file, to a directory, dangling),
 * names that are not UTF-8, an empty directory, 300 entries, sorting corpora, TypeScript-named
 * files (tsconfig would compile them in the fixture tree) and an unreadable file.
 */
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const FIXTURE = new URL("../../test/fixtures/site/", import.meta.url);

/** Bytes from UTF-8 text and raw byte values. */
export const bytes = (...parts: (string | number[])[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : Buffer.from(p))));

/** Copies the fixture into a new temporary directory and completes it; returns `root` and `root/site`. */
export function buildSite(): { root: string; site: string } {
  const root = fs.mkdtempSync(join(tmpdir(), "simplehttp-site-"));
  const site = join(root, "site");
  fs.cpSync(FIXTURE, site, { recursive: true });
  fs.writeFileSync(join(site, "types", "source.ts"), "source.ts\n");
  fs.writeFileSync(join(site, "types", "module.mts"), "module.mts\n");
  fs.mkdirSync(join(site, "emptydir"));
  fs.symlinkSync("hello.txt", join(site, "link.txt"));
  fs.symlinkSync("sub", join(site, "linkdir"));
  fs.symlinkSync("does-not-exist", join(site, "dangling"));
  fs.mkdirSync(join(site, "q<&>\"'dir"));
  // Names that are not UTF-8, made through their raw bytes.
  const siteBytes = Buffer.from(site + "/");
  fs.writeFileSync(Buffer.concat([siteBytes, bytes("bad", [0xff], ".txt")]), "bad bytes\n");
  fs.mkdirSync(Buffer.concat([siteBytes, bytes("dir", [0xfe])]));
  fs.writeFileSync(Buffer.concat([siteBytes, bytes("dir", [0xfe], "/inside.txt")]), "inside\n");
  // 300 entries, created in a shuffled order.
  fs.mkdirSync(join(site, "many"));
  const order = Array.from({ length: 300 }, (_, i) => i).sort((a, b) => ((a * 7919) % 300) - ((b * 7919) % 300));
  for (const i of order) fs.writeFileSync(join(site, "many", `f${i}.txt`), "");
  // Sorting: str.lower, then code points (not UTF-16 units).
  fs.mkdirSync(join(site, "sorting"));
  for (const name of ["z.txt", "\u{1f600}.txt", "b.txt", "\uff21.txt", "A.txt", "\xc9.txt", "_.txt"]) {
    fs.writeFileSync(join(site, "sorting", name), "");
  }
  // Names equal once lower-cased keep the order the file system lists them in.
  fs.mkdirSync(join(site, "ties"));
  for (const name of ["same.txt", "SAME.txt", "Same.txt", "sAme.txt"]) fs.writeFileSync(join(site, "ties", name), "");
  fs.writeFileSync(join(site, "secret.txt"), "secret\n");
  fs.chmodSync(join(site, "secret.txt"), 0);
  return { root, site };
}

/** Removes a tree made by `buildSite`. */
export function removeSite(root: string): void {
  fs.chmodSync(join(root, "site", "secret.txt"), 0o644);
  fs.rmSync(root, { recursive: true, force: true });
}
