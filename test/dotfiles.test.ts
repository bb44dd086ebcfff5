/**
 * Hiding dotfiles (`dotfiles = false`, `--no-dotfiles`; features/dotfiles.ts): which paths are
 * hidden, and what a server answers for them and lists.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { isHiddenPath, withoutDotfiles } from "../src/features/dotfiles.js";
import { exchange, serve, splitReply, type Running } from "./helpers.js";

describe("isHiddenPath", () => {
  const cases: [path: string, hidden: boolean][] = [
    ["/", false],
    ["/a.txt", false],
    ["/.env", true],
    ["/.git/config", true],
    ["/.git/", true],
    ["/sub/.hidden", true],
    ["/sub/.hidden/deeper/x.txt", true],
    ["/%2egit/config", true],
    ["/%2Eenv", true],
    ["/a/../.env", true],
    ["/a/%2e%2e/.env", true],
    ["/..%2f.env", true],
    ["/.env?x=1", true],
    ["/a.txt?.env", false],
    ["/a.txt#.env", false],
    ["/./a.txt", false],
    ["/../a.txt", false],
    ["/file.with.dots.txt", false],
    ["/.well-known/security.txt", false],
    ["/.well-known/", false],
    ["/%2ewell-known/acme-challenge/x", false],
    ["/sub/.well-known/x", true],
    ["/.well-known/.hidden", true],
  ];
  for (const [path, hidden] of cases) {
    test(`${path} ${hidden ? "is" : "is not"} hidden`, () => assert.equal(isHiddenPath(path), hidden));
  }

  test("withoutDotfiles keeps .well-known in the root's listing only", () => {
    const entries = [".env", ".well-known", "a.txt", ".git", "b"].map((name) => ({ name }));
    assert.deepEqual(withoutDotfiles(entries, "/").map((e) => e.name), [".well-known", "a.txt", "b"]);
    assert.deepEqual(withoutDotfiles(entries, "/sub/").map((e) => e.name), ["a.txt", "b"]);
    assert.deepEqual(withoutDotfiles(entries, "/?q=1").map((e) => e.name), [".well-known", "a.txt", "b"]);
  });
});

describe("a handler with dotfiles = false", () => {
  class Quiet extends SimpleHTTPRequestHandler {
    override log_message(): void {}
  }
  class Hidden extends Quiet {
    static override dotfiles = false;
  }
  class RichHidden extends Hidden {
    static override listing = "rich" as const;
  }
  let root: string;
  let hidden: Running;
  let rich: Running;
  let shown: Running;
  before(async () => {
    root = fs.mkdtempSync(join(tmpdir(), "simplehttp-dotfiles-"));
    for (const [path, content] of Object.entries({
      ".env": "SECRET=1\n",
      ".git/config": "[core]\n",
      "a.txt": "a\n",
      "sub/.hidden": "h\n",
      "sub/visible.txt": "v\n",
      ".well-known/security.txt": "Contact: x\n",
    })) {
      fs.mkdirSync(join(root, path, ".."), { recursive: true });
      fs.writeFileSync(join(root, path), content);
    }
    hidden = await serve(Hidden.with_directory(root));
    rich = await serve(RichHidden.with_directory(root));
    shown = await serve(Quiet.with_directory(root));
  });
  after(async () => {
    await hidden.close();
    await rich.close();
    await shown.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function get(server: Running, path: string) {
    const { head, body } = splitReply(await exchange(server.port, `GET ${path} HTTP/1.0\r\n\r\n`, { timeoutMs: 20_000 }));
    return { status: head.split("\r\n", 1)[0], body: body.toString() };
  }

  test("a dotfile, or a file under a dot-directory, at any depth and however encoded, is 404 File not found", async () => {
    for (const path of ["/.env", "/.git/config", "/.git/", "/.git", "/%2egit/config", "/sub/.hidden", "/sub/../.env"]) {
      const reply = await get(hidden, path);
      assert.equal(reply.status, "HTTP/1.0 404 File not found", path);
      // The same page as for a file that does not exist: nothing tells that it does.
      assert.equal(reply.body, (await get(hidden, "/no-such-file")).body, path);
    }
  });

  test("everything else is served; /.well-known/ too", async () => {
    assert.equal((await get(hidden, "/a.txt")).body, "a\n");
    assert.equal((await get(hidden, "/sub/visible.txt")).body, "v\n");
    assert.equal((await get(hidden, "/.well-known/security.txt")).body, "Contact: x\n");
  });

  test("listings leave dotfiles out, Python's and the rich one; the root keeps .well-known/", async () => {
    const root_ = (await get(hidden, "/")).body;
    assert.ok(root_.includes('<a href=".well-known/">.well-known/</a>') && root_.includes('href="a.txt"'));
    assert.ok(!root_.includes(".env") && !root_.includes(".git"));
    assert.ok(!(await get(hidden, "/sub/")).body.includes('href=".hidden"'));
    const richRoot = (await get(rich, "/?format=json")).body;
    assert.deepEqual((JSON.parse(richRoot) as { name: string }[]).map((e) => e.name), [".well-known/", "sub/", "a.txt"]);
    assert.ok(!(await get(rich, "/sub/")).body.includes('href=".hidden"'));
    assert.ok((await get(rich, "/sub/")).body.includes('href="visible.txt"'));
  });

  test("by default (dotfiles = true) they are served and listed, as by Python", async () => {
    assert.equal((await get(shown, "/.env")).body, "SECRET=1\n");
    assert.ok((await get(shown, "/")).body.includes('<a href=".git/">.git/</a>'));
  });
});
