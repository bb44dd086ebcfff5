/**
 * The request log's writer: lines batched per event-loop turn and per millisecond, and, where processes share stderr
 * (`--workers`), batches cut into writes of whole lines that a pipe delivers atomically.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { _setLogWriteInterval, flushLog, wholeLinePieces, writeLogLine } from "../src/socketserver/log_writer.js";
import { sleep } from "./helpers.js";

const lines = (n: number, width: number) =>
  Array.from({ length: n }, (_, i) => `${String(i).padStart(5, "0")} ${"x".repeat(width - 7)}\n`).join("");

test("a batch is cut after newlines into pieces of at most the limit, in order", () => {
  const text = lines(500, 90);
  const pieces = wholeLinePieces(Buffer.from(text), 4096);
  assert.ok(pieces.length > 1);
  for (const piece of pieces) {
    assert.ok(piece.length <= 4096, `${piece.length} bytes`);
    assert.equal(piece[piece.length - 1], 0x0a, "each piece ends a line");
  }
  assert.equal(Buffer.concat(pieces).toString(), text, "nothing lost, nothing reordered");
});

test("a line longer than the limit leaves alone, whole", () => {
  const long = "L".repeat(10_000) + "\n";
  const text = "a\n" + long + "b\n";
  const pieces = wholeLinePieces(Buffer.from(text), 4096).map(String);
  assert.deepEqual(pieces, ["a\n", long, "b\n"]);
});

test("a batch within the limit is one piece; multi-byte characters count as bytes", () => {
  assert.deepEqual(wholeLinePieces(Buffer.from("one\ntwo\n"), 4096).map(String), ["one\ntwo\n"]);
  const wide = "é".repeat(1500) + "\n"; // 3001 bytes
  const pieces = wholeLinePieces(Buffer.from(wide + wide), 4096);
  assert.deepEqual(pieces.map((p) => p.length), [3001, 3001]);
});

/** Runs `body` with stderr's writes recorded, and the least time between writes set to `intervalMs`. */
async function recordingWrites(intervalMs: number, body: (writes: string[]) => Promise<void>): Promise<void> {
  const writes: string[] = [];
  const original = process.stderr.write;
  flushLog();
  process.stderr.write = ((chunk: string | Uint8Array) => {
    writes.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString());
    return true;
  }) as typeof process.stderr.write;
  _setLogWriteInterval(intervalMs);
  try {
    await body(writes);
  } finally {
    flushLog();
    _setLogWriteInterval(1);
    process.stderr.write = original;
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

test("a line leaves at the end of its turn when the last write was not recent", async () => {
  await recordingWrites(200, async (writes) => {
    await sleep(250);
    writeLogLine("a\n");
    writeLogLine("b\n");
    assert.deepEqual(writes, [], "not within the turn that queued it");
    await nextTurn();
    assert.deepEqual(writes, ["a\nb\n"], "one write for the turn's lines");
  });
});

test("lines queued soon after a write wait for the interval, then leave together in one write", async () => {
  await recordingWrites(200, async (writes) => {
    await sleep(250);
    writeLogLine("a\n");
    await nextTurn();
    assert.deepEqual(writes, ["a\n"]);
    writeLogLine("b\n");
    await nextTurn();
    writeLogLine("c\n");
    await nextTurn();
    assert.deepEqual(writes, ["a\n"], "held: the last write was less than the interval ago");
    await sleep(300);
    assert.deepEqual(writes, ["a\n", "b\nc\n"], "in order, in one write");
  });
});
