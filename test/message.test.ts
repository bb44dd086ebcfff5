import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import {
  BadHeaderLine,
  checkFieldLines,
  HTTPException,
  HTTPMessage,
  LineTooLong,
  MAXHEADERS,
  MAXLINE,
  parse_headers,
  parseHeaderLines,
  parseHeadersSoon,
  type LineSource,
} from "../src/http/message.js";
import { SocketReader } from "../src/socketserver/reader.js";

/** Parses a header block given as Latin-1 text, the way the handler's rfile delivers it. */
async function parse(text: string | Buffer): Promise<HTTPMessage> {
  const stream = new PassThrough();
  const reader = new SocketReader(stream);
  stream.end(typeof text === "string" ? Buffer.from(text, "latin1") : text);
  return parse_headers(reader);
}

/** A line source without `readlineIfBuffered`, fed one line per call. */
function lineSource(lines: string[]): LineSource & { calls: number } {
  const source = {
    calls: 0,
    async readline(): Promise<Buffer> {
      source.calls++;
      return Buffer.from(lines.shift() ?? "", "latin1");
    },
  };
  return source;
}

test("names are case-insensitive for get, get_all and has", async () => {
  const m = await parse("Content-Length: 5\r\nX-Two: a\r\nx-two: b\r\n\r\n");
  assert.equal(m.get("content-length"), "5");
  assert.equal(m.get("CONTENT-LENGTH"), "5");
  assert.deepEqual(m.get_all("X-TWO"), ["a", "b"]);
  assert.equal(m.has("x-Two"), true);
  assert.equal(m.has("Host"), false);
});

test("get returns the first occurrence of a repeated header", async () => {
  const m = await parse("Connection: keep-alive\r\nConnection: close\r\n\r\n");
  assert.equal(m.get("Connection"), "keep-alive");
});

test("get and get_all return failobj (or undefined) for a missing header", async () => {
  const m = await parse("A: 1\r\n\r\n");
  assert.equal(m.get("B"), undefined);
  assert.equal(m.get("B", ""), "");
  assert.equal(m.get_all("B"), undefined);
  assert.deepEqual(m.get_all("B", []), []);
});

test("keys, values and items keep arrival order and the names as sent", async () => {
  const m = await parse("Host: h\r\nx-Lower: 1\r\nHost: again\r\n\r\n");
  assert.deepEqual(m.keys(), ["Host", "x-Lower", "Host"]);
  assert.deepEqual(m.values(), ["h", "1", "again"]);
  assert.deepEqual(m.items(), [["Host", "h"], ["x-Lower", "1"], ["Host", "again"]]);
  assert.equal(m.length, 3);
  assert.deepEqual([...m], ["Host", "x-Lower", "Host"]);
});

test("a continuation line is folded in, keeping the CRLF and indentation as compat32 does", async () => {
  const m = await parse("X-Fold: one\r\n  two\r\n\tthree\r\nNext: n\r\n\r\n");
  assert.equal(m.get("X-Fold"), "one\r\n  two\r\n\tthree");
  assert.equal(m.get("Next"), "n");
});

test("leading whitespace of a value is dropped and trailing whitespace is kept", async () => {
  const m = await parse("Trail: v  \r\nTabs:\t \tx\r\nNone:\r\nTight:x\r\n\r\n");
  assert.equal(m.get("Trail"), "v  ");
  assert.equal(m.get("Tabs"), "x");
  assert.equal(m.get("None"), "");
  assert.equal(m.get("Tight"), "x");
});

test("a line without a colon ends the headers; later lines are ignored", async () => {
  const m = await parse("A: 1\r\nbad line\r\nConnection: close\r\n\r\n");
  assert.deepEqual(m.items(), [["A", "1"]]);
  assert.equal(m.get("Connection"), undefined);
});

test("a space in a header name ends the headers too", async () => {
  const m = await parse("A: 1\r\nBad Name: x\r\nB: 2\r\n\r\n");
  assert.deepEqual(m.items(), [["A", "1"]]);
});

test("a bare CR splits a line in two for the header parser", async () => {
  const m = await parse("A: 1\rB: 2\r\nC: 3\r\n\r\n");
  assert.deepEqual(m.items(), [["A", "1"], ["B", "2"], ["C", "3"]]);
});

test("text after a bare CR that is not a header ends the headers", async () => {
  const m = await parse("A: 1\r\nX: a\rb\r\nC: 3\r\n\r\n");
  assert.deepEqual(m.items(), [["A", "1"], ["X", "a"]]);
});

test("a Unix 'From ' envelope line is not a header", async () => {
  assert.deepEqual((await parse("From nobody\r\nA: 1\r\n\r\n")).items(), [["A", "1"]]);
  assert.deepEqual((await parse("A: 1\r\nFrom x\r\nB: 2\r\n\r\n")).items(), [["A", "1"], ["B", "2"]]);
});

test("a line with an empty name (':x') is dropped and parsing goes on", async () => {
  assert.deepEqual((await parse(":x\r\nA: 1\r\n\r\n")).items(), [["A", "1"]]);
});

test("a continuation line before any header is dropped", async () => {
  assert.deepEqual((await parse(" lead\r\nA: 1\r\n\r\n")).items(), [["A", "1"]]);
});

test("bare LF line endings work like CRLF", async () => {
  assert.deepEqual((await parse("A: 1\nB: 2\n\nbody")).items(), [["A", "1"], ["B", "2"]]);
});

test("bytes are decoded as Latin-1", async () => {
  const m = await parse(Buffer.from("X: caf\xe9\r\n\r\n", "latin1"));
  assert.equal(m.get("X"), "caf\xe9");
});

test("the end of the stream ends the headers without a blank line", async () => {
  const m = await parse("A: 1\r\nB: 2\r\n");
  assert.deepEqual(m.items(), [["A", "1"], ["B", "2"]]);
});

test("parse_headers reads up to the blank line and leaves the body unread", async () => {
  const stream = new PassThrough();
  const reader = new SocketReader(stream);
  stream.end("A: 1\r\n\r\nBODY");
  const m = await parse_headers(reader);
  assert.equal(m.get("A"), "1");
  assert.equal((await reader.read()).toString(), "BODY");
});

test("parseHeadersSoon returns the message itself when the block is buffered, else a Promise", async () => {
  const stream = new PassThrough();
  const reader = new SocketReader(stream);
  stream.write(Buffer.from("Host: a\r\nX-A: 1\r\n\r\n"));
  await new Promise((resolve) => setImmediate(resolve));
  const now = parseHeadersSoon(reader);
  assert.ok(!(now instanceof Promise));
  assert.equal(now.get("x-a"), "1");
  stream.write(Buffer.from("Host: b\r\nX-B"));
  await new Promise((resolve) => setImmediate(resolve));
  const later = parseHeadersSoon(reader);
  assert.ok(later instanceof Promise, "the block is cut short: the rest is awaited");
  stream.end(Buffer.from(": 2\r\n\r\n"));
  const message = await later;
  assert.equal(message.get("host"), "b");
  assert.equal(message.get("x-b"), "2");
});

test("parse_headers works with a line source that only has readline()", async () => {
  const source = lineSource(["A: 1\r\n", "B: 2\r\n", "\r\n", "C: never read\r\n"]);
  const m = await parse_headers(source);
  assert.deepEqual(m.items(), [["A", "1"], ["B", "2"]]);
  assert.equal(source.calls, 3);
});

test("parse_headers builds the _class it is given", async () => {
  class Custom extends HTTPMessage {
    custom = true;
  }
  const m = await parse_headers(lineSource(["A: 1\r\n", "\r\n"]), Custom);
  assert.ok(m instanceof Custom);
  assert.equal(m.custom, true);
});

test("99 header lines are accepted", async () => {
  const m = await parse("X: y\r\n".repeat(99) + "\r\n");
  assert.equal(m.length, 99);
});

test("100 header lines are too many (the blank line counts): HTTPException", async () => {
  await assert.rejects(parse("X: y\r\n".repeat(100) + "\r\n"), (error: unknown) => {
    assert.ok(error instanceof HTTPException);
    assert.ok(!(error instanceof LineTooLong));
    assert.equal((error as Error).message, "got more than 100 headers");
    return true;
  });
  assert.equal(MAXHEADERS, 100);
});

test("a header line of 65536 bytes with its CRLF is accepted", async () => {
  const line = "X: " + "a".repeat(MAXLINE - 5) + "\r\n";
  assert.equal(line.length, 65536);
  const m = await parse(line + "\r\n");
  assert.equal(m.get("X")!.length, MAXLINE - 5);
});

test("a header line of 65537 bytes is LineTooLong", async () => {
  const line = "X: " + "a".repeat(MAXLINE - 4) + "\r\n";
  await assert.rejects(parse(line + "\r\n"), (error: unknown) => {
    assert.ok(error instanceof LineTooLong);
    assert.ok(error instanceof HTTPException);
    assert.equal((error as Error).message, "got more than 65536 bytes when reading header line");
    return true;
  });
});

// ---------------------------------------------------------------------------------------------
// The server's strict reading (not in Python): lines compat32 would cut or split are refused

/** Parses with the server's rules; the lines given are sent whole, then a blank line. */
async function parseStrict(text: string): Promise<HTTPMessage> {
  const stream = new PassThrough();
  const reader = new SocketReader(stream);
  stream.end(Buffer.from(text, "latin1"));
  return parseHeadersSoon(reader, HTTPMessage, { strict: true });
}

for (const [name, line] of [
  ["a space before the colon", "Content-Length : 5"],
  ["no colon", "Content-Length 5"],
  ["a NUL in the name", "Content\x00Length: 5"],
  ["a bare CR in the value", "A: 1\rContent-Length: 5"],
  ["a bare CR in a continuation line", " folded\rB: 2"],
  ["a bare CR starting the line", "\rContent-Length: 5"],
  ["an empty name", ": 5"],
  ["a 'From ' envelope line", "From nobody"],
] as const) {
  test(`strict rules refuse a field line with ${name} (BadHeaderLine, the line without its CRLF)`, async () => {
    const text = name.includes("continuation") ? `A: 1\r\n${line}\r\n\r\n` : `Host: x\r\n${line}\r\nB: 2\r\n\r\n`;
    await assert.rejects(parseStrict(text), (error: unknown) => {
      assert.ok(error instanceof BadHeaderLine);
      assert.ok(error instanceof HTTPException);
      assert.equal((error as BadHeaderLine).line, line);
      return true;
    });
  });
}

test("strict rules read well-formed lines as compat32 does: folds, bare LF, blanks around values, visible names", async () => {
  const text = "X-Fold: one\r\n  two\r\nTabs:\t x \r\nLF: y\nWeird(name): z\r\n\r\n";
  const strict = await parseStrict(text);
  assert.deepEqual(strict.items(), (await parse(text)).items());
  assert.deepEqual(strict.items(), [["X-Fold", "one\r\n  two"], ["Tabs", "x "], ["LF", "y"], ["Weird(name)", "z"]]);
});

test("strict rules check only the lines before the blank one", () => {
  assert.doesNotThrow(() => checkFieldLines(["A: 1\r\n", "\r\n"]));
  assert.doesNotThrow(() => checkFieldLines(["A: 1\n", "\n"]));
  assert.doesNotThrow(() => checkFieldLines(["A: 1\r\n", ""]));
  assert.throws(() => checkFieldLines(["A: 1\r\r\n", "\r\n"]), BadHeaderLine);
});

test("a line limit or count limit is still Python's 431 before any line is judged", async () => {
  await assert.rejects(parseStrict("Bad Line\r\n" + "X: y\r\n".repeat(100) + "\r\n"), (error: unknown) => {
    assert.ok(!(error instanceof BadHeaderLine));
    assert.equal((error as Error).message, "got more than 100 headers");
    return true;
  });
});

test("the waiting rule is called before each wait for a line, never when all is buffered", async () => {
  let waits = 0;
  const buffered = new PassThrough();
  const reader = new SocketReader(buffered);
  buffered.write("A: 1\r\nB: 2\r\n\r\n");
  await new Promise((resolve) => setImmediate(resolve));
  const now = parseHeadersSoon(reader, HTTPMessage, { strict: true, waiting: () => waits++ });
  assert.ok(!(now instanceof Promise));
  assert.equal(waits, 0);

  const piecemeal = new PassThrough();
  const slow = new SocketReader(piecemeal);
  const later = parseHeadersSoon(slow, HTTPMessage, { strict: true, waiting: () => waits++ });
  for (const piece of ["A: 1\r\n", "B: 2\r\n", "\r\n"]) {
    piecemeal.write(piece);
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.deepEqual((await later).items(), [["A", "1"], ["B", "2"]]);
  assert.equal(waits, 3);
});

test("a waiting rule that throws stops the reading with its error", async () => {
  const stream = new PassThrough();
  const reader = new SocketReader(stream);
  stream.write("A: 1\r\n");
  const stop = new HTTPException("enough");
  const message = parseHeadersSoon(reader, HTTPMessage, {
    strict: true,
    waiting: () => {
      if (reader.consumed > 0) throw stop;
    },
  });
  await assert.rejects(Promise.resolve(message), (error: unknown) => error === stop);
});

test("get_content_type defaults to text/plain", () => {
  assert.equal(new HTTPMessage().get_content_type(), "text/plain");
});

test("get_content_type lower-cases and drops parameters", () => {
  const m = parseHeaderLines(["Content-Type: Text/HTML; charset=x\r\n"], HTTPMessage);
  assert.equal(m.get_content_type(), "text/html");
  assert.equal(m.get_content_maintype(), "text");
  assert.equal(m.get_content_subtype(), "html");
});

test("get_content_type falls back to text/plain when the type has no single slash", () => {
  assert.equal(parseHeaderLines(["Content-Type: texthtml\r\n"], HTTPMessage).get_content_type(), "text/plain");
  assert.equal(parseHeaderLines(["Content-Type: a/b/c\r\n"], HTTPMessage).get_content_type(), "text/plain");
});

test("get_content_type strips Python whitespace such as \\x1c around the type", () => {
  assert.equal(parseHeaderLines(["Content-Type:  text/html\x1c\r\n"], HTTPMessage).get_content_type(), "text/html");
});

test("add, set_raw and delete edit the message; toString shows it", () => {
  const m = new HTTPMessage();
  m.add("A", "1");
  m.set_raw("B", "2");
  m.add("a", "3");
  assert.deepEqual(m.get_all("A"), ["1", "3"]);
  m.delete("A");
  assert.deepEqual(m.items(), [["B", "2"]]);
  assert.equal(String(m), "B: 2\n\n");
});

// ---------------------------------------------------------------------------------------------
// A head that arrived whole is read in one piece (SocketReader.takeHeadLinesIfBuffered): it must
// give what reading it line by line gives, message or error, and leave the same bytes unread.

/** The message (as items) or the error (class and message) of a head, and the bytes left after it. */
async function outcome(text: string, whole: boolean): Promise<{ result: unknown; rest: string }> {
  const stream = new PassThrough();
  const reader = new SocketReader(stream);
  const data = Buffer.from(text, "latin1");
  // Whole: one chunk. Otherwise a byte per chunk, so no line is ever buffered ahead of the parser.
  if (whole) stream.write(data);
  else for (const byte of data) stream.write(Buffer.from([byte]));
  stream.end();
  await new Promise((resolve) => setImmediate(resolve));
  if (whole) assert.equal(reader.pending, data.length, "all of it buffered in one chunk");
  let result: unknown;
  try {
    result = (await parseHeadersSoon(reader, HTTPMessage, { strict: true })).items();
  } catch (error) {
    result = `${(error as Error).constructor.name}: ${(error as Error).message}`;
  }
  return { result, rest: (await reader.read()).toString("latin1") };
}

const TRICKY_HEADS: Record<string, string> = {
  "CRLF, then a body": "Host: a\r\nB: 2\r\n\r\nbody\r\n\r\n",
  "bare LF": "Host: a\nB: 2\n\nbody",
  "a bare-LF blank line before a CRLF one": "A: 1\n\nB: 2\r\n\r\n",
  "a CRLF blank line before a bare-LF one": "A: 1\r\n\r\nB: 2\n\n",
  "no headers": "\r\nbody",
  "no headers, bare LF": "\nbody",
  "a fold": "A: one\r\n two\r\n\r\n",
  "a bare CR (refused)": "A: 1\rB: 2\r\n\r\n",
  "CR CR LF (refused)": "A: 1\r\r\n\r\n",
  "a space before the colon (refused)": "A : 1\r\n\r\n",
  "a NUL in a value": "A: 1\x002\r\n\r\n",
  "Latin-1 bytes": "A: caf\xe9\r\n\r\n",
  "100 lines, the blank one included": "X: y\r\n".repeat(MAXHEADERS - 1) + "\r\n",
  "101 lines": "X: y\r\n".repeat(MAXHEADERS) + "\r\n",
  "a line of MAXLINE bytes": `X: ${"a".repeat(MAXLINE - 5)}\r\n\r\n`,
  "a line of MAXLINE + 1 bytes": `X: ${"a".repeat(MAXLINE - 4)}\r\n\r\n`,
  "the end of the stream before the blank line": "A: 1\r\nB: 2\r\n",
};

for (const [name, text] of Object.entries(TRICKY_HEADS)) {
  test(`a head read whole gives what it gives read line by line: ${name}`, async () => {
    const whole = await outcome(text, true);
    const pieces = await outcome(text, false);
    assert.deepEqual(whole, pieces);
  });
}
