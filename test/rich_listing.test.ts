/**
 * The rich listing (`listing = "rich"`, features/rich_listing.ts) over loopback sockets, against
 * the hostile-name copy of test/fixtures/site: Python's names, escaping and links; folders first;
 * the sorts; breadcrumbs and summary; the Content-Security-Policy and its hashes; JSON; the size
 * per entry; stats reused only while they are fresh. (In Chromium: browser.test.ts.)
 */
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { STATS_MAX_AGE_MS, breadcrumbs, forgetSnapshots, goFileMode, humanSize } from "../src/features/rich_listing.js";
import { CONTENT_SECURITY_POLICY, fileIcon } from "../src/features/rich_listing_page.js";
import { LIVERELOAD_SCRIPT } from "../src/features/livereload.js";
import { exchange, serve, splitReply, sleep, type Running } from "./helpers.js";
import { buildSite, removeSite } from "./site_fixture.js";

class Quiet extends SimpleHTTPRequestHandler {
  override log_message(): void {}
}
class Rich extends Quiet {
  static override listing = "rich" as const;
}

let root = "";
let site = "";
let rich: Running;
let python: Running;

before(async () => {
  ({ root, site } = buildSite());
  fs.mkdirSync(join(site, "sizes"));
  for (const [name, size, mtime] of [["small.txt", 10, 3000], ["large.bin", 5000, 1000], ["medium.md", 700, 2000]] as const) {
    fs.writeFileSync(join(site, "sizes", name), Buffer.alloc(size, 0x61));
    fs.utimesSync(join(site, "sizes", name), mtime, mtime);
  }
  fs.mkdirSync(join(site, "sizes", "folder"));
  fs.mkdirSync(join(site, "thousand"));
  for (let i = 0; i < 1000; i++) fs.writeFileSync(join(site, "thousand", `entry-${String(i).padStart(4, "0")}.txt`), `entry ${i}\n`);
  rich = await serve(Rich.with_directory(site));
  python = await serve(Quiet.with_directory(site));
});
after(async () => {
  await rich.close();
  await python.close();
  removeSite(root);
});
beforeEach(() => forgetSnapshots());

interface Reply {
  status: string;
  headers: Map<string, string>;
  body: Buffer;
}

async function get(server: Running, path: string, headers: Record<string, string> = {}, method = "GET"): Promise<Reply> {
  const head = [`${method} ${path} HTTP/1.0`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), "", ""].join("\r\n");
  const { head: text, body } = splitReply(await exchange(server.port, Buffer.from(head, "latin1"), { timeoutMs: 20_000 }));
  const [status = "", ...lines] = text.split("\r\n");
  const map = new Map(lines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]));
  return { status, headers: map, body };
}

/** `[href, text]` of each link in a listing's rows, as Latin-1 (raw bytes kept). */
function links(body: Buffer, pattern: RegExp): [string, string][] {
  return [...body.toString("latin1").matchAll(pattern)].map((m) => [m[1]!, m[2]!]);
}
const PYTHON_LINK = /<li><a href="([^"]*)">(.*?)<\/a><\/li>/g;
const RICH_LINK = /<tr><td><a href="([^"]*)"><svg><use href="#\w"\/><\/svg>(.*?)<\/a><\/td>/g;

/** The rows' names, in order, as the page shows them. */
function rowNames(body: Buffer): string[] {
  return links(body, RICH_LINK).map(([, text]) => Buffer.from(text, "latin1").toString("utf8"));
}

describe("the page", () => {
  test("every link of Python's listing, with its exact href and escaped name, is a row of the rich one", async () => {
    for (const path of ["/", "/sub/", "/q%3C%26%3E%22%27dir/", "/sorting/", "/ties/", "/dir%ED%B3%BE/"]) {
      const ours = await get(rich, path);
      const pythons = await get(python, path);
      assert.equal(ours.status, "HTTP/1.0 200 OK", path);
      const expected = links(pythons.body, PYTHON_LINK);
      const actual = links(ours.body, RICH_LINK);
      assert.deepEqual([...actual].sort(), [...expected].sort(), path);
      // Folders first; within each group, Python's order.
      const isDir = ([href]: [string, string]) => href.endsWith("/");
      assert.deepEqual(actual, [...expected.filter(isDir), ...expected.filter((l) => !isDir(l))], path);
    }
  });

  test("hostile names: <script>, quotes and & are escaped as Python escapes them, raw bytes stay raw", async () => {
    const body = (await get(rich, "/")).body;
    const text = body.toString("latin1");
    assert.ok(text.includes('<a href="%26%3C%3E%22%27.txt"><svg><use href="#t"/></svg>&amp;&lt;&gt;"\'.txt</a>'));
    assert.ok(text.includes('<a href="q%3C%26%3E%22%27dir/"><svg><use href="#d"/></svg>q&lt;&amp;&gt;"\'dir/</a>'));
    // A name that is not UTF-8: its link opens it (surrogatepass), its text is the raw byte.
    assert.ok(body.includes(Buffer.concat([Buffer.from('<a href="bad%ED%B3%BF.txt"><svg><use href="#t"/></svg>bad'), Buffer.from([0xff]), Buffer.from(".txt</a>")])));
    assert.ok(!text.includes("<script>alert"), "no name reaches the page unescaped");
    assert.equal((await get(rich, "/bad%ED%B3%BF.txt")).body.toString(), "bad bytes\n");
  });

  test("folders first, ../ on top but at the root, links end in / for folders and the name in @ for links", async () => {
    const body = (await get(rich, "/")).body;
    const hrefs = links(body, RICH_LINK).map(([href]) => href);
    const firstFile = hrefs.findIndex((href) => !href.endsWith("/"));
    assert.ok(firstFile > 0 && hrefs.slice(firstFile).every((href) => !href.endsWith("/")), hrefs.join(" "));
    const names = rowNames(body);
    assert.ok(names.includes("linkdir@") && names.includes("link.txt@") && names.includes("dangling@"));
    assert.ok(hrefs.includes("linkdir/") && hrefs.includes("link.txt"));
    assert.ok(!(await get(rich, "/")).body.includes('class="up"'));
    const sub = (await get(rich, "/sub/")).body.toString();
    assert.match(sub, /<tbody>\n<tr class="up"><td><a href="\.\.\/">/);
  });

  test("sizes are human, times local to the minute with the exact UTC time on hover", async () => {
    const text = (await get(rich, "/sizes/")).body.toString();
    assert.match(text, /<td>10 B<\/td><td title="1970-01-01T00:50:00\.000Z">\d{4}-\d\d-\d\d \d\d:\d\d<\/td>/);
    assert.match(text, /medium\.md<\/a><\/td><td>700 B<\/td>/);
    assert.match(text, /large\.bin<\/a><\/td><td>4\.9 KiB<\/td>/);
    assert.match(text, /folder\/<\/a><\/td><td>—<\/td>/);
    assert.match(text, /<p>1 folder, 3 files, 5\.6 KiB<\/p>/);
  });

  test("?sort=size&order=desc puts the largest first; asc the smallest; folders stay first", async () => {
    assert.deepEqual(rowNames((await get(rich, "/sizes/?sort=size&order=desc")).body), ["folder/", "large.bin", "medium.md", "small.txt"]);
    assert.deepEqual(rowNames((await get(rich, "/sizes/?sort=size&order=asc")).body), ["folder/", "small.txt", "medium.md", "large.bin"]);
    // Without an order, size and time start with the largest and newest, names from A.
    assert.deepEqual(rowNames((await get(rich, "/sizes/?sort=size")).body), ["folder/", "large.bin", "medium.md", "small.txt"]);
    assert.deepEqual(rowNames((await get(rich, "/sizes/?sort=mtime")).body), ["folder/", "small.txt", "medium.md", "large.bin"]);
    assert.deepEqual(rowNames((await get(rich, "/sizes/?sort=name&order=desc")).body), ["folder/", "small.txt", "medium.md", "large.bin"]);
    assert.deepEqual(rowNames((await get(rich, "/sizes/?sort=bogus&order=sideways")).body), ["folder/", "large.bin", "medium.md", "small.txt"]);
  });

  test("the column headers link to the sorts, the current one marked and flipping its order", async () => {
    const text = (await get(rich, "/sizes/?sort=size&order=desc")).body.toString();
    assert.ok(text.includes('<th><a href="?sort=name&amp;order=asc">Name</a></th>'));
    assert.ok(text.includes('<th aria-sort="descending"><a href="?sort=size&amp;order=asc">Size</a> ▼</th>'));
    assert.ok(text.includes('<th><a href="?sort=mtime&amp;order=desc">Modified</a></th>'));
  });

  test("breadcrumbs: a relative link per segment, the names decoded and escaped", async () => {
    assert.equal(breadcrumbs("/"), '<a href="./">/</a>');
    assert.equal(breadcrumbs("/a/b%20c/"), '<a href="../../">/</a><a href="../">a/</a><a href="./">b c/</a>');
    assert.equal(breadcrumbs("/%3Cx%3E/"), '<a href="../">/</a><a href="./">&lt;x&gt;/</a>');
    const text = (await get(rich, "/dir%20with%20space/")).body.toString();
    assert.ok(text.includes('<h1><a href="../">/</a><a href="./">dir with space/</a></h1>'));
    assert.ok(text.includes("<title>Directory listing for /dir with space/</title>"));
  });

  test("HTML: the Content-Security-Policy names the page's own style and script by hash, and nothing external", async () => {
    const reply = await get(rich, "/");
    assert.equal(reply.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(reply.headers.get("vary"), "Accept");
    const csp = reply.headers.get("content-security-policy")!;
    assert.equal(csp, CONTENT_SECURITY_POLICY);
    const text = reply.body.toString("latin1");
    const hash = (s: string) => `'sha256-${createHash("sha256").update(Buffer.from(s, "latin1")).digest("base64")}'`;
    const style = /<style>([\s\S]*?)<\/style>/.exec(text)![1]!;
    const script = /<script>([\s\S]*?)<\/script>/.exec(text)![1]!;
    assert.match(csp, new RegExp(`style-src ${escapeRegExp(hash(style))}(;|$)`));
    assert.ok(csp.includes(`script-src ${hash(script)} `));
    const livereload = LIVERELOAD_SCRIPT.slice(8, LIVERELOAD_SCRIPT.lastIndexOf("</script>"));
    assert.ok(csp.includes(hash(livereload)), "the live-reload script --watch adds is allowed too");
    assert.match(csp, /^default-src 'none'; /);
    // No URL that leaves the page but its links: no src=, and every href relative or a fragment or data:.
    assert.ok(!/\ssrc=/.test(text));
    for (const [, href] of text.matchAll(/href="([^"]*)"/g)) assert.match(href!, /^(?!\/\/)(?![a-z][a-z0-9+.-]*:(?!image\/svg))|^data:/i, href);
  });

  test("HEAD: the same headers, no body", async () => {
    const get_ = await get(rich, "/sub/");
    const head = await get(rich, "/sub/", {}, "HEAD");
    assert.equal(head.body.length, 0);
    assert.equal(head.headers.get("content-length"), String(get_.body.length));
  });

  test("1000 entries: under 250 bytes of HTML per entry", async () => {
    const body = (await get(rich, "/thousand/")).body;
    assert.equal(rowNames(body).length, 1000);
    assert.ok(body.length < 250 * 1000, `${body.length} bytes`);
  });
});

describe("JSON", () => {
  test("Accept: application/json and ?format=json: Caddy's fields plus type and mtime, in the page's order", async () => {
    const byAccept = await get(rich, "/sizes/?sort=size&order=desc", { Accept: "application/json" });
    const byQuery = await get(rich, "/sizes/?format=json&sort=size&order=desc");
    assert.equal(byAccept.headers.get("content-type"), "application/json");
    assert.equal(byAccept.headers.get("vary"), "Accept");
    assert.equal(byAccept.headers.get("content-security-policy"), undefined);
    assert.deepEqual(byAccept.body, byQuery.body);
    const items = JSON.parse(byAccept.body.toString()) as Record<string, unknown>[];
    assert.deepEqual(items.map((item) => item["name"]), ["folder/", "large.bin", "medium.md", "small.txt"]);
    const large = items[1]!;
    assert.deepEqual(Object.keys(large), ["name", "size", "url", "mod_time", "mode", "is_dir", "is_symlink", "type", "mtime"]);
    assert.deepEqual(large, {
      name: "large.bin", size: 5000, url: "large.bin", mod_time: "1970-01-01T00:16:40.000Z", mode: fs.statSync(join(site, "sizes", "large.bin")).mode & 0o777,
      is_dir: false, is_symlink: false, type: "file", mtime: "1970-01-01T00:16:40.000Z",
    });
    assert.equal(items[0]!["type"], "directory");
    assert.equal(items[0]!["mode"], 2 ** 31 + (fs.statSync(join(site, "sizes", "folder")).mode & 0o777));
  });

  test("names stay exact: hostile characters as they are, a name that is not UTF-8 as its surrogate escape", async () => {
    const items = JSON.parse((await get(rich, "/?format=json")).body.toString()) as { name: string; url: string; is_symlink: boolean; type: string }[];
    const names = items.map((item) => item.name);
    assert.ok(names.includes("&<>\"'.txt") && names.includes("q<&>\"'dir/") && names.includes("bad\udcff.txt"));
    const link = items.find((item) => item.name === "link.txt")!;
    assert.deepEqual([link.is_symlink, link.type, link.url], [true, "file", "link.txt"]);
    assert.equal(items.find((item) => item.name === "dangling")!.type, "other");
  });
});

describe("freshness", () => {
  test("an added file shows at once; a size changed in place within the second that follows", async () => {
    const dir = join(site, "fresh");
    fs.mkdirSync(dir);
    fs.writeFileSync(join(dir, "a.txt"), "a");
    assert.deepEqual(rowNames((await get(rich, "/fresh/")).body), ["a.txt"]);
    fs.writeFileSync(join(dir, "b.txt"), "b");
    assert.deepEqual(rowNames((await get(rich, "/fresh/")).body), ["a.txt", "b.txt"]);
    fs.writeFileSync(join(dir, "a.txt"), "a".repeat(2048));
    await sleep(STATS_MAX_AGE_MS + 50);
    assert.match((await get(rich, "/fresh/")).body.toString(), /a\.txt<\/a><\/td><td>2\.0 KiB<\/td>/);
  });
});

describe("helpers", () => {
  test("humanSize: bytes, then powers of 1024 with one decimal below 10, rounded (as go-humanize's IBytes)", () => {
    assert.deepEqual(
      [0, 1023, 1024, 1536, 5710, 10 * 1024 - 1, 10 * 1024, 5 * 1024 ** 2, 3.3 * 1024 ** 3].map(humanSize),
      ["0 B", "1023 B", "1.0 KiB", "1.5 KiB", "5.6 KiB", "10.0 KiB", "10 KiB", "5.0 MiB", "3.3 GiB"],
    );
  });

  test("goFileMode: Go's FileMode bits, as Caddy's JSON has them", () => {
    const stats = (mode: number) => ({ mode }) as fs.Stats;
    assert.equal(goFileMode(stats(0o100644), false), 0o644);
    assert.equal(goFileMode(stats(0o040755), false), 2147484141);
    assert.equal(goFileMode(null, true), 134218239);
    assert.equal(goFileMode(stats(0o010600), false), 2 ** 25 + 0o600);
    assert.equal(goFileMode(stats(0o041777), false), 2 ** 31 + 2 ** 20 + 0o777);
    assert.equal(goFileMode(null, false), 0);
  });

  test("fileIcon by extension, in any case", () => {
    assert.deepEqual(["a.PNG", "b.mp4", "c.tar.gz", "d.ts", "Makefile", ".env", "e.xyz"].map(fileIcon), ["i", "m", "a", "t", "f", "f", "f"]);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
