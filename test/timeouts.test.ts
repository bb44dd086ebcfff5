/**
 * Timeouts: the request line and headers (in all, not per byte: slowloris), an idle keep-alive
 * connection, a client that stops reading, a request body that stops arriving; each expired
 * connection closed and logged once, all with one timer per server; Python's own `timeout`, when
 * set, governs instead.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import { BaseHTTPRequestHandler } from "../src/server/base_handler.js";
import { percentFormat } from "../src/py/format.js";
import { ThreadingHTTPServer } from "../src/server/http_server.js";
import { ThreadingHTTPSServer } from "../src/server/https_server.js";
import type { RequestHandlerClass } from "../src/socketserver/servers.js";
import { exchange, serve, sleep, type ServerClass } from "./helpers.js";
import { collect, openSocket, parseResponses, waitFor } from "./hostile.js";

const BIG_CHUNK = Buffer.alloc(1024 * 1024, 0x61);

/** HTTP/1.1; GET /big sends 64 MiB, awaiting each write; logs are kept, not printed. */
class Timed extends BaseHTTPRequestHandler {
  override protocol_version = "HTTP/1.1";
  static override header_timeout: number | null = 1;
  static override keepalive_timeout: number | null = 0.5;
  static override write_timeout: number | null = 0.5;
  static logged: string[] = [];

  async do_GET() {
    if (this.path === "/big") {
      this.send_response(200);
      this.send_header("Content-Length", String(64 * BIG_CHUNK.length));
      await this.end_headers();
      for (let i = 0; i < 64; i++) await this.wfile.write(BIG_CHUNK);
      return;
    }
    this.send_response(200);
    this.send_header("Content-Length", "2");
    this.end_headers();
    await this.wfile.write("ok");
  }

  override log_message(format: string, ...args: unknown[]) {
    (this.constructor as typeof Timed).logged.push(percentFormat(format, args));
  }
}

/** A fresh subclass (its own log and settings) on its own server. */
async function start(settings: Partial<Record<"header_timeout" | "keepalive_timeout" | "write_timeout" | "timeout", number | null>> = {}) {
  class Handler extends Timed {
    static override logged: string[] = [];
  }
  Object.assign(Handler, settings);
  const running = await serve(Handler);
  return { running, Handler };
}

const GET = "GET / HTTP/1.1\r\n\r\n";
const OK = /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/;

/** Sends `text` one byte per `everyMs` until the socket closes; resolves with the close time. */
async function trickle(socket: Socket, text: string, everyMs: number): Promise<void> {
  socket.setNoDelay(true);
  for (const byte of text) {
    if (socket.destroyed || socket.writableEnded) return;
    socket.write(byte);
    await sleep(everyMs);
  }
}

test("slowloris: connections sending a header byte at a time are cut off at header_timeout while a normal client is served", async () => {
  const { running, Handler } = await start();
  const attackers = 20;
  try {
    const started = Date.now();
    const sockets = await Promise.all(Array.from({ length: attackers }, () => openSocket(running.port)));
    const closings = sockets.map(async (socket) => {
      const reply = collect(socket);
      void trickle(socket, "GET / HTTP/1.1\r\n" + "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(10), 100);
      const data = await reply.closed;
      return { seconds: (Date.now() - started) / 1000, data };
    });
    // Meanwhile a normal client is served, over and over.
    let served = 0;
    let done = false;
    const normal = (async () => {
      while (!done) {
        const reply = await exchange(running.port, GET.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"));
        assert.match(reply.toString("latin1"), OK);
        served++;
        await sleep(50);
      }
    })();
    const results = await Promise.all(closings);
    done = true;
    await normal;
    for (const { seconds, data } of results) {
      assert.ok(seconds > 0.5 && seconds < 10, `closed after ${seconds} s`);
      assert.equal(data.length, 0, "no reply is sent to a timed-out request");
    }
    assert.ok(served >= 5, `the normal client was served ${served} times`);
    const timedOut = Handler.logged.filter((line) => line.startsWith("Request timed out"));
    assert.equal(timedOut.length, attackers, "one log line per connection");
    assert.equal(timedOut[0], "Request timed out: no complete request line and headers within 1 second");
  } finally {
    await running.close();
  }
});

test("the header timeout is for the whole request line and headers, not per byte", async () => {
  const { running } = await start({ header_timeout: 1 });
  try {
    const socket = await openSocket(running.port);
    const reply = collect(socket);
    const started = Date.now();
    // A byte every 50 ms would never trip a per-byte (inactivity) timeout.
    void trickle(socket, "GET / HTTP/1.1\r\n" + "X: y\r\n".repeat(200), 50);
    await reply.closed;
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds > 0.5 && seconds < 10, `closed after ${seconds} s`);
  } finally {
    await running.close();
  }
});

test("a connection that sends nothing is closed at header_timeout, logged once", async () => {
  const { running, Handler } = await start({ header_timeout: 0.5 });
  try {
    const socket = await openSocket(running.port);
    const started = Date.now();
    await collect(socket).closed;
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds > 0.25 && seconds < 10, `closed after ${seconds} s`);
    assert.deepEqual(Handler.logged, ["Request timed out: no complete request line and headers within 0.5 seconds"]);
  } finally {
    await running.close();
  }
});

test("an idle keep-alive connection is closed after keepalive_timeout, silently", async () => {
  const { running, Handler } = await start({ keepalive_timeout: 0.5, header_timeout: 30 });
  try {
    const socket = await openSocket(running.port);
    const reply = collect(socket);
    socket.write(GET);
    assert.ok(await waitFor(() => OK.test(reply.data().toString("latin1"))));
    const answered = Date.now();
    await reply.closed;
    const seconds = (Date.now() - answered) / 1000;
    assert.ok(seconds > 0.25 && seconds < 10, `closed after ${seconds} s idle`);
    assert.equal(reply.wasReset(), false, "closed with a FIN, not a reset");
    // Browsers leave idle connections open all the time: their normal close is not logged.
    assert.deepEqual(Handler.logged, ['"GET / HTTP/1.1" 200 -']);
  } finally {
    await running.close();
  }
});

test("once the next request begins, the header timeout applies instead of the idle one", async () => {
  const { running, Handler } = await start({ keepalive_timeout: 0.4, header_timeout: 5 });
  try {
    const socket = await openSocket(running.port);
    const reply = collect(socket);
    socket.write(GET);
    assert.ok(await waitFor(() => parseResponses(reply.data()).responses.length === 1));
    // The second request starts at once but takes about 1.2 s: three times the idle timeout.
    await trickle(socket, "GET / HTTP/1.1\r\nX: abcdefghij\r\n\r\n", 40);
    assert.ok(await waitFor(() => parseResponses(reply.data()).responses.length === 2, 5000));
    socket.destroy();
    assert.equal(Handler.logged.filter((line) => line.includes("timed out") || line.includes("idle")).length, 0);
  } finally {
    await running.close();
  }
});

test("a client that stops reading is cut off after write_timeout with one line, no traceback", async () => {
  const { running, Handler } = await start({ write_timeout: 0.5 });
  try {
    const socket = await openSocket(running.port);
    const reply = collect(socket);
    socket.write("GET /big HTTP/1.1\r\n\r\n");
    await waitFor(() => reply.data().length > 0);
    socket.pause(); // reads nothing more
    const started = Date.now();
    await waitFor(() => Handler.logged.length >= 2, 15_000);
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds < 10, `cut off after ${seconds} s`);
    socket.destroy();
    assert.deepEqual(Handler.logged, [
      '"GET /big HTTP/1.1" 200 -',
      'Request timed out: the client stopped reading for 0.5 seconds while sending "GET /big HTTP/1.1"',
    ]);
    // The server goes on serving.
    assert.match((await exchange(running.port, "GET / HTTP/1.0\r\n\r\n")).toString("latin1"), /ok$/);
  } finally {
    await running.close();
  }
});

test("a slow reader that keeps reading is not cut off (the write timeout is per write, not per response)", async () => {
  const { running, Handler } = await start({ write_timeout: 1 });
  try {
    const socket = await openSocket(running.port);
    let received = 0;
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length;
      socket.pause();
      setTimeout(() => socket.resume(), 2); // reads, but slowly
    });
    const closed = collect(socket).closed;
    socket.write("GET /big HTTP/1.1\r\nConnection: close\r\n\r\n");
    await closed;
    assert.ok(received > 64 * BIG_CHUNK.length, `received ${received} bytes`);
    assert.deepEqual(Handler.logged, ['"GET /big HTTP/1.1" 200 -']);
  } finally {
    await running.close();
  }
});

test("Python's timeout, when set, governs instead: its inactivity timeout and its log line", async () => {
  const { running, Handler } = await start({ timeout: 0.3, header_timeout: 30 });
  try {
    const socket = await openSocket(running.port);
    socket.write("GET / HTTP/1.1\r\n");
    await collect(socket).closed;
    assert.deepEqual(Handler.logged, ["Request timed out: TimeoutError('timed out')"]);
  } finally {
    await running.close();
  }
});

test("timeouts set to null never close a connection", async () => {
  const { running, Handler } = await start({ header_timeout: null, keepalive_timeout: null, write_timeout: null });
  try {
    const socket = await openSocket(running.port);
    const reply = collect(socket);
    socket.write("GET / HTTP/1.1\r\n");
    await sleep(1200);
    assert.equal(reply.isClosed(), false);
    socket.write("\r\n");
    assert.ok(await waitFor(() => OK.test(reply.data().toString("latin1"))));
    await sleep(1200);
    assert.equal(reply.isClosed(), false);
    socket.destroy();
    assert.deepEqual(Handler.logged, ['"GET / HTTP/1.1" 200 -']);
  } finally {
    await running.close();
  }
});

test("one timer per server: fifty open connections add no timers of their own", async () => {
  const { running } = await start({ header_timeout: 5 });
  const timers = () => process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;
  try {
    const before = timers();
    const sockets = await Promise.all(Array.from({ length: 50 }, () => openSocket(running.port)));
    for (const socket of sockets) socket.write("GET / HTTP/1.1\r\n"); // in the header phase
    await waitFor(() => running.server._sweeper.size === 50);
    const during = timers();
    assert.ok(during <= before + 1, `${before} timers before, ${during} with 50 connections`);
    for (const socket of sockets) socket.destroy();
    assert.ok(await waitFor(() => running.server._sweeper.size === 0));
  } finally {
    await running.close();
  }
});

test("the sweep timer stops once no connection is left, and after server_close()", async () => {
  const { running } = await start();
  const reply = await exchange(running.port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
  assert.match(reply.toString("latin1"), OK);
  await running.close();
  assert.ok(await waitFor(() => !running.server._sweeper.running, 5000), "the sweep timer stopped");
});

test("expired connections free their handler slot: the server is not left holding them", async () => {
  const { running } = await start({ header_timeout: 0.3 });
  try {
    const sockets = await Promise.all(Array.from({ length: 10 }, () => openSocket(running.port)));
    await Promise.all(sockets.map((socket) => collect(socket).closed));
    assert.ok(await waitFor(() => running.server._handlers.size === 0 && running.server._connections.size === 0));
  } finally {
    await running.close();
  }
});


/** A server of `Timed` handlers with `max_connections` set. */
async function startLimited(maxConnections: number, settings: Parameters<typeof start>[0]) {
  class Handler extends Timed {
    static override logged: string[] = [];
  }
  Object.assign(Handler, settings);
  class Limited extends ThreadingHTTPServer {
    override max_connections = maxConnections;
  }
  const running = await serve(Handler, Limited as unknown as ServerClass);
  return { running, Handler };
}

test("the header deadline runs from accept: silent connections queued beyond max_connections do not hold back a client behind them", async () => {
  const { running, Handler } = await startLimited(5, { header_timeout: 1 });
  const silent = await Promise.all(Array.from({ length: 55 }, () => openSocket(running.port)));
  try {
    assert.ok(await waitFor(() => running.server._pending.length === 50), "50 wait in the accept queue");
    const started = Date.now();
    const reply = await exchange(running.port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", { timeoutMs: 15_000 });
    const seconds = (Date.now() - started) / 1000;
    assert.match(reply.toString("latin1"), OK);
    // Counted from when each was handled, the queue would add (55 / 5) x 1 s = 11 s.
    assert.ok(seconds < 4, `served after ${seconds} s`);
    assert.ok(await waitFor(() => Handler.logged.length === 56));
    assert.equal(Handler.logged.filter((line) => line === "Request timed out: no complete request line and headers within 1 second").length, 55);
  } finally {
    for (const socket of silent) socket.destroy();
    await running.close();
  }
});

test("a request sent in full while it waited in the accept queue is served, though its header deadline passed meanwhile", async () => {
  const { running, Handler } = await startLimited(1, { header_timeout: 0.5 });
  const holder = await openSocket(running.port); // silent: holds the only slot until it times out
  try {
    assert.ok(await waitFor(() => running.server._handlers.size === 1));
    const started = Date.now();
    const reply = await exchange(running.port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", { timeoutMs: 10_000 });
    assert.match(reply.toString("latin1"), OK);
    assert.ok(Date.now() - started >= 400, "it waited for the slot");
    assert.deepEqual(Handler.logged, ["Request timed out: no complete request line and headers within 0.5 seconds", '"GET / HTTP/1.1" 200 -']);
  } finally {
    holder.destroy();
    await running.close();
  }
});

test("a queued connection that sent only part of its head by its deadline is cut off as soon as it is handled", async () => {
  const { running, Handler } = await startLimited(1, { header_timeout: 0.5 });
  const holder = await openSocket(running.port);
  try {
    assert.ok(await waitFor(() => running.server._handlers.size === 1));
    const partial = await openSocket(running.port);
    const reply = collect(partial);
    partial.write("GET / HTTP/1.1\r\nX: 1\r\n");
    await reply.closed;
    assert.equal(reply.data().length, 0);
    assert.deepEqual(Handler.logged, [
      "Request timed out: no complete request line and headers within 0.5 seconds",
      "Request timed out: no complete request line and headers within 0.5 seconds",
    ]);
  } finally {
    holder.destroy();
    await running.close();
  }
});

// ---------------------------------------------------------------------------------------------
// body_timeout: a request body that stops arriving

/** What the upload handlers below saw: the bytes each kept, and how its read ended. */
let uploads: { kept: number; discarded: boolean; error: string | null }[] = [];

/** POST reads its body in pieces (`read_body()`, or `rfile.read()` for /raw), "saving" each. */
class Uploads extends Timed {
  async do_POST() {
    const upload = { kept: 0, discarded: false, error: null as string | null };
    uploads.push(upload);
    try {
      const length = Number(this.headers.get("Content-Length"));
      while (upload.kept < length) {
        const piece = this.path === "/raw" ? await this.rfile.read(Math.min(4, length - upload.kept)) : await this.read_body(4);
        if (piece.length === 0) break;
        upload.kept += piece.length;
      }
    } catch (error) {
      // What a real upload does: remove what it wrote, then let the error end the request.
      upload.error = (error as Error).name;
      upload.discarded = true;
      throw error;
    }
    this.send_response(200);
    this.send_header("Content-Length", "2");
    this.end_headers();
    await this.wfile.write("ok");
  }
}

async function startUploads(settings: Partial<Record<"body_timeout" | "header_timeout" | "timeout", number | null>>, ServerClass?: ServerClass) {
  class Handler extends Uploads {
    static override logged: string[] = [];
  }
  Object.assign(Handler, settings);
  uploads = [];
  return { running: await serve(Handler, ServerClass), Handler };
}

for (const [protocol, path] of [["HTTP/1.1", "/read_body"], ["HTTP/1.0", "/raw"]] as const) {
  test(`${protocol}: a body that stops arriving is cut off after body_timeout, logged once; the handler's read rejects (${path})`, async () => {
    const { running, Handler } = await startUploads({ body_timeout: 0.5 });
    const socket = await openSocket(running.port);
    try {
      const reply = collect(socket);
      const started = Date.now();
      socket.write(`POST ${path} ${protocol}\r\nContent-Length: 100\r\n\r\n0123456789`);
      assert.ok(await waitFor(reply.isClosed, 5000), "cut off");
      const seconds = (Date.now() - started) / 1000;
      assert.ok(seconds > 0.4 && seconds < 5, `cut off after ${seconds} s`);
      assert.equal(reply.data().length, 0, "nothing is answered");
      assert.ok(await waitFor(() => uploads[0]?.discarded === true));
      assert.deepEqual(uploads, [{ kept: 8, discarded: true, error: "TimeoutError" }]);
      assert.deepEqual(Handler.logged, [`Request timed out: the client stopped sending for 0.5 seconds while receiving "POST ${path} ${protocol}"`]);
    } finally {
      socket.destroy();
      await running.close();
    }
  });
}

test("a body sent slowly but steadily is not cut off: body_timeout is between bytes, not for the whole body", async () => {
  const { running, Handler } = await startUploads({ body_timeout: 0.5 });
  try {
    const socket = await openSocket(running.port);
    const reply = collect(socket);
    socket.write("POST / HTTP/1.1\r\nContent-Length: 10\r\nConnection: close\r\n\r\n");
    await trickle(socket, "0123456789", 200); // 2 s in all: four times body_timeout
    await reply.closed;
    assert.match(reply.data().toString("latin1"), OK);
    assert.deepEqual(Handler.logged, ['"POST / HTTP/1.1" 200 -']);
  } finally {
    await running.close();
  }
});

test("body_timeout null, or Python's timeout set, leaves a stalled body alone", async () => {
  for (const settings of [{ body_timeout: null }, { body_timeout: 0.3, timeout: 60 }]) {
    const { running, Handler } = await startUploads(settings);
    try {
      const socket = await openSocket(running.port);
      const reply = collect(socket);
      socket.write("POST / HTTP/1.1\r\nContent-Length: 8\r\n\r\n0123");
      await sleep(1200);
      assert.equal(reply.isClosed(), false, JSON.stringify(settings));
      socket.write("4567");
      assert.ok(await waitFor(() => OK.test(reply.data().toString("latin1"))));
      socket.destroy();
      assert.deepEqual(Handler.logged, ['"POST / HTTP/1.1" 200 -']);
    } finally {
      await running.close();
    }
  }
});

test("over TLS too, a body that stops arriving is cut off after body_timeout", async () => {
  const fixture = (name: string) => fileURLToPath(new URL(`../../test/fixtures/tls/${name}`, import.meta.url));
  class TLS extends ThreadingHTTPSServer {
    constructor(address: [string, number], Handler: RequestHandlerClass) {
      super(address, Handler, true, { certfile: fixture("cert.pem"), keyfile: fixture("key.pem") });
    }
  }
  const { running, Handler } = await startUploads({ body_timeout: 0.5 }, TLS as unknown as ServerClass);
  const socket = tlsConnect({ port: running.port, host: "127.0.0.1", rejectUnauthorized: false });
  try {
    const reply = collect(socket);
    socket.write("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc");
    assert.ok(await waitFor(reply.isClosed, 5000), "cut off");
    assert.equal(reply.data().length, 0);
    assert.ok(await waitFor(() => Handler.logged.length === 1));
    assert.deepEqual(Handler.logged, ['Request timed out: the client stopped sending for 0.5 seconds while receiving "POST / HTTP/1.1"']);
  } finally {
    socket.destroy();
    await running.close();
  }
});
