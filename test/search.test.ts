/**
 * Search (`search = true`, features/search.ts) over loopback: names found case-insensitively at
 * any depth, as a page and as JSON; hidden names and links leading out never visited; the entry
 * and time limits answering partial results that say so; a normal request served while a search
 * walks a big tree.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { requestedSearch, searchesRunning } from "../src/features/search.js";
import { serve, type Running } from "./helpers.js";
import { waitFor } from "./cli_process.js";
import { download, writeTree } from "./archive_fixture.js";

class Quiet extends SimpleHTTPRequestHandler {
  override log_message(): void {}
}
class Search extends Quiet {
  static override search = true;
  static override listing = "rich" as const;
}
class Hidden extends Search {
  static override dotfiles = false;
  static override follow_symlinks = false;
}

let root = "";
let outside = "";
let search: Running;
let hidden: Running;

interface Found {
  query: string;
  partial: boolean;
  reason: string | null;
  visited: number;
  results: { name: string; path: string; url: string; is_dir: boolean; is_symlink: boolean; size: number; type: string }[];
}

async function find(server: Running, path: string): Promise<Found> {
  const reply = await download(server.port, path, { Accept: "application/json" });
  assert.equal(reply.status, 200);
  assert.equal(reply.headers["content-type"], "application/json");
  return JSON.parse(reply.body.toString("utf8")) as Found;
}

before(async () => {
  root = fs.mkdtempSync(join(tmpdir(), "simplehttp-search-"));
  outside = fs.mkdtempSync(join(tmpdir(), "simplehttp-search-outside-"));
  writeTree(root, {
    "Report-2026.pdf": "pdf",
    "docs/annual REPORT.txt": "txt",
    "docs/deep/er/reports/q1.csv": "csv",
    "docs/ünïcødé report.md": "md",
    "other.txt": "x",
    ".secret/report-hidden.txt": "h",
    ".report.txt": "h",
  });
  writeTree(outside, { "report-outside.txt": "o" });
  fs.symlinkSync(outside, join(root, "link-out"));
  fs.symlinkSync("docs", join(root, "link-in"));
  search = await serve(Search.with_directory(root));
  hidden = await serve(Hidden.with_directory(root));
});
after(async () => {
  await search.close();
  await hidden.close();
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(outside, { recursive: true, force: true });
});

describe("finding names", () => {
  test("?q= is a search when it holds text; empty or blank is the listing", () => {
    assert.equal(requestedSearch("/?q=report"), "report");
    assert.equal(requestedSearch("/d/?sort=size&q=%20r%C3%A9%20"), "ré");
    assert.equal(requestedSearch("/?q="), null);
    assert.equal(requestedSearch("/?query=x"), null);
  });

  test("names containing the text, in any case, at any depth, with their paths from the folder searched", async () => {
    const found = await find(search, "/?q=RePoRt");
    assert.equal(found.query, "RePoRt");
    assert.equal(found.partial, false);
    assert.equal(found.reason, null);
    const paths = found.results.map((r) => r.path);
    for (const path of ["Report-2026.pdf", "docs/annual REPORT.txt", "docs/deep/er/reports/", "docs/ünïcødé report.md", ".report.txt", ".secret/report-hidden.txt"]) {
      assert.ok(paths.includes(path), `${path} in ${paths}`);
    }
    assert.ok(!paths.includes("other.txt"));
    const folder = found.results.find((r) => r.path === "docs/deep/er/reports/")!;
    assert.equal(folder.is_dir, true);
    assert.equal(folder.url, "docs/deep/er/reports/");
    assert.equal(found.results.find((r) => r.path === "docs/ünïcødé report.md")!.url, "docs/%C3%BCn%C3%AFc%C3%B8d%C3%A9%20report.md");
    assert.equal(found.results.find((r) => r.path === "Report-2026.pdf")!.size, 3);
  });

  test("a search below a folder stays below it", async () => {
    const found = await find(search, "/docs/deep/?q=q1");
    assert.deepEqual(found.results.map((r) => r.path), ["er/reports/q1.csv"]);
  });

  test("the page: a row per match linking it, the search box filled in, the sort links keeping the query, a policy without unsafe-inline", async () => {
    const reply = await download(search.port, "/?q=report&sort=size&order=desc");
    assert.equal(reply.status, 200);
    const html = reply.body.toString("utf8");
    assert.match(html, /<title>Search for “report” in \/<\/title>/);
    assert.match(html, /<a href="docs\/annual%20REPORT.txt"><svg><use href="#t"\/><\/svg>docs\/annual REPORT.txt<\/a>/);
    assert.match(html, /<input type="search" name="q" value="report"/);
    assert.match(html, /href="\?q=report&amp;sort=name&amp;order=asc"/);
    assert.match(html, /matches for “report” among \d+ entries/);
    const policy = reply.headers["content-security-policy"] as string;
    assert.ok(!policy.includes("unsafe-inline"));
    assert.match(policy, /form-action 'self'/);
  });

  test("hidden names (dotfiles = false) and links leading out (follow_symlinks = false) are never visited; links inside are", async () => {
    const all = await find(search, "/?q=report");
    const found = await find(hidden, "/?q=report");
    const paths = found.results.map((r) => r.path);
    assert.ok(!paths.some((path) => path.includes(".secret") || path.includes(".report")));
    assert.ok(!paths.some((path) => path.includes("outside")));
    assert.ok(all.results.some((r) => r.path === "link-out/report-outside.txt"), "followed by default, as serving follows it");
    assert.ok(paths.includes("link-in/annual REPORT.txt"));
    assert.ok(found.visited < all.visited - 3, "fewer entries visited, not only fewer shown");
  });

  test("without search, ?q= is the listing", async () => {
    const server = await serve(Quiet.with_directory(root));
    try {
      const reply = await download(server.port, "/?q=report");
      assert.match(reply.body.toString(), /<title>Directory listing for \/<\/title>/);
    } finally {
      await server.close();
    }
  });

  test("the rich listing carries the search box (a plain GET form), and allows forms to this server", async () => {
    const reply = await download(search.port, "/docs/");
    assert.match(reply.body.toString(), /<form class="search" role="search" method="get"><input type="search" name="q" placeholder="Search below this folder"/);
    assert.match(reply.headers["content-security-policy"] as string, /form-action 'self'/);
  });
});

describe("limits", () => {
  let big = "";
  before(() => {
    big = join(root, "big");
    for (let d = 0; d < 100; d++) {
      fs.mkdirSync(join(big, `dir${d}`), { recursive: true });
      for (let f = 0; f < 300; f++) fs.writeFileSync(join(big, `dir${d}`, `file${f}.txt`), "");
    }
  });

  test("past search_max_entries the answer is partial and says why", async () => {
    class Few extends Search {
      static override search_max_entries = 50;
    }
    const server = await serve(Few.with_directory(root));
    try {
      const found = await find(server, "/big/?q=file");
      assert.equal(found.partial, true);
      assert.equal(found.reason, "stopped after visiting 50 entries");
      assert.equal(found.visited, 50);
      const page = (await download(server.port, "/big/?q=file")).body.toString();
      assert.match(page, /partial results: stopped after visiting 50 entries/);
    } finally {
      await server.close();
    }
  });

  test("past search_timeout the answer is partial and says why; at most 1000 matches", async () => {
    class Short extends Search {
      static override search_timeout = 0.001;
    }
    const server = await serve(Short.with_directory(root));
    try {
      const found = await find(server, "/big/?q=zzz-nothing");
      assert.equal(found.partial, true);
      assert.equal(found.reason, "stopped after 0.001 seconds");
      assert.ok(found.visited < 30_100);
    } finally {
      await server.close();
    }
    const many = await find(search, "/big/?q=file");
    assert.equal(many.results.length, 1000);
    assert.equal(many.reason, "stopped at 1000 matches");
  });

  test("a normal request is served while a search walks a big tree", async () => {
    const searching = find(search, "/big/?q=zzz-nothing");
    await waitFor(() => searchesRunning() > 0, "the search to start");
    const served = await download(search.port, "/other.txt");
    assert.equal(served.body.toString(), "x");
    assert.equal(searchesRunning(), 1, "the search is still walking");
    const found = await searching;
    assert.equal(found.partial, false);
    assert.equal(found.visited, 30_100);
  });
});
