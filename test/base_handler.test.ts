/**
 * BaseHTTPRequestHandler, mostly over real loopback sockets with raw bytes: the request-line
 * rules of SPEC §3 and §13, header limits, keep-alive, 100-continue, send_error, header buffering,
 * logging, class-level settings, async handlers and bad input.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { PassThrough } from "node:stream";
import { BaseHTTPRequestHandler, DEFAULT_ERROR_MESSAGE } from "../src/server/base_handler.js";
import { HTTPServer } from "../src/server/http_server.js";
import { HTTPStatus } from "../src/http/status.js";
import { SocketReader } from "../src/socketserver/reader.js";
import type { SocketWriter } from "../src/socketserver/writer.js";
import type { BaseServer } from "../src/socketserver/servers.js";
import type { RequestHandlerClass } from "../src/socketserver/servers.js";
import { captureStderr, exchange, masked, serve, sleep, splitReply, type ServerClass } from "./helpers.js";

// ---------------------------------------------------------------------------------------------
// Tools

interface Seen {
  command: string | null;
  path: string;
  request_version: string;
  requestline: string;
  headers: [string, string][];
}

/** What the handlers below saw, request by request (tests run one at a time). */
let seen: Seen[] = [];

/** Answers GET with `hello\n` and records what it parsed. */
class Hello extends BaseHTTPRequestHandler {
  do_GET(): Promise<void> {
    seen.push({
      command: this.command,
      path: this.path,
      request_version: this.request_version,
      requestline: this.requestline,
      headers: this.headers.items(),
    });
    const body = Buffer.from("hello\n");
    this.send_response(200);
    this.send_header("Content-Length", String(body.length));
    this.end_headers();
    return this.wfile.write(body);
  }
}

class Hello11 extends Hello {
  override protocol_version = "HTTP/1.1";
}

interface Result {
  reply: Buffer;
  /** The reply as Latin-1 text, Server and Date masked. */
  text: string;
  /** The lines written to stderr meanwhile. */
  log: string[];
}

/** Serves `Handler`, sends `data` on one connection, returns every byte until the server closes. */
async function roundTrip(
  Handler: RequestHandlerClass,
  data: string | Buffer,
  options: { end?: boolean; server?: ServerClass; timeoutMs?: number } = {},
): Promise<Result> {
  seen = [];
  const stderr = captureStderr();
  try {
    const running = await serve(Handler, options.server);
    try {
      const reply = await exchange(running.port, data, { end: options.end, timeoutMs: options.timeoutMs });
      return { reply, text: masked(reply), log: stderr.lines() };
    } finally {
      await running.close();
    }
  } finally {
    stderr.restore();
  }
}

const HEAD_OF = (protocol: string, code: number, message: string) =>
  `${protocol} ${code} ${message}\r\nServer: <server>\r\nDate: <date>\r\n`;

function escape(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** The error page Python builds for `send_error(code, message, explain)`. */
function errorPage(code: number, message: string, explain: string): string {
  return DEFAULT_ERROR_MESSAGE.replace("%(code)d", String(code))
    .replace("%(message)s", escape(message))
    .replace("%(code)s", String(code))
    .replace("%(explain)s", escape(explain));
}

/** The full error reply (masked), as `send_error` writes it. */
function errorReply(code: number, message: string, explain: string, protocol = "HTTP/1.0", withBody = true): string {
  const page = errorPage(code, message, explain);
  return (
    HEAD_OF(protocol, code, message) +
    "Connection: close\r\nContent-Type: text/html;charset=utf-8\r\n" +
    `Content-Length: ${Buffer.byteLength(page)}\r\n\r\n` +
    (withBody ? page : "")
  );
}

const HELLO_10 = HEAD_OF("HTTP/1.0", 200, "OK") + "Content-Length: 6\r\n\r\nhello\n";
const HELLO_11 = HEAD_OF("HTTP/1.1", 200, "OK") + "Content-Length: 6\r\n\r\nhello\n";

function statusLines(text: string): string[] {
  return text.match(/^\S+ \d{3} .*?(?=\r\n)/gm) ?? [];
}

const LOG_PREFIX = /^127\.0\.0\.1 - - \[\d\d\/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\/\d{4} \d\d:\d\d:\d\d\] /;

/** The message part of each log line (after the address and date). */
function messages(log: string[]): string[] {
  return log.map((line) => line.replace(LOG_PREFIX, ""));
}

/** A raw client that can keep its connection open between requests. */
class Client {
  received = Buffer.alloc(0);
  ended = false;
  private listeners: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.poke();
    });
    socket.on("end", () => {
      this.ended = true;
      this.poke();
    });
    socket.on("close", () => {
      this.ended = true;
      this.poke();
    });
    socket.on("error", () => {});
  }

  static open(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => resolve(new Client(socket)));
      socket.once("error", reject);
    });
  }

  get text(): string {
    return masked(this.received);
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  private poke(): void {
    for (const listener of this.listeners.splice(0)) listener();
  }

  /** Waits until `predicate` holds for what was received; fails after `ms`. */
  async until(predicate: (text: string) => boolean, ms = 5000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!predicate(this.text)) {
      if (this.ended) throw new Error(`connection closed; received ${JSON.stringify(this.text)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; received ${JSON.stringify(this.text)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.listeners.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.text;
  }

  /** Waits for the server to close the connection; fails after `ms`. */
  async closed(ms = 5000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`still open; received ${JSON.stringify(this.text)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.listeners.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.text;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Runs `body` against a served `Handler` with stderr captured; returns the captured lines. */
async function withServer(
  Handler: RequestHandlerClass,
  body: (port: number) => Promise<void>,
  server?: ServerClass,
): Promise<string[]> {
  seen = [];
  const stderr = captureStderr();
  try {
    const running = await serve(Handler, server);
    try {
      await body(running.port);
    } finally {
      await running.close();
    }
    return stderr.lines();
  } finally {
    stderr.restore();
  }
}

/** A `wfile` stand-in that records each write. */
class RecordingWriter {
  writes: Buffer[] = [];
  write(data: Uint8Array | string): Promise<void> {
    this.writes.push(Buffer.from(data));
    return Promise.resolve();
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  get data(): string {
    return Buffer.concat(this.writes).toString("latin1");
  }
}

/** A handler with no socket: `rfile` reads `input`, `wfile` records, logs are kept in `logged`. */
function socketless<H extends BaseHTTPRequestHandler>(
  Handler: new (request: Socket, address: [string, number], server: BaseServer) => H,
  input: string | null = null,
): { handler: H; output: RecordingWriter; stream: PassThrough; logged: string[] } {
  const handler = new Handler({} as Socket, ["127.0.0.1", 1337], {} as BaseServer);
  const stream = new PassThrough();
  const output = new RecordingWriter();
  const logged: string[] = [];
  handler.rfile = new SocketReader(stream);
  handler.wfile = output as unknown as SocketWriter;
  handler.log_message = (format: string, ...args: unknown[]) => {
    logged.push(format + " " + JSON.stringify(args));
  };
  if (input !== null) stream.end(input);
  return { handler, output, stream, logged };
}

// ---------------------------------------------------------------------------------------------
// The request line (SPEC §3 parse_request, §13 gh-54930)

test("a bare CRLF request line sends nothing and closes the connection", async () => {
  const { reply, log } = await roundTrip(Hello, "\r\n");
  assert.equal(reply.length, 0);
  assert.deepEqual(log, []);
});

test("a whitespace-only request line sends nothing either", async () => {
  const { reply } = await roundTrip(Hello, " \t \r\n");
  assert.equal(reply.length, 0);
});

test("a well-formed HTTP/1.0 GET gets status line, Server, Date and the handler's reply", async () => {
  const { text } = await roundTrip(Hello, "GET / HTTP/1.0\r\n\r\n");
  assert.equal(text, HELLO_10);
  assert.deepEqual(seen[0], {
    command: "GET",
    path: "/",
    request_version: "HTTP/1.0",
    requestline: "GET / HTTP/1.0",
    headers: [],
  });
});

test("the Server header is server_version then sys_version (Node.js/<version>)", async () => {
  const { reply } = await roundTrip(Hello, "GET / HTTP/1.0\r\n\r\n");
  assert.match(reply.toString("latin1"), new RegExp(`\r\nServer: BaseHTTP/0\\.6 Node\\.js/${process.versions.node.replaceAll(".", "\\.")}\r\n`));
});

test("the Date header is the current time in RFC 1123 GMT form", async () => {
  const { reply } = await roundTrip(Hello, "GET / HTTP/1.0\r\n\r\n");
  const date = /\r\nDate: (.*)\r\n/.exec(reply.toString("latin1"))![1]!;
  assert.match(date, /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/);
  assert.ok(Math.abs(Date.parse(date) - Date.now()) < 60_000);
});

for (const version of ["FUBAR", "HTTP/9.9.9", "HTTP/-9_9_9.+9_9_9", "HTTP/1.", "HTTP/.1", "http/1.1", "HTTP/1.1.", "HTTP/1 .1x"]) {
  test(`bad version ${JSON.stringify(version)} gives 400 Bad request version with a status line`, async () => {
    const requestVersion = version.split(" ").at(-1)!;
    const { text } = await roundTrip(Hello, `GET / ${version}\r\n\r\n`);
    const message = `Bad request version ('${requestVersion}')`;
    assert.equal(text, errorReply(400, message, "Bad request syntax or unsupported method"));
    assert.deepEqual(seen, []);
  });
}

test("an 11-digit major version number gives 400 Bad request version", async () => {
  const { text } = await roundTrip(Hello, "GET / HTTP/01111111111.1\r\n\r\n");
  assert.equal(statusLines(text)[0], "HTTP/1.0 400 Bad request version ('HTTP/01111111111.1')");
});

test("an 11-digit minor version number gives 400 Bad request version", async () => {
  const { text } = await roundTrip(Hello, "GET / HTTP/1.01111111111\r\n\r\n");
  assert.equal(statusLines(text)[0], "HTTP/1.0 400 Bad request version ('HTTP/1.01111111111')");
});

test("10-digit version numbers with leading zeros are accepted", async () => {
  const { text } = await roundTrip(Hello, "GET / HTTP/0000000001.0000000000\r\n\r\n");
  assert.equal(text, HELLO_10);
  assert.equal(seen[0]!.request_version, "HTTP/0000000001.0000000000");
});

test("superscript digits (isdigit but not int) give 400 Bad request version", async () => {
  const { reply, text } = await roundTrip(Hello, Buffer.from("GET / HTTP/\xb9.\xb9\r\n\r\n", "latin1"));
  assert.equal(statusLines(text)[0], "HTTP/1.0 400 Bad request version ('HTTP/\xb9.\xb9')");
  // The body is UTF-8 while the status line is Latin-1.
  assert.ok(splitReply(reply).body.includes(Buffer.from("Bad request version ('HTTP/\xb9.\xb9')", "utf8")));
});

test("three words with a bad middle part give 400 Bad request syntax when the version is valid", async () => {
  const { text } = await roundTrip(Hello, "GET / x HTTP/1.1\r\n\r\n");
  assert.equal(text, errorReply(400, "Bad request syntax ('GET / x HTTP/1.1')", "Bad request syntax or unsupported method"));
});

test("four words whose last is not a version give Bad request version, not syntax", async () => {
  const { text } = await roundTrip(Hello, "GET / HTTP/1.1 extra\r\n\r\n");
  assert.equal(statusLines(text)[0], "HTTP/1.0 400 Bad request version ('extra')");
});

test("a one-word request line gives 400 Bad request syntax with a status line", async () => {
  const { text, log } = await roundTrip(Hello, "GET\r\n");
  assert.equal(text, errorReply(400, "Bad request syntax ('GET')", "Bad request syntax or unsupported method"));
  assert.deepEqual(messages(log), ["code 400, message Bad request syntax ('GET')", '"GET" 400 -']);
});

test("a two-word GET is HTTP/0.9: the body alone, no status line, no headers", async () => {
  const { text, log } = await roundTrip(Hello, "GET /x\r\n");
  assert.equal(text, "hello\n");
  assert.equal(seen[0]!.request_version, "HTTP/0.9");
  assert.equal(seen[0]!.path, "/x");
  assert.deepEqual(messages(log), ['"GET /x" 200 -']);
});

test("HTTP/0.9 reads no header lines: the reply comes without a blank line being sent", async () => {
  await withServer(Hello, async (port) => {
    const client = await Client.open(port);
    client.send("GET /\r\nHost: example\r\n"); // no blank line, connection left open
    assert.equal(await client.closed(), "hello\n");
    client.destroy();
  });
  assert.deepEqual(seen[0]!.headers, []);
});

test("an explicit HTTP/0.9 version also gets a bare body, after its headers are read", async () => {
  const { text } = await roundTrip(Hello, "GET / HTTP/0.9\r\nX: 1\r\n\r\n");
  assert.equal(text, "hello\n");
  assert.deepEqual(seen[0]!.headers, [["X", "1"]]);
});

test("a two-word non-GET gives 400 Bad HTTP/0.9 request type WITH a status line (gh-54930)", async () => {
  const { text } = await roundTrip(Hello, "POST /x\r\n");
  assert.equal(text, errorReply(400, "Bad HTTP/0.9 request type ('POST')", "Bad request syntax or unsupported method"));
});

test("HTTP/2.0 gives 505 Invalid HTTP version (2.0) with a status line", async () => {
  const { text } = await roundTrip(Hello, "GET / HTTP/2.0\r\n\r\n");
  assert.equal(text, errorReply(505, "Invalid HTTP version (2.0)", "Cannot fulfill request"));
});

test("HTTP/9.9 gives 505 Invalid HTTP version (9.9)", async () => {
  const { text } = await roundTrip(Hello, "GET / HTTP/9.9\r\n\r\n");
  assert.equal(statusLines(text)[0], "HTTP/1.0 505 Invalid HTTP version (9.9)");
});

test("a request line over 65536 bytes gives 414 URI Too Long, logged with an empty request line", async () => {
  const line = "GET /" + "x".repeat(65536) + " HTTP/1.1\r\n";
  const { text, log } = await roundTrip(Hello, line);
  assert.equal(text, errorReply(414, "URI Too Long", "URI is too long"));
  assert.deepEqual(messages(log), ["code 414, message URI Too Long", '"" 414 -']);
});

test("a request line of exactly 65536 bytes (CRLF included) is accepted", async () => {
  const prefix = "GET /";
  const suffix = " HTTP/1.0\r\n";
  const line = prefix + "x".repeat(65536 - prefix.length - suffix.length) + suffix;
  assert.equal(line.length, 65536);
  const { text } = await roundTrip(Hello, line + "\r\n");
  assert.equal(text, HELLO_10);
});

test("leading slashes of the path collapse to one (gh-87389)", async () => {
  await roundTrip(Hello, "GET //evil.example//x HTTP/1.0\r\n\r\n");
  assert.equal(seen[0]!.path, "/evil.example//x");
  await roundTrip(Hello, "GET ////a HTTP/1.0\r\n\r\n");
  assert.equal(seen[0]!.path, "/a");
});

test("a path with one leading slash or none is kept as sent", async () => {
  await roundTrip(Hello, "GET a//b HTTP/1.0\r\n\r\n");
  assert.equal(seen[0]!.path, "a//b");
});

test("any trailing run of CR and LF is stripped from the request line (\\r\\r\\n)", async () => {
  const { text } = await roundTrip(Hello, "GET / HTTP/1.0\r\r\n\r\n");
  assert.equal(text, HELLO_10);
  assert.equal(seen[0]!.requestline, "GET / HTTP/1.0");
});

test("a bare LF ends the request line too", async () => {
  const { text } = await roundTrip(Hello, "GET / HTTP/1.0\n\n");
  assert.equal(text, HELLO_10);
});

test("words are split on Latin-1 whitespace such as \\x1c, \\x85 and \\xa0", async () => {
  const { text } = await roundTrip(Hello, Buffer.from("GET\x1c/p\xa0HTTP/1.0\r\n\r\n", "latin1"));
  assert.equal(text, HELLO_10);
  assert.equal(seen[0]!.path, "/p");
  await roundTrip(Hello, Buffer.from("GET\x85\x1f/q \t HTTP/1.0\r\n\r\n", "latin1"));
  assert.equal(seen[0]!.path, "/q");
  assert.equal(seen[0]!.requestline, "GET\x85\x1f/q \t HTTP/1.0");
});

test("a method without do_ method gives 501 Unsupported method ('FOO')", async () => {
  const { text, log } = await roundTrip(Hello, "FOO / HTTP/1.0\r\n\r\n");
  assert.equal(text, errorReply(501, "Unsupported method ('FOO')", "Server does not support this operation"));
  assert.deepEqual(messages(log), ["code 501, message Unsupported method ('FOO')", '"FOO / HTTP/1.0" 501 -']);
});

test("method names are case-sensitive: 'get' and 'GETs' are not GET", async () => {
  for (const method of ["get", "GETs", "Get"]) {
    const { text } = await roundTrip(Hello, `${method} / HTTP/1.0\r\n\r\n`);
    assert.equal(statusLines(text)[0], `HTTP/1.0 501 Unsupported method ('${method}')`);
  }
  assert.deepEqual(seen, []);
});

test("the bare handler class implements no method at all", async () => {
  const { text } = await roundTrip(BaseHTTPRequestHandler, "GET / HTTP/1.0\r\n\r\n");
  assert.equal(statusLines(text)[0], "HTTP/1.0 501 Unsupported method ('GET')");
});

test("a NUL in the request line is kept in the path and scrubbed in the log", async () => {
  const { text, log } = await roundTrip(Hello, Buffer.from("GET /a\x00b HTTP/1.0\r\n\r\n", "latin1"));
  assert.equal(text, HELLO_10);
  assert.equal(seen[0]!.path, "/a\x00b");
  assert.deepEqual(messages(log), ['"GET /a\\x00b HTTP/1.0" 200 -']);
});

// ---------------------------------------------------------------------------------------------
// Header limits

test("99 header lines are accepted", async () => {
  const { text } = await roundTrip(Hello, "GET / HTTP/1.0\r\n" + "X: y\r\n".repeat(99) + "\r\n");
  assert.equal(text, HELLO_10);
  assert.equal(seen[0]!.headers.length, 99);
});

test("100 header lines give 431 Too many headers", async () => {
  const { text, log } = await roundTrip(Hello, "GET / HTTP/1.0\r\n" + "X: y\r\n".repeat(100) + "\r\n");
  assert.equal(text, errorReply(431, "Too many headers", "got more than 100 headers"));
  assert.deepEqual(messages(log), ["code 431, message Too many headers", '"GET / HTTP/1.0" 431 -']);
});

test("a 65537-byte header line gives 431 Line too long", async () => {
  const header = "X-Foo: " + "r".repeat(65537 - 9) + "\r\n";
  assert.equal(header.length, 65537);
  const { text } = await roundTrip(Hello, "GET / HTTP/1.0\r\n" + header + "\r\n");
  assert.equal(text, errorReply(431, "Line too long", "got more than 65536 bytes when reading header line"));
});

test("a HEAD that fails on its headers gets no error body (the command was already set)", async () => {
  class H extends Hello {
    do_HEAD() {}
  }
  const { reply, text } = await roundTrip(H, "HEAD / HTTP/1.0\r\n" + "X: y\r\n".repeat(100) + "\r\n");
  assert.equal(text, errorReply(431, "Too many headers", "got more than 100 headers", "HTTP/1.0", false));
  assert.equal(splitReply(reply).body.length, 0);
});

// ---------------------------------------------------------------------------------------------
// The size of a whole head (not in Python): max_header_size, and the server's max_header_memory

const TOO_LARGE = "Request Header Fields Too Large";

/** `GET / HTTP/1.0` and header lines `X-N: aaa…` making a head of exactly `size` bytes. */
function headOfSize(size: number, lineSize = 100): string {
  let head = "GET / HTTP/1.0\r\n";
  const end = "\r\n";
  let n = 0;
  while (head.length + end.length + lineSize <= size) head += `X-${n++}: `.padEnd(lineSize - 2, "a") + "\r\n";
  const rest = size - head.length - end.length;
  if (rest > 0) head += "Y: ".padEnd(rest - 2, "b") + "\r\n";
  return head + end;
}

test("a head over max_header_size gets 431 with Python's phrase and the limit as explanation", async () => {
  class Small extends Hello {
    static override max_header_size = 1000;
  }
  const head = headOfSize(1001);
  assert.equal(head.length, 1001);
  const { text, log } = await roundTrip(Small, head);
  assert.equal(text, errorReply(431, TOO_LARGE, "got more than 1000 bytes when reading the request line and headers"));
  assert.deepEqual(messages(log), [`code 431, message ${TOO_LARGE}`, '"GET / HTTP/1.0" 431 -']);
  assert.equal((await roundTrip(Small, headOfSize(1000))).text, HELLO_10);
});

test("a head growing past max_header_size piece by piece gets its 431 before it ends", async () => {
  class Small extends Hello {
    static override max_header_size = 1000;
  }
  let reply = "";
  await withServer(Small, async (port) => {
    const client = await Client.open(port);
    client.send("GET / HTTP/1.0\r\n");
    for (let i = 0; i < 30 && !client.ended; i++) {
      client.send(`X-${i}: ${"a".repeat(90)}\r\n`);
      await sleep(20);
    }
    reply = await client.closed();
    client.destroy();
  });
  assert.equal(reply, errorReply(431, TOO_LARGE, "got more than 1000 bytes when reading the request line and headers"));
});

test("by default (1 MiB) Python's own limits act first: 16 lines of 65,000 bytes are served, 17 are not", async () => {
  const line = "X: " + "a".repeat(65_000 - 5) + "\r\n";
  assert.equal((await roundTrip(Hello, "GET / HTTP/1.0\r\n" + line.repeat(16) + "\r\n")).text, HELLO_10);
  const { text } = await roundTrip(Hello, "GET / HTTP/1.0\r\n" + line.repeat(17) + "\r\n");
  assert.equal(text, errorReply(431, TOO_LARGE, "got more than 1048576 bytes when reading the request line and headers"));
});

test("past the server's max_header_memory, a head arriving in pieces is refused once over 64 KiB, not before", async () => {
  class NoBudget extends HTTPServer {
    override max_header_memory = 0;
  }
  const line = "X: " + "a".repeat(20_000) + "\r\n";
  const send = async (port: number, lines: number) => {
    const client = await Client.open(port);
    client.send("GET / HTTP/1.0\r\n");
    for (let i = 0; i < lines; i++) {
      client.send(line);
      await sleep(20);
    }
    client.send("\r\n");
    const reply = await client.closed();
    client.destroy();
    return reply;
  };
  let small = "";
  let large = "";
  await withServer(
    Hello,
    async (port) => {
      small = await send(port, 3); // 60 KiB: under the floor every head may hold
      large = await send(port, 6);
    },
    NoBudget as unknown as ServerClass,
  );
  assert.equal(small, HELLO_10);
  assert.equal(
    large,
    errorReply(431, TOO_LARGE, "got more than 65536 bytes when reading the request line and headers, while unfinished requests hold more than 0 bytes"),
  );
});

test("header values arrive as the handler's headers, case-insensitive, first value wins", async () => {
  await roundTrip(Hello, "GET / HTTP/1.0\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n");
  assert.deepEqual(seen[0]!.headers, [["Host", "h"], ["X-A", "1"], ["x-a", "2"]]);
});

// ---------------------------------------------------------------------------------------------
// Keep-alive

async function keepAliveCase(Handler: RequestHandlerClass, first: string): Promise<{ persisted: boolean; text: string }> {
  let persisted = false;
  let text = "";
  await withServer(Handler, async (port) => {
    const client = await Client.open(port);
    client.send(first);
    await client.until((t) => t.endsWith("hello\n"));
    // A persistent connection answers a second request; a closing one just closes.
    client.send("GET /second HTTP/1.1\r\nConnection: close\r\n\r\n");
    text = await client.closed();
    persisted = statusLines(text).length === 2;
    client.destroy();
  });
  return { persisted, text };
}

test("an HTTP/1.0 server closes after one response, even for HTTP/1.1 requests", async () => {
  const { persisted, text } = await keepAliveCase(Hello, "GET / HTTP/1.1\r\n\r\n");
  assert.equal(persisted, false);
  assert.equal(text, HELLO_10);
});

test("an HTTP/1.0 server ignores a client's Connection: keep-alive", async () => {
  const { persisted } = await keepAliveCase(Hello, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  assert.equal(persisted, false);
});

test("an HTTP/1.1 server keeps an HTTP/1.1 connection open", async () => {
  const { persisted, text } = await keepAliveCase(Hello11, "GET / HTTP/1.1\r\n\r\n");
  assert.equal(persisted, true);
  assert.equal(text, HELLO_11 + HELLO_11);
});

test("an HTTP/1.1 server closes after a request with Connection: close (any case)", async () => {
  assert.equal((await keepAliveCase(Hello11, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n")).persisted, false);
  assert.equal((await keepAliveCase(Hello11, "GET / HTTP/1.1\r\nconnection: CLOSE\r\n\r\n")).persisted, false);
});

test("the Connection comparison is exact: 'close, TE' does not close", async () => {
  assert.equal((await keepAliveCase(Hello11, "GET / HTTP/1.1\r\nConnection: close, TE\r\n\r\n")).persisted, true);
});

test("the Connection comparison is exact: 'close ' with a trailing space does not close", async () => {
  assert.equal((await keepAliveCase(Hello11, "GET / HTTP/1.1\r\nConnection: close \r\n\r\n")).persisted, true);
});

test("only the first Connection header counts", async () => {
  const { persisted } = await keepAliveCase(Hello11, "GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
  assert.equal(persisted, true);
});

test("a malformed header line gets 400 and closes the connection (Python would read on and keep it)", async () => {
  let text = "";
  await withServer(Hello11, async (port) => {
    const reply = await exchange(port, "GET / HTTP/1.1\r\nX: 1\r\nnot a header\r\nConnection: keep-alive\r\n\r\nGET /second HTTP/1.1\r\n\r\n");
    text = reply.toString("latin1");
  });
  assert.equal(statusLines(text).length, 1);
  assert.match(text, /^HTTP\/1\.1 400 Bad header line \('not a header'\)\r\n[\s\S]*Connection: close\r\n/);
});

test("an HTTP/1.0 request to an HTTP/1.1 server closes by default", async () => {
  const { persisted, text } = await keepAliveCase(Hello11, "GET / HTTP/1.0\r\n\r\n");
  assert.equal(persisted, false);
  assert.equal(text, HELLO_11); // the status line carries the server's version
});

test("an HTTP/1.0 request with Connection: keep-alive persists under an HTTP/1.1 server, no header echoed", async () => {
  const { persisted, text } = await keepAliveCase(Hello11, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  assert.equal(persisted, true);
  assert.ok(!/^Connection:/im.test(text));
});

test("HTTP/1.10 counts as at least 1.1 for keep-alive", async () => {
  assert.equal((await keepAliveCase(Hello11, "GET / HTTP/1.10\r\n\r\n")).persisted, true);
});

test("send_header('Connection', 'close') closes an HTTP/1.1 connection", async () => {
  class H extends Hello11 {
    override do_GET() {
      this.send_header("Connection", "close"); // buffered; sent with the next end_headers
      return super.do_GET();
    }
  }
  const { persisted, text } = await keepAliveCase(H, "GET / HTTP/1.1\r\n\r\n");
  assert.equal(persisted, false);
  assert.ok(text.startsWith("Connection: close\r\nHTTP/1.1 200 OK\r\n"));
});

test("send_header('Connection', 'keep-alive') keeps even an HTTP/1.0 server's connection open", async () => {
  class H extends Hello {
    override do_GET() {
      const body = Buffer.from("hello\n");
      this.send_response(200);
      if (this.path !== "/second") this.send_header("Connection", "Keep-Alive");
      this.send_header("Content-Length", String(body.length));
      this.end_headers();
      return this.wfile.write(body);
    }
  }
  const { persisted } = await keepAliveCase(H, "GET / HTTP/1.0\r\n\r\n");
  assert.equal(persisted, true);
});

test("protocol_version is compared as a string: 'foo' enables keep-alive and starts the status line", async () => {
  class H extends Hello {
    override protocol_version = "foo";
  }
  const { persisted, text } = await keepAliveCase(H, "GET / HTTP/1.1\r\n\r\n");
  assert.equal(persisted, true);
  assert.deepEqual(statusLines(text), ["foo 200 OK", "foo 200 OK"]);
});

// Closing: at once when the client has nothing more to send, else lingering until it closes.

/** Answers POST without reading the body it announced. */
class IgnoresBody extends BaseHTTPRequestHandler {
  async do_POST(): Promise<void> {
    this.send_response(200);
    this.send_header("Content-Length", "0");
    await this.end_headers();
  }
}

/**
 * Sends `request` on a connection that stays half-open once the server's reply has ended (the
 * client never closes its side), and reports, `waitMs` later, whether the server still holds it.
 */
async function heldAfterReply(Handler: RequestHandlerClass, request: string, waitMs: number): Promise<{ reply: string; held: boolean; client: Socket; running: Awaited<ReturnType<typeof serve>> }> {
  const running = await serve(Handler, HTTPServer as unknown as ServerClass);
  const client = connect({ port: running.port, host: "127.0.0.1", allowHalfOpen: true });
  client.on("error", () => {});
  let reply = "";
  client.on("data", (chunk: Buffer) => (reply += chunk.toString("latin1")));
  const ended = new Promise<void>((resolve) => client.once("end", resolve));
  client.write(request);
  await ended;
  const until = Date.now() + waitMs;
  while (running.server._connections.size > 0 && Date.now() < until) await sleep(10);
  return { reply, held: running.server._connections.size > 0, client, running };
}

test("a connection whose request was read whole closes at once, without waiting for the client to close", async () => {
  const stderr = captureStderr();
  const { reply, held, client, running } = await heldAfterReply(Hello, "GET / HTTP/1.0\r\n\r\n", 1000);
  client.destroy();
  await running.close();
  stderr.restore();
  assert.match(reply, /^HTTP\/1\.0 200 OK\r\n[\s\S]*\r\n\r\nhello\n$/);
  assert.equal(held, false, "closed within a second, though the client kept its side open");
  assert.equal(running.server._lingering.size, 0);
});

test("a request whose body was left unread lingers until the client closes: the rest of its body never meets a reset", async () => {
  const stderr = captureStderr();
  const { reply, held, client, running } = await heldAfterReply(IgnoresBody, "POST / HTTP/1.0\r\nContent-Length: 20000\r\n\r\nfirst", 300);
  assert.match(reply, /^HTTP\/1\.0 200 OK\r\n/);
  assert.equal(held, true, "the server still reads, so what the client sends next is taken, not refused");
  const reset = new Promise<boolean>((resolve) => {
    client.once("error", () => resolve(true));
    client.once("close", (hadError) => resolve(hadError));
  });
  client.end("x".repeat(19_995));
  assert.equal(await reset, false, "the client closes cleanly after sending the rest");
  const until = Date.now() + 2000;
  while (running.server._connections.size > 0 && Date.now() < until) await sleep(10);
  assert.equal(running.server._connections.size, 0, "closed once the client closed");
  await running.close();
  stderr.restore();
});

test("bytes already sent behind the request that closes the connection keep it lingering too", async () => {
  const stderr = captureStderr();
  const { held, client, running } = await heldAfterReply(Hello, "GET / HTTP/1.0\r\n\r\nGET /second HTTP/1.0\r\n\r\n", 300);
  assert.equal(held, true);
  assert.equal(running.server._lingering.size, 1);
  client.end();
  const until = Date.now() + 2000;
  while (running.server._connections.size > 0 && Date.now() < until) await sleep(10);
  assert.equal(running.server._connections.size, 0);
  await running.close();
  stderr.restore();
});

test("errors always close the connection, even with pipelined requests behind them", async () => {
  await withServer(Hello11, async (port) => {
    const client = await Client.open(port);
    client.send("NOPE / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    const text = await client.closed();
    assert.deepEqual(statusLines(text), ["HTTP/1.1 501 Unsupported method ('NOPE')"]);
    client.destroy();
  });
});

// ---------------------------------------------------------------------------------------------
// 100-continue

/** Reads a Content-Length body and echoes it back. */
class Echo extends BaseHTTPRequestHandler {
  override protocol_version = "HTTP/1.1";
  calls = 0;
  async do_POST() {
    const body = await this.rfile.read(Number(this.headers.get("Content-Length")));
    this.send_response(200);
    this.send_header("Content-Length", String(body.length));
    this.send_header("Connection", "close");
    this.end_headers();
    await this.wfile.write(body);
  }
}

test("Expect: 100-continue gets exactly 'HTTP/1.1 100 Continue' before the body is read, unlogged", async () => {
  const log = await withServer(Echo, async (port) => {
    const client = await Client.open(port);
    client.send("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    // The body is sent only after the interim response arrives: the handler must not wait for it first.
    assert.equal(await client.until((t) => t.length >= 25), "HTTP/1.1 100 Continue\r\n\r\n");
    client.send("ping");
    const text = await client.closed();
    assert.equal(
      text,
      "HTTP/1.1 100 Continue\r\n\r\n" + HEAD_OF("HTTP/1.1", 200, "OK") + "Content-Length: 4\r\nConnection: close\r\n\r\nping",
    );
    client.destroy();
  });
  assert.deepEqual(messages(log), ['"POST / HTTP/1.1" 200 -']);
});

test("Expect: 100-continue is matched case-insensitively", async () => {
  const { text } = await roundTrip(Echo, "POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nhi");
  assert.ok(text.startsWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
});

test("no 100 Continue for an HTTP/1.0 request", async () => {
  const { text } = await roundTrip(Echo, "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
  assert.ok(text.startsWith("HTTP/1.1 200 OK\r\n"));
  assert.ok(text.endsWith("\r\n\r\nhi"));
});

test("no 100 Continue from an HTTP/1.0 server", async () => {
  class H extends Echo {
    override protocol_version = "HTTP/1.0";
  }
  const { text } = await roundTrip(H, "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
  assert.ok(text.startsWith("HTTP/1.0 200 OK\r\n"));
});

test("HTTP/1.10 qualifies for 100 Continue (string comparison)", async () => {
  const { text } = await roundTrip(Echo, "POST / HTTP/1.10\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
  assert.ok(text.startsWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
});

test("HTTP/01.01 does not qualify for 100 Continue (string comparison)", async () => {
  const { text } = await roundTrip(Echo, "POST / HTTP/01.01\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
  assert.ok(text.startsWith("HTTP/1.1 200 OK\r\n"));
});

test("handle_expect_100 overridden to send 417 and return false rejects the request", async () => {
  let called = false;
  class H extends Echo {
    override handle_expect_100() {
      this.send_error(HTTPStatus.EXPECTATION_FAILED);
      return false;
    }
    override async do_POST() {
      called = true;
      await super.do_POST();
    }
  }
  const { text } = await roundTrip(H, "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  assert.equal(text, errorReply(417, "Expectation Failed", "Expect condition could not be satisfied", "HTTP/1.1"));
  assert.equal(called, false);
});

test("the 100 Continue response is written during parse_request, not buffered", async () => {
  const { handler, output, stream } = socketless(Echo);
  stream.write("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  handler.raw_requestline = await handler.rfile.readline(65537);
  assert.equal(await handler.parse_request(), true);
  assert.equal(output.data, "HTTP/1.1 100 Continue\r\n\r\n");
  assert.equal(output.writes.length, 1);
  assert.deepEqual(handler._headers_buffer, []);
});

// ---------------------------------------------------------------------------------------------
// send_error and send_response

/** `SEND /<code>` calls send_error(code); `HEAD /<code>` too. */
class Errors extends BaseHTTPRequestHandler {
  do_SEND() {
    return this.send_error(Number(this.path.slice(1)));
  }
  do_HEAD() {
    return this.send_error(Number(this.path.slice(1)));
  }
}

test("the 404 error page is exactly 3.14's template (460 bytes)", async () => {
  const { reply } = await roundTrip(Errors, "SEND /404 HTTP/1.0\r\n\r\n");
  const { head, body } = splitReply(reply);
  const page =
    '<!DOCTYPE HTML>\n<html lang="en">\n    <head>\n        <meta charset="utf-8">\n' +
    '        <style type="text/css">\n            :root {\n                color-scheme: light dark;\n            }\n        </style>\n' +
    "        <title>Error response</title>\n    </head>\n    <body>\n        <h1>Error response</h1>\n" +
    "        <p>Error code: 404</p>\n        <p>Message: Not Found.</p>\n" +
    "        <p>Error code explanation: 404 - Nothing matches the given URI.</p>\n    </body>\n</html>\n";
  assert.equal(body.toString("latin1"), page);
  assert.equal(masked(head), HEAD_OF("HTTP/1.0", 404, "Not Found") + "Connection: close\r\nContent-Type: text/html;charset=utf-8\r\nContent-Length: 455");
  // With the longer "File not found" message the page is the 460 bytes the spec quotes.
  assert.equal(Buffer.byteLength(errorPage(404, "File not found", "Nothing matches the given URI")), 460);
});

test("send_error headers come in the order Server, Date, Connection, Content-Type, Content-Length", async () => {
  const { reply } = await roundTrip(Errors, "SEND /404 HTTP/1.0\r\n\r\n");
  const names = splitReply(reply).head.split("\r\n").slice(1).map((line) => line.split(":")[0]);
  assert.deepEqual(names, ["Server", "Date", "Connection", "Content-Type", "Content-Length"]);
});

test("send_error omits the body for HEAD but keeps Content-Type and Content-Length", async () => {
  const { reply, text } = await roundTrip(Errors, "HEAD /404 HTTP/1.0\r\n\r\n");
  assert.equal(text, errorReply(404, "Not Found", "Nothing matches the given URI", "HTTP/1.0", false));
  assert.equal(splitReply(reply).body.length, 0);
});

test("a HEAD without do_HEAD gets the 501 headers and no body", async () => {
  const { text } = await roundTrip(Hello, "HEAD / HTTP/1.0\r\n\r\n");
  assert.equal(text, errorReply(501, "Unsupported method ('HEAD')", "Server does not support this operation", "HTTP/1.0", false));
});

for (const code of [100, 101, 102, 204, 205, 304]) {
  test(`send_error(${code}) sends no Content-Type, Content-Length or body`, async () => {
    const { reply, text } = await roundTrip(Errors, `SEND /${code} HTTP/1.0\r\n\r\n`);
    const phrase = { 100: "Continue", 101: "Switching Protocols", 102: "Processing", 204: "No Content", 205: "Reset Content", 304: "Not Modified" }[code];
    assert.equal(text, HEAD_OF("HTTP/1.0", code, phrase!) + "Connection: close\r\n\r\n");
    assert.equal(splitReply(reply).body.length, 0);
  });
}

test("send_error(200) does send a page: only 1xx, 204, 205 and 304 are bodiless", async () => {
  const { text } = await roundTrip(Errors, "SEND /200 HTTP/1.0\r\n\r\n");
  assert.equal(text, errorReply(200, "OK", "Request fulfilled, document follows"));
});

test("send_error with an unknown code uses ??? for message and explanation", async () => {
  const { text } = await roundTrip(Errors, "SEND /999 HTTP/1.0\r\n\r\n");
  assert.equal(text, errorReply(999, "???", "???"));
});

test("send_response with an unknown code leaves the reason empty (trailing space)", async () => {
  class H extends BaseHTTPRequestHandler {
    do_GET() {
      this.send_response(999);
      this.send_header("Connection", "close");
      return this.end_headers();
    }
  }
  const { text } = await roundTrip(H, "GET / HTTP/1.0\r\n\r\n");
  assert.equal(text, HEAD_OF("HTTP/1.0", 999, "") + "Connection: close\r\n\r\n");
  assert.ok(text.startsWith("HTTP/1.0 999 \r\n"));
});

test("send_response(code, message) uses the given reason phrase", async () => {
  class H extends BaseHTTPRequestHandler {
    do_GET() {
      this.send_response(200, "Fine Thanks");
      return this.end_headers();
    }
  }
  const { text } = await roundTrip(H, "GET / HTTP/1.0\r\n\r\n");
  assert.equal(text, HEAD_OF("HTTP/1.0", 200, "Fine Thanks") + "\r\n");
});

test("send_error escapes & < > in the page but not quotes; the status line is raw", async () => {
  const message = `<b>"x" & 'y'</b>`;
  class H extends BaseHTTPRequestHandler {
    do_GET() {
      return this.send_error(400, message, "a < b");
    }
  }
  const { reply, text } = await roundTrip(H, "GET / HTTP/1.0\r\n\r\n");
  assert.equal(statusLines(text)[0], `HTTP/1.0 400 ${message}`);
  const body = splitReply(reply).body.toString();
  assert.ok(body.includes(`<p>Message: &lt;b&gt;"x" &amp; 'y'&lt;/b&gt;.</p>`));
  assert.ok(body.includes("<p>Error code explanation: 400 - a &lt; b.</p>"));
});

test("send_error uses a custom message and explanation", async () => {
  class H extends BaseHTTPRequestHandler {
    do_GET() {
      return this.send_error(403, "Go away", "Because I said so");
    }
  }
  const { text } = await roundTrip(H, "GET / HTTP/1.0\r\n\r\n");
  assert.equal(text, errorReply(403, "Go away", "Because I said so"));
});

test("send_error with only an explanation keeps the standard message", async () => {
  class H extends BaseHTTPRequestHandler {
    do_GET() {
      return this.send_error(999, null, "This is a long \n explanation");
    }
  }
  const { text } = await roundTrip(H, "GET / HTTP/1.0\r\n\r\n");
  assert.equal(text, errorReply(999, "???", "This is a long \n explanation"));
});

test("send_error's pages, kept once made, stay each error's own: messages and explanations that join alike, a new format", async () => {
  // Made once and kept (base_handler.ts, errorPages): a key that joined the message and the
  // explanation without their lengths would serve the first page for the second.
  const pairs: [string, string][] = [
    ["ab", "c"],
    ["a", "bc"],
    ["ab", "c"],
  ];
  for (const [message, explain] of pairs) {
    class H extends BaseHTTPRequestHandler {
      do_GET() {
        return this.send_error(409, message, explain);
      }
    }
    const { text } = await roundTrip(H, "GET / HTTP/1.0\r\n\r\n");
    assert.equal(text, errorReply(409, message, explain), `${message} / ${explain}`);
  }
  class Own extends BaseHTTPRequestHandler {
    override error_message_format = "<p>%(code)d %(message)s: %(explain)s</p>\n";
    do_GET() {
      return this.send_error(409, "ab", "c");
    }
  }
  const { reply } = await roundTrip(Own, "GET / HTTP/1.0\r\n\r\n");
  assert.equal(splitReply(reply).body.toString(), "<p>409 ab: c</p>\n");
  const long = "x".repeat(2000);
  class Long extends BaseHTTPRequestHandler {
    do_GET() {
      return this.send_error(409, long, "y");
    }
  }
  assert.equal((await roundTrip(Long, "GET / HTTP/1.0\r\n\r\n")).text, errorReply(409, long, "y"));
});

test("Content-Length counts UTF-8 bytes for non-ASCII messages", async () => {
  class H extends BaseHTTPRequestHandler {
    do_GET() {
      return this.send_error(404, "Caf\xe9 introuvable", "Pas de caf\xe9 \u2192 ici \u{1F600}");
    }
  }
  const { reply } = await roundTrip(H, "GET / HTTP/1.0\r\n\r\n");
  const { head, body } = splitReply(reply);
  assert.ok(head.startsWith("HTTP/1.0 404 Caf\xe9 introuvable\r\n")); // Latin-1 status line
  assert.equal(Number(/Content-Length: (\d+)/.exec(head)![1]), body.length);
  assert.equal(body.toString("utf8"), errorPage(404, "Caf\xe9 introuvable", "Pas de caf\xe9 \u2192 ici \u{1F600}"));
});

test("a HEAD whose request line failed to parse still gets the error body", async () => {
  const { reply } = await roundTrip(Errors, "HEAD / HTTP/2.0\r\n\r\n");
  assert.equal(masked(reply), errorReply(505, "Invalid HTTP version (2.0)", "Cannot fulfill request"));
  const second = await roundTrip(Errors, "HEAD / FUBAR\r\n\r\n");
  assert.ok(splitReply(second.reply).body.length > 0);
});

test("HTTP/0.9 error replies are the page alone", async () => {
  class H extends BaseHTTPRequestHandler {
    do_GET() {
      return this.send_error(404);
    }
  }
  const { text } = await roundTrip(H, "GET /nope\r\n");
  assert.equal(text, errorPage(404, "Not Found", "Nothing matches the given URI"));
});

test("the status line always carries the server's protocol_version, not the request's", async () => {
  const { text } = await roundTrip(Hello11, "GET / HTTP/1.0\r\n\r\n");
  assert.equal(statusLines(text)[0], "HTTP/1.1 200 OK");
});

test("send_header does not reject CR or LF in values", async () => {
  class H extends BaseHTTPRequestHandler {
    do_GET() {
      this.send_response(200);
      this.send_header("X", "a\r\nInjected: yes");
      return this.end_headers();
    }
  }
  const { text } = await roundTrip(H, "GET / HTTP/1.0\r\n\r\n");
  assert.ok(text.includes("\r\nX: a\r\nInjected: yes\r\n\r\n"));
});

test("send_header writes Latin-1 values byte for byte", async () => {
  class H extends BaseHTTPRequestHandler {
    do_GET() {
      this.send_response(200);
      this.send_header("X-Special", "D\xe4ngerous Mind");
      return this.end_headers();
    }
  }
  const { reply } = await roundTrip(H, "GET / HTTP/1.0\r\n\r\n");
  assert.ok(reply.includes(Buffer.from("X-Special: D\xe4ngerous Mind\r\n", "latin1")));
});

test("send_header refuses characters beyond Latin-1 (UnicodeEncodeError)", () => {
  const { handler } = socketless(BaseHTTPRequestHandler);
  handler.request_version = "HTTP/1.1";
  assert.throws(() => handler.send_header("X", "\u2192"), /UnicodeEncodeError/);
  assert.deepEqual(handler._headers_buffer, []);
});

// ---------------------------------------------------------------------------------------------
// Header buffering (socketless, with a wfile that counts writes)

test("send_header buffers until end_headers, which writes everything once", async () => {
  const { handler, output } = socketless(BaseHTTPRequestHandler);
  handler.request_version = "HTTP/1.1";
  handler.send_header("Foo", "foo");
  handler.send_header("bar", "bar");
  assert.equal(output.writes.length, 0);
  await handler.end_headers();
  assert.equal(output.data, "Foo: foo\r\nbar: bar\r\n\r\n");
  assert.equal(output.writes.length, 1);
});

test("send_response_only writes nothing until end_headers", async () => {
  const { handler, output } = socketless(BaseHTTPRequestHandler);
  handler.request_version = "HTTP/1.1";
  handler.send_response_only(418);
  assert.equal(output.writes.length, 0);
  await handler.end_headers();
  assert.equal(output.data, "HTTP/1.0 418 I'm a Teapot\r\n\r\n");
  assert.equal(output.writes.length, 1);
});

test("send_response buffers status, Server and Date and logs the request at once", async () => {
  const { handler, output, logged } = socketless(BaseHTTPRequestHandler);
  handler.request_version = "HTTP/1.0";
  handler.requestline = "GET / HTTP/1.0";
  handler.send_response(200);
  assert.equal(output.writes.length, 0);
  assert.deepEqual(logged, ['"%s" %s %s ["GET / HTTP/1.0","200","-"]']);
  await handler.end_headers();
  assert.match(output.data, /^HTTP\/1\.0 200 OK\r\nServer: BaseHTTP\/0\.6 Node\.js\/[\d.]+\r\nDate: .+ GMT\r\n\r\n$/);
});

test("send_error writes the headers in one write and the body in a second", async () => {
  const { handler, output } = socketless(BaseHTTPRequestHandler);
  handler.request_version = "HTTP/1.1";
  handler.requestline = "";
  handler.command = null;
  await handler.send_error(418);
  assert.equal(output.writes.length, 2);
  assert.ok(output.writes[0]!.toString("latin1").endsWith("\r\n\r\n"));
  assert.ok(output.writes[1]!.toString("latin1").startsWith("<!DOCTYPE HTML>"));
});

test("flush_headers writes the buffer once and empties it", async () => {
  const { handler, output } = socketless(BaseHTTPRequestHandler);
  handler.request_version = "HTTP/1.1";
  handler.send_response_only(200);
  handler.send_header("A", "1");
  await handler.flush_headers();
  assert.equal(output.writes.length, 1);
  assert.equal(output.data, "HTTP/1.0 200 OK\r\nA: 1\r\n");
  assert.deepEqual(handler._headers_buffer, []);
  await handler.flush_headers();
  assert.equal(output.data, "HTTP/1.0 200 OK\r\nA: 1\r\n"); // nothing more
});

test("for HTTP/0.9, status line, headers and blank line are never written", async () => {
  const { handler, output } = socketless(BaseHTTPRequestHandler);
  handler.request_version = "HTTP/0.9";
  handler.send_response_only(200);
  handler.send_header("A", "1");
  await handler.end_headers();
  assert.equal(output.data, "");
});

test("send_header('Connection', …) sets close_connection even for HTTP/0.9", () => {
  const { handler } = socketless(BaseHTTPRequestHandler);
  handler.request_version = "HTTP/0.9";
  handler.close_connection = true;
  handler.send_header("connection", "KEEP-ALIVE");
  assert.equal(handler.close_connection, false);
  handler.send_header("Connection", "Close");
  assert.equal(handler.close_connection, true);
  handler.send_header("Connection", "upgrade");
  assert.equal(handler.close_connection, true);
});

test("handle() runs handle_one_request until close_connection is set", async () => {
  class H extends BaseHTTPRequestHandler {
    count = 0;
    override async handle_one_request() {
      this.count++;
      this.close_connection = this.count >= 3;
    }
  }
  const { handler } = socketless(H);
  await handler.handle();
  assert.equal(handler.count, 3);
});

test("parse_request exposes the parsed request and sets close_connection by version", async () => {
  const { handler } = socketless(Hello11, "GET /p?q HTTP/1.1\r\nHost: h\r\n\r\n");
  handler.raw_requestline = await handler.rfile.readline(65537);
  assert.equal(await handler.parse_request(), true);
  assert.equal(handler.command, "GET");
  assert.equal(handler.path, "/p?q");
  assert.equal(handler.request_version, "HTTP/1.1");
  assert.equal(handler.requestline, "GET /p?q HTTP/1.1");
  assert.equal(handler.headers.get("host"), "h");
  assert.equal(handler.close_connection, false);
});

test("parse_request returns false and sets no command for an empty line", async () => {
  const { handler, output } = socketless(Hello);
  handler.raw_requestline = Buffer.from("\r\n");
  assert.equal(await handler.parse_request(), false);
  assert.equal(handler.command, null);
  assert.equal(handler.close_connection, true);
  assert.equal(output.writes.length, 0);
});

// ---------------------------------------------------------------------------------------------
// Logging

test("a request is logged as '<host> - - [dd/Mon/yyyy hh:mm:ss] \"<request line>\" <code> -'", async () => {
  const { log } = await roundTrip(Hello, "GET /a.txt HTTP/1.1\r\n\r\n");
  assert.equal(log.length, 1);
  assert.match(log[0]!, LOG_PREFIX);
  assert.equal(messages(log)[0], '"GET /a.txt HTTP/1.1" 200 -');
});

test("an error is logged as two lines: 'code N, message …' then the request", async () => {
  const { log } = await roundTrip(Errors, "SEND /404 HTTP/1.1\r\n\r\n");
  assert.equal(log.length, 2);
  for (const line of log) assert.match(line, LOG_PREFIX);
  assert.deepEqual(messages(log), ["code 404, message Not Found", '"SEND /404 HTTP/1.1" 404 -']);
});

test("control characters in the request line are escaped and backslashes doubled in the log", async () => {
  const { log } = await roundTrip(Hello, Buffer.from("GET /a\x01b\\c\x1b[31m\x7f HTTP/1.0\r\n\r\n", "latin1"));
  assert.deepEqual(messages(log), ['"GET /a\\x01b\\\\c\\x1b[31m\\x7f HTTP/1.0" 200 -']);
  assert.ok(!log.join("").includes("\x1b"));
});

test("scrubbing applies to the formatted message, not to the address and date prefix", () => {
  const stderr = captureStderr();
  try {
    const handler = new BaseHTTPRequestHandler({} as Socket, ["127.0.0.1", 1337], {} as BaseServer);
    handler.address_string = () => "\x01host";
    handler.log_message("/spam %s.", "\x1b\x7f\x9f\xa0beans");
    handler.log_message("/\x1bbar\x00\x1b");
  } finally {
    stderr.restore();
  }
  const lines = stderr.lines();
  assert.ok(lines[0]!.startsWith("\x01host - - ["));
  assert.ok(lines[0]!.endsWith("] /spam \\x1b\\x7f\\x9f\xa0beans."));
  assert.ok(lines[1]!.endsWith("] /\\x1bbar\\x00\\x1b"));
});

test("log_message formats its arguments printf-style, with %r as Python's repr", () => {
  const stderr = captureStderr();
  try {
    const handler = new BaseHTTPRequestHandler({} as Socket, ["10.0.0.7", 1337], {} as BaseServer);
    handler.log_message("%s|%r|%r|%d|%5s|", "plain", "it's", "x", 42, "r");
  } finally {
    stderr.restore();
  }
  assert.match(stderr.text(), /^10\.0\.0\.7 - - \[[^\]]+\] plain\|"it's"\|'x'\|42\|    r\|\n$/);
});

test("log_request logs an HTTPStatus as its number and passes the size through", () => {
  const { handler, logged } = socketless(BaseHTTPRequestHandler);
  handler.requestline = "GET / HTTP/1.0";
  handler.log_request(HTTPStatus.NOT_FOUND);
  handler.log_request(200, 1234);
  handler.log_request();
  assert.deepEqual(logged, [
    '"%s" %s %s ["GET / HTTP/1.0","404","-"]',
    '"%s" %s %s ["GET / HTTP/1.0","200","1234"]',
    '"%s" %s %s ["GET / HTTP/1.0","-","-"]',
  ]);
});

test("log_error goes through log_message, so one override catches both", async () => {
  const caught: string[] = [];
  class H extends Errors {
    override log_message(format: string, ...args: unknown[]) {
      caught.push(format);
    }
  }
  const { log } = await roundTrip(H, "SEND /404 HTTP/1.0\r\n\r\n");
  assert.deepEqual(caught, ["code %d, message %s", '"%s" %s %s']);
  assert.deepEqual(log, []);
});

test("address_string is the client's host without a DNS lookup", async () => {
  const hosts: string[] = [];
  class H extends Hello {
    override do_GET() {
      hosts.push(this.address_string());
      return super.do_GET();
    }
  }
  await roundTrip(H, "GET / HTTP/1.0\r\n\r\n");
  assert.deepEqual(hosts, ["127.0.0.1"]);
});

// ---------------------------------------------------------------------------------------------
// Class-level settings

test("a subclass field protocol_version = 'HTTP/1.1' takes effect", async () => {
  const { persisted, text } = await keepAliveCase(Hello11, "GET / HTTP/1.1\r\n\r\n");
  assert.equal(persisted, true);
  assert.equal(statusLines(text)[0], "HTTP/1.1 200 OK");
});

test("a static protocol_version override takes effect", async () => {
  class H extends Hello {
    static override protocol_version = "HTTP/1.1";
  }
  const { persisted, text } = await keepAliveCase(H, "GET / HTTP/1.1\r\n\r\n");
  assert.equal(persisted, true);
  assert.equal(statusLines(text)[0], "HTTP/1.1 200 OK");
});

test("setting Handler.protocol_version on the class applies to later connections", async () => {
  class H extends Hello {}
  assert.equal((await roundTrip(H, "GET / HTTP/1.1\r\n\r\n")).text, HELLO_10);
  H.protocol_version = "HTTP/1.1";
  const { persisted } = await keepAliveCase(H, "GET / HTTP/1.1\r\n\r\n");
  assert.equal(persisted, true);
  assert.equal(BaseHTTPRequestHandler.protocol_version, "HTTP/1.0"); // the base class is untouched
});

test("server_version and sys_version overrides change the Server header", async () => {
  class H extends Hello {
    override server_version = "MyServer/1.2";
    static override sys_version = "Custom/9";
  }
  const { reply } = await roundTrip(H, "GET / HTTP/1.0\r\n\r\n");
  assert.ok(reply.toString("latin1").includes("\r\nServer: MyServer/1.2 Custom/9\r\n"));
});

test("error_message_format and error_content_type overrides shape the error reply", async () => {
  class H extends BaseHTTPRequestHandler {
    static override error_message_format = "%(code)d|%(message)s|%(explain)s";
    override error_content_type = "text/plain";
  }
  const { text } = await roundTrip(H, "PUT / HTTP/1.0\r\n\r\n");
  const body = "501|Unsupported method ('PUT')|Server does not support this operation";
  assert.equal(
    text,
    HEAD_OF("HTTP/1.0", 501, "Unsupported method ('PUT')") +
      `Connection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
});

test("a responses override supplies reason phrases and explanations", async () => {
  class H extends Errors {
    static override responses = { ...BaseHTTPRequestHandler.responses, 404: ["Nope", "Not here"] as const, 299: ["Custom", "Mine"] as const };
    do_GET() {
      this.send_response(299);
      return this.end_headers();
    }
  }
  assert.equal((await roundTrip(H, "SEND /404 HTTP/1.0\r\n\r\n")).text, errorReply(404, "Nope", "Not here"));
  assert.equal((await roundTrip(H, "GET / HTTP/1.0\r\n\r\n")).text, HEAD_OF("HTTP/1.0", 299, "Custom") + "\r\n");
});

test("default_request_version = 'HTTP/1.1' gives two-word requests a status line", async () => {
  class H extends BaseHTTPRequestHandler {
    override default_request_version = "HTTP/1.1";
  }
  const { text } = await roundTrip(H, "GET /\r\n");
  assert.equal(statusLines(text)[0], "HTTP/1.0 501 Unsupported method ('GET')");
});

test("the module's constants match Python's", () => {
  assert.equal(BaseHTTPRequestHandler.server_version, "BaseHTTP/0.6");
  assert.equal(BaseHTTPRequestHandler.sys_version, `Node.js/${process.versions.node}`);
  assert.equal(BaseHTTPRequestHandler.default_request_version, "HTTP/0.9");
  assert.equal(BaseHTTPRequestHandler.error_content_type, "text/html;charset=utf-8");
  assert.deepEqual(BaseHTTPRequestHandler.responses[404], ["Not Found", "Nothing matches the given URI"]);
});

// ---------------------------------------------------------------------------------------------
// Async handlers, exceptions, timeouts

test("async do_X methods are awaited: pipelined requests are answered in order", async () => {
  class Slow extends BaseHTTPRequestHandler {
    override protocol_version = "HTTP/1.1";
    async do_GET() {
      const n = Number(this.path.slice(1));
      await sleep(n * 10); // the first request takes longest
      const body = Buffer.from(`reply ${n}\n`);
      this.send_response(200);
      this.send_header("Content-Length", String(body.length));
      this.end_headers();
      await this.wfile.write(body);
    }
  }
  await withServer(Slow, async (port) => {
    const client = await Client.open(port);
    client.send("GET /3 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /1 HTTP/1.1\r\nConnection: close\r\n\r\n");
    const text = await client.closed();
    assert.deepEqual(text.match(/reply \d/g), ["reply 3", "reply 2", "reply 1"]);
    client.destroy();
  });
});

test("an exception in do_X goes to handle_error; the connection closes with no reply", async () => {
  class Boom extends BaseHTTPRequestHandler {
    override protocol_version = "HTTP/1.1";
    do_GET() {
      throw new Error("boom");
    }
  }
  let clientPort = 0;
  let text = "";
  const log = await withServer(Boom, async (port) => {
    const client = await Client.open(port);
    clientPort = client.socket.localPort!;
    client.send("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    text = await client.closed();
    client.destroy();
  });
  assert.equal(text, "");
  const dashes = "-".repeat(40);
  assert.equal(log[0], dashes);
  assert.equal(log[1], `Exception occurred during processing of request from ('127.0.0.1', ${clientPort})`);
  assert.equal(log[2], "Error: boom");
  assert.match(log[3]!, /^\s+at /);
  assert.equal(log.at(-1), dashes);
  assert.equal(log.filter((line) => line === dashes).length, 2); // one block: the second request was never read
});

test("a rejected async do_X is reported the same way and the server keeps serving", async () => {
  class Boom extends Hello {
    override async do_GET() {
      if (this.path === "/fail") {
        await sleep(1);
        throw new TypeError("async boom");
      }
      return super.do_GET();
    }
  }
  const log = await withServer(Boom, async (port) => {
    assert.equal((await exchange(port, "GET /fail HTTP/1.0\r\n\r\n")).length, 0);
    assert.equal(masked(await exchange(port, "GET / HTTP/1.0\r\n\r\n")), HELLO_10);
  });
  assert.ok(log.includes("TypeError: async boom"));
});

test("an exception on a serial HTTPServer is reported and the next client is served", async () => {
  class Boom extends Hello {
    override do_GET() {
      if (this.path === "/fail") throw new Error("serial boom");
      return super.do_GET();
    }
  }
  const log = await withServer(
    Boom,
    async (port) => {
      assert.equal((await exchange(port, "GET /fail HTTP/1.0\r\n\r\n")).length, 0);
      assert.equal(masked(await exchange(port, "GET / HTTP/1.0\r\n\r\n")), HELLO_10);
    },
    HTTPServer as unknown as ServerClass,
  );
  assert.ok(log.includes("Error: serial boom"));
});

test("a read timeout logs 'Request timed out: TimeoutError('timed out')' and closes", async () => {
  class Timed extends Hello {
    static override timeout = 0.2;
  }
  let text = "x";
  const log = await withServer(Timed, async (port) => {
    const client = await Client.open(port);
    client.send("GET / HTTP/1.1\r\n"); // headers never finished
    text = await client.closed();
    client.destroy();
  });
  assert.equal(text, "");
  assert.deepEqual(messages(log), ["Request timed out: TimeoutError('timed out')"]);
});

test("a request line cut short by a timeout is not taken for a whole one", async () => {
  class Timed extends Hello {
    static override timeout = 0.2;
  }
  let text = "x";
  const log = await withServer(Timed, async (port) => {
    const client = await Client.open(port);
    client.send("GET /partial"); // would be a valid HTTP/0.9 request if it were complete
    text = await client.closed();
    client.destroy();
  });
  assert.equal(text, "");
  assert.deepEqual(seen, []);
  assert.deepEqual(messages(log), ["Request timed out: TimeoutError('timed out')"]);
});

test("an idle keep-alive connection times out the same way after a complete request", async () => {
  class Timed extends Hello11 {
    static override timeout = 0.2;
  }
  const log = await withServer(Timed, async (port) => {
    const client = await Client.open(port);
    client.send("GET / HTTP/1.1\r\n\r\n");
    assert.equal(await client.closed(), HELLO_11);
    client.destroy();
  });
  assert.deepEqual(messages(log), ['"GET / HTTP/1.1" 200 -', "Request timed out: TimeoutError('timed out')"]);
});

// ---------------------------------------------------------------------------------------------
// Bad input

/** A small deterministic generator, so a failure can be replayed. */
function garbage(seed: number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

test("random garbage bytes get a 400, never a traceback, and the server keeps serving", async () => {
  const log = await withServer(Hello11, async (port) => {
    for (let seed = 1; seed <= 12; seed++) {
      const reply = await exchange(port, garbage(seed, 4096), { timeoutMs: 1000, end: true });
      assert.match(reply.toString("latin1"), /^HTTP\/1\.1 400 Bad (request version|request syntax|HTTP\/0\.9 request type) \(/);
    }
    assert.equal(masked(await exchange(port, "GET / HTTP/1.0\r\n\r\n")), HELLO_11);
  });
  assert.ok(!log.includes("-".repeat(40)));
});

test("a client that disconnects mid-headers does not stop the server", async () => {
  await withServer(Hello, async (port) => {
    const client = await Client.open(port);
    client.send("GET / HTTP/1.1\r\nHost: a\r\nX-Half: ");
    await sleep(20);
    client.destroy();
    const other = await Client.open(port);
    other.send("GET / HTTP/1.1\r\nHost: a\r\nX-Half: ");
    other.socket.end(); // FIN mid-headers: the headers end there
    await other.closed();
    other.destroy();
    assert.equal(masked(await exchange(port, "GET / HTTP/1.0\r\n\r\n")), HELLO_10);
  });
});

test("a client that half-closes after its request still gets the whole reply", async () => {
  class Later extends Hello {
    override async do_GET() {
      await sleep(20); // the client's FIN arrives before the reply is written
      return super.do_GET();
    }
  }
  const { text } = await roundTrip(Later, "GET / HTTP/1.0\r\n\r\n", { end: true });
  assert.equal(text, HELLO_10);
  const bare = await roundTrip(Later, "GET /\r\n", { end: true });
  assert.equal(bare.text, "hello\n");
});
