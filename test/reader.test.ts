/**
 * `rfile` (SocketReader): what a client sending a byte per TCP segment costs. Fed one byte per
 * `data` event, a line must cost work linear in its length (not a rescan from its start on each
 * arrival), and the bytes must be held in a few buffers, not one Buffer object per byte.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { SocketReader } from "../src/socketserver/reader.js";

/** Just enough of a socket for the reader: events, and pause/resume that do nothing. */
function fakeSocket(): Duplex {
  const socket = new EventEmitter() as EventEmitter & { pause(): void; resume(): void };
  socket.pause = () => {};
  socket.resume = () => {};
  return socket as unknown as Duplex;
}

/** The reader's private list of held chunks. */
function chunksOf(reader: SocketReader): Buffer[] {
  return (reader as unknown as { chunks: Buffer[] }).chunks;
}

/**
 * Feeds `X: ` + `length` bytes + CRLF one byte per `data` event, asking for a line after each,
 * and counts the work done: elements of the chunk list read, and bytes searched for a newline.
 */
function lineWork(length: number): number {
  const socket = fakeSocket();
  const reader = new SocketReader(socket);
  let work = 0;
  const target = reader as unknown as { chunks: Buffer[] };
  const counted = (list: Buffer[]) =>
    new Proxy(list, {
      get(array, key, receiver) {
        if (typeof key === "string" && /^\d+$/.test(key)) work++;
        return Reflect.get(array, key, receiver);
      },
    });
  target.chunks = counted(target.chunks);
  const indexOf = Buffer.prototype.indexOf;
  Buffer.prototype.indexOf = function (this: Buffer, value: any, from?: any, encoding?: any) {
    work += this.length - (typeof from === "number" ? from : 0);
    return indexOf.call(this, value, from, encoding);
  } as typeof indexOf;
  try {
    socket.emit("data", Buffer.from("X: "));
    const byte = Buffer.from("a");
    for (let i = 0; i < length; i++) {
      socket.emit("data", byte);
      assert.equal(reader.readlineIfBuffered(1 << 20), null);
    }
    socket.emit("data", Buffer.from("\r\n"));
    const line = reader.readlineIfBuffered(1 << 20);
    assert.equal(line?.length, length + 5);
    assert.equal(line!.toString("latin1"), "X: " + "a".repeat(length) + "\r\n");
  } finally {
    Buffer.prototype.indexOf = indexOf;
  }
  return work;
}

test("a line arriving a byte at a time costs work linear in its length, not quadratic", () => {
  const once = lineWork(1000);
  const fourTimes = lineWork(4000);
  // Linear work grows fourfold; rescanning from the line's start each time grows sixteenfold.
  assert.ok(fourTimes / once < 6, `work ${once} for 1000 bytes, ${fourTimes} for 4000`);
  assert.ok(fourTimes < 40 * 4000, `work ${fourTimes} for 4000 bytes`);
});

test("bytes arriving one per chunk are held in a few buffers, not one Buffer each", () => {
  const socket = fakeSocket();
  const reader = new SocketReader(socket);
  socket.emit("data", Buffer.from("GET / HTTP/1.1\r\nX: "));
  for (let i = 0; i < 50_000; i++) socket.emit("data", Buffer.from([0x61 + (i % 26)]));
  assert.ok(chunksOf(reader).length <= 8, `${chunksOf(reader).length} chunks held`);
  assert.equal(reader.pending, 19 + 50_000);
  assert.equal(reader.readlineIfBuffered(65537)!.toString("latin1"), "GET / HTTP/1.1\r\n");
  const expected = Array.from({ length: 50_000 }, (_, i) => String.fromCharCode(0x61 + (i % 26))).join("");
  socket.emit("data", Buffer.from("\r\n"));
  assert.equal(reader.readlineIfBuffered(1 << 20)!.toString("latin1"), "X: " + expected + "\r\n");
  assert.equal(reader.pending, 0);
});

test("small chunks copied together keep their order with large chunks between them", async () => {
  const socket = fakeSocket();
  const reader = new SocketReader(socket);
  const pieces = [Buffer.from("ab"), Buffer.alloc(3000, 0x62), Buffer.from("c"), Buffer.from("\n"), Buffer.alloc(2000, 0x64), Buffer.from("e\nf")];
  for (const piece of pieces) socket.emit("data", piece);
  const whole = Buffer.concat(pieces);
  assert.deepEqual(await reader.readline(), whole.subarray(0, whole.indexOf("\n") + 1));
  assert.deepEqual(await reader.readline(), whole.subarray(whole.indexOf("\n") + 1, whole.lastIndexOf("\n") + 1));
  assert.deepEqual(await reader.read(1), Buffer.from("f"));
  assert.equal(reader.pending, 0);
});

test("a line handed out is not changed by bytes that arrive after it", () => {
  const socket = fakeSocket();
  const reader = new SocketReader(socket);
  socket.emit("data", Buffer.from("first"));
  for (const byte of "\nsecond\n") socket.emit("data", Buffer.from(byte));
  const first = reader.readlineIfBuffered()!;
  for (const byte of "third\n") socket.emit("data", Buffer.from(byte));
  assert.equal(first.toString(), "first\n");
  assert.equal(reader.readlineIfBuffered()!.toString(), "second\n");
  assert.equal(reader.readlineIfBuffered()!.toString(), "third\n");
  assert.equal(first.toString(), "first\n");
});

test("readline's limit still applies to a line that arrives a byte at a time", () => {
  const socket = fakeSocket();
  const reader = new SocketReader(socket);
  socket.emit("data", Buffer.from("x"));
  for (let i = 0; i < 99; i++) {
    socket.emit("data", Buffer.from("y"));
    if (i < 98) assert.equal(reader.readlineIfBuffered(101), null);
  }
  assert.equal(reader.readlineIfBuffered(100)!.length, 100);
  assert.equal(reader.pending, 0);
});

/** A reader holding `data` as its one chunk. */
function holding(data: string): SocketReader {
  const socket = fakeSocket();
  const reader = new SocketReader(socket);
  socket.emit("data", Buffer.from(data, "latin1"));
  return reader;
}

test("a head buffered whole is taken at once as its lines, through the first empty line; the body stays", async () => {
  const reader = holding("Host: a\r\nX-Y: b \xe9\r\n\r\nbody\r\n\r\n");
  assert.deepEqual(reader.takeHeadLinesIfBuffered(65536, 100), ["Host: a\r\n", "X-Y: b \xe9\r\n", "\r\n"]);
  assert.equal((await reader.read(8)).toString("latin1"), "body\r\n\r\n");
});

test("the head ends at its first empty line, bare LF or CRLF, whichever comes first", () => {
  assert.deepEqual(holding("A: 1\nB: 2\n\nC: 3\r\n\r\n").takeHeadLinesIfBuffered(65536, 100), ["A: 1\n", "B: 2\n", "\n"]);
  assert.deepEqual(holding("A: 1\r\n\r\nB: 2\n\n").takeHeadLinesIfBuffered(65536, 100), ["A: 1\r\n", "\r\n"]);
  assert.deepEqual(holding("A: 1\r\r\nB: 2\r\n\r\n").takeHeadLinesIfBuffered(65536, 100), ["A: 1\r\r\n", "B: 2\r\n", "\r\n"]);
  assert.deepEqual(holding("\r\nrest").takeHeadLinesIfBuffered(65536, 100), ["\r\n"]);
  assert.deepEqual(holding("\nrest").takeHeadLinesIfBuffered(65536, 100), ["\n"]);
});

test("an unfinished head, a line over the limit or too many lines are not taken (read line by line, as Python reads)", () => {
  for (const [data, why] of [
    ["Host: a\r\nX: b\r\n", "unfinished"],
    [`X: ${"a".repeat(20)}\r\n\r\n`, "a line longer than maxLine"],
    ["A: 1\r\n".repeat(4) + "\r\n", "more lines than maxLines"],
  ] as const) {
    const reader = holding(data);
    assert.equal(reader.takeHeadLinesIfBuffered(16, 4), null, why);
    assert.equal(reader.pending, data.length, `${why}: nothing taken`);
  }
  assert.deepEqual(holding("A: 1\r\n".repeat(3) + "\r\n").takeHeadLinesIfBuffered(16, 4)?.length, 4, "exactly maxLines");
});
