/** `py/posixpath.ts` against Python 3.11's `posixpath`. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { dirname, join, normpath, splitext } from "../src/py/posixpath.js";

test("normpath resolves . and .. lexically, never above the root, and keeps exactly two leading slashes", () => {
  const cases: [string, string][] = [
    ["", "."], [".", "."], ["/", "/"], ["//", "//"], ["///", "/"], ["//a//b/", "//a/b"], ["a/../..", ".."],
    ["/../../etc/passwd", "/etc/passwd"], ["a/./b/../c", "a/c"], ["../x", "../x"], ["/a/b/..", "/a"], ["a/..", "."],
  ];
  for (const [input, expected] of cases) assert.equal(normpath(input), expected, input);
});

test("splitext ignores leading dots of the name and dots in directory names", () => {
  const cases: [string, [string, string]][] = [
    ["a.txt", ["a", ".txt"]], [".bashrc", [".bashrc", ""]], ["a.", ["a", "."]], ["a.tar.gz", ["a.tar", ".gz"]],
    ["/x.d/file", ["/x.d/file", ""]], ["..a", ["..a", ""]], ["a..b", ["a.", ".b"]], ["...", ["...", ""]],
  ];
  for (const [input, expected] of cases) assert.deepEqual(splitext(input), expected, input);
});

test("dirname drops trailing slashes unless the head is all slashes", () => {
  const cases: [string, string][] = [["a/b", "a"], ["/a", "/"], ["a", ""], ["//a//b//", "//a//b"], ["///", "///"], ["/", "/"]];
  for (const [input, expected] of cases) assert.equal(dirname(input), expected, input);
});

test("join does not normalise, and an absolute part starts over", () => {
  assert.equal(join("foo/../bar", "x"), "foo/../bar/x");
  assert.equal(join("/root/", "x"), "/root/x");
  assert.equal(join("", "x"), "x");
  assert.equal(join("/root", "/abs", "y"), "/abs/y");
});
