/**
 * libuv's thread pool (four threads, shared by every file read, stat and compression of the
 * process) is never held indefinitely by a request: special files in the served tree (a FIFO, a
 * socket, a device) are never opened for serving, whatever leads to them (the path itself, an
 * index page, the SPA fallback, a precompressed sibling, a CGI script), and on-the-fly
 * compression leaves threads for file reads.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer as createNetServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { CGIHTTPRequestHandler } from "../src/server/cgi_handler.js";
import { FileIO } from "../src/py/io.js";
import { COMPRESSION_SLOTS, compressionLoad } from "../src/features/compression.js";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { randomBytes } from "node:crypto";
import { closeSync as close, ftruncateSync } from "node:fs";
import { exchange, serve, sleep, splitReply, type Running } from "./helpers.js";
import { killAll, launch, stop, waitFor } from "./cli_process.js";

const LONG = { timeout: 120_000 };
const MiB = 1024 * 1024;
/** Enough FIFO requests to have taken every thread of libuv's pool (4), and then some. */
const FIFO_REQUESTS = 8;
const hasMkfifo = spawnSync("sh", ["-c", "command -v mkfifo"]).status === 0;

let root = "";
let unixServer: Server | null = null;
const BIG = 4 * MiB;

class Quiet extends SimpleHTTPRequestHandler {
  override log_message(): void {}
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), "simplehttp-special-"));
  chmodSync(root, 0o755);
  writeFileSync(join(root, "big.bin"), Buffer.alloc(BIG, 0x61));
  writeFileSync(join(root, "page.html"), "<p>page</p>\n".repeat(200));
  if (hasMkfifo) {
    spawnSync("mkfifo", [join(root, "fifo"), join(root, "page.html.br"), join(root, "app.html")]);
    mkdirSync(join(root, "fifo-index"));
    spawnSync("mkfifo", [join(root, "fifo-index", "index.html")]);
    mkdirSync(join(root, "cgi-bin"), { mode: 0o755 });
    spawnSync("mkfifo", [join(root, "cgi-bin", "script.sh")]);
  }
  symlinkSync("/dev/zero", join(root, "zero"));
  symlinkSync("/dev/zero", join(root, "page.html.gz"));
  unixServer = createNetServer();
  await new Promise<void>((resolve) => unixServer!.listen(join(root, "socket"), resolve));
});

after(async () => {
  killAll();
  // Releases any thread still blocked opening a FIFO (only ever the case before the fix).
  for (const name of ["fifo", "page.html.br", "app.html", "fifo-index/index.html", "cgi-bin/script.sh"]) {
    try {
      closeSync(openSync(join(root, name), constants.O_RDWR | constants.O_NONBLOCK));
    } catch {
      // not there
    }
  }
  await new Promise((resolve) => unixServer?.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

/** One request; the status line and the body, or a failure if no reply came within `ms`. */
async function get(port: number, path: string, { method = "GET", headers = [] as string[], ms = 10_000 } = {}) {
  const started = Date.now();
  const reply = await exchange(port, [`${method} ${path} HTTP/1.0`, ...headers, "", ""].join("\r\n"), { timeoutMs: ms });
  const { head, body } = splitReply(reply);
  assert.ok(reply.length > 0, `no reply to ${method} ${path} within ${Date.now() - started} ms`);
  return { status: head.split("\r\n")[0]!, head, body };
}

/** A file read through libuv's pool in this process (where the server runs) still completes. */
async function poolResponds(): Promise<boolean> {
  const read = readFile(join(root, "page.html")).then(() => true);
  const late = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000).unref());
  return Promise.race([read, late]);
}

describe("special files are never opened for serving", { skip: hasMkfifo ? false : "mkfifo is not available" }, () => {
  let running: Running;
  before(async () => {
    running = await serve(Quiet.with_directory(root));
  });
  after(() => running.close());

  test("a FIFO, a socket and a device are 404 File not found, and the pool keeps serving files", LONG, async () => {
    const replies = await Promise.all(Array.from({ length: FIFO_REQUESTS }, () => get(running.port, "/fifo")));
    for (const { status } of replies) assert.equal(status, "HTTP/1.0 404 File not found");
    for (const path of ["/socket", "/zero", "/fifo?x=1"]) assert.equal((await get(running.port, path)).status, "HTTP/1.0 404 File not found", path);
    assert.equal((await get(running.port, "/fifo", { method: "HEAD" })).status, "HTTP/1.0 404 File not found");
    assert.ok(await poolResponds(), "a file read in the server's process completes");
    const { status, body } = await get(running.port, "/big.bin", { ms: 20_000 });
    assert.equal(status, "HTTP/1.0 200 OK");
    assert.equal(body.length, BIG);
  });

  test("HTTP/1.1: the same 404 (Python's error closes the connection), then keep-alive requests are served", LONG, async () => {
    class KeepAlive extends Quiet {
      static override protocol_version = "HTTP/1.1";
    }
    const keeping = await serve(KeepAlive.with_directory(root));
    try {
      const fifo = (await exchange(keeping.port, "GET /fifo HTTP/1.1\r\nHost: x\r\n\r\n", { timeoutMs: 10_000 })).toString("latin1");
      assert.match(fifo, /^HTTP\/1\.1 404 File not found\r\n[^]*Connection: close\r\n/);
      const pages = await exchange(keeping.port, "GET /page.html HTTP/1.1\r\nHost: x\r\n\r\nGET /page.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { timeoutMs: 10_000 });
      assert.equal(pages.toString("latin1").split("HTTP/1.1 200 OK\r\n").length, 3);
    } finally {
      await keeping.close();
    }
  });

  test("an index.html that is a FIFO does not count: the directory is listed", LONG, async () => {
    const { status, body } = await get(running.port, "/fifo-index/");
    assert.equal(status, "HTTP/1.0 200 OK");
    assert.match(body.toString(), /Directory listing for \/fifo-index\/[^]*href="index\.html"/);
  });

  test("the SPA fallback to a FIFO is 404; precompressed siblings that are a FIFO or a device are ignored", LONG, async () => {
    class Options extends Quiet {
      static override spa = "app.html";
      static override precompressed = true;
    }
    const optioned = await serve(Options.with_directory(root));
    try {
      assert.equal((await get(optioned.port, "/some/route")).status, "HTTP/1.0 404 File not found");
      const page = await get(optioned.port, "/page.html", { headers: ["Accept-Encoding: br, gzip"] });
      assert.equal(page.status, "HTTP/1.0 200 OK");
      assert.doesNotMatch(page.head, /Content-Encoding/i);
      assert.equal(page.body.toString(), "<p>page</p>\n".repeat(200));
      assert.ok(await poolResponds());
    } finally {
      await optioned.close();
    }
  });

  test("a CGI script that is a FIFO is 403 CGI script is not a plain file, as in Python", LONG, async () => {
    class Cgi extends CGIHTTPRequestHandler {
      override log_message(): void {}
    }
    const cgi = await serve(Cgi.with_directory(root));
    try {
      assert.equal((await get(cgi.port, "/cgi-bin/script.sh")).status, "HTTP/1.0 403 CGI script is not a plain file ('/cgi-bin/script.sh')");
      assert.equal((await get(cgi.port, "/fifo")).status, "HTTP/1.0 404 File not found");
    } finally {
      await cgi.close();
    }
  });

  test("FileIO.openRegular() turns a FIFO away at once (the open does not wait for a writer)", LONG, async () => {
    assert.equal(await FileIO.openRegular(join(root, "fifo")), null);
    assert.equal(await FileIO.openRegular(join(root, "zero")), null);
    const opened = await FileIO.openRegular(join(root, "page.html"));
    assert.ok(opened?.stats.isFile());
    await opened!.file.close();
  });

  test("the small-file cache's synchronous read of a FIFO returns at once (a swapped file cannot hang the process)", LONG, () => {
    const module = new URL("../src/server/file_cache.js", import.meta.url).href;
    const script = `const { SmallFileCache } = await import(${JSON.stringify(module)}); console.log(new SmallFileCache().read(${JSON.stringify(join(root, "fifo"))}));`;
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 10_000 });
    assert.equal(result.error, undefined, "the read returned");
    assert.equal(result.stdout, "null\n");
  });

  test("through the command line: --workers 2, plain with -p HTTP/1.1 and over TLS", LONG, async () => {
    const tls = (name: string) => fileURLToPath(new URL(`../../test/fixtures/tls/${name}`, import.meta.url));
    for (const args of [["-p", "HTTP/1.1"], ["--tls-cert", tls("cert.pem"), "--tls-key", tls("key.pem")]]) {
      const proc = launch(["--workers", "2", "-b", "127.0.0.1", "-d", root, ...args, "0"]);
      try {
        await waitFor(() => /port (\d+)/.test(proc.stdout()) || proc.hasExited(), "the banner", proc);
        const port = Number(/port (\d+)/.exec(proc.stdout())![1]);
        const send = args[0] === "--tls-cert" ? tlsGet : plainGet;
        const statuses = await Promise.all(Array.from({ length: FIFO_REQUESTS * 2 }, () => send(port, "/fifo")));
        for (const status of statuses) assert.match(status, /^HTTP\/1\.[01] 404 File not found$/);
        // Every worker still reads files (connections go to the workers in turn).
        for (let i = 0; i < 4; i++) assert.match(await send(port, "/big.bin"), /^HTTP\/1\.[01] 200 OK$/);
      } finally {
        await stop(proc);
      }
    }
  });
});

describe("on-the-fly compression leaves threads for file reads", () => {
  const TEXT = 1 * MiB;
  const DOWNLOAD = 64 * MiB;
  const BROTLI_CLIENTS = 32;
  let text: Buffer;

  before(() => {
    // Random lower-case letters and spaces: text that compresses under 2:1, real work for brotli.
    text = randomBytes(TEXT);
    for (let i = 0; i < TEXT; i++) text[i] = text[i]! % 32 < 26 ? 0x61 + (text[i]! % 32) : 0x20;
    writeFileSync(join(root, "text.txt"), text);
    const fd = openSync(join(root, "download.bin"), "w");
    ftruncateSync(fd, DOWNLOAD); // sparse: read from memory, so only the pool's queue can slow it
    close(fd);
  });

  test("in the process: at most COMPRESSION_SLOTS responses compress at once, and every body is whole", LONG, async () => {
    class Compressing extends Quiet {
      static override compress = true;
    }
    const running = await serve(Compressing.with_directory(root));
    try {
      assert.equal(COMPRESSION_SLOTS, 2, "half of libuv's default pool of 4");
      compressionLoad(true);
      const replies = await Promise.all(
        Array.from({ length: 16 }, (_, i) => get(running.port, "/text.txt", { headers: [`Accept-Encoding: ${i % 2 ? "br" : "gzip"}`], ms: 120_000 })),
      );
      for (const [i, { status, head, body }] of replies.entries()) {
        assert.equal(status, "HTTP/1.0 200 OK");
        assert.match(head, i % 2 ? /\r\nContent-Encoding: br\r\n/ : /\r\nContent-Encoding: gzip\r\n/);
        assert.ok((i % 2 ? brotliDecompressSync(body) : gunzipSync(body)).equals(text), "the body decompresses to the file");
      }
      assert.ok(compressionLoad().peak <= COMPRESSION_SLOTS, `${compressionLoad().peak} compressing at once`);
      assert.equal(compressionLoad().inUse, 0);
    } finally {
      await running.close();
    }
  });

  test(`through the command line: a 64 MiB download during ${BROTLI_CLIENTS} brotli responses keeps its pace`, LONG, async (t) => {
    const proc = launch(["--compress", "-b", "127.0.0.1", "-d", root, "0"]);
    try {
      await waitFor(() => /port (\d+)/.test(proc.stdout()) || proc.hasExited(), "the banner", proc);
      const port = Number(/port (\d+)/.exec(proc.stdout())![1]);
      const download = async () => {
        const started = performance.now();
        const { body } = await get(port, "/download.bin", { ms: 60_000 });
        assert.equal(body.length, DOWNLOAD);
        return Math.round(performance.now() - started);
      };
      const alone = Math.min(await download(), await download());
      const compressing = Array.from({ length: BROTLI_CLIENTS }, () => get(port, "/text.txt", { headers: ["Accept-Encoding: br"], ms: 120_000 }));
      await sleep(200);
      const during = await download();
      for (const { body } of await Promise.all(compressing)) assert.ok(brotliDecompressSync(body).equals(text));
      t.diagnostic(`the download took ${during} ms during compression, ${alone} ms alone`);
      // Unbounded, each read of the download waited behind every queued compression job. Bounded,
      // behind two at most (a generous bound, for loaded machines).
      assert.ok(during < 500 + 4 * alone, `the download took ${during} ms during compression, ${alone} ms alone`);
    } finally {
      await stop(proc);
    }
  });
});

async function plainGet(port: number, path: string): Promise<string> {
  return (await get(port, path, { headers: ["Connection: close"] })).status;
}

async function tlsGet(port: number, path: string): Promise<string> {
  const { connect } = await import("node:tls");
  return new Promise((resolve, reject) => {
    let reply = "";
    const socket = connect({ port, host: "127.0.0.1", rejectUnauthorized: false }, () => socket.write(`GET ${path} HTTP/1.0\r\n\r\n`));
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (reply += chunk));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(reply.slice(0, Math.max(0, reply.indexOf("\r\n"))));
    });
    socket.on("error", reject);
  });
}
