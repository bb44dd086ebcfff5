/**
 * Conditional requests (src/features/conditional.ts and their use in send_head): entity-tag parsing
 * and comparison, the ETag's format and place, If-None-Match with ETags on (304) and off
 * (Python's rule), 412 for If-Match and If-Unmodified-Since, the RFC 9110 §13.2.2 order, and
 * If-Range with dates and tags — over loopback with raw bytes.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import * as fs from "node:fs";
import {
  evaluatePreconditions,
  fileETag,
  ifRangeHolds,
  parseEntityTag,
  parseEntityTagList,
  strongMatch,
  weakMatch,
} from "../src/features/conditional.js";
import { HTTPMessage } from "../src/http/message.js";
import { formatHttpDate } from "../src/http/dates.js";
import { serve, type Running } from "./helpers.js";
import { buildTree, fetchReply, HUNDRED, lastModified, MTIME, Quiet, removeTree, type RequestOptions } from "./features_fixture.js";

let root = "";
let plain: Running; // defaults: ETags off
let tagged: Running; // etag = true

class Tagged extends Quiet {
  static override etag = true;
}

before(async () => {
  root = buildTree();
  plain = await serve(Quiet.with_directory(root));
  tagged = await serve(Tagged.with_directory(root));
});

after(async () => {
  await plain.close();
  await tagged.close();
  removeTree(root);
});

const getPlain = (path: string, options: RequestOptions = {}) => fetchReply(plain.port, path, options);
const getTagged = (path: string, options: RequestOptions = {}) => fetchReply(tagged.port, path, options);

/** The hundred-byte file's tag: size 100 (0x64), mtime MTIME seconds in ms, in hex. */
const HUNDRED_TAG = `W/"64-${(MTIME * 1000).toString(16)}"`;
const HUNDRED_DATE = formatHttpDate(MTIME);
const BEFORE = formatHttpDate(MTIME - 10);
const AFTER = formatHttpDate(MTIME + 10);

const headersOf = (fields: Record<string, string>) => {
  const message = new HTTPMessage();
  for (const [name, value] of Object.entries(fields)) message.add(name, value);
  return message;
};

// ---------------------------------------------------------------------------------------------
// The rules, without a server

describe("entity tags", () => {
  test("fileETag() is weak: size and mtime in milliseconds, in hex", () => {
    assert.equal(fileETag({ size: 100, mtimeMs: MTIME * 1000 + 0.75 }), HUNDRED_TAG);
    assert.equal(fileETag({ size: 0, mtimeMs: 1 }), 'W/"0-1"');
  });

  test("tags parse strong or weak; lists allow spaces and empty elements; anything else is null", () => {
    assert.deepEqual(parseEntityTag('"abc"'), { weak: false, opaque: "abc" });
    assert.deepEqual(parseEntityTag('W/"abc"'), { weak: true, opaque: "abc" });
    assert.deepEqual(parseEntityTag('""'), { weak: false, opaque: "" });
    assert.deepEqual(parseEntityTagList(' "a" ,, W/"b",'), [
      { weak: false, opaque: "a" },
      { weak: true, opaque: "b" },
    ]);
    for (const bad of ["abc", '"a', 'w/"a"', '"a" "b"', '"a b"', "*", "", '"a",b']) {
      assert.equal(parseEntityTagList(bad), null, bad);
    }
  });

  test("strong comparison needs two strong tags; weak comparison only the same text", () => {
    const strong = { weak: false, opaque: "x" };
    const weak = { weak: true, opaque: "x" };
    assert.equal(strongMatch(strong, strong), true);
    assert.equal(strongMatch(weak, strong), false);
    assert.equal(strongMatch(weak, weak), false);
    assert.equal(weakMatch(weak, strong), true);
    assert.equal(weakMatch(weak, { weak: true, opaque: "y" }), false);
  });
});

describe("evaluatePreconditions()", () => {
  const mtimeMs = MTIME * 1000;

  test("If-Match comes first; If-Unmodified-Since is ignored when it is present", () => {
    assert.equal(evaluatePreconditions(headersOf({ "If-Match": "*", "If-Unmodified-Since": BEFORE }), mtimeMs, null), "proceed");
    assert.equal(evaluatePreconditions(headersOf({ "If-Match": '"x"' }), mtimeMs, '"x"'), "proceed");
    assert.equal(evaluatePreconditions(headersOf({ "If-Match": 'W/"x"' }), mtimeMs, 'W/"x"'), "precondition-failed");
  });

  test("a failed If-Match wins over a matching If-None-Match", () => {
    const headers = headersOf({ "If-Match": '"nope"', "If-None-Match": HUNDRED_TAG });
    assert.equal(evaluatePreconditions(headers, mtimeMs, HUNDRED_TAG), "precondition-failed");
  });

  test("If-None-Match replaces If-Modified-Since, with or without ETags", () => {
    const headers = headersOf({ "If-None-Match": '"other"', "If-Modified-Since": AFTER });
    assert.equal(evaluatePreconditions(headers, mtimeMs, HUNDRED_TAG), "proceed");
    assert.equal(evaluatePreconditions(headers, mtimeMs, null), "proceed");
    assert.equal(evaluatePreconditions(headersOf({ "If-Modified-Since": AFTER }), mtimeMs, null), "not-modified");
  });

  test("ifRangeHolds(): no header, the exact date, or a strongly matching tag", () => {
    assert.equal(ifRangeHolds(undefined, mtimeMs, null), true);
    assert.equal(ifRangeHolds(HUNDRED_DATE, mtimeMs + 999, null), true);
    assert.equal(ifRangeHolds(AFTER, mtimeMs, null), false);
    assert.equal(ifRangeHolds('"x"', mtimeMs, '"x"'), true);
    assert.equal(ifRangeHolds('"x"', mtimeMs, 'W/"x"'), false);
    assert.equal(ifRangeHolds('W/"x"', mtimeMs, 'W/"x"'), false);
    assert.equal(ifRangeHolds("garbage", mtimeMs, '"x"'), false);
  });
});

// ---------------------------------------------------------------------------------------------
// ETags on the wire

describe("ETag", () => {
  test("with etag on, a file's 200 carries ETag right after Last-Modified", async () => {
    const reply = await getTagged("/hundred.txt");
    assert.deepEqual(reply.head, [
      "HTTP/1.0 200 OK",
      "Server: <server>",
      "Date: <date>",
      "Content-type: text/plain",
      "Content-Length: 100",
      `Last-Modified: ${HUNDRED_DATE}`,
      `ETag: ${HUNDRED_TAG}`,
    ]);
    assert.deepEqual(reply.body, HUNDRED);
  });

  test("the tag follows the file: another size or time, another tag", async () => {
    const path = join(root, "sub", "note.txt");
    const before = (await getTagged("/sub/note.txt")).header("ETag");
    fs.writeFileSync(path, "note, longer\n");
    fs.utimesSync(path, MTIME + 5, MTIME + 5);
    const after = (await getTagged("/sub/note.txt")).header("ETag");
    assert.notEqual(before, after);
    assert.equal(after, `W/"d-${((MTIME + 5) * 1000).toString(16)}"`);
  });

  test("206 carries it too, after Last-Modified", async () => {
    const reply = await getTagged("/hundred.txt", { headers: { Range: "bytes=0-1" } });
    assert.deepEqual(reply.names.slice(-2), ["Last-Modified", "ETag"]);
    assert.equal(reply.header("ETag"), HUNDRED_TAG);
  });

  test("listings, redirects and errors have none", async () => {
    assert.equal((await getTagged("/sub/")).header("ETag"), undefined);
    assert.equal((await getTagged("/sub")).header("ETag"), undefined);
    assert.equal((await getTagged("/missing")).header("ETag"), undefined);
  });

  test("with etag off (the default) there is no ETag", async () => {
    assert.equal((await getPlain("/hundred.txt")).header("ETag"), undefined);
  });
});

describe("If-None-Match", () => {
  test("with ETags on, the current tag gives 304 with Server, Date and ETag", async () => {
    const reply = await getTagged("/hundred.txt", { headers: { "If-None-Match": HUNDRED_TAG } });
    assert.deepEqual(reply.head, ["HTTP/1.0 304 Not Modified", "Server: <server>", "Date: <date>", `ETag: ${HUNDRED_TAG}`]);
    assert.equal(reply.body.length, 0);
  });

  test("comparison is weak: the strong form of the tag, `*`, or a list holding it match", async () => {
    const strong = HUNDRED_TAG.slice(2);
    for (const value of [strong, "*", `"a", ${HUNDRED_TAG}, "b"`]) {
      assert.equal((await getTagged("/hundred.txt", { headers: { "If-None-Match": value } })).status, 304, value);
    }
  });

  test("HEAD gets the 304 too", async () => {
    const reply = await getTagged("/hundred.txt", { method: "HEAD", headers: { "If-None-Match": HUNDRED_TAG } });
    assert.equal(reply.status, 304);
  });

  test("another tag gives 200, and If-Modified-Since is then not evaluated", async () => {
    const reply = await getTagged("/hundred.txt", { headers: { "If-None-Match": '"other"', "If-Modified-Since": AFTER } });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, HUNDRED);
  });

  test("with ETags off, Python's rule: any value (even the tag or `*`) only disables If-Modified-Since", async () => {
    for (const value of [HUNDRED_TAG, "*"]) {
      const reply = await getPlain("/hundred.txt", { headers: { "If-None-Match": value, "If-Modified-Since": AFTER } });
      assert.equal(reply.status, 200, value);
      assert.equal(reply.header("ETag"), undefined);
    }
  });
});

describe("If-Match", () => {
  test("`*` matches any existing file: 200", async () => {
    assert.equal((await getPlain("/hundred.txt", { headers: { "If-Match": "*" } })).status, 200);
    assert.equal((await getTagged("/hundred.txt", { headers: { "If-Match": "*" } })).status, 200);
  });

  test("a tag with ETags off cannot match: 412 Precondition Failed on Python's error page", async () => {
    const reply = await getPlain("/hundred.txt", { headers: { "If-Match": '"anything"' } });
    assert.deepEqual(reply.head, [
      "HTTP/1.0 412 Precondition Failed",
      "Server: <server>",
      "Date: <date>",
      "Connection: close",
      "Content-Type: text/html;charset=utf-8",
      `Content-Length: ${reply.body.length}`,
    ]);
    assert.match(reply.body.toString(), /Error code: 412[\s\S]*Precondition in headers is false\./);
  });

  test("comparison is strong: even the current (weak) tag fails with 412", async () => {
    assert.equal((await getTagged("/hundred.txt", { headers: { "If-Match": HUNDRED_TAG } })).status, 412);
  });

  test("a malformed value fails: 412", async () => {
    assert.equal((await getTagged("/hundred.txt", { headers: { "If-Match": "nonsense" } })).status, 412);
  });

  test("a missing file is still 404 (preconditions only apply to what exists)", async () => {
    assert.equal((await getPlain("/missing.txt", { headers: { "If-Match": "*" } })).head[0], "HTTP/1.0 404 File not found");
  });

  test("a listing ignores it", async () => {
    assert.equal((await getPlain("/sub/", { headers: { "If-Match": '"x"' } })).status, 200);
  });
});

describe("If-Unmodified-Since", () => {
  test("the Last-Modified date or later: 200", async () => {
    for (const date of [HUNDRED_DATE, AFTER]) {
      const reply = await getPlain("/hundred.txt", { headers: { "If-Unmodified-Since": date } });
      assert.equal(reply.status, 200, date);
      assert.deepEqual(reply.body, HUNDRED);
    }
  });

  test("an earlier date: 412", async () => {
    assert.equal((await getPlain("/hundred.txt", { headers: { "If-Unmodified-Since": BEFORE } })).status, 412);
  });

  test("an invalid date, or one with a non-UTC offset, is ignored: 200", async () => {
    for (const date of ["yesterday", "Sun, 09 Sep 2001 03:46:30 +0200"]) {
      assert.equal((await getPlain("/hundred.txt", { headers: { "If-Unmodified-Since": date } })).status, 200, date);
    }
  });

  test("ignored when If-Match is present", async () => {
    const reply = await getPlain("/hundred.txt", { headers: { "If-Match": "*", "If-Unmodified-Since": BEFORE } });
    assert.equal(reply.status, 200);
  });

  test("evaluated before If-None-Match: 412 even when the tag matches", async () => {
    const reply = await getTagged("/hundred.txt", { headers: { "If-Unmodified-Since": BEFORE, "If-None-Match": HUNDRED_TAG } });
    assert.equal(reply.status, 412);
  });
});

describe("If-Range", () => {
  const range = (ifRange: string, get = getPlain) => get("/hundred.txt", { headers: { Range: "bytes=0-9", "If-Range": ifRange } });

  test("the exact Last-Modified date honours the range: 206", async () => {
    const reply = await range(lastModified(join(root, "hundred.txt")));
    assert.equal(reply.status, 206);
    assert.deepEqual(reply.body, HUNDRED.subarray(0, 10));
  });

  test("an earlier or later date sends the whole file: 200", async () => {
    for (const date of [BEFORE, AFTER]) {
      const reply = await range(date);
      assert.equal(reply.status, 200, date);
      assert.deepEqual(reply.body, HUNDRED, date);
    }
  });

  test("an invalid date sends the whole file", async () => {
    assert.equal((await range("not a date")).status, 200);
  });

  test("an entity tag with ETags on: our tags are weak, so never a match (strong comparison)", async () => {
    assert.equal((await range(HUNDRED_TAG, getTagged)).status, 200);
    assert.equal((await range(HUNDRED_TAG.slice(2), getTagged)).status, 200);
  });

  test("an entity tag with ETags off sends the whole file", async () => {
    const reply = await range('"64-whatever"');
    assert.equal(reply.status, 200);
    assert.equal(reply.header("Content-Length"), "100");
  });

  test("If-Range without Range is nothing: Python's 200", async () => {
    const reply = await getPlain("/hundred.txt", { headers: { "If-Range": BEFORE } });
    const bare = await getPlain("/hundred.txt");
    assert.deepEqual(reply.head, bare.head);
  });

  test("a failed If-Range does not turn an unsatisfiable range into 416", async () => {
    const reply = await getPlain("/hundred.txt", { headers: { Range: "bytes=500-", "If-Range": BEFORE } });
    assert.equal(reply.status, 200);
  });
});
