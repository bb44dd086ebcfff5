/**
 * A charset for textual types (`charset`, `--charset`; features/charset.ts): which types get it,
 * and what a server sends.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { InvalidCharsetError, checkCharset, withCharset } from "../src/features/charset.js";
import { captureStderr, exchange, serve, splitReply, type Running } from "./helpers.js";

describe("withCharset", () => {
  const cases: [ctype: string, expected: string][] = [
    ["text/plain", "text/plain; charset=utf-8"],
    ["text/html", "text/html; charset=utf-8"],
    ["text/css", "text/css; charset=utf-8"],
    ["text/javascript", "text/javascript; charset=utf-8"],
    ["application/javascript", "application/javascript; charset=utf-8"],
    ["application/json", "application/json; charset=utf-8"],
    ["application/manifest+json", "application/manifest+json; charset=utf-8"],
    ["application/xml", "application/xml; charset=utf-8"],
    ["image/svg+xml", "image/svg+xml; charset=utf-8"],
    ["TEXT/Plain", "TEXT/Plain; charset=utf-8"],
    ["text/plain; charset=iso-8859-1", "text/plain; charset=iso-8859-1"],
    ["text/plain;Charset=latin1", "text/plain;Charset=latin1"],
    ["image/png", "image/png"],
    ["application/octet-stream", "application/octet-stream"],
    ["application/gzip", "application/gzip"],
    ["video/mp4", "video/mp4"],
  ];
  for (const [ctype, expected] of cases) test(`${ctype} → ${expected}`, () => assert.equal(withCharset(ctype, "utf-8"), expected));

  test("null changes nothing", () => assert.equal(withCharset("text/plain", null), "text/plain"));

  test("checkCharset refuses what would change the header", () => {
    assert.equal(checkCharset("utf-8"), "utf-8");
    assert.equal(checkCharset(null), null);
    for (const bad of ["", "utf 8", "utf-8; x=y", "utf-8\r\nX-Injected: 1", "é"]) {
      assert.throws(() => checkCharset(bad), InvalidCharsetError, bad);
    }
  });
});

describe("a handler with charset = \"utf-8\"", () => {
  class Quiet extends SimpleHTTPRequestHandler {
    override log_message(): void {}
  }
  class Utf8 extends Quiet {
    static override charset = "utf-8";
  }
  class Utf8Features extends Utf8 {
    static override etag = true;
  }
  let root: string;
  const servers: Running[] = [];
  before(async () => {
    root = fs.mkdtempSync(join(tmpdir(), "simplehttp-charset-"));
    fs.writeFileSync(join(root, "résumé.txt"), "résumé\n");
    fs.writeFileSync(join(root, "app.js"), "console.log('é')\n");
    fs.writeFileSync(join(root, "logo.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    for (const Handler of [Utf8, Quiet, Utf8Features]) servers.push(await serve(Handler.with_directory(root)));
  });
  after(async () => {
    for (const server of servers) await server.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function contentType(server: Running, path: string): Promise<string | undefined> {
    const { head } = splitReply(await exchange(server.port, `GET ${path} HTTP/1.0\r\nRange: bytes=0-1\r\n\r\n`, { timeoutMs: 20_000 }));
    return /\r\nContent-type: ([^\r]*)/i.exec(head)?.[1];
  }

  test("text and JavaScript get the charset, an image does not, on both file paths (plain and with features)", async () => {
    for (const server of [servers[0]!, servers[2]!]) {
      assert.equal(await contentType(server, "/r%C3%A9sum%C3%A9.txt"), "text/plain; charset=utf-8");
      assert.equal(await contentType(server, "/app.js"), "text/javascript; charset=utf-8");
      assert.equal(await contentType(server, "/logo.png"), "image/png");
    }
  });

  test("without it, Python's types", async () => {
    assert.equal(await contentType(servers[1]!, "/r%C3%A9sum%C3%A9.txt"), "text/plain");
  });

  test("a bad class attribute fails the connection, naming the problem, instead of sending a broken header", async () => {
    class Bad extends Quiet {
      static override charset = "utf-8\r\nX-Injected: 1";
    }
    const server = await serve(Bad.with_directory(root));
    const stderr = captureStderr();
    try {
      const reply = await exchange(server.port, "GET /app.js HTTP/1.0\r\n\r\n", { timeoutMs: 20_000 });
      assert.ok(!reply.toString("latin1").includes("X-Injected"));
    } finally {
      stderr.restore();
      await server.close();
    }
    assert.match(stderr.text(), /InvalidCharsetError: invalid charset/);
  });
});
