/**
 * Request bodies as streams (`body()`, `body_bytes()`, `read_body()`), the connection's
 * `signal`, and handlers driven without a socket (`BytesIO` files, as Python's tests do).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { BaseHTTPRequestHandler } from "../src/server/base_handler.js";
import { RequestBodyError } from "../src/server/request_body.js";
import { ConnectionClosedError } from "../src/socketserver/writer.js";
import { BytesIO } from "../src/py/io.js";
import { flushLog } from "../src/socketserver/log_writer.js";
import type { RequestHandlerClass } from "../src/socketserver/servers.js";
import { captureStderr, exchange, serve, sleep, splitReply } from "./helpers.js";

/** Answers each POST with the sizes of the pieces `body()` yielded and their total. */
class PieceCounter extends BaseHTTPRequestHandler {
  static limit = Infinity;
  override protocol_version = "HTTP/1.1";

  async do_POST() {
    let total = 0;
    let pieces = 0;
    let largest = 0;
    for await (const chunk of this.body({ limit: (this.constructor as typeof PieceCounter).limit })) {
      total += chunk.length;
      pieces++;
      largest = Math.max(largest, chunk.length);
    }
    const reply = Buffer.from(`${total} bytes in ${pieces} pieces, the largest ${largest}\n`);
    this.send_response(200);
    this.send_header("Content-Length", reply.length);
    await this.end_headers();
    await this.wfile.write(reply);
  }
}

function chunked(pieces: string[]): string {
  return pieces.map((piece) => `${Buffer.byteLength(piece).toString(16)}\r\n${piece}\r\n`).join("") + "0\r\n\r\n";
}

async function withServer<T>(Handler: RequestHandlerClass, run: (port: number, log: ReturnType<typeof captureStderr>) => Promise<T>): Promise<T> {
  const log = captureStderr();
  const running = await serve(Handler);
  try {
    return await run(running.port, log);
  } finally {
    await running.close();
    log.restore();
  }
}

test("body() yields a Content-Length body in pieces of at most 64 KiB, and no more than its length", async () => {
  await withServer(PieceCounter, async (port) => {
    const body = Buffer.alloc(300_000, 0x62);
    const head = `POST / HTTP/1.1\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const reply = await exchange(port, Buffer.concat([Buffer.from(head), body]));
    const text = splitReply(reply).body.toString();
    const [, total, , largest] = /^(\d+) bytes in (\d+) pieces, the largest (\d+)\n$/.exec(text)!;
    assert.equal(Number(total), 300_000);
    assert.ok(Number(largest) <= 65536, text);
  });
});

test("body() decodes a chunked body; the connection then carries the next request", async () => {
  await withServer(PieceCounter, async (port) => {
    const request = `POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(["hello ", "chunked ", "world"])}`;
    const reply = await exchange(port, request + "POST / HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
    const text = reply.toString("latin1");
    assert.match(text, /\r\n\r\n19 bytes in 3 pieces, the largest 8\n/);
    assert.match(text, /\r\n\r\n3 bytes in 1 pieces, the largest 3\n$/);
  });
});

test("body() of a request without a body yields nothing", async () => {
  await withServer(PieceCounter, async (port) => {
    const reply = await exchange(port, "POST / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert.equal(splitReply(reply).body.toString(), "0 bytes in 0 pieces, the largest 0\n");
  });
});

test("a Content-Length above body()'s limit is 413 before any of the body is read", async () => {
  class Limited extends PieceCounter {
    static override limit = 1000;
  }
  await withServer(Limited, async (port, log) => {
    // Only the head is sent: the answer cannot have waited for the body.
    const reply = await exchange(port, "POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", { until: (r) => r.includes("\r\n\r\n") });
    assert.match(reply.toString("latin1"), /^HTTP\/1\.1 413 Request body larger than 1000 bytes\r\n/);
    assert.match(reply.toString("latin1"), /\r\nConnection: close\r\n/);
    await sleep(20);
    assert.match(log.text(), /code 413, message Request body larger than 1000 bytes\n/);
  });
});

test("a chunked body passing body()'s limit is 413 and the connection closes", async () => {
  class Limited extends PieceCounter {
    static override limit = 10;
  }
  await withServer(Limited, async (port) => {
    const reply = await exchange(port, `POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(["12345678", "12345678"])}`);
    assert.match(reply.toString("latin1"), /^HTTP\/1\.1 413 Request body larger than 10 bytes\r\n/);
  });
});

test("body_bytes() returns the whole body; past its 1 MiB default it is 413", async () => {
  class Whole extends BaseHTTPRequestHandler {
    async do_PUT() {
      const body = await this.body_bytes();
      this.send_response(200);
      this.send_header("Content-Length", 0);
      this.send_header("X-Got", body.length);
      await this.end_headers();
    }
  }
  await withServer(Whole, async (port) => {
    const small = await exchange(port, `PUT / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello`);
    assert.match(small.toString("latin1"), /\r\nX-Got: 5\r\n/);
    const big = await exchange(port, `PUT / HTTP/1.0\r\nContent-Length: ${(1 << 20) + 1}\r\n\r\n`);
    assert.match(big.toString("latin1"), /^HTTP\/1\.0 413 Request body larger than 1048576 bytes\r\n/);
  });
});

test("a client that stops sending halfway through the body gives a 400 in the log, not a traceback", async () => {
  await withServer(PieceCounter, async (port, log) => {
    await exchange(port, "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly this", { end: true });
    await sleep(20);
    assert.match(log.text(), /code 400, message the client closed the connection 91 bytes before the end of the body\n/);
    assert.doesNotMatch(log.text(), /Exception occurred/);
  });
});

test("a RequestBodyError a handler throws itself becomes its status", async () => {
  class Picky extends BaseHTTPRequestHandler {
    do_POST() {
      throw new RequestBodyError(415, "JSON only");
    }
  }
  await withServer(Picky, async (port) => {
    const reply = await exchange(port, "POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    assert.match(reply.toString("latin1"), /^HTTP\/1\.0 415 JSON only\r\n/);
  });
});

test("read_body(n) reads the framed body n bytes at a time, chunked or not", async () => {
  class Reader extends BaseHTTPRequestHandler {
    async do_POST() {
      const first = await this.read_body(4);
      const rest = await this.read_body();
      const end = await this.read_body();
      const reply = Buffer.from(`${first}|${rest}|${end.length}`);
      this.send_response(200);
      this.send_header("Content-Length", reply.length);
      await this.end_headers();
      await this.wfile.write(reply);
    }
  }
  await withServer(Reader, async (port) => {
    const plain = await exchange(port, "POST / HTTP/1.0\r\nContent-Length: 11\r\n\r\nhello world");
    assert.equal(splitReply(plain).body.toString(), "hell|o world|0");
    const chunkedReply = await exchange(port, `POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked(["hel", "lo world"])}`);
    assert.equal(splitReply(chunkedReply).body.toString(), "hell|o world|0");
  });
});

/** Records how the handler's wait ended. */
const outcomes: unknown[] = [];

class Waiter extends BaseHTTPRequestHandler {
  async do_GET() {
    const started = Date.now();
    try {
      await delay(10_000, null, { signal: this.signal });
      outcomes.push("timer fired");
    } catch (error) {
      outcomes.push({ error, elapsed: Date.now() - started, reason: this.signal.reason });
    }
  }
}

/** Connects, sends a request, then calls `leave` on the socket once the server holds it. */
function requestThenLeave(port: number, leave: (socket: Socket) => void): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
      setTimeout(() => leave(socket), 100);
    });
    socket.on("error", () => {});
    socket.on("close", () => resolve());
  });
}

async function nextOutcome(): Promise<{ error: Error; elapsed: number; reason: unknown }> {
  for (let i = 0; i < 200 && outcomes.length === 0; i++) await sleep(10);
  return outcomes.shift() as { error: Error; elapsed: number; reason: unknown };
}

test("this.signal aborts a timer at once when the client closes the connection", async () => {
  await withServer(Waiter, async (port) => {
    await requestThenLeave(port, (socket) => socket.end());
    const outcome = await nextOutcome();
    assert.ok(outcome, "the handler's wait ended");
    assert.equal(outcome.error.name, "AbortError");
    assert.ok(outcome.elapsed < 5000, `ended after ${outcome.elapsed} ms, not at the timer`);
    assert.ok(outcome.reason instanceof ConnectionClosedError);
    assert.equal((outcome.reason as Error).name, "BrokenPipeError");
  });
});

test("this.signal aborts when the client resets the connection, with ConnectionResetError as reason", async () => {
  await withServer(Waiter, async (port) => {
    await requestThenLeave(port, (socket) => socket.resetAndDestroy());
    const outcome = await nextOutcome();
    assert.ok(outcome, "the handler's wait ended");
    assert.equal(outcome.error.name, "AbortError");
    assert.equal((outcome.reason as Error).name, "ConnectionResetError");
  });
});

test("this.signal stays quiet while the client waits for the reply", async () => {
  class Quick extends BaseHTTPRequestHandler {
    async do_GET() {
      await delay(50, null, { signal: this.signal });
      this.send_response(200);
      this.send_header("X-Aborted", String(this.signal.aborted));
      this.send_header("Content-Length", 0);
      await this.end_headers();
    }
  }
  await withServer(Quick, async (port) => {
    const reply = await exchange(port, "GET / HTTP/1.0\r\n\r\n");
    assert.match(reply.toString("latin1"), /^HTTP\/1\.0 200 OK\r\n[^]*X-Aborted: false\r\n/);
  });
});

class Hello extends BaseHTTPRequestHandler {
  async do_POST() {
    const name = (await this.body_bytes()).toString();
    const body = Buffer.from(`Hello, ${name} at ${this.path}\n`);
    this.send_response(200);
    this.send_header("Content-Type", "text/plain");
    this.send_header("Content-Length", body.length);
    this.end_headers();
    this.wfile.write(body);
  }
}

/** A handler with no socket and no server, as Python's tests build one. */
function inMemory(request: string): { handler: Hello; wfile: BytesIO } {
  const handler = new Hello(null!, ["192.0.2.1", 4321], null!);
  const wfile = new BytesIO();
  handler.rfile = new BytesIO(Buffer.from(request, "latin1"));
  handler.wfile = wfile;
  return { handler, wfile };
}

test("a handler runs one request on BytesIO files: readline() without readlineIfBuffered, headers written as bytes", async () => {
  flushLog();
  const original = process.stderr.write;
  let stderr = "";
  process.stderr.write = ((chunk: string) => ((stderr += chunk), true)) as typeof process.stderr.write;
  try {
    const { handler, wfile } = inMemory("POST /greet HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nAda");
    await handler.handle_one_request();
    const reply = wfile.getvalue().toString("latin1");
    assert.match(reply, /^HTTP\/1\.0 200 OK\r\nServer: BaseHTTP\/0\.6 Node\.js\/[\d.]+\r\nDate: [^\r]+ GMT\r\nContent-Type: text\/plain\r\nContent-Length: 21\r\n\r\nHello, Ada at \/greet\n$/);
    // The log line leaves one event-loop turn later; flushLog() writes it now.
    assert.equal(stderr, "");
    flushLog();
    assert.match(stderr, /^192\.0\.2\.1 - - \[[^\]]+\] "POST \/greet HTTP\/1\.1" 200 -\n$/);
  } finally {
    process.stderr.write = original;
  }
});

test("a wfile that accepts bytes only is never handed a string", async () => {
  const writes: unknown[] = [];
  const handler = new Hello(null!, ["192.0.2.1", 4321], null!);
  handler.rfile = new BytesIO(Buffer.from("GET / HTTP/1.0\r\n\r\n"));
  handler.wfile = {
    write(data: Buffer) {
      if (!Buffer.isBuffer(data)) throw new TypeError("a bytes-like object is required");
      writes.push(data);
      return data.length;
    },
  };
  handler.log_message = () => {};
  await handler.handle_one_request();
  assert.match(Buffer.concat(writes as Buffer[]).toString("latin1"), /^HTTP\/1\.0 501 Unsupported method \('GET'\)\r\n/);
});

test("a chunked body is read from BytesIO files too, and an HTTP/1.1 keep-alive pair is handled in turn", async () => {
  const log = captureStderr();
  try {
    const { handler, wfile } = inMemory(
      `POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(["Gr", "ace"])}POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nBob`,
    );
    handler.protocol_version = "HTTP/1.1";
    await handler.handle_one_request();
    assert.equal(handler.close_connection, false);
    await handler.handle_one_request();
    const reply = wfile.getvalue().toString("latin1");
    assert.match(reply, /Hello, Grace at \/a\nHTTP\/1\.1 200 OK\r\n[^]*Hello, Bob at \/b\n$/);
  } finally {
    log.restore();
  }
});
