/** `py/urllib.ts` and the UTF-8 codec under it (`py/codecs.ts`), against values Python 3.11 gives. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { quote, quote_from_bytes, unquote, unquote_to_bytes, urlsplit, urlunsplit, URLValueError } from "../src/py/urllib.js";
import { decodeUtf8, encodeUtf8, fsdecode, fsencode, UnicodeDecodeError, UnicodeEncodeError } from "../src/py/codecs.js";

describe("unquote", () => {
  // [input, errors='surrogatepass' (null: raises), errors='replace']
  const cases: [string, string | null, string][] = [
    ["abc%20def", "abc def", "abc def"],
    ["%7e", "~", "~"],
    ["%7E%7e", "~~", "~~"],
    ["%", "%", "%"],
    ["%2", "%2", "%2"],
    ["%zz", "%zz", "%zz"],
    ["%%41", "%A", "%A"],
    ["/a%2fb", "/a/b", "/a/b"],
    ["%e6%97%a5", "\u65e5", "\u65e5"],
    ["%C3%A9", "\xe9", "\xe9"],
    ["%C3\xe9%A9", null, "\ufffd\xe9\ufffd"],
    ["%ff", null, "\ufffd"],
    ["%ED%A0%80", "\ud800", "\ufffd\ufffd\ufffd"],
    ["%ED%B3%BF", "\udcff", "\ufffd\ufffd\ufffd"],
    ["%ed%a0", null, "\ufffd\ufffd"],
    ["%e2%82", null, "\ufffd"],
    ["%f0%80%80", null, "\ufffd\ufffd\ufffd"],
    ["\xe9%41", "\xe9A", "\xe9A"],
    ["%00", "\x00", "\x00"],
    ["no escapes", "no escapes", "no escapes"],
  ];
  for (const [input, surrogatepass, replaced] of cases) {
    test(`unquote(${JSON.stringify(input)})`, () => {
      assert.equal(unquote(input), replaced);
      if (surrogatepass === null) {
        assert.throws(() => unquote(input, { errors: "surrogatepass" }), UnicodeDecodeError);
      } else {
        assert.equal(unquote(input, { errors: "surrogatepass" }), surrogatepass);
      }
    });
  }

  test("unquote_to_bytes keeps invalid escapes and decodes either hex case", () => {
    assert.deepEqual(unquote_to_bytes("%41%4a%4A%g1%"), Buffer.from("AJJ%g1%"));
    assert.deepEqual(unquote_to_bytes("%ff%00"), Buffer.from([0xff, 0x00]));
  });
});

describe("quote", () => {
  const cases: [string, string][] = [
    ["a b", "a%20b"],
    ["/x/y", "/x/y"],
    ["~_.-", "~_.-"],
    ["&<>\"'", "%26%3C%3E%22%27"],
    ["\xe9", "%C3%A9"],
    ["\u65e5\u672c", "%E6%97%A5%E6%9C%AC"],
    ["\udcff", "%ED%B3%BF"],
    ["a\udc80b", "a%ED%B2%80b"],
    ["100%", "100%25"],
    ["\u{1f600}", "%F0%9F%98%80"],
    ["+:@!$", "%2B%3A%40%21%24"],
    ["", ""],
  ];
  for (const [input, expected] of cases) {
    test(`quote(${JSON.stringify(input)}, errors='surrogatepass') is ${expected}`, () => {
      assert.equal(quote(input, { errors: "surrogatepass" }), expected);
    });
  }

  test("strict quote refuses a lone surrogate", () => {
    assert.throws(() => quote("\udcff"), UnicodeEncodeError);
  });

  test("safe adds ASCII characters to the unreserved set; '/' is the default", () => {
    assert.equal(quote("a/b:c", { safe: "" }), "a%2Fb%3Ac");
    assert.equal(quote("a/b:c", { safe: ":" }), "a%2Fb:c");
    assert.equal(quote_from_bytes(Buffer.from([0x2f, 0x80, 0x41])), "/%80A");
  });
});

describe("urlsplit / urlunsplit (the directory redirect)", () => {
  // [url, [scheme, netloc, path, query, fragment], urlunsplit with path + '/']
  const cases: [string, [string, string, string, string, string], string][] = [
    ["/dir?x=1#f", ["", "", "/dir", "x=1", "f"], "/dir/?x=1#f"],
    ["tmp", ["", "", "tmp", "", ""], "tmp/"],
    ["/a#b?c", ["", "", "/a", "", "b?c"], "/a/#b?c"],
    ["http://h/x?q", ["http", "h", "/x", "q", ""], "http://h/x/?q"],
    ["HTTP://H/x", ["http", "H", "/x", "", ""], "http://H/x/"],
    ["//evil/x", ["", "evil", "/x", "", ""], "//evil/x/"],
    ["http:/x", ["http", "", "/x", "", ""], "http:///x/"],
    ["x:y", ["x", "", "y", "", ""], "x:y/"],
    ["1a:b", ["", "", "1a:b", "", ""], "1a:b/"],
    ["/a:b", ["", "", "/a:b", "", ""], "/a:b/"],
    ["\x01/p", ["", "", "/p", "", ""], "/p/"],
    ["http://[::1]/x", ["http", "[::1]", "/x", "", ""], "http://[::1]/x/"],
    ["mailto:x@y", ["mailto", "", "x@y", "", ""], "mailto:x@y/"],
    ["/p?", ["", "", "/p", "", ""], "/p/"],
    ["/p#", ["", "", "/p", "", ""], "/p/"],
    ["http://[v1.x]/", ["http", "[v1.x]", "/", "", ""], "http://[v1.x]//"],
  ];
  for (const [url, fields, redirected] of cases) {
    test(`urlsplit(${JSON.stringify(url)})`, () => {
      const parts = urlsplit(url);
      assert.deepEqual([parts.scheme, parts.netloc, parts.path, parts.query, parts.fragment], fields);
      assert.equal(urlunsplit({ ...parts, path: parts.path + "/" }), redirected);
    });
  }

  test("invalid bracketed hosts raise ValueError, as in Python", () => {
    assert.throws(() => urlsplit("http://[1.2.3.4]/x"), { name: "ValueError", message: "An IPv4 address cannot be in brackets" });
    assert.throws(() => urlsplit("http://[x/y"), { name: "ValueError", message: "Invalid IPv6 URL" });
    assert.throws(() => urlsplit("http://[vz.x]/"), URLValueError);
  });

  test("a netloc that NFKC-normalises to a delimiter raises", () => {
    assert.throws(() => urlsplit("http://a\u2100b/"), URLValueError); // ℀ → a/c
    assert.equal(urlsplit("http://\xe9t\xe9/").netloc, "\xe9t\xe9");
  });
});

describe("UTF-8 codec error handlers", () => {
  test("surrogateescape decodes each stray byte to U+DC80+byte and encodes it back", () => {
    const raw = Buffer.from([0x61, 0xff, 0xc3, 0xa9, 0xe2, 0x82, 0x41, 0xed, 0xa0, 0x80]);
    const text = fsdecode(raw);
    assert.equal(text, "a\udcff\xe9\udce2\udc82A\udced\udca0\udc80");
    assert.deepEqual(fsencode(text), raw);
  });

  test("surrogatepass reads and writes the three-byte surrogate forms", () => {
    assert.equal(decodeUtf8(Buffer.from([0xed, 0xb3, 0xbf]), "surrogatepass"), "\udcff");
    assert.deepEqual(encodeUtf8("\ud800", "surrogatepass"), Buffer.from([0xed, 0xa0, 0x80]));
  });

  test("strict decoding rejects overlong forms, surrogates and code points above U+10FFFF", () => {
    for (const bytes of [[0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5]]) {
      assert.throws(() => decodeUtf8(Buffer.from(bytes)), UnicodeDecodeError, String(bytes));
    }
    assert.equal(decodeUtf8(Buffer.from("\u{10ffff}\u{1f600}")), "\u{10ffff}\u{1f600}");
  });

  test("replace gives one U+FFFD per maximal invalid subpart", () => {
    assert.equal(decodeUtf8(Buffer.from([0xe2, 0x82, 0x41, 0xf0, 0x80, 0xff]), "replace"), "\ufffdA\ufffd\ufffd\ufffd");
  });

  test("fsencode refuses a surrogate that does not stand for a byte", () => {
    assert.throws(() => fsencode("\ud800"), UnicodeEncodeError);
    assert.throws(() => fsencode("\udc7f"), UnicodeEncodeError);
    assert.deepEqual(fsencode("\u{1f600}"), Buffer.from([0xf0, 0x9f, 0x98, 0x80]));
  });
});
