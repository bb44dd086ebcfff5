/**
 * Paths: no request reaches a file outside `directory` — whatever the `..` spelling, encoded
 * separators, backslashes or NUL bytes — except through a symbolic link inside it, which is
 * followed as Python documents; `follow_symlinks = false` refuses those too.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as posixpath from "../src/py/posixpath.js";
import { SimpleHTTPRequestHandler, translatePath } from "../src/server/simple_handler.js";
import { isWithin, resolvesOutside } from "../src/features/symlinks.js";
import { exchange, serve, splitReply, type Running } from "./helpers.js";

let base = "";
let root = "";
let following: Running;
let confined: Running;

const SECRET = "TOP SECRET\n";

class Quiet extends SimpleHTTPRequestHandler {
  override log_message() {}
}

before(async () => {
  // base/secret.txt and base/outside/ lie beside the served base/www/.
  base = mkdtempSync(join(tmpdir(), "simplehttp-paths-"));
  root = join(base, "www");
  mkdirSync(root);
  mkdirSync(join(base, "outside"));
  writeFileSync(join(base, "secret.txt"), SECRET);
  writeFileSync(join(base, "outside", "also-secret.txt"), SECRET);
  writeFileSync(join(base, "outside", "index.html"), SECRET);
  writeFileSync(join(root, "inside.txt"), "inside\n");
  mkdirSync(join(root, "sub"));
  writeFileSync(join(root, "sub", "page.txt"), "page\n");
  symlinkSync(join(base, "secret.txt"), join(root, "link-out.txt"));
  symlinkSync(join(base, "outside"), join(root, "dir-out"));
  symlinkSync(join(root, "inside.txt"), join(root, "link-in.txt"));
  symlinkSync("sub", join(root, "dir-in"));
  symlinkSync(join(base, "nowhere"), join(root, "dangling"));
  mkdirSync(join(root, "indexed"));
  symlinkSync(join(base, "outside", "index.html"), join(root, "indexed", "index.html"));
  following = await serve(Quiet.with_directory(root));
  class Confined extends Quiet {
    static override follow_symlinks = false;
  }
  confined = await serve(Confined.with_directory(root));
});

after(async () => {
  await following.close();
  await confined.close();
  rmSync(base, { recursive: true, force: true });
});

async function get(port: number, path: string): Promise<{ status: string; body: string }> {
  const reply = await exchange(port, `GET ${path} HTTP/1.0\r\n\r\n`);
  const { head, body } = splitReply(reply);
  return { status: head.split("\r\n")[0]!, body: body.toString("latin1") };
}

const TRAVERSALS = [
  "/../secret.txt",
  "/../../../../../../etc/passwd",
  "/%2e%2e/secret.txt",
  "/%2E%2E/secret.txt",
  "/.%2e/secret.txt",
  "/%2e./secret.txt",
  "/..%2fsecret.txt",
  "/..%2Fsecret.txt",
  "/%2e%2e%2fsecret.txt",
  "/..%5csecret.txt",
  "/..%5Csecret.txt",
  "/..\\secret.txt",
  "/..\\..\\secret.txt",
  "/sub/../../secret.txt",
  "/sub/%2e%2e/%2e%2e/secret.txt",
  "//../secret.txt",
  "/./../secret.txt",
  "/%252e%252e/secret.txt",
  "/..%00/secret.txt",
  "/%00../secret.txt",
  "/secret.txt%00.html",
  "/..;/secret.txt",
  "/..%c0%afsecret.txt",
  "/..%ef%bc%8fsecret.txt",
  "http://host/../secret.txt",
  "../secret.txt",
];

for (const path of TRAVERSALS) {
  test(`${JSON.stringify(path)} stays inside the directory: 404, never the file outside`, async () => {
    for (const port of [following.port, confined.port]) {
      const { status, body } = await get(port, path);
      assert.equal(status, "HTTP/1.0 404 File not found");
      assert.ok(!body.includes("SECRET"));
    }
  });
}

test("NUL bytes anywhere in the path are a 404, not a crash", async () => {
  for (const path of ["/%00", "/inside.txt%00", "/sub%00/page.txt", "/\u0000"]) {
    assert.equal((await get(following.port, path)).status, "HTTP/1.0 404 File not found", path);
  }
  assert.equal((await get(following.port, "/inside.txt")).body, "inside\n", "and the server serves on");
});

test("symbolic links inside the directory are followed wherever they point (Python's behaviour)", async () => {
  assert.equal((await get(following.port, "/link-out.txt")).body, SECRET);
  assert.equal((await get(following.port, "/dir-out/also-secret.txt")).body, SECRET);
  assert.match((await get(following.port, "/dir-out/")).status, /^HTTP\/1\.0 200 OK$/);
  assert.equal((await get(following.port, "/link-in.txt")).body, "inside\n");
});

test("follow_symlinks = false: links that lead outside are 404 File not found", async () => {
  for (const path of ["/link-out.txt", "/dir-out/also-secret.txt", "/dir-out/", "/dir-out", "/indexed/"]) {
    const { status, body } = await get(confined.port, path);
    assert.equal(status, "HTTP/1.0 404 File not found", path);
    assert.ok(!body.includes("SECRET"), path);
  }
});

test("follow_symlinks = false: links that stay inside, and plain files, are served as usual", async () => {
  assert.equal((await get(confined.port, "/link-in.txt")).body, "inside\n");
  assert.equal((await get(confined.port, "/dir-in/page.txt")).body, "page\n");
  assert.equal((await get(confined.port, "/inside.txt")).body, "inside\n");
  assert.match((await get(confined.port, "/")).body, /link-out\.txt@/, "the listing still names the link");
  assert.equal((await get(confined.port, "/dangling")).status, "HTTP/1.0 404 File not found");
  assert.equal((await get(confined.port, "/missing.txt")).status, "HTTP/1.0 404 File not found");
});

test("follow_symlinks = false works when the served directory is itself reached through a link", async () => {
  symlinkSync(root, join(base, "www-link"));
  class ViaLink extends Quiet {
    static override follow_symlinks = false;
  }
  const running = await serve(ViaLink.with_directory(join(base, "www-link")));
  try {
    assert.equal((await get(running.port, "/inside.txt")).body, "inside\n");
    assert.equal((await get(running.port, "/link-out.txt")).status, "HTTP/1.0 404 File not found");
  } finally {
    await running.close();
  }
});

test("follow_symlinks defaults to true, as Python follows links", () => {
  assert.equal(SimpleHTTPRequestHandler.follow_symlinks, true);
});

test("translate_path: every traversal spelling maps to a name under the directory", () => {
  const dir = "/srv/www";
  for (const path of TRAVERSALS) {
    const result = translatePath(path, dir);
    assert.ok(result === dir || result.startsWith(dir + "/"), `${path} → ${result}`);
    assert.ok(!result.slice(dir.length).split("/").includes(".."), `${path} → ${result}`);
  }
  assert.equal(translatePath("/..%5c..%5cetc%5cpasswd", dir), "/srv/www/..\\..\\etc\\passwd", "a backslash is a name's character on POSIX");
});

test("translate_path: remembered results stay per directory and survive the memo being cleared", () => {
  const fresh = (path: string, directory: string) => translatePath(path, directory, { dirname: posixpath.dirname, join: posixpath.join }); // not memoised
  for (let i = 0; i < 3000; i++) {
    const path = `/d${i % 1500}/%41b?q=${i}#f`;
    for (const dir of ["/srv/a", "/srv/b"]) assert.equal(translatePath(path, dir), fresh(path, dir), `${path} in ${dir}`);
  }
  assert.equal(translatePath("/x/", "/srv/a"), "/srv/a/x/");
  assert.equal(translatePath("/x/", "/srv/b"), "/srv/b/x/");
  const long = "/" + "n".repeat(300) + "/../y";
  assert.equal(translatePath(long, "/srv/a"), "/srv/a/y", "a long path is translated without being remembered");
});

test("isWithin compares whole path components", () => {
  const b = (text: string) => Buffer.from(text);
  assert.equal(isWithin(b("/srv/www"), b("/srv/www")), true);
  assert.equal(isWithin(b("/srv/www/a"), b("/srv/www")), true);
  assert.equal(isWithin(b("/srv/www-old/a"), b("/srv/www")), false);
  assert.equal(isWithin(b("/srv"), b("/srv/www")), false);
  assert.equal(isWithin(b("/anything"), b("/")), true);
});

test("resolvesOutside: missing paths and NUL bytes are left to the usual 404", async () => {
  assert.equal(await resolvesOutside(join(root, "missing"), root), false);
  assert.equal(await resolvesOutside(join(root, "a\u0000b"), root), false);
  assert.equal(await resolvesOutside(join(root, "link-out.txt"), root), true);
  assert.equal(await resolvesOutside(join(root, "sub") + "/", root), false);
});

test("follow_symlinks = false with precompressed: a .gz sibling linking outside is ignored", async () => {
  writeFileSync(join(root, "page.html"), "<p>plain</p>\n");
  writeFileSync(join(base, "outside", "page.html.gz"), SECRET);
  symlinkSync(join(base, "outside", "page.html.gz"), join(root, "page.html.gz"));
  class ConfinedPrecompressed extends Quiet {
    static override follow_symlinks = false;
    static override precompressed = true;
  }
  const running = await serve(ConfinedPrecompressed.with_directory(root));
  try {
    const reply = await exchange(running.port, "GET /page.html HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n");
    const { head, body } = splitReply(reply);
    assert.match(head, /^HTTP\/1\.0 200 OK\r\n/);
    assert.doesNotMatch(head, /Content-Encoding/);
    assert.equal(body.toString(), "<p>plain</p>\n");
  } finally {
    await running.close();
  }
});
