/**
 * Graceful shutdown: `graceful_close()` (what SIGTERM and Ctrl-C call) stops accepting, lets
 * requests in flight finish within `shutdown_grace`, closes idle keep-alive connections at once,
 * then closes what is left, and leaves nothing behind.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { BaseHTTPRequestHandler } from "../src/server/base_handler.js";
import { HTTPServer, ThreadingHTTPServer } from "../src/server/http_server.js";
import { sleep, type ServerClass } from "./helpers.js";
import { collect, openSocket, parseResponses, waitFor } from "./hostile.js";

/** GET /slow answers after 300 ms, /forever never; anything else at once. */
class Slow extends BaseHTTPRequestHandler {
  override protocol_version = "HTTP/1.1";
  static entered = 0;

  async do_GET() {
    Slow.entered++;
    if (this.path === "/forever") await new Promise(() => {});
    if (this.path === "/slow") await sleep(300);
    this.send_response(200);
    this.send_header("Content-Length", "4");
    this.end_headers();
    await this.wfile.write("done");
  }

  override log_message() {}
}

async function start(ServerClass: ServerClass = ThreadingHTTPServer as unknown as ServerClass) {
  const server = new ServerClass(["127.0.0.1", 0], Slow);
  await server.ready;
  const loop = server.serve_forever(0.05);
  return { server, loop, port: server.server_address[1] };
}

const DONE = /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\ndone$/;

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.on("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED"));
  });
}

for (const [name, ServerClass] of [
  ["ThreadingHTTPServer", ThreadingHTTPServer],
  ["HTTPServer (serial)", HTTPServer],
] as const) {
  test(`${name}: graceful_close() lets a request in flight finish, refuses new connections, closes idle ones`, async () => {
    Slow.entered = 0;
    const { server, loop, port } = await start(ServerClass as unknown as ServerClass);
    // An idle keep-alive connection (threading only: a serial server would be busy with it).
    const idle = ServerClass === ThreadingHTTPServer ? await openSocket(port) : null;
    const idleReply = idle ? collect(idle) : null;
    if (idle) {
      idle.write("GET /fast HTTP/1.1\r\n\r\n");
      assert.ok(await waitFor(() => DONE.test(idleReply!.data().toString("latin1"))));
    }
    const busy = await openSocket(port);
    const busyReply = collect(busy);
    busy.write("GET /slow HTTP/1.1\r\n\r\n");
    assert.ok(await waitFor(() => Slow.entered === (idle ? 2 : 1)));

    const started = Date.now();
    const closing = server.graceful_close(10);
    assert.ok(await waitFor(() => !server.socket.listening));
    assert.equal(await refused(port), true, "new connections are refused");
    if (idleReply) {
      await idleReply.closed;
      assert.ok(Date.now() - started < 250, "the idle connection closed at once, before the slow request ended");
    }
    assert.match((await busyReply.closed).toString("latin1"), DONE, "the request in flight got its whole reply");
    await closing;
    await loop;
    assert.equal(server._connections.size, 0);
    assert.equal(server._handlers.size, 0);
    assert.equal(server._sweeper.running, false, "no timer is left");
  });
}

test("graceful_close(grace): a request that outlasts the grace period has its connection closed", async () => {
  const { server, loop, port } = await start();
  Slow.entered = 0;
  const stuck = await openSocket(port);
  const stuckReply = collect(stuck);
  stuck.write("GET /forever HTTP/1.1\r\n\r\n");
  assert.ok(await waitFor(() => Slow.entered === 1));
  const started = Date.now();
  await server.graceful_close(0.3);
  const seconds = (Date.now() - started) / 1000;
  assert.ok(seconds >= 0.25 && seconds < 5, `closed after ${seconds} s`);
  await stuckReply.closed;
  await loop;
  assert.equal(server._connections.size, 0);
});

test("graceful_close() with nothing open resolves at once and leaves the port free", async () => {
  const { server, loop, port } = await start();
  const started = Date.now();
  await server.graceful_close();
  await loop;
  assert.ok(Date.now() - started < 1000);
  assert.equal(await refused(port), true);
});

test("graceful_close() does not wait for a client that keeps its end of an answered connection open", async () => {
  const { server, loop, port } = await start();
  // An HTTP/1.0 request: answered, then our side ends; the client never closes its side.
  const lingering = connect(port, "127.0.0.1");
  lingering.on("error", () => {});
  let reply = "";
  lingering.on("data", (chunk) => (reply += chunk));
  lingering.write("GET /quick HTTP/1.0\r\n\r\n");
  assert.ok(await waitFor(() => reply.endsWith("done")), "the reply arrived");
  const started = Date.now();
  await server.graceful_close();
  await loop;
  const seconds = (Date.now() - started) / 1000;
  lingering.destroy();
  assert.ok(seconds < 1, `graceful_close took ${seconds} s`);
  assert.equal(server._connections.size, 0);
});

test("a pipelined keep-alive client gets the reply in flight; what it queued behind is not started", async () => {
  const { server, loop, port } = await start();
  Slow.entered = 0;
  const socket = await openSocket(port);
  const reply = collect(socket);
  socket.write("GET /slow HTTP/1.1\r\n\r\n");
  assert.ok(await waitFor(() => Slow.entered === 1));
  socket.write("GET /fast HTTP/1.1\r\n\r\n");
  await server.graceful_close(5);
  await loop;
  const { responses } = parseResponses(await reply.closed);
  assert.equal(responses.length, 1);
  assert.equal(responses[0]!.body.toString(), "done");
});

// ---------------------------------------------------------------------------------------------
// SIGTERM in a real process, as the command line will wire it

const INDEX = fileURLToPath(new URL("../src/index.js", import.meta.url));

const CHILD = `
import { BaseHTTPRequestHandler, ThreadingHTTPServer } from ${JSON.stringify(INDEX)};
class H extends BaseHTTPRequestHandler {
  async do_GET() {
    await new Promise((resolve) => setTimeout(resolve, 500));
    this.send_response(200);
    this.send_header("Content-Length", "4");
    this.end_headers();
    await this.wfile.write("done");
  }
  log_message() {}
}
const server = new ThreadingHTTPServer(["127.0.0.1", 0], H);
await server.ready;
const loop = server.serve_forever(0.05);
process.once("SIGTERM", async () => {
  await server.graceful_close();
  await loop;
  console.log("closed");
});
console.log("port " + server.server_address[1]);
`;

test("SIGTERM with requests in flight: each gets its whole reply, then the process exits 0 by itself", async () => {
  const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    assert.ok(await waitFor(() => /port \d+/.test(stdout)), stderr);
    const port = Number(/port (\d+)/.exec(stdout)![1]);
    const clients = await Promise.all([1, 2, 3].map(() => openSocket(port)));
    const replies = clients.map(collect);
    for (const client of clients) client.write("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    await sleep(150); // the requests are in flight
    const started = Date.now();
    child.kill("SIGTERM");
    for (const reply of replies) assert.match((await reply.closed).toString("latin1"), /^HTTP\/1\.0 200 OK\r\n[\s\S]*\r\n\r\ndone$/);
    assert.equal(await exited, 0);
    assert.ok(Date.now() - started < 5000);
    assert.equal(stdout.trim().split("\n").at(-1), "closed");
    assert.equal(stderr, "");
  } finally {
    child.kill("SIGKILL");
  }
});
