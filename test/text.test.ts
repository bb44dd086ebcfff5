import { test } from "node:test";
import assert from "node:assert/strict";
import {
  htmlEscape,
  isLatin1,
  isPyWhitespace,
  lstrip,
  rstrip,
  scrubControlCharacters,
  splitWhitespace,
  strip,
} from "../src/py/text.js";

test("htmlEscape with quote=false escapes & < > and leaves quotes alone", () => {
  assert.equal(htmlEscape(`<a href="x">&'</a>`, false), `&lt;a href="x"&gt;&amp;'&lt;/a&gt;`);
});

test("htmlEscape by default also escapes both quotes", () => {
  assert.equal(htmlEscape(`<"'>`), "&lt;&quot;&#x27;&gt;");
});

test("htmlEscape returns text without special characters unchanged", () => {
  const text = "plain text, é and \u{1F600}";
  assert.equal(htmlEscape(text, false), text);
});

test("log scrubbing turns C0 and C1 controls into \\xNN and doubles backslashes", () => {
  assert.equal(scrubControlCharacters("/\x1bbar\x00\x1b"), "/\\x1bbar\\x00\\x1b");
  assert.equal(scrubControlCharacters("\x1b\x7f\x9f\xa0beans"), "\\x1b\\x7f\\x9f\xa0beans");
  assert.equal(scrubControlCharacters('"GET /foo\\b"ar\x07 HTTP/1.0"'), '"GET /foo\\\\b"ar\\x07 HTTP/1.0"');
});

test("log scrubbing escapes newlines and tabs too, so a log entry stays on one line", () => {
  assert.equal(scrubControlCharacters("a\r\nb\tc"), "a\\x0d\\x0ab\\x09c");
});

test("log scrubbing leaves printable text, NBSP and beyond untouched", () => {
  const text = "GET /caf\xe9 \xa0 \u2028 HTTP/1.1";
  assert.equal(scrubControlCharacters(text), text);
});

test("splitWhitespace splits on Python's Latin-1 whitespace, including \\x1c-\\x1f, \\x85 and \\xa0", () => {
  assert.deepEqual(splitWhitespace("a\x1cb\x1dc\x1ed\x1fe\x85f\xa0g\x0bh\x0ci\tj"), ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]);
});

test("splitWhitespace ignores leading, trailing and repeated whitespace", () => {
  assert.deepEqual(splitWhitespace("  GET   /  HTTP/1.0 "), ["GET", "/", "HTTP/1.0"]);
  assert.deepEqual(splitWhitespace(" \t "), []);
  assert.deepEqual(splitWhitespace(""), []);
});

test("splitWhitespace does not split on NUL or other controls", () => {
  assert.deepEqual(splitWhitespace("GET /a\x00b\x01"), ["GET", "/a\x00b\x01"]);
});

test("isPyWhitespace matches exactly Python's whitespace in the Latin-1 range", () => {
  const expected = [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0];
  const found = [];
  for (let code = 0; code <= 0xff; code++) if (isPyWhitespace(code)) found.push(code);
  assert.deepEqual(found, expected);
});

test("rstrip drops any trailing run of the given characters", () => {
  assert.equal(rstrip("GET / HTTP/1.0\r\r\n", "\r\n"), "GET / HTTP/1.0");
  assert.equal(rstrip("GET / HTTP/1.0 \r\n", "\r\n"), "GET / HTTP/1.0 ");
  assert.equal(rstrip("\r\n\r\n", "\r\n"), "");
  assert.equal(rstrip("abc", "\r\n"), "abc");
});

test("lstrip drops any leading run of the given characters", () => {
  assert.equal(lstrip("///evil/x", "/"), "evil/x");
  assert.equal(lstrip("x//", "/"), "x//");
});

test("strip drops Python whitespace (\\x1c, \\x85, U+2003) but not U+FEFF", () => {
  assert.equal(strip("\x1c\x85 text/html\t\x1f"), "text/html");
  assert.equal(strip("\u2003x\ufeff"), "x\ufeff");
  assert.equal(strip("   "), "");
});

test("isLatin1 is true only when every character fits one byte", () => {
  assert.equal(isLatin1("caf\xe9\xff"), true);
  assert.equal(isLatin1("\u0100"), false);
  assert.equal(isLatin1("\u{1F600}"), false);
  assert.equal(isLatin1(""), true);
});
