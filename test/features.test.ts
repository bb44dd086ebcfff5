/**
 * The opt-in features of SimpleHTTPRequestHandler, over loopback with raw bytes: CORS (headers on
 * every response, preflights), extra headers and their validation, Cache-Control, compression on
 * the fly (types, threshold, Accept-Encoding weights, framing), precompressed files, the SPA
 * fallback — and, first, that with every feature at its default the bytes are Python's.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import * as fs from "node:fs";
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from "node:zlib";
import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { randomBytes } from "node:crypto";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { BaseHTTPRequestHandler } from "../src/server/base_handler.js";
import { checkHeaderField, checkHeaderList, InvalidHeaderError, maxAge, parseHeaderOption } from "../src/features/headers.js";
import {
  chooseCoding,
  COMPRESSED_CACHE_BYTES,
  COMPRESSED_ENTRY_BYTES,
  compressedCacheUse,
  compressionLoad,
  isCompressible,
  parseAcceptEncoding,
  SIBLING_LOOKUP_MS,
} from "../src/features/compression.js";
import type { RequestHandlerClass } from "../src/socketserver/servers.js";
import { captureStderr, exchange, masked, serve, type Running } from "./helpers.js";
import { MAIN } from "./cli_process.js";
import {
  buildTree,
  dechunk,
  fetchReply,
  HUNDRED,
  lastModified,
  parseReply,
  Quiet,
  removeTree,
  requestBytes,
  text,
  type Reply,
  type RequestOptions,
} from "./features_fixture.js";

let root = "";

before(() => {
  root = buildTree();
});

after(() => {
  removeTree(root);
});

/** Starts a server for `Handler` on the tree for the tests of one `describe`. */
function serverFor(make: () => RequestHandlerClass): { get(path: string, options?: RequestOptions): Promise<Reply>; port(): number } {
  let running: Running;
  before(async () => {
    running = await serve(make());
  });
  after(async () => {
    await running.close();
  });
  return { get: (path, options = {}) => fetchReply(running.port, path, options), port: () => running.port };
}

const file = (name: string) => fs.readFileSync(join(root, name));

// ---------------------------------------------------------------------------------------------
// Defaults: Python's bytes

describe("with every feature at its default", () => {
  const server = serverFor(() => Quiet.with_directory(root));

  test("the options are off", () => {
    const H = SimpleHTTPRequestHandler;
    assert.deepEqual([H.etag, H.cors, H.extra_headers, H.cache_control, H.compress, H.precompressed, H.spa], [false, false, [], null, false, false, null]);
  });

  test("file, HEAD, listing, 404, 301 and 304 are Python's bytes exactly", async () => {
    const date = lastModified(join(root, "hundred.txt"));
    const fileHead = `HTTP/1.0 200 OK\r\nServer: <server>\r\nDate: <date>\r\nContent-type: text/plain\r\nContent-Length: 100\r\nLast-Modified: ${date}\r\n\r\n`;
    const listing =
      '<!DOCTYPE HTML>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<style type="text/css">\n:root {\ncolor-scheme: light dark;\n}\n</style>\n' +
      "<title>Directory listing for /sub/</title>\n</head>\n<body>\n<h1>Directory listing for /sub/</h1>\n<hr>\n<ul>\n" +
      '<li><a href="note.txt">note.txt</a></li>\n</ul>\n<hr>\n</body>\n</html>\n';
    const errorPage =
      '<!DOCTYPE HTML>\n<html lang="en">\n    <head>\n        <meta charset="utf-8">\n        <style type="text/css">\n' +
      "            :root {\n                color-scheme: light dark;\n            }\n        </style>\n        <title>Error response</title>\n" +
      "    </head>\n    <body>\n        <h1>Error response</h1>\n        <p>Error code: 404</p>\n        <p>Message: File not found.</p>\n" +
      "        <p>Error code explanation: 404 - Nothing matches the given URI.</p>\n    </body>\n</html>\n";
    const cases: [string, RequestOptions, string][] = [
      ["/hundred.txt", {}, fileHead + HUNDRED.toString("latin1")],
      ["/hundred.txt", { method: "HEAD" }, fileHead],
      ["/sub/", {}, `HTTP/1.0 200 OK\r\nServer: <server>\r\nDate: <date>\r\nContent-type: text/html; charset=utf-8\r\nContent-Length: ${listing.length}\r\n\r\n${listing}`],
      ["/app/route", {}, `HTTP/1.0 404 File not found\r\nServer: <server>\r\nDate: <date>\r\nConnection: close\r\nContent-Type: text/html;charset=utf-8\r\nContent-Length: ${errorPage.length}\r\n\r\n${errorPage}`],
      ["/sub?x=1", {}, "HTTP/1.0 301 Moved Permanently\r\nServer: <server>\r\nDate: <date>\r\nLocation: /sub/?x=1\r\nContent-Length: 0\r\n\r\n"],
      ["/hundred.txt", { headers: { "If-Modified-Since": date } }, "HTTP/1.0 304 Not Modified\r\nServer: <server>\r\nDate: <date>\r\n\r\n"],
      ["/hundred.txt", { headers: { "If-Modified-Since": date, "If-None-Match": "*" } }, fileHead + HUNDRED.toString("latin1")],
      ["/big.txt", { headers: { "Accept-Encoding": "gzip, br", Origin: "http://example" } }, fileHead.replace("100", "20000").replace(date, lastModified(join(root, "big.txt"))) + text(20000).toString("latin1")],
    ];
    for (const [path, options, expected] of cases) {
      const reply = await exchange(server.port(), requestBytes(path, options), { timeoutMs: 30000 });
      assert.equal(masked(reply), expected, `${options.method ?? "GET"} ${path} ${JSON.stringify(options.headers ?? {})}`);
    }
  });

  test("OPTIONS is Python's 501 Unsupported method, as for a handler without do_OPTIONS", async () => {
    class Bare extends BaseHTTPRequestHandler {
      override log_message(): void {}
    }
    const bare = await serve(Bare);
    try {
      const request = requestBytes("/", { method: "OPTIONS", headers: { Origin: "http://x", "Access-Control-Request-Method": "GET" } });
      const expected = masked(await exchange(bare.port, request, { timeoutMs: 30000 }));
      const reply = masked(await exchange(server.port(), request, { timeoutMs: 30000 }));
      assert.ok(reply.startsWith("HTTP/1.0 501 Unsupported method ('OPTIONS')\r\n"), reply);
      assert.equal(reply, expected);
    } finally {
      await bare.close();
    }
  });

  test("OPTIONS logs what Python logs", async () => {
    class Logged extends SimpleHTTPRequestHandler {}
    const running = await serve(Logged.with_directory(root));
    const stderr = captureStderr();
    try {
      await exchange(running.port, requestBytes("/", { method: "OPTIONS" }), { timeoutMs: 30000 });
    } finally {
      stderr.restore();
      await running.close();
    }
    const lines = stderr.lines().map((line) => line.replace(/^.*?\] /, ""));
    assert.deepEqual(lines, ["code 501, message Unsupported method ('OPTIONS')", '"OPTIONS / HTTP/1.0" 501 -']);
  });
});

// ---------------------------------------------------------------------------------------------
// CORS

describe("cors", () => {
  class Cors extends Quiet {
    static override cors = true;
  }
  const server = serverFor(() => Cors.with_directory(root));
  const ALLOW = "Access-Control-Allow-Origin";

  test("every response gets Access-Control-Allow-Origin: * as its last header", async () => {
    const date = lastModified(join(root, "hundred.txt"));
    for (const [path, options, status] of [
      ["/hundred.txt", {}, 200],
      ["/hundred.txt", { method: "HEAD" }, 200],
      ["/sub/", {}, 200],
      ["/missing", {}, 404],
      ["/sub", {}, 301],
      ["/hundred.txt", { headers: { "If-Modified-Since": date } }, 304],
      ["/hundred.txt", { headers: { Range: "bytes=0-1" } }, 206],
      ["/hundred.txt", { headers: { Range: "bytes=500-" } }, 416],
      ["/hundred.txt", { method: "POST" }, 501],
    ] as [string, RequestOptions, number][]) {
      const reply = await server.get(path, options);
      assert.equal(reply.status, status, path);
      assert.equal(reply.names.at(-1), ALLOW, `${path} ${status}`);
      assert.equal(reply.header(ALLOW), "*");
    }
  });

  test("a preflight gets 204 with the allowed methods, the requested headers echoed, and Max-Age", async () => {
    const reply = await server.get("/anything", {
      method: "OPTIONS",
      headers: { Origin: "http://example.org", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "X-Custom, Content-Type" },
    });
    assert.deepEqual(reply.head, [
      "HTTP/1.0 204 No Content",
      "Server: <server>",
      "Date: <date>",
      "Access-Control-Allow-Methods: GET, HEAD, OPTIONS",
      "Access-Control-Allow-Headers: X-Custom, Content-Type",
      "Access-Control-Max-Age: 86400",
      "Access-Control-Allow-Origin: *",
    ]);
    assert.equal(reply.body.length, 0);
  });

  test("a preflight that requests no headers gets no Allow-Headers", async () => {
    const reply = await server.get("/", { method: "OPTIONS", headers: { Origin: "http://o", "Access-Control-Request-Method": "HEAD" } });
    assert.equal(reply.status, 204);
    assert.equal(reply.header("Access-Control-Allow-Headers"), undefined);
  });

  test("a folded Access-Control-Request-Headers is echoed on one line", async () => {
    const raw = await exchange(
      server.port(),
      "OPTIONS / HTTP/1.0\r\nOrigin: http://o\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: X-A,\r\n X-B\r\n\r\n",
      { timeoutMs: 30000 },
    );
    const reply = parseReply(raw);
    assert.equal(reply.header("Access-Control-Allow-Headers"), "X-A, X-B");
    assert.ok(!/\r\n[ \t]/.test(raw.toString("latin1")), "no folded line in the response");
  });

  test("OPTIONS that is not a preflight stays 501 (with the CORS header)", async () => {
    for (const headers of [{}, { Origin: "http://o" }, { "Access-Control-Request-Method": "GET" }] as Record<string, string>[]) {
      const reply = await server.get("/", { method: "OPTIONS", headers });
      assert.equal(reply.head[0], "HTTP/1.0 501 Unsupported method ('OPTIONS')", JSON.stringify(headers));
      assert.equal(reply.header(ALLOW), "*");
    }
  });

  test("on a kept-alive connection a preflight is followed by the request it cleared", async () => {
    class Cors11 extends Cors {
      override protocol_version = "HTTP/1.1";
    }
    const running = await serve(Cors11.with_directory(root));
    try {
      const raw = await exchange(
        running.port,
        "OPTIONS /hundred.txt HTTP/1.1\r\nHost: x\r\nOrigin: http://o\r\nAccess-Control-Request-Method: GET\r\n\r\n" +
          "GET /hundred.txt HTTP/1.1\r\nHost: x\r\nOrigin: http://o\r\nConnection: close\r\n\r\n",
        { timeoutMs: 30000 },
      );
      const textReply = raw.toString("latin1");
      assert.ok(textReply.startsWith("HTTP/1.1 204 No Content\r\n"));
      const second = parseReply(raw.subarray(textReply.indexOf("\r\n\r\n") + 4));
      assert.equal(second.status, 200);
      assert.equal(second.header(ALLOW), "*");
      assert.deepEqual(second.body, HUNDRED);
    } finally {
      await running.close();
    }
  });

  test("an interim 100 Continue gets no added header; the final response does", async () => {
    class Cors11 extends Cors {
      override protocol_version = "HTTP/1.1";
    }
    const running = await serve(Cors11.with_directory(root));
    try {
      const raw = await exchange(
        running.port,
        "GET /hundred.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        { timeoutMs: 30000 },
      );
      const textReply = raw.toString("latin1");
      assert.ok(textReply.startsWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"), textReply);
      assert.equal(parseReply(raw.subarray("HTTP/1.1 100 Continue\r\n\r\n".length)).header(ALLOW), "*");
    } finally {
      await running.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Extra headers

describe("extra_headers", () => {
  class Extra extends Quiet {
    static override cors = true;
    static override extra_headers = [
      ["X-Frame-Options", "DENY"],
      ["X-Note", "a: b; c"],
    ] as const;
  }
  const server = serverFor(() => Extra.with_directory(root));

  test("are added to every response, in order, after the CORS header", async () => {
    for (const [path, options] of [
      ["/hundred.txt", {}],
      ["/sub/", {}],
      ["/missing", {}],
      ["/sub", {}],
      ["/hundred.txt", { headers: { "If-Modified-Since": lastModified(join(root, "hundred.txt")) } }],
      ["/", { method: "OPTIONS", headers: { Origin: "http://o", "Access-Control-Request-Method": "GET" } }],
    ] as [string, RequestOptions][]) {
      const reply = await server.get(path, options);
      assert.deepEqual(reply.head.slice(-3), ["Access-Control-Allow-Origin: *", "X-Frame-Options: DENY", "X-Note: a: b; c"], path);
    }
  });

  test("a 416 keeps Content-Range before them", async () => {
    const reply = await server.get("/hundred.txt", { headers: { Range: "bytes=100-" } });
    assert.deepEqual(reply.names.slice(-4), ["Content-Range", "Access-Control-Allow-Origin", "X-Frame-Options", "X-Note"]);
  });

  test("parseHeaderOption() reads `Name: value` and trims the value", () => {
    assert.deepEqual(parseHeaderOption("X-Frame-Options: DENY"), ["X-Frame-Options", "DENY"]);
    assert.deepEqual(parseHeaderOption("X-A:b"), ["X-A", "b"]);
    assert.deepEqual(parseHeaderOption("X-Empty:"), ["X-Empty", ""]);
    assert.deepEqual(parseHeaderOption("Link: <a>; rel=x:y"), ["Link", "<a>; rel=x:y"]);
  });

  test("parseHeaderOption() refuses CR, LF, NUL, a missing colon and names that are not tokens", () => {
    for (const bad of ["X-A: a\r\nInjected: 1", "X-A: a\nb", "X-A: a\rb", "X-A: a\0", "no colon", ": value", "Bad Name: v", "X\r\nY: v", "X-A: \u20ac"]) {
      assert.throws(() => parseHeaderOption(bad), InvalidHeaderError, JSON.stringify(bad));
    }
    assert.throws(() => parseHeaderOption("X-A: a\r\nB: c"), /X-A.*CR, LF or NUL/);
  });

  test("checkHeaderField() and checkHeaderList() give the same verdicts for configured lists", () => {
    assert.deepEqual(checkHeaderField("X-Ok", "fine"), ["X-Ok", "fine"]);
    assert.throws(() => checkHeaderField("X-Bad", "a\nb"), InvalidHeaderError);
    assert.throws(() => checkHeaderList([["X-Ok", "v"], ["X-Bad", "\r\n"]]), /X-Bad/);
    assert.throws(() => checkHeaderList([["only-a-name"]] as unknown as [string, string][]), InvalidHeaderError);
    const good: [string, string][] = [["X-Ok", "v"]];
    assert.equal(checkHeaderList(good), good);
  });

  test("a handler class configured with a CR/LF header sends nothing and reports the error", async () => {
    class Bad extends Quiet {}
    Bad.extra_headers = [["X-Bad", "v\r\nSet-Cookie: stolen=1"]];
    const running = await serve(Bad.with_directory(root));
    const stderr = captureStderr();
    let reply: Buffer;
    try {
      reply = await exchange(running.port, requestBytes("/hundred.txt"), { timeoutMs: 30000 });
    } finally {
      stderr.restore();
      await running.close();
    }
    assert.equal(reply.length, 0);
    assert.match(stderr.text(), /InvalidHeaderError: invalid value for header X-Bad: it contains CR, LF or NUL/);
  });

  test("maxAge() makes the --cache value and refuses what is not a whole number of seconds", () => {
    assert.equal(maxAge(3600), "max-age=3600");
    assert.equal(maxAge(0), "max-age=0");
    assert.throws(() => maxAge(-1), RangeError);
    assert.throws(() => maxAge(1.5), RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Cache-Control

describe("cache_control", () => {
  class Cached extends Quiet {
    static override cache_control = "max-age=60";
    static override etag = true;
  }
  const server = serverFor(() => Cached.with_directory(root));

  test("file responses (200, 206, 304) end with it, after ETag", async () => {
    const date = lastModified(join(root, "hundred.txt"));
    for (const [options, status] of [
      [{}, 200],
      [{ method: "HEAD" }, 200],
      [{ headers: { Range: "bytes=1-2" } }, 206],
      [{ headers: { "If-Modified-Since": date } }, 304],
    ] as [RequestOptions, number][]) {
      const reply = await server.get("/hundred.txt", options);
      assert.equal(reply.status, status);
      assert.deepEqual(reply.names.slice(-2), ["ETag", "Cache-Control"], String(status));
      assert.equal(reply.header("Cache-Control"), "max-age=60");
    }
  });

  test("an index page is a file: it gets it", async () => {
    assert.equal((await server.get("/withindex/")).header("Cache-Control"), "max-age=60");
  });

  test("listings, redirects and errors do not", async () => {
    for (const path of ["/sub/", "/sub", "/missing"]) {
      assert.equal((await server.get(path)).header("Cache-Control"), undefined, path);
    }
    assert.equal((await server.get("/hundred.txt", { headers: { Range: "bytes=400-" } })).header("Cache-Control"), undefined);
  });
});

// ---------------------------------------------------------------------------------------------
// Compression on the fly

describe("Accept-Encoding", () => {
  test("parseAcceptEncoding() reads weights, lower-cases codings, maps x-gzip and skips bad weights", () => {
    assert.deepEqual([...parseAcceptEncoding("gzip;q=0.8, BR, *;q=0, x-gzip;q=0.1")], [["gzip", 0.8], ["br", 1], ["*", 0]]);
    assert.deepEqual([...parseAcceptEncoding("br;q=2, gzip;q=0.1234, deflate;q=1.0, identity ; q = 0.5")], [["deflate", 1], ["identity", 0.5]]);
  });

  test("chooseCoding(): heaviest wins, br on ties, * for unnamed codings, q=0 never, identity when heavier", () => {
    const cases: [string | undefined, string | null][] = [
      [undefined, null],
      ["", null],
      ["gzip", "gzip"],
      ["br", "br"],
      ["gzip, br", "br"],
      ["gzip, deflate, br, zstd", "br"],
      ["gzip;q=1, br;q=0.5", "gzip"],
      ["br;q=0, gzip", "gzip"],
      ["*", "br"],
      ["*;q=0", null],
      ["gzip;q=0, *", "br"],
      ["identity", null],
      ["deflate", null],
      ["gzip;q=0.5", "gzip"],
      ["gzip;q=0.5, identity", null],
      ["gzip;q=0.5, identity;q=0.5", "gzip"],
      ["x-gzip", "gzip"],
    ];
    for (const [header, expected] of cases) {
      assert.equal(chooseCoding(header === undefined ? undefined : [header]), expected, String(header));
    }
    assert.equal(chooseCoding(["br", "gzip"], ["gzip"]), "gzip");
    assert.equal(chooseCoding(["br;q=0.1", "gzip;q=0.9"]), "gzip", "several header lines count as one list");
  });

  test("isCompressible(): text, scripts, JSON, XML, SVG and wasm are; images, archives and media are not", () => {
    for (const type of ["text/plain", "text/html; charset=utf-8", "text/javascript", "application/json", "application/manifest+json", "image/svg+xml", "application/xml", "application/wasm", "application/rss+xml"]) {
      assert.equal(isCompressible(type), true, type);
    }
    for (const type of ["image/png", "image/jpeg", "application/gzip", "application/zip", "video/mp4", "font/woff2", "application/octet-stream", "audio/mpeg"]) {
      assert.equal(isCompressible(type), false, type);
    }
  });
});

describe("compress", () => {
  class Compress extends Quiet {
    static override compress = true;
  }
  const server = serverFor(() => Compress.with_directory(root));
  const accept = (path: string, value: string, options: RequestOptions = {}) =>
    server.get(path, { ...options, headers: { "Accept-Encoding": value, ...(options.headers as Record<string, string>) } });

  test("gzip: Content-Encoding and Vary, no Content-Length, and the body gunzips to the file", async () => {
    const reply = await accept("/big.txt", "gzip");
    assert.deepEqual(reply.head, [
      "HTTP/1.0 200 OK",
      "Server: <server>",
      "Date: <date>",
      "Content-type: text/plain",
      "Content-Encoding: gzip",
      `Last-Modified: ${lastModified(join(root, "big.txt"))}`,
      "Vary: Accept-Encoding",
    ]);
    assert.ok(gunzipSync(reply.body).equals(file("big.txt")));
    assert.ok(reply.body.length < 20000 / 4, `compressed to ${reply.body.length} bytes`);
  });

  test("br: the body decompresses to the file", async () => {
    const reply = await accept("/big.txt", "br");
    assert.equal(reply.header("Content-Encoding"), "br");
    assert.ok(brotliDecompressSync(reply.body).equals(file("big.txt")));
  });

  test("the coding follows the q-values (br on a tie) and identity when nothing acceptable is named", async () => {
    const cases: [string, string | undefined][] = [
      ["gzip, br", "br"],
      ["gzip;q=1.0, br;q=0.5", "gzip"],
      ["br;q=0, gzip", "gzip"],
      ["*", "br"],
      ["*;q=0", undefined],
      ["identity", undefined],
      ["gzip;q=0.5, identity", undefined],
      ["deflate", undefined],
    ];
    for (const [value, coding] of cases) {
      const reply = await accept("/big.txt", value);
      assert.equal(reply.header("Content-Encoding"), coding, value);
      assert.equal(reply.header("Vary"), "Accept-Encoding", value);
      const body = coding === "br" ? brotliDecompressSync(reply.body) : coding === "gzip" ? gunzipSync(reply.body) : reply.body;
      assert.ok(body.equals(file("big.txt")), value);
      assert.equal(reply.header("Content-Length"), coding ? undefined : "20000", value);
    }
  });

  test("without Accept-Encoding: identity, with Content-Length and Vary", async () => {
    const reply = await server.get("/big.txt");
    assert.deepEqual(reply.names.slice(2), ["Content-type", "Content-Length", "Last-Modified", "Vary"]);
    assert.ok(reply.body.equals(file("big.txt")));
  });

  test("files under 1 KiB are sent as they are, with no Vary; 1 KiB exactly is compressed", async () => {
    const small = await accept("/small.txt", "gzip, br");
    assert.equal(small.header("Content-Encoding"), undefined);
    assert.equal(small.header("Vary"), undefined);
    assert.equal(small.header("Content-Length"), "1023");
    const edge = await accept("/edge.txt", "gzip");
    assert.equal(edge.header("Content-Encoding"), "gzip");
    assert.ok(gunzipSync(edge.body).equals(file("edge.txt")));
  });

  test("HTML, JavaScript, JSON, SVG and wasm are compressed; PNG, gzip and unknown binaries are not", async () => {
    for (const name of ["page.html", "app.js", "data.json", "image.svg", "module.wasm"]) {
      const reply = await accept("/" + name, "gzip");
      assert.equal(reply.header("Content-Encoding"), "gzip", name);
      assert.ok(gunzipSync(reply.body).equals(file(name)), name);
    }
    for (const name of ["photo.png", "archive.gz", "big.bin"]) {
      const reply = await accept("/" + name, "gzip");
      assert.equal(reply.header("Content-Encoding"), undefined, name);
      assert.equal(reply.header("Vary"), undefined, name);
      assert.ok(reply.body.equals(file(name)), name);
    }
  });

  test("a range request is never compressed: identity bytes, with Vary", async () => {
    const reply = await accept("/big.txt", "gzip, br", { headers: { Range: "bytes=0-99" } });
    assert.equal(reply.status, 206);
    assert.equal(reply.header("Content-Encoding"), undefined);
    assert.equal(reply.header("Vary"), "Accept-Encoding");
    assert.ok(reply.body.equals(file("big.txt").subarray(0, 100)));
  });

  test("HEAD sends the compressed response's headers and no body", async () => {
    const get = await accept("/big.txt", "br");
    const head = await accept("/big.txt", "br", { method: "HEAD" });
    assert.deepEqual(head.head, get.head);
    assert.equal(head.body.length, 0);
  });

  test("a 304 keeps Vary", async () => {
    const reply = await accept("/big.txt", "gzip", { headers: { "If-Modified-Since": lastModified(join(root, "big.txt")) } });
    assert.deepEqual(reply.head, ["HTTP/1.0 304 Not Modified", "Server: <server>", "Date: <date>", "Vary: Accept-Encoding"]);
  });

  test("listings are never compressed", async () => {
    const plain = await server.get("/sub/");
    const reply = await accept("/sub/", "gzip, br");
    assert.deepEqual(reply.head, plain.head);
    assert.deepEqual(reply.body, plain.body);
  });

  test("on HTTP/1.1 the body is chunked and the connection stays open", async () => {
    class Compress11 extends Compress {
      override protocol_version = "HTTP/1.1";
    }
    const running = await serve(Compress11.with_directory(root));
    try {
      const raw = await exchange(
        running.port,
        "GET /big.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\n\r\n" +
          "GET /hundred.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\nConnection: close\r\n\r\n",
        { timeoutMs: 30000 },
      );
      const first = parseReply(raw);
      assert.equal(first.header("Transfer-Encoding"), "chunked");
      assert.equal(first.names.at(-1), "Transfer-Encoding");
      assert.equal(first.header("Content-Length"), undefined);
      const { data, rest } = dechunk(first.body);
      assert.ok(brotliDecompressSync(data).equals(file("big.txt")));
      const second = parseReply(rest);
      assert.equal(second.head[0], "HTTP/1.1 200 OK");
      assert.deepEqual(second.body, HUNDRED);
    } finally {
      await running.close();
    }
  });

  test("a 3 MiB file streams through the compressor in many chunks and arrives intact", async () => {
    class Compress11 extends Compress {
      override protocol_version = "HTTP/1.1";
    }
    const running = await serve(Compress11.with_directory(root));
    try {
      for (const [coding, decompress] of [["gzip", gunzipSync], ["br", brotliDecompressSync]] as const) {
        const raw = await exchange(running.port, `GET /large.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: ${coding}\r\nConnection: close\r\n\r\n`, {
          timeoutMs: 60000,
        });
        const reply = parseReply(raw);
        assert.equal(reply.header("Content-Encoding"), coding);
        const { data, rest, chunks } = dechunk(reply.body);
        assert.equal(rest.length, 0);
        assert.ok(chunks > 2, `${coding}: ${chunks} chunks`);
        assert.ok(data.length < file("large.txt").length, coding);
        assert.ok(decompress(data).equals(file("large.txt")), coding);
      }
    } finally {
      await running.close();
    }
  });

  test("an HTTP/1.0 request to an HTTP/1.1 server asking for keep-alive gets Connection: close instead", async () => {
    class Compress11 extends Compress {
      override protocol_version = "HTTP/1.1";
    }
    const running = await serve(Compress11.with_directory(root));
    try {
      const raw = await exchange(
        running.port,
        "GET /big.txt HTTP/1.0\r\nConnection: keep-alive\r\nAccept-Encoding: gzip\r\n\r\nGET /hundred.txt HTTP/1.0\r\n\r\n",
        { timeoutMs: 30000 },
      );
      const reply = parseReply(raw);
      assert.equal(reply.header("Connection"), "close");
      assert.equal(reply.header("Transfer-Encoding"), undefined);
      assert.ok(gunzipSync(reply.body).equals(file("big.txt")), "the body is delimited by the close: nothing follows it");
    } finally {
      await running.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The compression cache (issue 15): a file compressed once is not compressed again while its stat
// is unchanged; what is sent from the cache is byte for byte what compressing sends.

describe("compress_cache", () => {
  class Compress11 extends Quiet {
    static override compress = true;
    override protocol_version = "HTTP/1.1";
  }
  class NoCache extends Compress11 {
    static override compress_cache = false;
  }
  const cached = serverFor(() => Compress11.with_directory(root));
  const uncached = serverFor(() => NoCache.with_directory(root));
  const raw = (port: number, path: string, coding: string, version = "HTTP/1.1") =>
    exchange(port, `GET ${path} ${version}\r\nHost: x\r\nAccept-Encoding: ${coding}\r\nConnection: close\r\n\r\n`, { timeoutMs: 30000 });
  /** Runs `request` and says whether any compression work ran meanwhile. */
  const compressing = async <T>(request: () => Promise<T>): Promise<{ result: T; compressed: boolean }> => {
    compressionLoad(true);
    const result = await request();
    return { result, compressed: compressionLoad(true).peak > 0 };
  };

  test("an unchanged file is compressed once; the cached response is the same bytes (chunked and HTTP/1.0)", async () => {
    for (const [name, coding] of [["cache-a.js", "br"], ["cache-b.js", "gzip"]] as const) {
      fs.writeFileSync(join(root, name), text(50_000));
      const before = compressedCacheUse().results;
      const first = await compressing(() => raw(cached.port(), `/${name}`, coding));
      assert.ok(first.compressed, `${name}: compressed the first time`);
      assert.equal(compressedCacheUse().results, before + 1, `${name}: its compression kept`);
      const second = await compressing(() => raw(cached.port(), `/${name}`, coding));
      assert.equal(second.compressed, false, `${name}: not compressed again`);
      assert.equal(masked(second.result), masked(first.result), `${name}: the same bytes`);
      const reply = parseReply(second.result);
      assert.equal(reply.header("Transfer-Encoding"), "chunked");
      const decompress = coding === "br" ? brotliDecompressSync : gunzipSync;
      assert.ok(decompress(dechunk(reply.body).data).equals(file(name)));
      // HTTP/1.0: no chunks, the body ends with the connection; the same compressed bytes.
      const old = await compressing(() => raw(cached.port(), `/${name}`, coding, "HTTP/1.0"));
      assert.equal(old.compressed, false);
      assert.ok(parseReply(old.result).body.equals(dechunk(reply.body).data));
      assert.equal(masked(old.result), masked(await raw(uncached.port(), `/${name}`, coding, "HTTP/1.0")), `${name}: as compressing sends it`);
    }
  });

  test("a file that changes is compressed again: its new content, never the old", async () => {
    const path = join(root, "cache-change.css");
    fs.writeFileSync(path, text(30_000));
    const decode = async () => brotliDecompressSync(dechunk(parseReply(await raw(cached.port(), "/cache-change.css", "br")).body).data);
    assert.ok((await decode()).equals(text(30_000)));
    assert.ok((await decode()).equals(text(30_000)), "from the cache");
    fs.writeFileSync(path, text(31_000)); // another size
    assert.ok((await decode()).equals(text(31_000)));
    const same = Buffer.from(text(31_000).toString("latin1").toUpperCase(), "latin1"); // the same size
    fs.writeFileSync(path, same);
    fs.utimesSync(path, new Date(), new Date(Date.now() + 10_000));
    const again = await compressing(decode);
    assert.ok(again.result.equals(same));
    assert.ok(again.compressed, "a new mtime: compressed again");
  });

  test("with compress_cache = false nothing is kept and every response is compressed", async () => {
    fs.writeFileSync(join(root, "cache-off.js"), text(20_000));
    const before = compressedCacheUse().results;
    for (let i = 0; i < 2; i++) {
      const { result, compressed } = await compressing(() => raw(uncached.port(), "/cache-off.js", "gzip"));
      assert.ok(compressed, `request ${i + 1}`);
      assert.ok(gunzipSync(dechunk(parseReply(result).body).data).equals(file("cache-off.js")));
    }
    assert.equal(compressedCacheUse().results, before);
  });

  test("the cache is bounded: a compression larger than COMPRESSED_ENTRY_BYTES is not kept, the total never exceeds COMPRESSED_CACHE_BYTES", async () => {
    // Random hex compresses to about half: over 2 MiB out of 5 MiB in.
    fs.writeFileSync(join(root, "cache-huge.txt"), randomBytes(5 * 512 * 1024).toString("hex"));
    const before = compressedCacheUse();
    const reply = parseReply(await raw(cached.port(), "/cache-huge.txt", "gzip"));
    assert.ok(dechunk(reply.body).data.length > COMPRESSED_ENTRY_BYTES);
    assert.deepEqual(compressedCacheUse(), before, "not kept");
    assert.ok(compressedCacheUse().bytes <= COMPRESSED_CACHE_BYTES);
  });

  test("a HEAD or a range request keeps nothing, and a cached file still answers ranges and 304s from the file", async () => {
    fs.writeFileSync(join(root, "cache-head.js"), text(10_000));
    const before = compressedCacheUse().results;
    await fetchReply(cached.port(), "/cache-head.js", { method: "HEAD", headers: { "Accept-Encoding": "br" } });
    assert.equal(compressedCacheUse().results, before);
    await raw(cached.port(), "/cache-head.js", "br");
    assert.equal(compressedCacheUse().results, before + 1);
    const range = await fetchReply(cached.port(), "/cache-head.js", { headers: { "Accept-Encoding": "br", Range: "bytes=0-9" } });
    assert.equal(range.status, 206);
    assert.ok(range.body.equals(text(10)));
    const notModified = await fetchReply(cached.port(), "/cache-head.js", {
      headers: { "Accept-Encoding": "br", "If-Modified-Since": lastModified(join(root, "cache-head.js")) },
    });
    assert.equal(notModified.status, 304);
  });
});

// ---------------------------------------------------------------------------------------------
// Precompressed files

describe("precompressed", () => {
  class Pre extends Quiet {
    static override precompressed = true;
  }
  const server = serverFor(() => Pre.with_directory(root));
  const accept = (path: string, value: string, options: RequestOptions = {}) =>
    server.get(path, { ...options, headers: { "Accept-Encoding": value, ...(options.headers as Record<string, string>) } });

  test("x.br is served for x when br is accepted: the type of x, its own length and date, and Vary", async () => {
    const reply = await accept("/pre.js", "gzip, br");
    assert.deepEqual(reply.head, [
      "HTTP/1.0 200 OK",
      "Server: <server>",
      "Date: <date>",
      "Content-type: text/javascript",
      "Content-Encoding: br",
      `Content-Length: ${file("pre.js.br").length}`,
      `Last-Modified: ${lastModified(join(root, "pre.js.br"))}`,
      "Vary: Accept-Encoding",
    ]);
    assert.ok(reply.body.equals(file("pre.js.br")));
    assert.ok(brotliDecompressSync(reply.body).equals(file("pre.js")));
  });

  test("x.gz when gzip is preferred or br is not accepted", async () => {
    for (const value of ["gzip", "gzip;q=1, br;q=0.9", "br;q=0, gzip"]) {
      const reply = await accept("/pre.js", value);
      assert.equal(reply.header("Content-Encoding"), "gzip", value);
      assert.ok(reply.body.equals(file("pre.js.gz")), value);
    }
  });

  test("x itself, with Vary, when neither is accepted", async () => {
    for (const options of [{}, { headers: { "Accept-Encoding": "identity" } }, { headers: { "Accept-Encoding": "deflate" } }]) {
      const reply = await server.get("/pre.js", options);
      assert.equal(reply.header("Content-Encoding"), undefined);
      assert.equal(reply.header("Vary"), "Accept-Encoding");
      assert.ok(reply.body.equals(file("pre.js")));
    }
  });

  test("only the codings present are offered: gzonly.css has x.gz but no x.br", async () => {
    const brOnly = await accept("/gzonly.css", "br");
    assert.equal(brOnly.header("Content-Encoding"), undefined);
    assert.equal(brOnly.header("Vary"), "Accept-Encoding");
    const both = await accept("/gzonly.css", "br, gzip");
    assert.equal(both.header("Content-Encoding"), "gzip");
    assert.equal(both.header("Content-type"), "text/css");
    assert.ok(gunzipSync(both.body).equals(file("gzonly.css")));
  });

  test("a directory named x.br is not a precompressed file", async () => {
    const reply = await accept("/fake.js", "br");
    assert.equal(reply.header("Content-Encoding"), undefined);
    assert.equal(reply.header("Vary"), undefined);
    assert.ok(reply.body.equals(file("fake.js")));
  });

  test("a file without siblings has no Vary", async () => {
    const reply = await accept("/hundred.txt", "br, gzip");
    assert.equal(reply.header("Vary"), undefined);
    assert.deepEqual(reply.body, HUNDRED);
  });

  test("ranges apply to the encoded bytes", async () => {
    const encoded = file("pre.js.br");
    const reply = await accept("/pre.js", "br", { headers: { Range: "bytes=0-9" } });
    assert.equal(reply.status, 206);
    assert.equal(reply.header("Content-Encoding"), "br");
    assert.equal(reply.header("Content-Range"), `bytes 0-9/${encoded.length}`);
    assert.ok(reply.body.equals(encoded.subarray(0, 10)));
  });

  test("HEAD sends the same headers", async () => {
    const get = await accept("/pre.js", "br");
    const head = await accept("/pre.js", "br", { method: "HEAD" });
    assert.deepEqual(head.head, get.head);
    assert.equal(head.body.length, 0);
  });

  test("a sibling is looked up again at once when its file changes, and within a second when only the sibling does; what is sent always matches its length", async () => {
    const write = (name: string, data: Buffer) => fs.writeFileSync(join(root, name), data);
    const gz = () => accept("/mem.js", "gzip");
    /** The reply's body, checked against its own Content-Length, decompressed (or as is). */
    const content = async () => {
      const reply = await gz();
      assert.equal(reply.header("Content-Length"), String(reply.body.length));
      return reply.header("Content-Encoding") === "gzip" ? gunzipSync(reply.body) : reply.body;
    };
    write("mem.js", text(5000));
    write("mem.js.gz", gzipSync(text(5000)));
    assert.ok((await content()).equals(text(5000)));
    assert.ok((await content()).equals(text(5000)), "again, from memory");
    // A build writes the file and its sibling: the new sibling is sent at once.
    write("mem.js", text(5001));
    write("mem.js.gz", gzipSync(text(5001)));
    assert.ok((await content()).equals(text(5001)));
    // Only the sibling changes: the old one or the new one, whole, and the new one after a second.
    write("mem.js.gz", gzipSync(text(5002)));
    const meanwhile = await content();
    assert.ok(meanwhile.equals(text(5001)) || meanwhile.equals(text(5002)));
    await new Promise((resolve) => setTimeout(resolve, SIBLING_LOOKUP_MS + 100));
    assert.ok((await content()).equals(text(5002)));
    // Removed: the file itself, within a second (at once here, its file being rewritten).
    fs.unlinkSync(join(root, "mem.js.gz"));
    write("mem.js", text(5003));
    const gone = await gz();
    assert.equal(gone.header("Content-Encoding"), undefined);
    assert.equal(gone.header("Vary"), undefined);
    assert.ok(gone.body.equals(text(5003)));
  });

  test("x.br is not sent while x itself cannot be read (Python's open of x fails: 404); beside a readable x it is", async (t) => {
    // Readability is judged by the server's user, so the server runs as nobody (root reads anything).
    if (process.getuid?.() !== 0) return t.skip("needs root to run the server as nobody");
    const nobody = fs.readFileSync("/etc/passwd", "utf8").split("\n").map((line) => line.split(":")).find((fields) => fields[0] === "nobody");
    if (!nobody) return t.skip("no nobody user");
    const dir = fs.mkdtempSync(join(tmpdir(), "simplehttp-pre-"));
    fs.chmodSync(dir, 0o755);
    for (const name of ["locked.js", "open.js"]) {
      fs.writeFileSync(join(dir, name), text(3000));
      fs.writeFileSync(join(dir, `${name}.br`), brotliCompressSync(text(3000)));
      fs.chmodSync(join(dir, `${name}.br`), 0o644);
    }
    fs.chmodSync(join(dir, "open.js"), 0o644);
    fs.chmodSync(join(dir, "locked.js"), 0o600);
    const child = spawn(process.execPath, [MAIN, "--precompressed", "-b", "127.0.0.1", "-d", dir, "0"], {
      uid: Number(nobody[2]),
      gid: Number(nobody[3]),
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      let out = "";
      child.stdout!.on("data", (chunk) => (out += chunk));
      while (!/port (\d+)/.test(out)) await new Promise((resolve) => setTimeout(resolve, 20));
      const port = Number(/port (\d+)/.exec(out)![1]);
      const get = (path: string) => exchange(port, `GET ${path} HTTP/1.0\r\nAccept-Encoding: br\r\n\r\n`);
      assert.match((await get("/locked.js")).toString("latin1"), /^HTTP\/1\.0 404 File not found\r\n/);
      assert.match((await get("/open.js")).toString("latin1"), /^HTTP\/1\.0 200 OK\r\n[^]*Content-Encoding: br\r\n/);
    } finally {
      child.kill("SIGKILL");
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("with compress on too, a precompressed file wins, and the rest is compressed on the fly", async () => {
    class Both extends Pre {
      static override compress = true;
    }
    const running = await serve(Both.with_directory(root));
    try {
      const pre = await fetchReply(running.port, "/pre.js", { headers: { "Accept-Encoding": "br" } });
      assert.equal(pre.header("Content-Length"), String(file("pre.js.br").length));
      assert.ok(pre.body.equals(file("pre.js.br")));
      const fly = await fetchReply(running.port, "/gzonly.css", { headers: { "Accept-Encoding": "br" } });
      assert.equal(fly.header("Content-Encoding"), "br");
      assert.equal(fly.header("Content-Length"), undefined);
      assert.ok(brotliDecompressSync(fly.body).equals(file("gzonly.css")));
    } finally {
      await running.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Single-page applications

describe("spa", () => {
  class Spa extends Quiet {
    static override spa = "index.html";
  }
  const server = serverFor(() => Spa.with_directory(root));
  const page = () => file("index.html");

  test("a missing path without an extension is answered with the page, 200", async () => {
    for (const path of ["/app/settings", "/app/settings/", "/deep/a/b/c", "/some.dir/route", "/route?x=1#y"]) {
      const reply = await server.get(path);
      assert.deepEqual(reply.head.slice(0, 5), ["HTTP/1.0 200 OK", "Server: <server>", "Date: <date>", "Content-type: text/html", `Content-Length: ${page().length}`], path);
      assert.ok(reply.body.equals(page()), path);
    }
  });

  test("a missing path with an extension is still a real 404", async () => {
    for (const path of ["/missing.js", "/assets/app.css", "/hundred.txt/"]) {
      assert.equal((await server.get(path)).head[0], "HTTP/1.0 404 File not found", path);
    }
  });

  test("files, listings and redirects are untouched", async () => {
    assert.deepEqual((await server.get("/hundred.txt")).body, HUNDRED);
    assert.match((await server.get("/sub/")).body.toString(), /Directory listing for \/sub\//);
    assert.equal((await server.get("/sub")).status, 301);
  });

  test("HEAD gets the page's headers", async () => {
    const reply = await server.get("/app", { method: "HEAD" });
    assert.equal(reply.status, 200);
    assert.equal(reply.header("Content-Length"), String(page().length));
    assert.equal(reply.body.length, 0);
  });

  test("a missing SPA page is a 404", async () => {
    class Lost extends Quiet {
      static override spa = "nowhere.html";
    }
    const running = await serve(Lost.with_directory(root));
    try {
      assert.equal((await fetchReply(running.port, "/app")).status, 404);
    } finally {
      await running.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The hooks through which the additions join send_head and end_headers

describe("the additions' hooks, overridden by a subclass", () => {
  class Hooked extends Quiet {
    override refuse_path(path: string, forRequest: boolean): boolean | Promise<boolean> {
      if (forRequest && path.endsWith("hundred.txt")) return this.send_error(403, "Not for you").then(() => true);
      return super.refuse_path(path, forRequest);
    }
    override fallback_path(path: string): string | null {
      return path.endsWith("/gone") ? join(root, "sub", "note.txt") : super.fallback_path(path);
    }
    override send_added_headers(): void {
      this.send_header("X-Added", "yes");
      super.send_added_headers();
    }
  }
  const server = serverFor(() => Hooked.with_directory(root));

  test("refuse_path() refuses a path before anything is opened", async () => {
    const reply = await server.get("/hundred.txt");
    assert.equal(reply.status, 403);
    assert.equal(reply.header("x-added"), "yes");
  });

  test("fallback_path() names the file served for a missing path", async () => {
    const reply = await server.get("/gone");
    assert.equal(reply.status, 200);
    assert.equal(reply.body.toString(), "note\n");
    assert.equal((await server.get("/other-missing")).status, 404);
  });

  test("send_added_headers() reaches every final response: files, listings, redirects and errors", async () => {
    for (const path of ["/sub/note.txt", "/sub/", "/sub", "/missing.txt"]) {
      assert.equal((await server.get(path)).header("x-added"), "yes", path);
    }
  });
});
