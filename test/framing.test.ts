/**
 * Request framing: ambiguous bodies (request smuggling) are refused with 400, a body the handler
 * leaves unread is skipped rather than parsed as the next request, chunked bodies are decoded by
 * read_body(), and requests without a body behave exactly as Python's.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { BaseHTTPRequestHandler } from "../src/server/base_handler.js";
import { CHUNKED, FramingError, NO_BODY, requestFraming } from "../src/http/framing.js";
import { ChunkedEncodingError, ChunkedReader, parseChunkSize } from "../src/http/chunked.js";
import { HTTPMessage } from "../src/http/message.js";
import { captureStderr, exchange, masked, serve, type Running } from "./helpers.js";
import { percentFormat, pyRepr } from "../src/py/format.js";
import { messages, parseResponses } from "./hostile.js";

/** An HTTP/1.1 handler: GET echoes the path; POST paths choose how the body is read. */
class Echo extends BaseHTTPRequestHandler {
  override protocol_version = "HTTP/1.1";
  static logged: string[] = [];

  do_GET() {
    return this.reply(`path=${this.path}`);
  }

  async do_POST() {
    if (this.path === "/ignore") return this.reply("ignored");
    if (this.path === "/read") return this.reply(`body=${(await this.read_body()).toString("latin1")}`);
    if (this.path === "/read3") return this.reply(`first=${(await this.read_body(3)).toString("latin1")}`);
    if (this.path === "/pieces") {
      const pieces: string[] = [];
      for (let piece = await this.read_body(4); piece.length > 0; piece = await this.read_body(4)) pieces.push(piece.toString());
      return this.reply(`pieces=${pieces.join("|")}`);
    }
    if (this.path === "/raw") {
      const length = Number(this.headers.get("Content-Length"));
      return this.reply(`raw=${(await this.rfile.read(length)).toString("latin1")}`);
    }
    if (this.path === "/raw1") {
      await this.rfile.read(1); // reads around read_body(): the rest cannot be found again
      return this.reply("raw1");
    }
    return this.reply("?");
  }

  reply(text: string) {
    this.send_response(200);
    this.send_header("Content-Length", String(Buffer.byteLength(text)));
    this.end_headers();
    return this.wfile.write(text);
  }

  override log_message(format: string, ...args: unknown[]) {
    Echo.logged.push(percentFormat(format, args));
  }
}

let running: Running;
before(async () => {
  running = await serve(Echo);
});
after(() => running.close());

/** Sends raw bytes (half-closing after), returns the parsed replies and whether all were parsed. */
async function send(data: string | Buffer) {
  const reply = await exchange(running.port, data, { end: true, timeoutMs: 5000 });
  return { reply, ...parseResponses(reply) };
}

const bodies = (responses: { body: Buffer }[]) => responses.map((r) => r.body.toString("latin1"));

// ---------------------------------------------------------------------------------------------
// Request smuggling patterns: 400, Connection: close, nothing after is served

const SMUGGLING: [string, string[], string][] = [
  ["Content-Length with Transfer-Encoding (CL.TE)", ["Content-Length: 6", "Transfer-Encoding: chunked"], "Bad request framing (Content-Length with Transfer-Encoding)"],
  ["Transfer-Encoding with Content-Length (TE.CL)", ["Transfer-Encoding: chunked", "Content-Length: 3"], "Bad request framing (Content-Length with Transfer-Encoding)"],
  ["two differing Content-Length headers", ["Content-Length: 5", "Content-Length: 6"], "Bad Content-Length ('5, 6')"],
  ["a Content-Length list with differing values", ["Content-Length: 5, 6"], "Bad Content-Length ('5, 6')"],
  ["a non-numeric Content-Length", ["Content-Length: abc"], "Bad Content-Length ('abc')"],
  ["a negative Content-Length", ["Content-Length: -1"], "Bad Content-Length ('-1')"],
  ["a Content-Length with a sign", ["Content-Length: +5"], "Bad Content-Length ('+5')"],
  ["a hexadecimal Content-Length", ["Content-Length: 0x5"], "Bad Content-Length ('0x5')"],
  ["a fractional Content-Length", ["Content-Length: 5.0"], "Bad Content-Length ('5.0')"],
  ["an empty Content-Length", ["Content-Length: "], "Bad Content-Length ('')"],
  ["a Content-Length too long to be exact", ["Content-Length: 1234567890123456"], "Bad Content-Length ('1234567890123456')"],
  ["Transfer-Encoding: gzip", ["Transfer-Encoding: gzip"], "Bad Transfer-Encoding ('gzip')"],
  ["chunked not last", ["Transfer-Encoding: chunked, gzip"], "Bad Transfer-Encoding ('chunked, gzip')"],
  ["a coding before chunked", ["Transfer-Encoding: gzip, chunked"], "Bad Transfer-Encoding ('gzip, chunked')"],
  ["chunked twice", ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], "Bad Transfer-Encoding ('chunked, chunked')"],
  ["identity", ["Transfer-Encoding: identity"], "Bad Transfer-Encoding ('identity')"],
  ["chunked with parameters", ["Transfer-Encoding: chunked;q=1"], "Bad Transfer-Encoding ('chunked;q=1')"],
];

for (const [name, headers, reason] of SMUGGLING) {
  test(`${name} gets 400 "${reason}" and the connection closes before the next request`, async () => {
    const request = `POST /ignore HTTP/1.1\r\n${headers.join("\r\n")}\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n`;
    const { responses, rest } = await send(request);
    assert.equal(responses.length, 1, "exactly one response");
    assert.equal(responses[0]!.statusLine, `HTTP/1.1 400 ${reason}`);
    assert.equal(responses[0]!.headers.get("connection"), "close");
    assert.equal(rest.length, 0);
  });
}

test("the classic CL.TE smuggle: the prefix 'G' is never seen as a request", async () => {
  const attack = "POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG";
  const { responses } = await send(attack + "POST /ignore HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  assert.deepEqual(responses.map((r) => r.status), [400]);
});

test("a framing error is logged as Python logs any 400: the code line, then the request line", async () => {
  Echo.logged = [];
  await send("POST /ignore HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx");
  assert.deepEqual(Echo.logged, [
    "code 400, message Bad Content-Length ('1, 2')",
    '"POST /ignore HTTP/1.1" 400 -',
  ]);
});

// ---------------------------------------------------------------------------------------------
// Malformed header lines: Python reads on (a header dropped, or a line split in two); refused

/** A whole request for the smuggled path, with its length (it is sent as the body). */
const SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

const MALFORMED: [string, string[]][] = [
  ["a space between the field name and its colon", [`Content-Length : ${SMUGGLED.length}`]],
  ["a tab between the field name and its colon", [`Content-Length\t: ${SMUGGLED.length}`]],
  ["a bare CR inside a header line (hiding the next header from a proxy)", [`X-Note: a\rContent-Length: ${SMUGGLED.length}`]],
  ["a bare CR at the end of a value", [`X-Note: a\r`, `Content-Length: ${SMUGGLED.length}`]],
  ["a bare CR starting a line", [`\rX-Note: a`, `Content-Length: ${SMUGGLED.length}`]],
  ["a header line without a colon", ["Not a header", `Content-Length: ${SMUGGLED.length}`]],
  ["a NUL in a field name", ["X\x00Note: a", `Content-Length: ${SMUGGLED.length}`]],
  ["a DEL in a field name", ["X\x7fNote: a", `Content-Length: ${SMUGGLED.length}`]],
  ["a non-ASCII byte in a field name", ["X-N\xf6te: a", `Content-Length: ${SMUGGLED.length}`]],
  ["an empty field name", [": a", `Content-Length: ${SMUGGLED.length}`]],
  ["a Unix 'From ' line", ["From nobody", `Content-Length: ${SMUGGLED.length}`]],
];

for (const protocol of ["HTTP/1.1", "HTTP/1.0"]) {
  for (const [name, lines] of MALFORMED) {
    test(`${protocol}: ${name} gets 400 Bad header line and the connection closes; no smuggled request runs`, async () => {
      class Strict extends Echo {
        override protocol_version = protocol;
      }
      const server = await serve(Strict);
      Echo.logged = [];
      try {
        const request = `POST /ignore HTTP/1.1\r\nHost: x\r\n${lines.join("\r\n")}\r\n\r\n${SMUGGLED}`;
        const reply = await exchange(server.port, Buffer.from(request, "latin1"), { end: true });
        const { responses, rest } = parseResponses(reply);
        const bad = lines.find((line) => !line.startsWith("Content-Length: "))!;
        const reason = `Bad header line (${pyRepr(bad)})`;
        assert.equal(responses.length, 1, "exactly one response");
        assert.equal(responses[0]!.statusLine, `${protocol} 400 ${reason}`);
        assert.equal(responses[0]!.headers.get("connection"), "close");
        assert.equal(rest.length, 0);
        assert.match(responses[0]!.body.toString("latin1"), /<p>Error code explanation: 400 - Bad request syntax or unsupported method.<\/p>/);
        assert.deepEqual(Echo.logged, [`code 400, message ${reason}`, '"POST /ignore HTTP/1.1" 400 -']);
      } finally {
        await server.close();
      }
    });
  }
}

test("a folded header (obs-fold) is still read as Python reads it, and what follows it too", async () => {
  const { responses } = await send("POST /read HTTP/1.1\r\nX-Fold: a\r\n b\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
  assert.deepEqual(bodies(responses), ["body=abc"]);
});

test("visible characters that are not token characters still make a field name, as in Python", async () => {
  const { responses } = await send('POST /read HTTP/1.1\r\nX(y)"z"@{}: 1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc');
  assert.deepEqual(bodies(responses), ["body=abc"]);
});

test("no 100 Continue is sent before a framing error", async () => {
  const { reply } = await send("POST /read HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: x\r\n\r\n");
  assert.match(reply.toString("latin1"), /^HTTP\/1\.1 400 Bad Content-Length/);
});

// ---------------------------------------------------------------------------------------------
// Accepted framings

test("repeated identical Content-Length headers (and lists of one value) are accepted", async () => {
  for (const headers of [["Content-Length: 3", "Content-Length: 3"], ["Content-Length: 3, 3"], ["Content-Length: 003"]]) {
    const { responses } = await send(`POST /read HTTP/1.1\r\n${headers.join("\r\n")}\r\nConnection: close\r\n\r\nabc`);
    assert.deepEqual(bodies(responses), ["body=abc"], headers.join(" / "));
  }
});

test("Transfer-Encoding is matched case-insensitively, with spaces and empty list items around it", async () => {
  for (const value of ["Chunked", "CHUNKED", " chunked ", ", chunked,"]) {
    const { responses } = await send(`POST /read HTTP/1.1\r\nTransfer-Encoding:${value}\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n`);
    assert.deepEqual(bodies(responses), ["body=abc"], value);
  }
});

test("a Transfer-Encoding folded onto a continuation line still reads as chunked", async () => {
  const { responses } = await send("POST /read HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  assert.deepEqual(bodies(responses), ["body=abc"]);
});

// ---------------------------------------------------------------------------------------------
// Keep-alive without a body: exactly as before

test("pipelined requests without a body are all answered, in order, byte for byte as Python's", async () => {
  const { reply, responses, rest } = await send("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nX: y\r\n\r\nGET /c HTTP/1.1\r\nConnection: close\r\n\r\n");
  assert.deepEqual(bodies(responses), ["path=/a", "path=/b", "path=/c"]);
  assert.equal(rest.length, 0);
  const one = "HTTP/1.1 200 OK\r\nServer: <server>\r\nDate: <date>\r\nContent-Length: 7\r\n\r\n";
  assert.equal(masked(reply), `${one}path=/a${one}path=/b${one}path=/c`);
});

test("Content-Length: 0 is no body at all: the next request follows at once", async () => {
  const { responses } = await send("POST /ignore HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET /next HTTP/1.1\r\nConnection: close\r\n\r\n");
  assert.deepEqual(bodies(responses), ["ignored", "path=/next"]);
});

test("an HTTP/1.0 server still closes after one response; the unread body is not looked at", async () => {
  class Old extends Echo {
    override protocol_version = "HTTP/1.0";
  }
  const old = await serve(Old);
  try {
    const reply = await exchange(old.port, "POST /ignore HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n", { end: true });
    assert.deepEqual(bodies(parseResponses(reply).responses), ["ignored"]);
  } finally {
    await old.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Bodies left unread on a kept-alive connection

test("a Content-Length body the handler ignores is skipped, not parsed as the next request", async () => {
  const { responses } = await send("POST /ignore HTTP/1.1\r\nContent-Length: 27\r\n\r\nGET /from-the-body HTTP/1.1GET /next HTTP/1.1\r\nConnection: close\r\n\r\n");
  assert.deepEqual(bodies(responses), ["ignored", "path=/next"]);
});

test("a body read in part (3 of 10 bytes) has its rest skipped", async () => {
  const { responses } = await send("POST /read3 HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789GET /next HTTP/1.1\r\nConnection: close\r\n\r\n");
  assert.deepEqual(bodies(responses), ["first=012", "path=/next"]);
});

test("a body read through rfile directly is not read twice", async () => {
  const { responses } = await send("POST /raw HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\nConnection: close\r\n\r\n");
  assert.deepEqual(bodies(responses), ["raw=hello", "path=/next"]);
});

test("an unread chunked body is decoded and skipped; the next request is served", async () => {
  const chunked = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
  const { responses } = await send(`POST /ignore HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}GET /next HTTP/1.1\r\nConnection: close\r\n\r\n`);
  assert.deepEqual(bodies(responses), ["ignored", "path=/next"]);
});

test("a rest longer than drain_limit closes the connection after the response instead", async () => {
  class Small extends Echo {
    static override drain_limit = 10;
  }
  const small = await serve(Small);
  try {
    for (const body of ["Content-Length: 11\r\n\r\n01234567890", "Transfer-Encoding: chunked\r\n\r\nb\r\n01234567890\r\n0\r\n\r\n"]) {
      const reply = await exchange(small.port, `POST /ignore HTTP/1.1\r\n${body}GET /next HTTP/1.1\r\n\r\n`, { end: true });
      assert.deepEqual(bodies(parseResponses(reply).responses), ["ignored"], body);
    }
    // Within the limit, the connection is kept.
    const kept = await exchange(small.port, "POST /ignore HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789GET /next HTTP/1.1\r\n\r\n", { end: true });
    assert.deepEqual(bodies(parseResponses(kept).responses), ["ignored", "path=/next"]);
  } finally {
    await small.close();
  }
});

test("a chunked body partly read through rfile cannot be found again: the connection closes", async () => {
  const { responses } = await send("POST /raw1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
  assert.deepEqual(bodies(responses), ["raw1"]);
});

test("a malformed chunked body left unread closes the connection; nothing after it is parsed", async () => {
  const { responses } = await send("POST /ignore HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /next HTTP/1.1\r\n\r\n");
  assert.deepEqual(bodies(responses), ["ignored"]);
});

test("a chunked HTTP/1.0 request is answered, then the connection closes (RFC 9112 §6.1)", async () => {
  const { responses } = await send("POST /read HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
  assert.deepEqual(bodies(responses), ["body=a"]);
});

// ---------------------------------------------------------------------------------------------
// read_body()

test("read_body() returns a Content-Length body whole, and nothing past it", async () => {
  const { responses } = await send("POST /read HTTP/1.1\r\nContent-Length: 4\r\n\r\nbodyGET /next HTTP/1.1\r\nConnection: close\r\n\r\n");
  assert.deepEqual(bodies(responses), ["body=body", "path=/next"]);
});

test("read_body() decodes chunks, ignoring extensions and trailers", async () => {
  const chunked = "4;name=value\r\nWiki\r\n5 ; x\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\nX: y\r\n\r\n";
  const { responses } = await send(`POST /read HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}GET /next HTTP/1.1\r\nConnection: close\r\n\r\n`);
  assert.deepEqual(bodies(responses), ["body=Wikipedia in\r\n\r\nchunks.", "path=/next"]);
});

test("read_body(n) reads in pieces across chunk boundaries, then returns empty", async () => {
  const { responses } = await send("POST /pieces HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n1\r\ni\r\n0\r\n\r\n");
  assert.deepEqual(bodies(responses), ["pieces=abcd|efgh|i"]);
  const plain = await send("POST /pieces HTTP/1.1\r\nContent-Length: 9\r\nConnection: close\r\n\r\nabcdefghi");
  assert.deepEqual(bodies(plain.responses), ["pieces=abcd|efgh|i"]);
});

test("read_body() of a request without a body, or an HTTP/0.9 one, is empty", async () => {
  const { responses } = await send("POST /read HTTP/1.1\r\n\r\nPOST /read HTTP/1.1\r\nConnection: close\r\n\r\n");
  assert.deepEqual(bodies(responses), ["body=", "body="]);
});

test("read_body() on a malformed chunked body: 400 Bad chunked request body, one log line", async () => {
  Echo.logged = [];
  const stderr = captureStderr();
  let responses;
  try {
    ({ responses } = await send("POST /read HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n"));
  } finally {
    stderr.restore();
  }
  assert.deepEqual(responses.map((r) => r.statusLine), ["HTTP/1.1 400 Bad chunked request body"]);
  assert.deepEqual(Echo.logged, [
    "Bad chunked request body (chunk data not followed by CRLF)",
    "code 400, message Bad chunked request body",
    '"POST /read HTTP/1.1" 400 -',
  ]);
  assert.equal(stderr.text(), "", "no traceback");
});

// ---------------------------------------------------------------------------------------------
// The rules on their own

function headersOf(...lines: [string, string][]): HTTPMessage {
  const message = new HTTPMessage();
  for (const [name, value] of lines) message.add(name, value);
  return message;
}

test("requestFraming: no header means no body; lengths and chunked are read", () => {
  assert.equal(requestFraming(headersOf()), NO_BODY);
  assert.equal(requestFraming(headersOf(["content-length", "42"])), 42);
  assert.equal(requestFraming(headersOf(["Content-Length", " 7 \t"])), 7);
  assert.equal(requestFraming(headersOf(["transfer-encoding", "chunked"])), CHUNKED);
  assert.throws(() => requestFraming(headersOf(["Content-Length", "1", ], ["content-length", "2"])), FramingError);
});

test("parseChunkSize: hex sizes, extensions after ';', nothing else", () => {
  const size = (text: string) => parseChunkSize(Buffer.from(text + "\r\n", "latin1"));
  assert.equal(size("0"), 0);
  assert.equal(size("1f"), 31);
  assert.equal(size("1F;a=b;c"), 31);
  assert.equal(size("a \t;ext"), 10);
  for (const bad of ["", "g", "-1", "0x5", " 5", "5 x", "12345678901234", "5;a\rb"]) {
    assert.throws(() => size(bad), ChunkedEncodingError, JSON.stringify(bad));
  }
});

/** A BodySource over fixed bytes. */
function source(bytes: string) {
  let data = Buffer.from(bytes, "latin1");
  const take = (n: number) => {
    const out = data.subarray(0, n);
    data = data.subarray(n);
    return out;
  };
  return {
    async readline(limit = -1) {
      const newline = data.indexOf(0x0a);
      const end = newline < 0 ? data.length : newline + 1;
      return take(limit < 0 ? end : Math.min(end, limit));
    },
    async read(n = -1) {
      return take(n < 0 ? data.length : n);
    },
    async read1(n = -1) {
      return take(n < 0 ? data.length : n);
    },
  };
}

test("ChunkedReader refuses bare LF line ends, missing CRLF after data, and a truncated body", async () => {
  for (const bad of ["3\nabc\r\n0\r\n\r\n", "3\r\nabc0\r\n\r\n", "3\r\nab", "3\r\nabc\r\n0\r\n", "3\r\nabc\r\n0\r\nX: y\n\r\n"]) {
    await assert.rejects(new ChunkedReader(source(bad)).read(), ChunkedEncodingError, JSON.stringify(bad));
  }
});

test("ChunkedReader bounds the trailers as headers are bounded (100 lines)", async () => {
  const trailers = "X: y\r\n".repeat(100);
  await assert.rejects(new ChunkedReader(source(`0\r\n${trailers}\r\n`)).read(), /more than 100 trailer lines/);
  assert.equal((await new ChunkedReader(source(`0\r\n${"X: y\r\n".repeat(99)}\r\n`)).read()).length, 0);
});

test("ChunkedReader.skip stops at the limit without reading the whole body", async () => {
  const reader = new ChunkedReader(source("a\r\n0123456789\r\n0\r\n\r\n"));
  assert.equal(await reader.skip(5), false);
  const whole = new ChunkedReader(source("a\r\n0123456789\r\n0\r\n\r\n"));
  assert.equal(await whole.skip(10), true);
  assert.equal(whole.done, true);
});

test("log lines have the handler's prefix (checked on a real log)", async () => {
  class Logged extends BaseHTTPRequestHandler {
    override protocol_version = "HTTP/1.1";
  }
  const logged = await serve(Logged);
  const stderr = captureStderr();
  try {
    await exchange(logged.port, "GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", { end: true });
  } finally {
    stderr.restore();
    await logged.close();
  }
  assert.deepEqual(messages(stderr.lines()), ["code 400, message Bad Transfer-Encoding ('gzip')", '"GET / HTTP/1.1" 400 -']);
});
