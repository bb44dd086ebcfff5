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
} from "../src/features/livereload.js";

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

// ---------------------------------------------------------------------------------------------
// Limits (issue 11, item 5): streams have their own cap and take no max_connections slot; pages
// are streamed, not held whole.

/** Milliseconds for a GET of `path` on a fresh connection; fails if no 200 comes within 10 s. */
async function timedGet(port: number, path = "/a.txt"): Promise<number> {
  const started = Date.now();
  const reply = await exchange(port, `GET ${path} HTTP/1.0\r\n\r\n`, { timeoutMs: 10_000 });
  assert.match(reply.toString("latin1"), /^HTTP\/1\.[01] 200 OK\r\n/, `no answer to GET ${path} within 10 s`);
  return Date.now() - started;
}

describe("event streams have their own cap and take no max_connections slot", () => {
  test("past maxStreams the oldest stream gets 'evicted' and is closed; one log line", TIMEOUT, async () => {
    const reports: string[] = [];
    const { hub, running } = await liveServer({ maxStreams: 3, onError: (line) => reports.push(line) });
    const streams: Stream[] = [];
    for (let i = 0; i < 5; i++) {
      streams.push(await openStream(running.port));
      await waitFor(() => hub.size === Math.min(i + 1, 3), `stream ${i} subscribed`);
    }
    await waitFor(() => streams[0]!.closed() && streams[1]!.closed(), "the two oldest to close");
    for (const old of streams.slice(0, 2)) assert.ok(old.text().endsWith("event: evicted\ndata: too many live-reload streams\n\n"));
    for (const current of streams.slice(2)) assert.equal(current.closed(), false);
    assert.equal(hub.size, 3);
    hub.reload();
    await waitFor(() => streams.slice(2).every((stream) => stream.events() === 1), "the reload on the three open streams");
    assert.deepEqual(reports, ["simplehttp: --watch: more than 3 pages listening for reloads; the oldest page will no longer reload"]);
  });

  test("the page's script stops listening on 'evicted' and reloads on 'reload'", async () => {
    const { runInNewContext } = await import("node:vm");
    const code = /^<script>([^]*)<\/script>\n$/.exec(LIVERELOAD_SCRIPT)![1]!;
    const run = (event: string) => {
      const seen = { url: "", closed: false, reloaded: false };
      const listeners = new Map<string, () => void>();
      class EventSource {
        constructor(url: string) {
          seen.url = url;
        }
        addEventListener(name: string, listener: () => void) {
          listeners.set(name, listener);
        }
        close() {
          seen.closed = true;
        }
      }
      runInNewContext(code, { EventSource, location: { reload: () => (seen.reloaded = true) } });
      listeners.get(event)?.();
      return seen;
    };
    assert.deepEqual(run("evicted"), { url: LIVERELOAD_PATH, closed: true, reloaded: false });
    assert.deepEqual(run("reload"), { url: LIVERELOAD_PATH, closed: false, reloaded: true });
  });

  test("with max_connections = 2, ten open streams leave normal requests served at once", TIMEOUT, async () => {
    const { hub, running } = await liveServer();
    running.server.max_connections = 2;
    const streams = await Promise.all(Array.from({ length: 10 }, () => openStream(running.port)));
    await waitFor(() => hub.size === 10, "ten streams");
    for (let i = 0; i < 5; i++) assert.ok((await timedGet(running.port)) < 2000);
    // Each stream still gets its events.
    hub.reload();
    await waitFor(() => streams.every((stream) => stream.events() === 1), "every stream's reload");
  });

  test("300 stream connections (cap 100, max_connections 4): at most 100 open, pages served within 2 s throughout", TIMEOUT, async () => {
    const { hub, running } = await liveServer({ onError: () => {} });
    running.server.max_connections = 4;
    const streams: Promise<Stream>[] = [];
    const latencies: number[] = [];
    for (let i = 0; i < 300; i++) {
      streams.push(openStream(running.port));
      if (i % 50 === 49) latencies.push(await timedGet(running.port, "/page.html"));
    }
    await Promise.all(streams);
    await waitFor(() => hub.size === 100, "the cap");
    await waitFor(() => running.server._connections.size <= 101, "the evicted connections to close");
    latencies.push(await timedGet(running.port, "/page.html"));
    assert.ok(Math.max(...latencies) < 2000, `GET took ${latencies.join(", ")} ms`);
  });
});

describe("a page is streamed with its script, never held whole", () => {
  const big = (size: number, tagAt: number, tag = "</body>") => {
    const page = Buffer.alloc(size, 0x61);
    if (tagAt >= 0) page.write(tag, tagAt, "latin1");
    return page;
  };
  const expected = (page: Buffer, at: number) => Buffer.concat([page.subarray(0, at), Buffer.from(LIVERELOAD_SCRIPT), page.subarray(at)]);

  test("the last </body> of a file on disk, wherever it lies against the 64 KiB windows it is read by", TIMEOUT, async () => {
    const WINDOW = 64 * 1024;
    const size = 3 * WINDOW + 100;
    const cases: [string, number, string][] = [
      ["near the end", size - 20, "</body>"],
      ["across a window boundary", size - WINDOW - 3, "</BODY>"],
      ["at the very start", 0, "</Body>"],
      ["nowhere", -1, ""],
      ["a look-alike only", 500, "</bodx>"],
    ];
    for (const [what, at, tag] of cases) {
      const page = big(size, at, tag);
      const file = join(root, "big-page.html");
      writeFileSync(file, page);
      const { FileIO } = await import("../src/py/io.js");
      const opened = await FileIO.openRegular(file);
      const body = await injectScript(opened!.file, page.length);
      assert.ok(!(body instanceof BytesIO), "streamed, not gathered into memory");
      const chunks: Buffer[] = [];
      for (let chunk = await body.read(64 * 1024); chunk.length > 0; chunk = await body.read(64 * 1024)) {
        assert.ok(chunk.length <= 64 * 1024);
        chunks.push(chunk);
      }
      await body.close();
      const tagged = tag.toLowerCase() === "</body>";
      assert.ok(Buffer.concat(chunks).equals(expected(page, tagged ? at : page.length)), what);
    }
    rmSync(join(root, "big-page.html"));
  });

  test("40 clients that never read a 4 MiB page: RSS grows by less than 64 MiB", TIMEOUT, async (t) => {
    const { setFlagsFromString } = await import("node:v8");
    const { runInNewContext } = await import("node:vm");
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const rss = () => process.memoryUsage().rss / 2 ** 20;
    const page = big(4 * 2 ** 20, 4 * 2 ** 20 - 100);
    writeFileSync(join(root, "huge.html"), page);
    const { running } = await liveServer();
    gc();
    const start = rss();
    let peak = start;
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 40; i++) {
        const socket = connect(running.port, "127.0.0.1");
        socket.on("error", () => {});
        socket.pause(); // never reads
        socket.write("GET /huge.html HTTP/1.0\r\n\r\n");
        sockets.push(socket);
      }
      for (let i = 0; i < 20; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        peak = Math.max(peak, rss());
      }
      t.diagnostic(`RSS grew ${(peak - start).toFixed(1)} MiB`);
      assert.ok(peak - start < 64, `RSS grew ${(peak - start).toFixed(1)} MiB`);
      // And a client that reads gets the whole page, with the script before </body>.
      const whole = await get(running, "/huge.html");
      assert.ok(whole.body.equals(expected(page, page.length - 100)));
    } finally {
      for (const socket of sockets) socket.destroy();
      rmSync(join(root, "huge.html"));
    }
  });
});

describe("--watch limits, through the binary", () => {
  test("--workers 2 --max-connections 2 -p HTTP/1.1: with 8 streams open, pages are served within 2 s", TIMEOUT, async () => {
    const server = await startServer(["-b", "127.0.0.1", "-d", root, "--watch", "--workers", "2", "--max-connections", "2", "-p", "HTTP/1.1", "0"]);
    try {
      const streams = await Promise.all(Array.from({ length: 8 }, () => openStream(server.port)));
      for (let i = 0; i < 6; i++) assert.ok((await timedGet(server.port, "/page.html")) < 2000);
      assert.ok(streams.every((stream) => !stream.closed()));
    } finally {
      await stop(server.proc);
    }
  });

  test("over TLS with --max-connections 2: streams open, pages served within 2 s", TIMEOUT, async () => {
    const { fileURLToPath } = await import("node:url");
    const tls = (name: string) => fileURLToPath(new URL(`../../test/fixtures/tls/${name}`, import.meta.url));
    const { launch } = await import("./cli_process.js");
    const { connect: tlsConnect } = await import("node:tls");
    const proc = launch(["-b", "127.0.0.1", "-d", root, "--watch", "--max-connections", "2", "--tls-cert", tls("cert.pem"), "--tls-key", tls("key.pem"), "0"]);
    const sockets: Socket[] = [];
    try {
      await waitFor(() => /port (\d+)/.test(proc.stdout()) || proc.hasExited(), "the banner", proc);
      const port = Number(/port (\d+)/.exec(proc.stdout())![1]);
      const tlsRequest = (request: string, until: (text: string) => boolean) =>
        new Promise<string>((resolve) => {
          let text = "";
          const socket = tlsConnect({ port, host: "127.0.0.1", rejectUnauthorized: false }, () => socket.write(request));
          sockets.push(socket);
          socket.setEncoding("latin1");
          socket.on("data", (chunk: string) => {
            text += chunk;
            if (until(text)) resolve(text);
          });
          socket.on("error", () => {});
          socket.on("close", () => resolve(text));
        });
      for (let i = 0; i < 6; i++) {
        const started = await tlsRequest(`GET ${LIVERELOAD_PATH} HTTP/1.1\r\nHost: x\r\n\r\n`, (text) => text.includes("retry: 1000\n\n"));
        assert.match(started, /retry: 1000\n\n$/);
      }
      const begun = Date.now();
      const page = await tlsRequest("GET /page.html HTTP/1.0\r\n\r\n", () => false);
      assert.ok(Date.now() - begun < 2000, `the page took ${Date.now() - begun} ms`);
      assert.ok(page.includes(LIVERELOAD_SCRIPT));
    } finally {
      for (const socket of sockets) socket.destroy();
      await stop(proc);
    }
  });
});
