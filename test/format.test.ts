import { test } from "node:test";
import assert from "node:assert/strict";
import { percentFormat, pyRepr, pyStr } from "../src/py/format.js";
import { SocketTimeoutError } from "../src/socketserver/reader.js";

test("%s, %d and %r fill positional arguments in order", () => {
  assert.equal(percentFormat('"%s" %s %s', ["GET / HTTP/1.0", "200", "-"]), '"GET / HTTP/1.0" 200 -');
  assert.equal(percentFormat("code %d, message %s", [404, "File not found"]), "code 404, message File not found");
  assert.equal(percentFormat("Unsupported method (%r)", ["FOO"]), "Unsupported method ('FOO')");
});

test("%% is a literal percent sign and a format without specifiers is returned as is", () => {
  assert.equal(percentFormat("100%% done", []), "100% done");
  assert.equal(percentFormat("/foo", []), "/foo");
});

test("%(name)s takes values from a mapping, the way the error page template is filled", () => {
  const page = percentFormat("<p>%(code)d</p><p>%(message)s.</p><p>%(code)s - %(explain)s.</p>", {
    code: 404,
    message: "File not found",
    explain: "Nothing matches the given URI",
  });
  assert.equal(page, "<p>404</p><p>File not found.</p><p>404 - Nothing matches the given URI.</p>");
});

test("a missing mapping key is a KeyError naming the key", () => {
  assert.throws(() => percentFormat("%(nope)s", { code: 1 }), /KeyError: 'nope'/);
});

test("%(name)s with positional arguments needs a mapping", () => {
  assert.throws(() => percentFormat("%(code)s", [1]), /format requires a mapping/);
});

test("%s with a mapping formats the mapping itself when there are no keys", () => {
  assert.doesNotThrow(() => percentFormat("%s", { a: 1 }));
});

test("too few or too many arguments are TypeErrors with Python's messages", () => {
  assert.throws(() => percentFormat("%s %s", ["a"]), /not enough arguments for format string/);
  assert.throws(() => percentFormat("%s", ["a", "b"]), /not all arguments converted during string formatting/);
});

test("an unknown conversion character is a ValueError", () => {
  assert.throws(() => percentFormat("%y", [1]), /unsupported format character 'y'/);
});

test("a trailing % is an incomplete format, as Python says", () => {
  assert.throws(() => percentFormat("100%", []), /ValueError: incomplete format$/);
  assert.throws(() => percentFormat("%(code", { code: 1 }), /ValueError: incomplete format key/);
});

test("width, left alignment, zero padding and precision follow printf rules", () => {
  assert.equal(percentFormat("[%5s][%-5s][%.2s]", ["ab", "ab", "abcdef"]), "[   ab][ab   ][ab]");
  assert.equal(percentFormat("%02d/%3s/%04d %02d:%02d:%02d", [6, "Nov", 1994, 8, 9, 7]), "06/Nov/1994 08:09:07");
  assert.equal(percentFormat("[%+d][% d][%05d][%-6d|]", [3, 3, -42, 42]), "[+3][ 3][-0042][42    |]");
});

test("%d truncates a float toward zero", () => {
  assert.equal(percentFormat("%d %d %i %u", [3.7, -3.7, 2.5, 9]), "3 -3 2 9");
});

test("%d refuses a string", () => {
  assert.throws(() => percentFormat("%d", ["12"]), TypeError);
});

test("%x, %X and %o, with # adding Python's prefixes", () => {
  assert.equal(percentFormat("%x %X %o %#x %#X %#o", [255, 255, 8, 255, 255, 8]), "ff FF 10 0xff 0XFF 0o10");
});

test("%c turns a code point into its character", () => {
  assert.equal(percentFormat("%c%c", [72, "i"]), "Hi");
});

test("%e and %f use six decimals and a two-digit exponent", () => {
  assert.equal(percentFormat("%e %E %f %.2f %5.1f", [12345.678, 1e-10, 1.5, 2.345, 3.14159]), "1.234568e+04 1.000000E-10 1.500000 2.35   3.1");
});

test("%g switches to an exponent by Python's rule and drops trailing zeros", () => {
  assert.equal(
    percentFormat("%g %g %g %g %.2g %g %g %G", [123456789, 1e-5, 100000, 1e6, 0.000123456, 0, 0.5, 1e-10]),
    "1.23457e+08 1e-05 100000 1e+06 0.00012 0 0.5 1E-10",
  );
});

test("%#g keeps the trailing zeros", () => {
  assert.equal(percentFormat("%#g", [1]), "1.00000");
});

test("nan and inf format as Python spells them", () => {
  assert.equal(percentFormat("%f %e %G %g", [NaN, Infinity, -Infinity, NaN]), "nan inf -INF nan");
});

test("pyStr gives Python's str() of JavaScript values", () => {
  assert.equal(pyStr("text"), "text");
  assert.equal(pyStr(42), "42");
  assert.equal(pyStr(1.5), "1.5");
  assert.equal(pyStr(true), "True");
  assert.equal(pyStr(false), "False");
  assert.equal(pyStr(null), "None");
  assert.equal(pyStr(undefined), "None");
  assert.equal(pyStr(["a", 1]), "['a', 1]");
  assert.equal(pyStr(new Error("boom")), "boom");
  assert.equal(pyStr(Buffer.from("a'b")), `b"a'b"`);
});

test("pyStr writes small floats with an exponent and big integers in full", () => {
  assert.equal(pyStr(1e-5), "1e-05");
  assert.equal(pyStr(-2e-5), "-2e-05");
  assert.equal(pyStr(1.5e-7), "1.5e-07");
  assert.equal(pyStr(0.0001), "0.0001");
  assert.equal(pyStr(1e21), "1000000000000000000000");
  assert.equal(pyStr(NaN), "nan");
  assert.equal(pyStr(-Infinity), "-inf");
});

test("repr quotes with single quotes unless the text holds a single quote and no double quote", () => {
  assert.equal(pyRepr("FOO"), "'FOO'");
  assert.equal(pyRepr("it's"), `"it's"`);
  assert.equal(pyRepr('say "hi"'), `'say "hi"'`);
  assert.equal(pyRepr(`both ' and "`), `'both \\' and "'`);
  assert.equal(pyRepr("a\\b"), "'a\\\\b'");
});

test("repr escapes control characters, C1 codes, NBSP and soft hyphen but keeps Latin-1 letters", () => {
  assert.equal(pyRepr("\t\n\r"), "'\\t\\n\\r'");
  assert.equal(pyRepr("\x00\x1f\x7f\x80\x9f\xa0\xa1\xad\xe9\xff"), "'\\x00\\x1f\\x7f\\x80\\x9f\\xa0\xa1\\xad\xe9\xff'");
});

test("repr escapes non-printable characters beyond Latin-1 with \\u and \\U, keeps printable ones", () => {
  assert.equal(pyRepr("\u2028\u0100\u{1F600}\ud800"), "'\\u2028\u0100\u{1F600}\\ud800'");
  assert.equal(pyRepr("\u{E0001}"), "'\\U000e0001'");
});

test("repr keeps superscript digits literal (the bad-version message shows them)", () => {
  assert.equal(pyRepr("HTTP/\xb9.\xb9"), "'HTTP/\xb9.\xb9'");
});

test("repr of an Error is Name('message'), as a timeout is logged", () => {
  assert.equal(pyRepr(new SocketTimeoutError()), "TimeoutError('timed out')");
  assert.equal(percentFormat("Request timed out: %r", [new SocketTimeoutError()]), "Request timed out: TimeoutError('timed out')");
});

test("repr of bytes is a b'' literal with \\x escapes", () => {
  assert.equal(pyRepr(Buffer.from([0x47, 0x00, 0xff, 0x27, 0x5c])), `b"G\\x00\\xff'\\\\"`);
  assert.equal(pyRepr(Buffer.from("ab\r\n")), "b'ab\\r\\n'");
});

test("repr of numbers and None is their str", () => {
  assert.equal(pyRepr(7), "7");
  assert.equal(pyRepr(null), "None");
});
