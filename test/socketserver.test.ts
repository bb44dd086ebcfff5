/**
 * The socketserver port: binding, the serving loop, the per-request hooks, serial versus
 * threading servers, closing, and the rfile/wfile streams of StreamRequestHandler.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect, createServer, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import {
  AF_INET,
  AF_INET6,
  BaseRequestHandler,
  StreamRequestHandler,
  TCPServer,
  ThreadingMixIn,
  ThreadingTCPServer,
  type Address,
  type AddressFamily,
} from "../src/socketserver/index.js";
import { HTTPServer, ThreadingHTTPServer } from "../src/server/http_server.js";
import { BaseHTTPRequestHandler } from "../src/server/base_handler.js";
import { captureStderr, exchange, masked, serve, sleep, type ServerClass } from "./helpers.js";

// ---------------------------------------------------------------------------------------------
// Tools

/** Resolves (or rejects) when the promise settles, else reports that it is still pending. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await sleep(ms);
  return settled;
}

/** A promise with its resolver, for gates and signals between a handler and a test. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Opens a raw connection. */
function open(port: number, host = "127.0.0.1"): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Collects what a socket receives; `closed` settles when the peer closes. */
function collect(socket: Socket): { data(): string; closed: Promise<string> } {
  let data = "";
  socket.on("data", (chunk) => (data += chunk.toString("latin1")));
  socket.on("error", () => {});
  const closed = new Promise<string>((resolve) => socket.on("close", () => resolve(data)));
  return { data: () => data, closed };
}

/** Writes an HTTP/1.1 keep-alive reply for every GET. */
class KeepAlive extends BaseHTTPRequestHandler {
  override protocol_version = "HTTP/1.1";
  do_GET() {
    this.send_response(200);
    this.send_header("Content-Length", "3");
    this.end_headers();
    return this.wfile.write("ok\n");
  }
  override log_message() {}
}

const OK_REPLY = /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok\n$/;

async function ipv6Available(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(0, "::1", () => probe.close(() => resolve(true)));
  });
}

// ---------------------------------------------------------------------------------------------
// Binding

test("TCPServer binds port 0 and server_address holds the real port once ready", async () => {
  const server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler);
  await server.ready;
  try {
    assert.equal(server.server_address[0], "127.0.0.1");
    assert.ok(server.server_address[1] > 0);
    const socket = await open(server.server_address[1]);
    socket.destroy();
  } finally {
    await server.server_close();
  }
});

test("address_family comes from the host: AF_INET for IPv4", async () => {
  const server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler);
  await server.ready;
  assert.equal(server.address_family, AF_INET);
  assert.equal(server.is_ipv6, false);
  await server.server_close();
});

test("address_family comes from the host: AF_INET6 for ::1", async (t) => {
  if (!(await ipv6Available())) return t.skip("IPv6 loopback is not available here");
  const running = await serve(KeepAlive, undefined, "::1");
  try {
    assert.equal(running.server.address_family, AF_INET6);
    assert.equal(running.server.server_address[0], "::1");
    const reply = await exchange(running.port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", { host: "::1" });
    assert.match(reply.toString(), OK_REPLY);
  } finally {
    await running.close();
  }
});

test("a class-level address_family overrides the host's family", async () => {
  class V4 extends TCPServer {
    static override address_family: AddressFamily | null = AF_INET;
  }
  const server = new V4(["", 0], BaseRequestHandler);
  await server.ready;
  assert.equal(server.address_family, AF_INET);
  assert.equal(server.server_address[0], "0.0.0.0");
  await server.server_close();
});

test("an empty host binds the IPv4 wildcard address", async () => {
  const server = new TCPServer(["", 0], BaseRequestHandler);
  await server.ready;
  assert.equal(server.server_address[0], "0.0.0.0");
  await server.server_close();
});

test("HTTPServer records server_name and server_port after binding", async () => {
  const server = new HTTPServer(["127.0.0.1", 0], BaseHTTPRequestHandler);
  await server.ready;
  try {
    assert.equal(server.server_port, server.server_address[1]);
    assert.ok(server.server_name.length > 0);
    assert.equal(server.allow_reuse_address, true);
    assert.equal(server.allow_reuse_port, false);
  } finally {
    await server.server_close();
  }
});

test("ready rejects with EADDRINUSE when the port is taken, without an unhandled 'error' event", async () => {
  const first = new TCPServer(["127.0.0.1", 0], BaseRequestHandler);
  await first.ready;
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.on("uncaughtException", onUncaught);
  try {
    const second = new TCPServer(["127.0.0.1", first.server_address[1]], BaseRequestHandler);
    await assert.rejects(second.ready, (error: NodeJS.ErrnoException) => error.code === "EADDRINUSE");
    await assert.rejects(second.serve_forever(0.05), (error: NodeJS.ErrnoException) => error.code === "EADDRINUSE");
    assert.equal(second.socket.listening, false);
    await sleep(10);
    assert.deepEqual(uncaught, []);
  } finally {
    process.off("uncaughtException", onUncaught);
    await first.server_close();
  }
});

test("server_close() called while the bind is still in progress leaves no listening socket", async () => {
  const server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler);
  await server.server_close(); // before `ready`
  await server.ready;
  assert.equal(server.socket.listening, false);
});

test("an error on the listening socket (a failed accept) is ignored and serving goes on", async () => {
  const running = await serve(KeepAlive);
  try {
    running.server.socket.emit("error", Object.assign(new Error("accept EMFILE"), { code: "EMFILE" }));
    const reply = await exchange(running.port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert.match(reply.toString(), OK_REPLY);
  } finally {
    await running.close();
  }
});

test("bind_and_activate = false leaves the server unbound until server_bind()", async () => {
  const server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler, false);
  await server.ready;
  assert.equal(server.socket.listening, false);
  await server.server_bind();
  await server.server_activate();
  assert.equal(server.socket.listening, true);
  assert.ok(server.server_address[1] > 0);
  await server.server_close();
});

test("request_queue_size set by a subclass field is used (the bind waits for it)", async () => {
  class Small extends TCPServer {
    override request_queue_size = 1;
  }
  const server = new Small(["127.0.0.1", 0], BaseRequestHandler);
  await server.ready;
  assert.equal(server.request_queue_size, 1);
  assert.equal(server.socket.listening, true);
  await server.server_close();
});

// ---------------------------------------------------------------------------------------------
// The serving loop and its hooks

test("handle_request() waits at most timeout seconds, then calls handle_timeout()", async () => {
  let timeouts = 0;
  class Timing extends TCPServer {
    override timeout = 0.05;
    override handle_timeout() {
      timeouts++;
    }
  }
  const server = new Timing(["127.0.0.1", 0], BaseRequestHandler);
  try {
    await server.handle_request();
    assert.equal(timeouts, 1);
  } finally {
    await server.server_close();
  }
});

test("handle_request() handles exactly one connection when one arrives", async () => {
  const handled: Address[] = [];
  class Recorder extends BaseRequestHandler {
    override handle() {
      handled.push(this.client_address);
    }
  }
  const server = new TCPServer(["127.0.0.1", 0], Recorder);
  await server.ready;
  try {
    const socket = await open(server.server_address[1]);
    const done = collect(socket);
    await server.handle_request();
    assert.equal(handled.length, 1);
    assert.equal(handled[0]![0], "127.0.0.1");
    assert.equal(handled[0]![1], socket.localPort);
    await done.closed; // the connection is shut down after its handler
  } finally {
    await server.server_close();
  }
});

test("verify_request returning false closes the connection without handling it", async () => {
  let constructed = 0;
  class Counting extends BaseRequestHandler {
    constructor(...args: ConstructorParameters<typeof BaseRequestHandler>) {
      super(...args);
      constructed++;
    }
  }
  class Picky extends TCPServer {
    override verify_request(_request: Socket, client_address: Address) {
      return client_address[0] !== "127.0.0.1";
    }
  }
  const running = await serve(Counting, Picky as unknown as ServerClass);
  try {
    const reply = await exchange(running.port, "hello");
    assert.equal(reply.length, 0);
    assert.equal(constructed, 0);
  } finally {
    await running.close();
  }
});

test("serve_forever calls service_actions each round and stops on shutdown()", async () => {
  let actions = 0;
  class Busy extends TCPServer {
    override service_actions() {
      actions++;
    }
  }
  const server = new Busy(["127.0.0.1", 0], BaseRequestHandler);
  const loop = server.serve_forever(0.01);
  while (actions < 3) await sleep(5);
  await server.shutdown();
  await loop; // settles once the loop has stopped
  const after = actions;
  await sleep(30);
  assert.equal(actions, after);
  await server.server_close();
});

test("shutdown() can be called from a handler of a threading server", async () => {
  class Stopper extends BaseRequestHandler {
    override handle() {
      void this.server.shutdown();
    }
  }
  const server = new ThreadingTCPServer(["127.0.0.1", 0], Stopper);
  await server.ready;
  const loop = server.serve_forever(0.05);
  const socket = await open(server.server_address[1]);
  await loop; // the handler's shutdown() ended it
  socket.destroy();
  await server.server_close();
});

test("serve_forever can run again after a shutdown", async () => {
  const server = new ThreadingHTTPServer(["127.0.0.1", 0], KeepAlive);
  await server.ready;
  try {
    for (let round = 0; round < 2; round++) {
      const loop = server.serve_forever(0.05);
      const reply = await exchange(server.server_address[1], "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
      assert.match(reply.toString(), OK_REPLY);
      await server.shutdown();
      await loop;
    }
  } finally {
    await server.server_close();
  }
});

test("server_close() stops listening: new connections are refused", async () => {
  const running = await serve(KeepAlive);
  await running.close();
  assert.equal(running.server.socket.listening, false);
  await assert.rejects(open(running.port), (error: NodeJS.ErrnoException) => error.code === "ECONNREFUSED");
});

test("await using closes the listening socket at the end of the block (Symbol.asyncDispose)", async () => {
  let port = 0;
  let server: TCPServer;
  {
    await using disposable = new TCPServer(["127.0.0.1", 0], BaseRequestHandler);
    await disposable.ready;
    server = disposable;
    port = disposable.server_address[1];
    assert.equal(disposable.socket.listening, true);
  }
  assert.equal(server.socket.listening, false);
  await assert.rejects(open(port), (error: NodeJS.ErrnoException) => error.code === "ECONNREFUSED");
});

test("handle_error prints Python's block: dashes, the client address, the stack, dashes", async () => {
  class Failing extends BaseRequestHandler {
    override handle() {
      throw new RangeError("bad thing");
    }
  }
  const stderr = captureStderr();
  let port = 0;
  try {
    const running = await serve(Failing, TCPServer as unknown as ServerClass);
    const socket = await open(running.port);
    port = socket.localPort!;
    await collect(socket).closed;
    await running.close();
  } finally {
    stderr.restore();
  }
  const lines = stderr.lines();
  assert.equal(lines[0], "-".repeat(40));
  assert.equal(lines[1], `Exception occurred during processing of request from ('127.0.0.1', ${port})`);
  assert.equal(lines[2], "RangeError: bad thing");
  assert.equal(lines.at(-1), "-".repeat(40));
});

test("setup(), handle() and finish() run in order, and finish() runs even when handle() throws", async () => {
  const calls: string[] = [];
  class Ordered extends BaseRequestHandler {
    override setup() {
      calls.push("setup");
    }
    override async handle() {
      calls.push("handle");
      throw new Error("after handle");
    }
    override finish() {
      calls.push("finish");
    }
  }
  const stderr = captureStderr();
  try {
    const running = await serve(Ordered, TCPServer as unknown as ServerClass);
    await exchange(running.port, "");
    await running.close();
  } finally {
    stderr.restore();
  }
  assert.deepEqual(calls, ["setup", "handle", "finish"]);
  assert.ok(stderr.text().includes("Error: after handle"));
});

// ---------------------------------------------------------------------------------------------
// Serial versus threading servers

async function secondClientWhileFirstIsOpen(ServerClass: ServerClass): Promise<{ whileOpen: string; afterClose: string }> {
  const running = await serve(KeepAlive, ServerClass);
  try {
    const first = await open(running.port);
    const firstReply = collect(first);
    first.write("GET / HTTP/1.1\r\n\r\n");
    while (!OK_REPLY.test(firstReply.data())) await sleep(5);

    const second = await open(running.port);
    const secondReply = collect(second);
    second.write("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    await sleep(300); // a serial server is still busy with `first`, however long we wait
    const whileOpen = secondReply.data();
    first.end();
    const afterClose = await secondReply.closed;
    first.destroy();
    return { whileOpen, afterClose };
  } finally {
    await running.close();
  }
}

test("HTTPServer (serial) does not answer a second client while the first keeps its connection", async () => {
  const { whileOpen, afterClose } = await secondClientWhileFirstIsOpen(HTTPServer as unknown as ServerClass);
  assert.equal(whileOpen, "");
  assert.match(afterClose, OK_REPLY); // answered once the first connection is gone
});

test("ThreadingHTTPServer answers a second client while the first keeps its connection", async () => {
  const { whileOpen } = await secondClientWhileFirstIsOpen(ThreadingHTTPServer as unknown as ServerClass);
  assert.match(whileOpen, OK_REPLY);
});

test("ThreadingHTTPServer has daemon_threads: server_close() does not wait for a busy handler", async () => {
  const gate = deferred();
  const entered = deferred();
  class Gated extends KeepAlive {
    override async do_GET() {
      entered.resolve();
      await gate.promise;
      return super.do_GET();
    }
  }
  const server = new ThreadingHTTPServer(["127.0.0.1", 0], Gated);
  await server.ready;
  assert.equal(server.daemon_threads, true);
  const loop = server.serve_forever(0.05);
  const socket = await open(server.server_address[1]);
  const reply = collect(socket);
  socket.write("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
  await entered.promise;
  await server.shutdown();
  await loop;
  assert.equal(await settledWithin(server.server_close(), 200), true);
  gate.resolve();
  assert.match(await reply.closed, OK_REPLY); // the abandoned handler still finishes its reply
});

test("ThreadingMixIn with daemon_threads=false and block_on_close makes server_close() wait", async () => {
  const gate = deferred();
  const entered = deferred();
  class Gated extends KeepAlive {
    override async do_GET() {
      entered.resolve();
      await gate.promise;
      return super.do_GET();
    }
  }
  class Joining extends ThreadingMixIn(HTTPServer) {
    override daemon_threads = false;
    override block_on_close = true;
  }
  const server = new Joining(["127.0.0.1", 0], Gated);
  await server.ready;
  const loop = server.serve_forever(0.05);
  const socket = await open(server.server_address[1]);
  const reply = collect(socket);
  socket.write("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
  await entered.promise;
  await server.shutdown();
  await loop;
  const closing = server.server_close();
  assert.equal(await settledWithin(closing, 200), false);
  gate.resolve();
  await closing;
  assert.match(reply.data() || (await reply.closed), OK_REPLY);
});

test("ThreadingMixIn with block_on_close=false does not wait", async () => {
  const gate = deferred();
  const entered = deferred();
  class Gated extends BaseRequestHandler {
    override async handle() {
      entered.resolve();
      await gate.promise;
    }
  }
  class NoJoin extends ThreadingTCPServer {
    override block_on_close = false;
  }
  const server = new NoJoin(["127.0.0.1", 0], Gated);
  const loop = server.serve_forever(0.05);
  await server.ready;
  const socket = await open(server.server_address[1]);
  await entered.promise;
  await server.shutdown();
  await loop;
  assert.equal(await settledWithin(server.server_close(), 200), true);
  gate.resolve();
  socket.destroy();
});

test("server_close() closes connections still waiting in a serial server's queue", async () => {
  const gate = deferred();
  const entered = deferred();
  class Gated extends BaseRequestHandler {
    override async handle() {
      entered.resolve();
      await gate.promise;
    }
  }
  const server = new TCPServer(["127.0.0.1", 0], Gated);
  await server.ready;
  const loop = server.serve_forever(0.05);
  const busy = await open(server.server_address[1]);
  await entered.promise;
  const queued = await open(server.server_address[1]);
  const queuedReply = collect(queued);
  while (server._pending.length === 0) await sleep(5);
  const shut = server.shutdown();
  await server.server_close();
  assert.equal(await queuedReply.closed, "");
  gate.resolve();
  await shut;
  await loop;
  busy.destroy();
});

test("server_close() closes an idle keep-alive connection at once", async () => {
  const running = await serve(KeepAlive);
  const socket = await open(running.port);
  const reply = collect(socket);
  socket.write("GET / HTTP/1.1\r\n\r\n");
  while (!OK_REPLY.test(reply.data())) await sleep(5);
  await running.close();
  assert.match(await reply.closed, OK_REPLY);
});

// ---------------------------------------------------------------------------------------------
// rfile and wfile over a socket

/** Runs `script` as a StreamRequestHandler's handle() and returns its result. */
async function withStream<T>(
  script: (handler: StreamRequestHandler) => Promise<T>,
  client: (socket: Socket) => Promise<void>,
  configure: (Handler: { timeout: number | null }) => void = () => {},
): Promise<T> {
  const result = deferred<{ value?: T; error?: unknown }>();
  class Scripted extends StreamRequestHandler {
    override async handle() {
      try {
        result.resolve({ value: await script(this) });
      } catch (error) {
        result.resolve({ error });
      }
    }
  }
  configure(Scripted);
  const running = await serve(Scripted, ThreadingTCPServer as unknown as ServerClass);
  try {
    const socket = await open(running.port);
    socket.on("error", () => {});
    await client(socket);
    const { value, error } = await result.promise;
    socket.destroy();
    if (error !== undefined) throw error;
    return value as T;
  } finally {
    await running.close();
  }
}

/** Writes each piece as its own packet, pausing between them. */
async function trickle(socket: Socket, pieces: string[], end = false): Promise<void> {
  socket.setNoDelay(true);
  for (const piece of pieces) {
    socket.write(piece);
    await sleep(5);
  }
  if (end) socket.end();
}

const text = (buffer: Buffer) => buffer.toString("latin1");

test("rfile.readline() joins a line split across many small writes", async () => {
  const lines = await withStream(
    async (h) => [text(await h.rfile.readline()), text(await h.rfile.readline())],
    (socket) => trickle(socket, ["a", "b", "c\nd", "e", "f\n"]),
  );
  assert.deepEqual(lines, ["abc\n", "def\n"]);
});

test("rfile.readline(limit) stops after limit bytes when the line is longer", async () => {
  const parts = await withStream(
    async (h) => [text(await h.rfile.readline(4)), text(await h.rfile.readline(4)), text(await h.rfile.readline())],
    (socket) => trickle(socket, ["abcdefg\nrest\n"]),
  );
  assert.deepEqual(parts, ["abcd", "efg\n", "rest\n"]);
});

test("rfile.readline(0) returns nothing without waiting", async () => {
  const parts = await withStream(
    async (h) => [text(await h.rfile.readline(0)), text(await h.rfile.readline())],
    (socket) => trickle(socket, ["x\n"]),
  );
  assert.deepEqual(parts, ["", "x\n"]);
});

test("rfile.readline() returns the partial line at EOF, then empty bytes", async () => {
  const parts = await withStream(
    async (h) => [text(await h.rfile.readline()), text(await h.rfile.readline()), text(await h.rfile.readline())],
    (socket) => trickle(socket, ["one\ntw", "o"], true),
  );
  assert.deepEqual(parts, ["one\n", "two", ""]);
});

test("rfile.read(n) waits for exactly n bytes across writes", async () => {
  const parts = await withStream(
    async (h) => [text(await h.rfile.read(5)), text(await h.rfile.read(3))],
    (socket) => trickle(socket, ["ab", "c", "defg", "h"]),
  );
  assert.deepEqual(parts, ["abcde", "fgh"]);
});

test("rfile.read(n) returns fewer bytes at EOF, then empty bytes", async () => {
  const parts = await withStream(
    async (h) => [text(await h.rfile.read(10)), text(await h.rfile.read(10)), text(await h.rfile.read(0))],
    (socket) => trickle(socket, ["abc", "de"], true),
  );
  assert.deepEqual(parts, ["abcde", "", ""]);
});

test("rfile.read() reads to the end of the stream", async () => {
  const all = await withStream(
    async (h) => {
      const first = text(await h.rfile.readline());
      return [first, text(await h.rfile.read())];
    },
    (socket) => trickle(socket, ["head\n", "x".repeat(100), "y".repeat(100_000)], true),
  );
  assert.equal(all[0], "head\n");
  assert.equal(all[1], "x".repeat(100) + "y".repeat(100_000));
});

test("rfile keeps a large body intact across reads of mixed sizes", async () => {
  const body = Buffer.alloc(1_000_000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
  const received = await withStream(
    async (h) => {
      const parts: Buffer[] = [];
      for (const size of [1, 10, 100_000, 499_889, 400_000]) parts.push(await h.rfile.read(size));
      parts.push(await h.rfile.read());
      return Buffer.concat(parts);
    },
    async (socket) => {
      socket.end(body);
    },
  );
  assert.equal(received.length, body.length);
  assert.ok(received.equals(body));
});

test("StreamRequestHandler.timeout fails a read with TimeoutError('timed out')", async () => {
  await assert.rejects(
    withStream(
      (h) => h.rfile.readline(),
      async (socket) => {
        socket.write("no newline");
      },
      (Handler) => {
        Handler.timeout = 0.1;
      },
    ),
    (error: Error) => error.name === "TimeoutError" && error.message === "timed out",
  );
});

test("wfile.write applies backpressure: the promise settles once the client reads", async () => {
  const big = Buffer.alloc(64 * 1024 * 1024, 0x61);
  const entered = deferred<{ write: Promise<void> }>();
  const received = deferred<number>();
  const settled = await withStream(
    async (h) => {
      const write = h.wfile.write(big);
      entered.resolve({ write }); // wrapped: resolving with the promise itself would wait for it
      await write;
      return true;
    },
    async (socket) => {
      socket.pause(); // not reading
      let count = 0;
      socket.on("data", (chunk: Buffer) => {
        count += chunk.length;
        if (count === big.length) received.resolve(count);
      });
      const { write } = await entered.promise;
      assert.equal(await settledWithin(write, 300), false); // the kernel buffers cannot take 64 MiB
      socket.resume();
      assert.equal(await received.promise, big.length); // every byte arrives, in one piece
    },
  );
  assert.equal(settled, true);
});

test("wfile.write accepts strings (as UTF-8) and bytes, in order", async () => {
  let reply = "";
  await withStream(
    async (h) => {
      await h.wfile.write("caf\u00e9 ");
      await h.wfile.write(Buffer.from([0x41, 0x42]));
    },
    async (socket) => {
      reply = Buffer.from(await collect(socket).closed, "latin1").toString("utf8");
    },
  );
  assert.equal(reply, "caf\u00e9 AB");
});

test("wfile.write to a closed connection rejects with BrokenPipeError", async () => {
  const error = await withStream(
    async (h) => {
      await h.rfile.read(); // wait for the client to go away
      await sleep(20);
      try {
        for (let i = 0; i < 20; i++) {
          await h.wfile.write(Buffer.alloc(65536));
          await sleep(5);
        }
      } catch (caught) {
        return caught as Error;
      }
      return null;
    },
    async (socket) => {
      socket.destroy();
    },
  );
  assert.ok(error);
  assert.match(error.name, /BrokenPipeError|ConnectionResetError/);
});

// ---------------------------------------------------------------------------------------------
// Nothing left behind

const INDEX = fileURLToPath(new URL("../src/index.js", import.meta.url));

/** Runs an ESM snippet in a fresh node process; resolves with its exit code and output. */
function runChild(source: string, ms = 10_000): Promise<{ code: number | null; stdout: string; stderr: string; killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", source], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill("SIGKILL");
    }, ms);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, killed });
    });
  });
}

const CHILD_PRELUDE = `
import { BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer } from ${JSON.stringify(INDEX)};
import { connect } from "node:net";
class H extends BaseHTTPRequestHandler {
  protocol_version = "HTTP/1.1";
  do_GET() {
    this.send_response(200);
    this.send_header("Content-Length", "2");
    this.end_headers();
    return this.wfile.write("ok");
  }
  log_message() {}
}
function request(port, keepOpen) {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let data = "";
    socket.on("data", (chunk) => {
      data += chunk;
      if (data.endsWith("ok") && !keepOpen) socket.end();
      if (data.endsWith("ok") && keepOpen) resolve(data);
    });
    socket.on("close", () => resolve(data));
    socket.write("GET / HTTP/1.1\\r\\n\\r\\n");
  });
}
`;

for (const serverName of ["ThreadingHTTPServer", "HTTPServer"]) {
  test(`${serverName}: after shutdown() and server_close() the process exits by itself`, async () => {
    const { code, stdout, stderr, killed } = await runChild(
      CHILD_PRELUDE +
        `
const server = new ${serverName}(["127.0.0.1", 0], H);
const loop = server.serve_forever(0.05);
await server.ready;
const reply = await request(server.server_address[1], false);
await server.shutdown();
await loop;
await server.server_close();
console.log(reply.endsWith("ok") ? "served" : "no reply: " + reply);
`,
    );
    assert.equal(killed, false, "the child process did not exit");
    assert.equal(stderr, "");
    assert.equal(code, 0);
    assert.equal(stdout.trim(), "served");
  });
}

test("the process exits after server_close() even with an idle keep-alive client connected", async () => {
  const { code, stdout, killed } = await runChild(
    CHILD_PRELUDE +
      `
const server = new ThreadingHTTPServer(["127.0.0.1", 0], H);
const loop = server.serve_forever(0.05);
await server.ready;
await request(server.server_address[1], true); // the client keeps its connection open
await server.shutdown();
await loop;
await server.server_close();
console.log("closed");
`,
  );
  assert.equal(killed, false, "the child process did not exit");
  assert.equal(code, 0);
  assert.equal(stdout.trim(), "closed");
});

test("the accept loop keeps serving after many short connections", async () => {
  const running = await serve(KeepAlive);
  try {
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => exchange(running.port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n")),
    );
    for (const reply of replies) assert.match(masked(reply), OK_REPLY);
  } finally {
    await running.close();
  }
});
