/** `remembered`: the bounded memo behind the caches of formats, quoters, dates and MIME types. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { remembered } from "../src/py/functools.js";

test("remembered computes a key once, then answers from the memo", () => {
  const memo = new Map<string, number>();
  let calls = 0;
  const length = (key: string) => (calls++, key.length);
  assert.equal(remembered(memo, "abc", 4, length), 3);
  assert.equal(remembered(memo, "abc", 4, length), 3);
  assert.equal(calls, 1);
});

test("remembered keeps null results (only undefined means absent)", () => {
  const memo = new Map<string, string | null>();
  let calls = 0;
  const none = () => (calls++, null);
  assert.equal(remembered(memo, ".unknown", 4, none), null);
  assert.equal(remembered(memo, ".unknown", 4, none), null);
  assert.equal(calls, 1);
});

test("remembered never holds more than its limit: a full memo is emptied before the next key", () => {
  const memo = new Map<number, number>();
  for (let key = 0; key < 1000; key++) {
    assert.equal(remembered(memo, key, 8, (k) => k * 2), key * 2);
    assert.ok(memo.size <= 8, `${memo.size} kept`);
  }
});
