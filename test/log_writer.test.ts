/**
 * The request log's writer: lines batched per event-loop turn, and, where processes share stderr
 * (`--workers`), batches cut into writes of whole lines that a pipe delivers atomically.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { wholeLinePieces } from "../src/socketserver/log_writer.js";

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
