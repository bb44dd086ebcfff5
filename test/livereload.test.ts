/**
 * Live reload (`--watch`): the script injected into HTML responses, the event stream on
 * `/__simplehttp/livereload`, the watcher and its debounce, and how streams end — in-process
 * with `withLiveReload`, then through the built binary.
 */
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exchange, masked, serve, splitReply, type Running } from "./helpers.js";
import { TIMEOUT, killAll, startServer, stop, waitFor } from "./cli_process.js";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { BytesIO, type FileLike } from "../src/py/io.js";
import {
  INJECT_SCAN_LIMIT,
  LIVERELOAD_PATH,
  LIVERELOAD_SCRIPT,
  LiveReloadHub,
  injectScript,
  withLiveReload,
  type LiveReloadOptions,
} from "../src/server/livereload.js";

const PAGE = "<!DOCTYPE html>\n<html><head><title>t</title></head>\n<body>\n<p>page</p>\n</body>\n</html>\n";
const SCRIPT_LENGTH = Buffer.byteLength(LIVERELOAD_SCRIPT);

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), "simplehttp-livereload-"));
  writeFileSync(join(root, "page.html"), PAGE);
  writeFileSync(join(root, "a.txt"), "hello\n");
  writeFileSync(join(root, "big.txt"), "compress me ".repeat(200));
  mkdirSync(join(root, "app"));
  writeFileSync(join(root, "app", "index.html"), "<p>no body tag</p>\n");
  mkdirSync(join(root, "list"));
  writeFileSync(join(root, "list", "x.txt"), "x\n");
  mkdirSync(join(root, "sub"));
  writeFileSync(join(root, "sub", "style.css"), "p {}\n");
});
after(() => {
  killAll();
  rmSync(root, { recursive: true, force: true });
});

/** Everything each test started, closed after it whatever happened. */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server with live reload on `root`; `configure` may set class attributes on the handler. */
async function liveServer(options: LiveReloadOptions = {}, configure?: (Handler: typeof SimpleHTTPRequestHandler) => void) {
  const hub = new LiveReloadHub(root, options);
  hub.start();
  const Handler = withLiveReload(SimpleHTTPRequestHandler.with_directory(root), hub);
  configure?.(Handler);
  const running = await serve(Handler);
  cleanups.push(() => hub.close(), () => running.close());
  return { hub, running, Handler };
}

async function get(running: Running, path: string, extra: string[] = [], method = "GET") {
  const reply = await exchange(running.port, [`${method} ${path} HTTP/1.0`, ...extra, "", ""].join("\r\n"), { timeoutMs: 20_000 });
  const { head, body } = splitReply(reply);
  return { reply, head, body, length: Number(/\r\nContent-Length: (\d+)/i.exec(head)?.[1] ?? NaN) };
}

/** An open event stream: what has arrived so far, and whether the server closed it. */
interface Stream {
  socket: Socket;
  text(): string;
  closed(): boolean;
  events(): number;
}

function openStream(port: number, host = "127.0.0.1"): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    let received = "";
    let closed = false;
    const stream: Stream = {
      socket,
      text: () => received,
      closed: () => closed,
      events: () => received.split("event: reload\n").length - 1,
    };
    cleanups.push(() => socket.destroy());
    socket.setEncoding("latin1");
    socket.on("connect", () => socket.write(`GET ${LIVERELOAD_PATH} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`));
    socket.on("data", (chunk: string) => {
      received += chunk;
      if (received.includes("retry: 1000\n\n")) resolve(stream);
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      closed = true;
      reject(new Error(`closed before the stream started: ${JSON.stringify(received)}`));
    });
  });
}

describe("injectScript", () => {
  const inject = async (html: string) => {
    const body = await injectScript(new BytesIO(Buffer.from(html, "latin1")), Buffer.byteLength(html, "latin1"));
    return (await body.read(-1)).toString("latin1");
  };

  test("goes before the last </body>", async () => {
    assert.equal(await inject("<body><!-- </body> --></body></html>"), `<body><!-- </body> -->${LIVERELOAD_SCRIPT}</body></html>`);
  });

  test("finds </BODY> in any case", async () => {
    assert.equal(await inject("<BODY>x</BODY>"), `<BODY>x${LIVERELOAD_SCRIPT}</BODY>`);
  });

  test("is appended to a page without </body>", async () => {
    assert.equal(await inject("<p>fragment</p>"), `<p>fragment</p>${LIVERELOAD_SCRIPT}`);
  });

  test("keeps bytes that are not UTF-8 as they are", async () => {
    const html = Buffer.from([0x3c, 0x70, 0x3e, 0xff, 0xe9, 0x3c, 0x2f, 0x62, 0x6f, 0x64, 0x79, 0x3e]); // <p>\xff\xe9</body>
    const body = await injectScript(new BytesIO(html), html.length);
    assert.deepEqual(await body.read(-1), Buffer.concat([html.subarray(0, 5), Buffer.from(LIVERELOAD_SCRIPT), html.subarray(5)]));
  });

  test("a page larger than INJECT_SCAN_LIMIT is streamed, with the script at its end", async () => {
    const size = INJECT_SCAN_LIMIT + 10;
    let sent = 0;
    let closed = false;
    const huge: FileLike = {
      async read(n = -1) {
        const length = Math.min(n < 0 ? size : n, size - sent);
        sent += length;
        return Buffer.alloc(length, 0x61);
      },
      close() {
        closed = true;
      },
    };
    const body = await injectScript(huge, size);
    let total = 0;
    let last: Buffer = Buffer.alloc(0);
    for (;;) {
      const chunk = await body.read(64 * 1024);
      if (chunk.length === 0) break;
      total += chunk.length;
      last = chunk;
    }
    await body.close();
    assert.equal(total, size + SCRIPT_LENGTH);
    assert.equal(last.toString(), LIVERELOAD_SCRIPT);
    assert.ok(closed);
  });
});

describe("HTML responses get the script; nothing else changes", () => {
  test("an HTML file: the script before </body>, Content-Length counting it", TIMEOUT, async () => {
    const { running } = await liveServer();
    const { body, length, head } = await get(running, "/page.html");
    assert.match(head, /^HTTP\/1\.0 200 OK\r\n/);
    assert.equal(body.toString(), PAGE.replace("</body>", `${LIVERELOAD_SCRIPT}</body>`));
    assert.equal(length, Buffer.byteLength(PAGE) + SCRIPT_LENGTH);
    assert.equal(body.length, length);
  });

  test("HEAD: the same Content-Length as GET, no body", TIMEOUT, async () => {
    const { running } = await liveServer();
    const head = await get(running, "/page.html", [], "HEAD");
    assert.equal(head.length, Buffer.byteLength(PAGE) + SCRIPT_LENGTH);
    assert.equal(head.body.length, 0);
  });

  test("an index page without </body> gets the script at its end", TIMEOUT, async () => {
    const { running } = await liveServer();
    const { body, length } = await get(running, "/app/");
    assert.equal(body.toString(), `<p>no body tag</p>\n${LIVERELOAD_SCRIPT}`);
    assert.equal(body.length, length);
  });

  test("a directory listing gets the script before </body>", TIMEOUT, async () => {
    const { running } = await liveServer();
    const { body, length } = await get(running, "/list/");
    assert.ok(body.toString().endsWith(`</ul>\n<hr>\n${LIVERELOAD_SCRIPT}</body>\n</html>\n`), body.toString());
    assert.equal(body.length, length);
  });

  test("a text file, an error page, a redirect and a range are Python's bytes", TIMEOUT, async () => {
    const { running } = await liveServer();
    const plain = await serve(SimpleHTTPRequestHandler.with_directory(root));
    cleanups.push(() => plain.close());
    const requests: [string, string[]][] = [
      ["/a.txt", []],
      ["/missing.html", []],
      ["/list", []],
      ["/page.html", ["Range: bytes=0-9"]],
    ];
    for (const [path, extra] of requests) {
      const live = await get(running, path, extra);
      const python = await get(plain, path, extra);
      assert.equal(masked(live.reply), masked(python.reply), path);
      assert.ok(!live.reply.toString("latin1").includes("<script"), path);
    }
  });

  test("If-Modified-Since is ignored: a reload gets the file, even one edited in the second it was loaded", TIMEOUT, async () => {
    const { running } = await liveServer();
    const first = await get(running, "/a.txt");
    const lastModified = /\r\nLast-Modified: ([^\r]+)/.exec(first.head)![1]!;
    const again = await get(running, "/a.txt", [`If-Modified-Since: ${lastModified}`]);
    assert.match(again.head, /^HTTP\/1\.0 200 OK\r\n/);
    assert.equal(again.body.toString(), "hello\n");
    // Python's handler (without live reload) answers the same request with 304.
    const plain = await serve(SimpleHTTPRequestHandler.with_directory(root));
    cleanups.push(() => plain.close());
    assert.match((await get(plain, "/a.txt", [`If-Modified-Since: ${lastModified}`])).head, /^HTTP\/1\.0 304 /);
  });

  test("with compress on, pages go uncompressed (with the script) and other text still compressed", TIMEOUT, async () => {
    const { running } = await liveServer({}, (Handler) => (Handler.compress = true));
    const page = await get(running, "/page.html", ["Accept-Encoding: gzip, br"]);
    assert.doesNotMatch(page.head, /Content-Encoding/i);
    assert.ok(page.body.toString().includes(LIVERELOAD_SCRIPT));
    const text = await get(running, "/big.txt", ["Accept-Encoding: gzip"]);
    assert.match(text.head, /\r\nContent-Encoding: gzip\r\n/);
  });

  test("without withLiveReload there is no script and no reserved path (rule 4)", TIMEOUT, async () => {
    const plain = await serve(SimpleHTTPRequestHandler.with_directory(root));
    cleanups.push(() => plain.close());
    assert.equal((await get(plain, "/page.html")).body.toString(), PAGE);
    assert.match((await get(plain, LIVERELOAD_PATH)).head, /^HTTP\/1\.0 404 File not found\r\n/);
  });
});

describe("the event stream", () => {
  test("is text/event-stream, uncached, without a length; a change under the directory sends reload", TIMEOUT, async () => {
    const { running } = await liveServer();
    const stream = await openStream(running.port);
    const head = stream.text().split("\r\n\r\n")[0]!;
    assert.match(head, /^HTTP\/1\.0 200 OK\r\n/);
    assert.match(head, /\r\nContent-Type: text\/event-stream\r\nCache-Control: no-cache$/);
    assert.doesNotMatch(head, /Content-Length/i);
    appendFileSync(join(root, "sub", "style.css"), "a {}\n");
    await waitFor(() => stream.events() > 0, "a reload event");
    assert.ok(stream.text().endsWith("event: reload\ndata: reload\n\n"));
  });

  test("a burst of changes makes one reload (debounce)", TIMEOUT, async () => {
    const { hub, running } = await liveServer({ debounceMs: 300 });
    const stream = await openStream(running.port);
    for (let i = 0; i < 5; i++) writeFileSync(join(root, `burst-${i}.txt`), String(i));
    await waitFor(() => stream.events() > 0, "a reload event");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(stream.events(), 1);
    assert.equal(hub.size, 1);
  });

  test("sends a heartbeat comment while nothing changes", TIMEOUT, async () => {
    const { running } = await liveServer({ heartbeatMs: 50 });
    const stream = await openStream(running.port);
    await waitFor(() => stream.text().includes("\n: heartbeat\n\n"), "a heartbeat");
    assert.equal(stream.events(), 0);
  });

  test("outlives the core's header and keep-alive timeouts", TIMEOUT, async () => {
    const { hub, running } = await liveServer({}, (Handler) => {
      Handler.header_timeout = 0.2;
      Handler.keepalive_timeout = 0.2;
    });
    const stream = await openStream(running.port);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(stream.closed(), false);
    hub.reload();
    await waitFor(() => stream.events() > 0, "the reload event");
  });

  test("a client that leaves is forgotten", TIMEOUT, async () => {
    const { hub, running } = await liveServer();
    const stream = await openStream(running.port);
    await waitFor(() => hub.size === 1, "the stream to be subscribed");
    stream.socket.end();
    await waitFor(() => hub.size === 0, "the stream to be dropped");
  });

  test("hub.close() ends every stream", TIMEOUT, async () => {
    const { hub, running } = await liveServer();
    const streams = [await openStream(running.port), await openStream(running.port)];
    await waitFor(() => hub.size === 2, "both streams");
    hub.close();
    await waitFor(() => streams.every((stream) => stream.closed()), "both streams to close");
  });

  test("server_close() ends an open stream: it never holds the server", TIMEOUT, async () => {
    const { hub, running } = await liveServer();
    const stream = await openStream(running.port);
    await waitFor(() => hub.size === 1, "the stream");
    await running.server.shutdown();
    await running.server.server_close();
    await waitFor(() => stream.closed(), "the stream to close");
    assert.equal(hub.size, 0);
    assert.equal(running.server._handlers.size, 0);
  });

  test("graceful_close() returns without waiting out its grace period for a stream", TIMEOUT, async (t) => {
    const { hub, running } = await liveServer();
    const server = running.server as typeof running.server & { graceful_close?: (grace?: number) => Promise<void> };
    if (typeof server.graceful_close !== "function") return t.skip("this server has no graceful_close()");
    const stream = await openStream(running.port);
    await waitFor(() => hub.size === 1, "the stream");
    // A grace far longer than the test's timeout: only the stream's ending lets this return.
    await server.graceful_close(3600);
    await waitFor(() => stream.closed(), "the stream to close");
    assert.equal(hub.size, 0);
  });
});

describe("--watch, through the binary", () => {
  test("pages get the script, an edit sends reload, and SIGTERM exits 0 with a stream open", TIMEOUT, async () => {
    const server = await startServer(["-b", "127.0.0.1", "-d", root, "--watch", "0"]);
    try {
      const page = await exchange(server.port, "GET /page.html HTTP/1.0\r\n\r\n", { timeoutMs: 20_000 });
      assert.ok(splitReply(page).body.toString().includes(LIVERELOAD_SCRIPT));
      const stream = await openStream(server.port);
      appendFileSync(join(root, "page.html"), "<!-- edited -->\n");
      await waitFor(() => stream.events() > 0, "a reload event", server.proc);
      server.proc.child.kill("SIGTERM");
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
      await waitFor(() => stream.closed(), "the stream to close");
    } finally {
      await stop(server.proc);
      writeFileSync(join(root, "page.html"), PAGE);
    }
  });

  test("SIGINT with a stream open: Python's message, exit 0", TIMEOUT, async () => {
    const server = await startServer(["-b", "127.0.0.1", "-d", root, "--watch", "0"]);
    try {
      await openStream(server.port);
      server.proc.child.kill("SIGINT");
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
      assert.equal(server.proc.stdout(), `${server.banner}\nKeyboard interrupt received, exiting.\n`);
    } finally {
      await stop(server.proc);
    }
  });
});
