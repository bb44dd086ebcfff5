/**
 * MIME types (src/http/mime.ts and SimpleHTTPRequestHandler.guess_type): one test per row of
 * docs/MIME.md, parity with Python 3.14's built-in table elsewhere, and `guess_file_type`'s rules.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { add_type, guess_file_type, typeForExtension } from "../src/http/mime.js";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";

const fixture = new URL("../../test/fixtures/mimetypes314.json", import.meta.url);
const python314: Record<string, string> = JSON.parse(readFileSync(fixture, "utf8")).types_map;

/** `guess_type` as a default handler computes it, without a connection. */
function guessType(path: string, extensions_map = SimpleHTTPRequestHandler.extensions_map): string {
  return SimpleHTTPRequestHandler.prototype.guess_type.call({ extensions_map } as SimpleHTTPRequestHandler, path);
}

/** docs/MIME.md, "Our decisions": [extension, Python 3.14, mime-db, served]. */
const DECISIONS: [string, string, string, string][] = [
  [".xml", "text/xml", "application/xml", "application/xml"],
  [".wav", "audio/vnd.wave", "audio/wav", "audio/wav"],
  [".opus", "audio/opus", "audio/ogg", "audio/ogg"],
  [".ts", "(none)", "video/mp2t", "application/octet-stream"],
  [".mts", "(none)", "video/mp2t", "application/octet-stream"],
  [".cjs", "(none)", "application/node", "text/javascript"],
];

/** docs/MIME.md, "Python's type kept over mime-db's": [extension, served (Python), mime-db]. */
const PYTHON_KEPT: [string, string, string][] = [
  [".wiz", "application/msword", "(none)"],
  [".a", "application/octet-stream", "(none)"],
  [".dll", "application/octet-stream", "application/x-msdownload"],
  [".exe", "application/octet-stream", "application/x-msdos-program"],
  [".o", "application/octet-stream", "(none)"],
  [".obj", "application/octet-stream", "model/obj"],
  [".m3u", "application/vnd.apple.mpegurl", "audio/x-mpegurl"],
  [".xlb", "application/vnd.ms-excel", "(none)"],
  [".ppa", "application/vnd.ms-powerpoint", "(none)"],
  [".pwz", "application/vnd.ms-powerpoint", "(none)"],
  [".h5", "application/x-hdf5", "(none)"],
  [".mif", "application/x-mif", "application/vnd.mif"],
  [".ram", "application/x-pn-realaudio", "audio/x-pn-realaudio"],
  [".pyc", "application/x-python-code", "(none)"],
  [".pyo", "application/x-python-code", "model/vnd.pytha.pyox"],
  [".rpm", "application/x-rpm", "application/x-redhat-package-manager"],
  [".roff", "application/x-troff", "text/troff"],
  [".t", "application/x-troff", "text/troff"],
  [".tr", "application/x-troff", "text/troff"],
  [".man", "application/x-troff-man", "text/troff"],
  [".me", "application/x-troff-me", "text/troff"],
  [".ms", "application/x-troff-ms", "text/troff"],
  [".rdf", "application/xml", "application/rdf+xml"],
  [".wsdl", "application/xml", "application/wsdl+xml"],
  [".xpdl", "application/xml", "(none)"],
  [".yaml", "application/yaml", "text/yaml"],
  [".yml", "application/yaml", "text/yaml"],
  [".3gp", "audio/3gpp", "video/3gpp"],
  [".3gpp", "audio/3gpp", "video/3gpp"],
  [".3g2", "audio/3gpp2", "video/3gpp2"],
  [".3gpp2", "audio/3gpp2", "(none)"],
  [".loas", "audio/aac", "(none)"],
  [".ass", "audio/aac", "(none)"],
  [".flac", "audio/flac", "audio/x-flac"],
  [".mka", "audio/matroska", "audio/x-matroska"],
  [".nws", "message/rfc822", "(none)"],
  [".bat", "text/plain", "application/x-msdownload"],
  [".c", "text/plain", "text/x-c"],
  [".h", "text/plain", "text/x-c"],
  [".ksh", "text/plain", "(none)"],
  [".pl", "text/plain", "application/x-perl"],
  [".srt", "text/plain", "application/x-subrip"],
  [".rtf", "text/rtf", "application/rtf"],
  [".py", "text/x-python", "(none)"],
  [".rst", "text/x-rst", "(none)"],
  [".sgm", "text/x-sgml", "text/sgml"],
  [".sgml", "text/x-sgml", "text/sgml"],
  [".mkv", "video/matroska", "video/x-matroska"],
  [".mk3d", "video/matroska-3d", "video/x-matroska"],
  [".mpa", "video/mpeg", "(none)"],
  [".avi", "video/vnd.avi", "video/x-msvideo"],
];

/** docs/MIME.md, "Common extensions where both agree". */
const AGREED: [string, string][] = [
  [".html", "text/html"],
  [".htm", "text/html"],
  [".css", "text/css"],
  [".js", "text/javascript"],
  [".mjs", "text/javascript"],
  [".json", "application/json"],
  [".wasm", "application/wasm"],
  [".svg", "image/svg+xml"],
  [".txt", "text/plain"],
  [".md", "text/markdown"],
  [".png", "image/png"],
  [".jpg", "image/jpeg"],
  [".gif", "image/gif"],
  [".webp", "image/webp"],
  [".ico", "image/vnd.microsoft.icon"],
  [".mp4", "video/mp4"],
  [".webm", "video/webm"],
  [".mp3", "audio/mpeg"],
  [".woff2", "font/woff2"],
  [".pdf", "application/pdf"],
  [".zip", "application/zip"],
  [".csv", "text/csv"],
  [".sh", "application/x-sh"],
  [".webmanifest", "application/manifest+json"],
];

/** docs/MIME.md, "Extensions only mime-db knows" (Python sends application/octet-stream). */
const MIME_DB_ONLY: [string, string][] = [
  [".map", "application/json"],
  [".toml", "application/toml"],
  [".jsx", "text/jsx"],
  [".ini", "text/plain"],
  [".log", "text/plain"],
  [".ics", "text/calendar"],
  [".jsonld", "application/ld+json"],
  [".apng", "image/apng"],
];

describe("docs/MIME.md: our decisions", () => {
  for (const [ext, , , served] of DECISIONS) {
    test(`${ext} is served as ${served}`, () => {
      assert.equal(guessType("file" + ext), served);
      assert.equal(guessType("FILE" + ext.toUpperCase()), served);
    });
  }
});

describe("docs/MIME.md: Python's type kept over mime-db's", () => {
  for (const [ext, served] of PYTHON_KEPT) {
    test(`${ext} is served as ${served}`, () => {
      assert.equal(guessType("file" + ext), served);
      assert.equal(python314[ext], served, "the row agrees with Python 3.14's table");
    });
  }
});

describe("docs/MIME.md: common extensions where both tables agree", () => {
  for (const [ext, served] of AGREED) {
    test(`${ext} is served as ${served}`, () => {
      assert.equal(guessType("file" + ext), served);
      assert.equal(python314[ext], served);
    });
  }
});

describe("docs/MIME.md: extensions only mime-db knows", () => {
  for (const [ext, served] of MIME_DB_ONLY) {
    test(`${ext} is served as ${served}`, () => {
      assert.equal(python314[ext], undefined);
      assert.equal(guessType("file" + ext), served);
    });
  }
});

test("every other extension of Python 3.14's table gets Python's type", () => {
  const deviations = new Set(DECISIONS.map(([ext]) => ext));
  const mismatches = Object.entries(python314)
    .filter(([ext, type]) => !deviations.has(ext) && typeForExtension(ext) !== type)
    .map(([ext, type]) => `${ext}: ${typeForExtension(ext)} (Python: ${type})`);
  assert.deepEqual(mismatches, []);
  assert.ok(Object.keys(python314).length > 190);
});

describe("guess_file_type follows Python's algorithm", () => {
  const cases: [string, string | null, string | null][] = [
    ["a.tar.gz", "application/x-tar", "gzip"],
    ["a.tgz", "application/x-tar", "gzip"],
    ["a.TGZ", "application/x-tar", "gzip"], // the suffix map is matched case-insensitively
    ["a.taz", "application/x-tar", "gzip"],
    ["a.tbz2", "application/x-tar", "bzip2"],
    ["a.txz", "application/x-tar", "xz"],
    ["a.svgz", "image/svg+xml", "gzip"],
    ["a.js.br", "text/javascript", "br"],
    ["a.css.Z", "text/css", "compress"],
    ["a.js.GZ", "application/gzip", null], // encodings are case-sensitive
    ["a.HTML", "text/html", null],
    ["README", null, null],
    [".bashrc", null, null],
    ["a.", null, null],
    ["dir.d/file", null, null],
    ["a.unknownext", null, null],
    ["a.constructor", null, null],
    ["a.__proto__", null, null],
  ];
  for (const [path, type, encoding] of cases) {
    test(`guess_file_type(${JSON.stringify(path)})`, () => {
      assert.deepEqual(guess_file_type(path), [type, encoding]);
    });
  }
});

describe("SimpleHTTPRequestHandler.guess_type", () => {
  test("extensions_map wins, by exact extension then lower-cased", () => {
    assert.equal(guessType("a.gz"), "application/gzip");
    assert.equal(guessType("a.GZ"), "application/gzip");
    assert.equal(guessType("a.tar.gz"), "application/gzip");
    assert.equal(guessType("a.Z"), "application/octet-stream");
    assert.equal(guessType("a.bz2"), "application/x-bzip2");
    assert.equal(guessType("a.BZ2"), "application/x-bzip2");
    assert.equal(guessType("a.xz"), "application/x-xz");
  });

  test("a lower-case .z is not the map's .Z, and has no type of its own", () => {
    assert.equal(guessType("a.z"), "application/octet-stream");
  });

  test("no extension, a dotfile and a trailing dot are application/octet-stream", () => {
    assert.equal(guessType("/srv/README"), "application/octet-stream");
    assert.equal(guessType("/srv/.bashrc"), "application/octet-stream");
    assert.equal(guessType("/srv/a."), "application/octet-stream");
  });

  test("a handler's own extensions_map is consulted first", () => {
    assert.equal(guessType("a.txt", { ".txt": "text/x-custom" }), "text/x-custom");
    assert.equal(guessType("a.TXT", { ".txt": "text/x-custom" }), "text/x-custom");
    assert.equal(guessType("a.txt", {}), "text/plain");
  });

  test("add_type() adds a type for later lookups", () => {
    add_type("text/x-simplehttp-test", ".simplehttptest");
    assert.equal(guessType("a.SimpleHTTPTest"), "text/x-simplehttp-test");
  });
});
