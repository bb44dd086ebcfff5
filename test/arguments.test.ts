/**
 * Arguments checked at the public boundary, for JavaScript callers who have no compiler: server
 * addresses and handler classes at construction, `rfile` sizes, `end_headers()` with nothing
 * buffered, start-up errors in the command line's words, and un-awaited writes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Duplex } from "node:stream";
import { connect, type Socket } from "node:net";
import { TCPServer, ThreadingTCPServer } from "../src/socketserver/servers.js";
import { BaseRequestHandler, StreamRequestHandler } from "../src/socketserver/handlers.js";
import { SocketReader } from "../src/socketserver/reader.js";
import { HTTPServer } from "../src/server/http_server.js";
import { BaseHTTPRequestHandler } from "../src/server/base_handler.js";
import { ServerStartError, describeOSError } from "../src/socketserver/errors.js";
import { BytesIO } from "../src/py/io.js";
import { captureStderr, exchange, serve, splitReply } from "./helpers.js";

/** Constructs a server the way a plain-JavaScript caller may, wrong types and all. */
function construct(address: unknown, Handler: unknown = BaseRequestHandler): TCPServer {
  return new TCPServer(address as [string, number], Handler as typeof BaseRequestHandler);
}

test("server_address must be a [host, port] array: a bare port (a Python tuple read as the comma operator) is a TypeError naming both", () => {
  assert.throws(() => construct(23083), {
    name: "TypeError",
    message: 'server_address must be a [host, port] array such as ["127.0.0.1", 8000] (host "" for every interface); got 23083 (a number) (a Python tuple ("host", port) is written ["host", port])',
  });
});

test('server_address "127.0.0.1:8000" is a TypeError, not a bind to 0.0.0.1', () => {
  assert.throws(() => construct("127.0.0.1:8000"), {
    name: "TypeError",
    message: /^server_address must be a \[host, port\] array .*; got the string "127\.0\.0\.1:8000"$/,
  });
});

test("server_address of the wrong length, host or port type is a TypeError that says what was given", () => {
  assert.throws(() => construct(["127.0.0.1"]), { name: "TypeError", message: /got an array of 1 \("127\.0\.0\.1"\)$/ });
  assert.throws(() => construct(["::1", 8000, 0, 0]), { name: "TypeError", message: /an IPv6 scope goes in the host/ });
  assert.throws(() => construct([null, 8000]), { name: "TypeError", message: "server_address host must be a string; got null" });
  assert.throws(() => construct(["", "8000"]), { name: "TypeError", message: 'server_address port must be an integer from 0 to 65535; got the string "8000"' });
  assert.throws(() => construct(["", 80.5]), { name: "TypeError", message: /got 80\.5 \(a number\)$/ });
  assert.throws(() => construct(["", NaN]), { name: "TypeError", message: /got NaN \(a number\)$/ });
  assert.throws(() => construct(undefined), { name: "TypeError", message: /got undefined$/ });
});

test("a port outside 0-65535 is a RangeError", () => {
  assert.throws(() => construct(["", 70000]), { name: "RangeError", message: "server_address port must be from 0 to 65535; got 70000" });
  assert.throws(() => construct(["", -1]), { name: "RangeError" });
});

test("a refused server_address binds nothing: no socket listens", async () => {
  const before = process.getActiveResourcesInfo().filter((name) => name === "TCPServerWrap").length;
  for (const address of [23083, "127.0.0.1:8000", ["", 70000]]) assert.throws(() => construct(address));
  await new Promise((resolve) => setImmediate(resolve));
  const after = process.getActiveResourcesInfo().filter((name) => name === "TCPServerWrap").length;
  assert.equal(after, before);
});

test("RequestHandlerClass that is not a class is refused at construction", () => {
  const arrow = () => {};
  assert.throws(() => construct(["127.0.0.1", 0], arrow), {
    name: "TypeError",
    message: "RequestHandlerClass must be a class (a constructor) such as BaseHTTPRequestHandler; got the function arrow",
  });
  assert.throws(() => construct(["127.0.0.1", 0], new BaseHTTPRequestHandler(null!, ["", 0], null!)), {
    message: /got a BaseHTTPRequestHandler$/,
  });
  assert.throws(() => construct(["127.0.0.1", 0], null), { message: /got null$/ });
});

/** A reader over a stream that delivers `data`, then ends. */
function readerOf(data: string): SocketReader {
  const stream = new Duplex({ read() {}, write(_chunk, _encoding, done) { done(); } });
  stream.push(Buffer.from(data));
  stream.push(null);
  return new SocketReader(stream);
}

test("rfile.read(n) and readline(n): null, undefined and negative read to the end, as Python's None and -1", async () => {
  assert.equal((await readerOf("abc\ndef").read(null)).toString(), "abc\ndef");
  assert.equal((await readerOf("abc\ndef").read(undefined)).toString(), "abc\ndef");
  assert.equal((await readerOf("abc\ndef").read(-7)).toString(), "abc\ndef");
  assert.equal((await readerOf("abc\ndef").readline(null)).toString(), "abc\n");
  assert.equal((await readerOf("abcdef").readline(-1)).toString(), "abcdef");
  assert.equal((await readerOf("abcdef").read1(null)).toString(), "abcdef");
});

test("rfile.read(NaN) — Number() of a missing Content-Length — is a TypeError naming the argument", async () => {
  await assert.rejects(readerOf("abc").read(Number(undefined)), {
    name: "TypeError",
    message: "rfile.read(size): size must be an integer, or null, undefined or negative to read to the end; got NaN (a number) (Number() of a missing or non-numeric header is NaN)",
  });
  await assert.rejects(readerOf("abc").read("3" as unknown as number), { name: "TypeError", message: /rfile\.read\(size\).*got the string "3"$/ });
  await assert.rejects(readerOf("abc").read(1.5), { name: "TypeError", message: /got 1\.5 \(a number\)$/ });
  await assert.rejects(readerOf("abc").readline(Infinity), { name: "TypeError", message: /^rfile\.readline\(size\)/ });
  await assert.rejects(readerOf("abc").read1({} as unknown as number), { name: "TypeError", message: /^rfile\.read1\(size\).*got a Object$/ });
});

test("a handler porting int(self.headers['Content-Length']) without the header gets a traceback naming the argument, not a crash in the reader", async () => {
  class Echo extends BaseHTTPRequestHandler {
    async do_POST() {
      await this.rfile.read(Number(this.headers.get("Content-Length")));
    }
  }
  const log = captureStderr();
  const running = await serve(Echo);
  try {
    await exchange(running.port, "POST / HTTP/1.0\r\n\r\n");
    assert.match(log.text(), /TypeError: rfile\.read\(size\): size must be an integer/);
  } finally {
    await running.close();
    log.restore();
  }
});

test("end_headers() with nothing buffered raises a clear error instead of writing a bare CRLF", () => {
  const handler = new BaseHTTPRequestHandler(null!, ["127.0.0.1", 0], null!);
  const wfile = new BytesIO();
  handler.wfile = wfile;
  handler.request_version = "HTTP/1.0";
  assert.throws(() => handler.end_headers(), {
    message: "end_headers() with no status line or header buffered: call send_response(code) first",
  });
  assert.equal(wfile.getvalue().length, 0);
});

test("send_header() before send_response() still writes the header first, as Python does", async () => {
  const handler = new BaseHTTPRequestHandler(null!, ["127.0.0.1", 0], null!);
  const wfile = new BytesIO();
  handler.wfile = wfile;
  handler.request_version = "HTTP/1.0";
  handler.log_message = () => {};
  handler.send_header("X-First", "1");
  handler.send_response_only(200);
  await handler.end_headers();
  assert.equal(wfile.getvalue().toString("latin1"), "X-First: 1\r\nHTTP/1.0 200 OK\r\n\r\n");
});

test("EADDRINUSE rejects ready and serve_forever() with the command line's one line, the OS error as cause", async () => {
  const first = new HTTPServer(["127.0.0.1", 0], BaseHTTPRequestHandler);
  await first.ready;
  try {
    const port = first.server_address[1];
    const second = new HTTPServer(["127.0.0.1", port], BaseHTTPRequestHandler);
    const check = (error: ServerStartError) => {
      assert.ok(error instanceof ServerStartError);
      assert.equal(error.message, `cannot bind 127.0.0.1 port ${port}: address already in use`);
      assert.equal(error.code, "EADDRINUSE");
      assert.equal((error.cause as NodeJS.ErrnoException).code, "EADDRINUSE");
      assert.equal((error.cause as NodeJS.ErrnoException).syscall, "listen");
      return true;
    };
    await assert.rejects(second.ready, check);
    await assert.rejects(second.serve_forever(0.05), check);
  } finally {
    await first.server_close();
  }
});

test("a host that does not resolve rejects ready with `cannot resolve`", async () => {
  const server = new TCPServer(["no-such-host.invalid", 0], BaseRequestHandler);
  await assert.rejects(server.ready, (error: ServerStartError) => {
    assert.match(error.message, /^cannot resolve no-such-host\.invalid: (no such host|temporary failure in name resolution|name resolution failed)$/);
    assert.ok(error.cause instanceof Error);
    return true;
  });
});

test("the command line and the library share one table of reasons", () => {
  assert.equal(describeOSError(Object.assign(new Error("x"), { code: "EADDRINUSE" })), "address already in use");
  assert.equal(describeOSError(Object.assign(new Error("raw message"), { code: "EWHATEVER" })), "raw message");
});

test("100 un-awaited 1 MiB writes to a client that is not reading leak no MaxListenersExceededWarning: one drain waiter", async () => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on("warning", onWarning);
  let listeners = -1;
  let allSettled: Promise<unknown> = Promise.resolve();
  class Flood extends StreamRequestHandler {
    override async handle() {
      const chunk = Buffer.alloc(1 << 20, 0x61);
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 100; i++) writes.push(this.wfile.write(chunk));
      listeners = this.connection.listenerCount("drain");
      allSettled = Promise.allSettled(writes);
      await allSettled;
    }
  }
  const running = await serve(Flood, ThreadingTCPServer as never);
  try {
    // The client reads everything, slowly enough that the writes pile up first.
    const received = await new Promise<number>((resolve, reject) => {
      let total = 0;
      const socket: Socket = connect(running.port, "127.0.0.1");
      socket.pause();
      setTimeout(() => socket.resume(), 200);
      socket.on("data", (data) => (total += data.length));
      socket.on("end", () => resolve(total));
      socket.on("error", reject);
    });
    await allSettled;
    assert.equal(received, 100 << 20);
    assert.equal(listeners, 1);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings.map((warning) => warning.name), []);
  } finally {
    process.off("warning", onWarning);
    await running.close();
  }
});

test("an ordinary HTTP handler still works after the checks (port 0, a class handler)", async () => {
  class Hello extends BaseHTTPRequestHandler {
    do_GET() {
      this.send_response(204);
      return this.end_headers();
    }
  }
  const log = captureStderr();
  const running = await serve(Hello);
  try {
    const { head } = splitReply(await exchange(running.port, "GET / HTTP/1.0\r\n\r\n"));
    assert.match(head, /^HTTP\/1\.0 204 No Content\r\n/);
  } finally {
    await running.close();
    log.restore();
  }
});

