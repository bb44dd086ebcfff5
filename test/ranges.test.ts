/**
 * Byte ranges (src/features/ranges.ts and their use in send_head): the parser and coalescing rules
 * on their own, then every form on the wire, over loopback with raw bytes — single ranges,
 * multipart bodies parsed back, 416, ignored headers, the amplification limit, and ranges of a
 * large file read at their offsets.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import * as fs from "node:fs";
import { coalesce, decideRanges, MAX_RANGES, multipartLayout, SegmentedBody } from "../src/features/ranges.js";
import { FileIO } from "../src/py/io.js";
import { exchange, serve, type Running } from "./helpers.js";
import { buildTree, fetchReply, HUNDRED, lastModified, parseMultipart, parseReply, pseudoRandom, Quiet, removeTree, type RequestOptions } from "./features_fixture.js";

let root = "";
let server: Running;

before(async () => {
  root = buildTree();
  server = await serve(Quiet.with_directory(root));
});

after(async () => {
  await server.close();
  removeTree(root);
});

const get = (path: string, options: RequestOptions = {}) => fetchReply(server.port, path, options);
const ranged = (range: string, path = "/hundred.txt") => get(path, { headers: { Range: range } });

// ---------------------------------------------------------------------------------------------
// The rules, without a server

describe("decideRanges()", () => {
  const partial = (...ranges: [number, number][]) => ({ kind: "partial", ranges: ranges.map(([start, end]) => ({ start, end })) });

  test("a-b, a- and -n, with ends clamped to the last byte", () => {
    assert.deepEqual(decideRanges("bytes=0-9", 100), partial([0, 9]));
    assert.deepEqual(decideRanges("bytes=90-", 100), partial([90, 99]));
    assert.deepEqual(decideRanges("bytes=-5", 100), partial([95, 99]));
    assert.deepEqual(decideRanges("bytes=95-1000", 100), partial([95, 99]));
    assert.deepEqual(decideRanges("bytes=-1000", 100), partial([0, 99]));
    assert.deepEqual(decideRanges("bytes=99-99", 100), partial([99, 99]));
  });

  test("the unit is case-insensitive and whitespace around elements and empty elements are allowed", () => {
    assert.deepEqual(decideRanges("Bytes=0-1", 100), partial([0, 1]));
    assert.deepEqual(decideRanges("bytes= 0-1 , ,5-6 ,", 100), partial([0, 1], [5, 6]));
  });

  test("a range starting at or after the end, and -0, are unsatisfiable; all unsatisfiable is 416", () => {
    assert.deepEqual(decideRanges("bytes=100-", 100), { kind: "unsatisfiable" });
    assert.deepEqual(decideRanges("bytes=100-200", 100), { kind: "unsatisfiable" });
    assert.deepEqual(decideRanges("bytes=-0", 100), { kind: "unsatisfiable" });
    assert.deepEqual(decideRanges("bytes=0-", 0), { kind: "unsatisfiable" });
    assert.deepEqual(decideRanges("bytes=-5", 0), { kind: "unsatisfiable" });
    assert.deepEqual(decideRanges("bytes=200-300,5-6", 100), partial([5, 6]), "one satisfiable range is enough");
  });

  test("numbers beyond 2^53 are compared exactly", () => {
    assert.deepEqual(decideRanges("bytes=0-99999999999999999999999", 100), partial([0, 99]));
    assert.deepEqual(decideRanges("bytes=99999999999999999999999-", 100), { kind: "unsatisfiable" });
    assert.deepEqual(decideRanges("bytes=10000000000000000001-10000000000000000000", 100), { kind: "ignore" });
  });

  test("an invalid header is ignored", () => {
    for (const value of ["bytes=5-1", "bytes=a-b", "items=0-5", "bytes=", "bytes 0-5", "bytes=--5", "bytes=1-2-3", "bytes=-", "bytes=0x1-2", "bytes=1.5-2", "0-5", "bytes=0-5,x"]) {
      assert.deepEqual(decideRanges(value, 100), { kind: "ignore" }, value);
    }
  });

  test("overlapping and adjacent ranges are merged, keeping the order of their first member", () => {
    assert.deepEqual(decideRanges("bytes=0-10,5-20,30-40,41-50", 100), partial([0, 20], [30, 50]));
    assert.deepEqual(decideRanges("bytes=50-60,0-5,55-70", 100), partial([50, 70], [0, 5]));
    assert.deepEqual(decideRanges("bytes=0-49,50-99", 100), partial([0, 99]));
    assert.deepEqual(decideRanges("bytes=0-0,-1", 1), partial([0, 0]));
    assert.deepEqual(coalesce([{ start: 8, end: 9 }, { start: 0, end: 1 }, { start: 3, end: 4 }]), [
      { start: 8, end: 9 },
      { start: 0, end: 1 },
      { start: 3, end: 4 },
    ]);
  });

  test(`more than MAX_RANGES (${MAX_RANGES}) ranges left after merging: ignored`, () => {
    const spaced = (n: number) => "bytes=" + Array.from({ length: n }, (_, i) => `${i * 2}-${i * 2}`).join(",");
    assert.equal(decideRanges(spaced(MAX_RANGES), 100).kind, "partial");
    assert.deepEqual(decideRanges(spaced(MAX_RANGES + 1), 100), { kind: "ignore" });
    assert.deepEqual(decideRanges("bytes=" + "0-,".repeat(5000), 100), partial([0, 99]), "repeats merge into one");
  });

  test("multipartLayout() computes the exact length of the body it describes", async () => {
    const path = join(root, "hundred.txt");
    const layout = multipartLayout([{ start: 0, end: 4 }, { start: 90, end: 99 }], 100, "text/plain", "BOUNDARY");
    assert.equal(layout.contentType, "multipart/byteranges; boundary=BOUNDARY");
    const body = new SegmentedBody(await FileIO.open(path), layout.segments);
    const chunks: Buffer[] = [];
    for (let chunk = await body.read(7); chunk.length; chunk = await body.read(7)) chunks.push(chunk);
    await body.close();
    const bytes = Buffer.concat(chunks);
    assert.equal(bytes.length, layout.length);
    assert.equal(
      bytes.toString("latin1"),
      "--BOUNDARY\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-4/100\r\n\r\n" + HUNDRED.toString("latin1", 0, 5) +
        "\r\n--BOUNDARY\r\nContent-Type: text/plain\r\nContent-Range: bytes 90-99/100\r\n\r\n" + HUNDRED.toString("latin1", 90) +
        "\r\n--BOUNDARY--\r\n",
    );
  });
});

// ---------------------------------------------------------------------------------------------
// On the wire

describe("single ranges", () => {
  test("bytes=a-b is 206 with Content-Range, the length of the slice, and only the slice", async () => {
    const reply = await ranged("bytes=10-19");
    assert.deepEqual(reply.head, [
      "HTTP/1.0 206 Partial Content",
      "Server: <server>",
      "Date: <date>",
      "Content-type: text/plain",
      "Content-Range: bytes 10-19/100",
      "Content-Length: 10",
      `Last-Modified: ${lastModified(join(root, "hundred.txt"))}`,
    ]);
    assert.deepEqual(reply.body, HUNDRED.subarray(10, 20));
  });

  test("bytes=a- runs to the end", async () => {
    const reply = await ranged("bytes=90-");
    assert.equal(reply.header("Content-Range"), "bytes 90-99/100");
    assert.deepEqual(reply.body, HUNDRED.subarray(90));
  });

  test("bytes=-n is the last n bytes", async () => {
    const reply = await ranged("bytes=-5");
    assert.equal(reply.header("Content-Range"), "bytes 95-99/100");
    assert.equal(reply.header("Content-Length"), "5");
    assert.deepEqual(reply.body, HUNDRED.subarray(95));
  });

  test("an end beyond the file is clamped to its last byte", async () => {
    const reply = await ranged("bytes=95-5000");
    assert.equal(reply.status, 206);
    assert.equal(reply.header("Content-Range"), "bytes 95-99/100");
    assert.deepEqual(reply.body, HUNDRED.subarray(95));
  });

  test("a suffix longer than the file is the whole file, still 206", async () => {
    const reply = await ranged("bytes=-1000");
    assert.equal(reply.status, 206);
    assert.equal(reply.header("Content-Range"), "bytes 0-99/100");
    assert.deepEqual(reply.body, HUNDRED);
  });

  test("a slice from the middle of a 1 MiB file is read at its offset", async () => {
    const data = pseudoRandom(1024 * 1024 + 17);
    const reply = await ranged("bytes=300000-799999", "/big.bin");
    assert.equal(reply.header("Content-Range"), `bytes 300000-799999/${data.length}`);
    assert.equal(reply.header("Content-Length"), "500000");
    assert.ok(reply.body.equals(data.subarray(300000, 800000)));
  });

  test("HEAD ignores Range (RFC 9110: range handling is defined for GET only)", async () => {
    const reply = await get("/hundred.txt", { method: "HEAD", headers: { Range: "bytes=0-9" } });
    assert.equal(reply.head[0], "HTTP/1.0 200 OK");
    assert.equal(reply.header("Content-Length"), "100");
    assert.equal(reply.header("Content-Range"), undefined);
    assert.equal(reply.body.length, 0);
  });

  test("ranges frame correctly on a kept-alive HTTP/1.1 connection", async () => {
    class KeepAlive extends Quiet {
      override protocol_version = "HTTP/1.1";
    }
    const running = await serve(KeepAlive.with_directory(root));
    try {
      const raw = await exchange(
        running.port,
        "GET /hundred.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-2\r\n\r\n" +
          "GET /hundred.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,-1\r\n\r\n" +
          "GET /hundred.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=-3\r\nConnection: close\r\n\r\n",
        { timeoutMs: 30000 },
      );
      const first = parseReply(raw);
      assert.equal(first.status, 206);
      const firstEnd = raw.indexOf("\r\n\r\n") + 4 + 3;
      assert.deepEqual(raw.subarray(firstEnd - 3, firstEnd), HUNDRED.subarray(0, 3));
      const second = parseReply(raw.subarray(firstEnd));
      const secondLength = Number(second.header("Content-Length"));
      const secondEnd = firstEnd + raw.subarray(firstEnd).indexOf("\r\n\r\n") + 4 + secondLength;
      const parts = parseMultipart(raw.subarray(secondEnd - secondLength, secondEnd), second.header("Content-type")!);
      assert.deepEqual(parts.map((p) => p.body), [HUNDRED.subarray(0, 2), HUNDRED.subarray(99)]);
      const third = parseReply(raw.subarray(secondEnd));
      assert.equal(third.header("Content-Range"), "bytes 97-99/100");
      assert.deepEqual(third.body, HUNDRED.subarray(97));
    } finally {
      await running.close();
    }
  });
});

describe("several ranges", () => {
  test("bytes=0-0,-1 is multipart/byteranges with a part per range, each typed and ranged", async () => {
    const reply = await ranged("bytes=0-0,-1");
    assert.equal(reply.status, 206);
    assert.deepEqual(reply.names, ["Server", "Date", "Content-type", "Content-Length", "Last-Modified"]);
    assert.equal(Number(reply.header("Content-Length")), reply.body.length);
    const parts = parseMultipart(reply.body, reply.header("Content-type")!);
    assert.deepEqual(parts, [
      { headers: { "Content-Type": "text/plain", "Content-Range": "bytes 0-0/100" }, body: HUNDRED.subarray(0, 1) },
      { headers: { "Content-Type": "text/plain", "Content-Range": "bytes 99-99/100" }, body: HUNDRED.subarray(99) },
    ]);
  });

  test("each multipart response has its own boundary", async () => {
    const a = await ranged("bytes=0-0,-1");
    const b = await ranged("bytes=0-0,-1");
    assert.notEqual(a.header("Content-type"), b.header("Content-type"));
  });

  test("overlapping and adjacent ranges are coalesced, parts in the order requested", async () => {
    const reply = await ranged("bytes=50-60,0-5,55-70,6-7");
    const parts = parseMultipart(reply.body, reply.header("Content-type")!);
    assert.deepEqual(parts.map((p) => p.headers["Content-Range"]), ["bytes 50-70/100", "bytes 0-7/100"]);
    assert.deepEqual(parts.map((p) => p.body), [HUNDRED.subarray(50, 71), HUNDRED.subarray(0, 8)]);
  });

  test("ranges that coalesce into one give a plain 206, not multipart", async () => {
    const reply = await ranged("bytes=0-49,50-99");
    assert.equal(reply.header("Content-type"), "text/plain");
    assert.equal(reply.header("Content-Range"), "bytes 0-99/100");
    assert.deepEqual(reply.body, HUNDRED);
  });

  test("many overlapping copies of the file cannot amplify the response", async () => {
    const reply = await ranged("bytes=" + "0-,".repeat(2000) + "-100");
    assert.equal(reply.status, 206);
    assert.equal(reply.header("Content-Range"), "bytes 0-99/100");
    assert.deepEqual(reply.body, HUNDRED);
  });

  test(`${MAX_RANGES} separate ranges are served; one more and the whole file is sent as a plain 200`, async () => {
    const spaced = (n: number) => "bytes=" + Array.from({ length: n }, (_, i) => `${i * 3}-${i * 3}`).join(",");
    const served = await ranged(spaced(MAX_RANGES));
    assert.equal(served.status, 206);
    assert.equal(parseMultipart(served.body, served.header("Content-type")!).length, MAX_RANGES);
    const refused = await ranged(spaced(MAX_RANGES + 1));
    const plain = await get("/hundred.txt");
    assert.deepEqual(refused.head, plain.head);
    assert.deepEqual(refused.body, HUNDRED);
  });

  test("two large ranges of a 1 MiB file come back exactly", async () => {
    const data = pseudoRandom(1024 * 1024 + 17);
    const reply = await ranged("bytes=-200000,100-150099", "/big.bin");
    const parts = parseMultipart(reply.body, reply.header("Content-type")!);
    assert.equal(Number(reply.header("Content-Length")), reply.body.length);
    assert.deepEqual(parts.map((p) => p.headers["Content-Type"]), ["application/octet-stream", "application/octet-stream"]);
    assert.ok(parts[0]!.body.equals(data.subarray(data.length - 200000)));
    assert.ok(parts[1]!.body.equals(data.subarray(100, 150100)));
  });
});

describe("416 and ignored ranges", () => {
  test("a range starting at the size is 416 with Content-Range bytes */size on Python's error page", async () => {
    const reply = await ranged("bytes=100-");
    assert.deepEqual(reply.head, [
      "HTTP/1.0 416 Range Not Satisfiable",
      "Server: <server>",
      "Date: <date>",
      "Connection: close",
      "Content-Type: text/html;charset=utf-8",
      `Content-Length: ${reply.body.length}`,
      "Content-Range: bytes */100",
    ]);
    assert.match(reply.body.toString(), /<p>Error code: 416<\/p>[\s\S]*Cannot satisfy request range\./);
  });

  test("a-b wholly beyond the end, and -0, are 416", async () => {
    assert.equal((await ranged("bytes=150-200")).status, 416);
    assert.equal((await ranged("bytes=-0")).status, 416);
  });

  test("any range of an empty file is 416 bytes */0", async () => {
    const reply = await ranged("bytes=0-", "/empty.txt");
    assert.equal(reply.status, 416);
    assert.equal(reply.header("Content-Range"), "bytes */0");
  });

  test("a syntactically invalid Range is ignored: Python's 200, byte for byte", async () => {
    const plain = await get("/hundred.txt");
    for (const value of ["bytes=5-1", "bytes=a-b", "items=0-5", "bytes=", "bytes 0-5", "bytes=1-2-3", "bytes=-"]) {
      const reply = await ranged(value);
      assert.deepEqual(reply.head, plain.head, value);
      assert.deepEqual(reply.body, HUNDRED, value);
    }
  });

  test("Range on a listing is ignored: the listing, as without it", async () => {
    const plain = await get("/sub/");
    const reply = await get("/sub/", { headers: { Range: "bytes=0-5" } });
    assert.equal(reply.head[0], "HTTP/1.0 200 OK");
    assert.deepEqual(reply.head, plain.head);
    assert.deepEqual(reply.body, plain.body);
  });

  test("Range on a missing file is ignored: the 404, as without it", async () => {
    const plain = await get("/missing.txt");
    const reply = await ranged("bytes=0-5", "/missing.txt");
    assert.equal(reply.head[0], "HTTP/1.0 404 File not found");
    assert.deepEqual(reply.raw.length, plain.raw.length);
    assert.deepEqual(reply.head, plain.head);
  });

  test("Range on a directory without its slash is ignored: the 301", async () => {
    const reply = await ranged("bytes=0-5", "/sub");
    assert.deepEqual(reply.head, ["HTTP/1.0 301 Moved Permanently", "Server: <server>", "Date: <date>", "Location: /sub/", "Content-Length: 0"]);
  });

  test("If-Modified-Since is evaluated before Range: a 304 has no range", async () => {
    const reply = await get("/hundred.txt", {
      headers: { Range: "bytes=0-5", "If-Modified-Since": lastModified(join(root, "hundred.txt")) },
    });
    assert.deepEqual(reply.head, ["HTTP/1.0 304 Not Modified", "Server: <server>", "Date: <date>"]);
    assert.equal(reply.body.length, 0);
  });

  test("an index page serves ranges like any file", async () => {
    const reply = await ranged("bytes=3-5", "/withindex/");
    assert.equal(reply.status, 206);
    assert.equal(reply.body.toString(), fs.readFileSync(join(root, "withindex", "index.html"), "latin1").slice(3, 6));
  });
});
