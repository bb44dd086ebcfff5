/**
 * The README under the rich listing (`readme = true`, features/readme.ts): Markdown rendered with
 * raw HTML off and only safe links, plain text as text, the names in order, the policy still
 * without `'unsafe-inline'`. (That a hostile README runs nothing in a browser: share_browser.test.ts.)
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { forgetSnapshots } from "../src/features/rich_listing.js";
import { README_MAX_BYTES, isSafeUrl, renderMarkdown } from "../src/features/readme.js";
import { serve, type Running } from "./helpers.js";
import { download, writeTree } from "./archive_fixture.js";

class Readme extends SimpleHTTPRequestHandler {
  static override listing = "rich" as const;
  static override readme = true;
  override log_message(): void {}
}

let root = "";
let outside = "";
let server: Running;

/** The part of a listing between `<article class="readme">` and `</article>`, or null. */
function readmeOf(html: string): string | null {
  const start = html.indexOf('<article class="readme">');
  return start < 0 ? null : html.slice(start, html.indexOf("</article>", start) + "</article>".length);
}

async function page(path: string): Promise<{ html: string; policy: string }> {
  forgetSnapshots();
  const reply = await download(server.port, path);
  return { html: reply.body.toString("utf8"), policy: reply.headers["content-security-policy"] as string };
}

before(async () => {
  root = fs.mkdtempSync(join(tmpdir(), "simplehttp-readme-"));
  outside = fs.mkdtempSync(join(tmpdir(), "simplehttp-readme-outside-"));
  writeTree(root, {
    "md/README.md": "# Holiday photos\n\nSee [the index](index/) and ![a cat](cat.png).\n\n* one\n* two\n\n```\ncode <b>\n```\n",
    "md/readme.md": "# the lower-case one loses\n",
    "txt/README.txt": "Plain <text> & more\n",
    "both/readme.md": "lower\n",
    "both/README.txt": "text\n",
    "big/README.md": "x".repeat(README_MAX_BYTES + 1),
    "none/a.txt": "a",
  });
  writeTree(outside, { "README.md": "# from outside\n" });
  fs.mkdirSync(join(root, "linked"));
  fs.symlinkSync(join(outside, "README.md"), join(root, "linked", "README.md"));
  server = await serve(Readme.with_directory(root));
});
after(async () => {
  await server.close();
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(outside, { recursive: true, force: true });
});

test("README.md is rendered below the table, its name above it; images from this server allowed, no unsafe-inline", async () => {
  const { html, policy } = await page("/md/");
  const readme = readmeOf(html)!;
  assert.ok(html.indexOf("</table>") < html.indexOf('<article class="readme">'));
  assert.match(readme, /<h2 class="readme-name">README.md<\/h2>/);
  assert.match(readme, /<h1>Holiday photos<\/h1>/);
  assert.match(readme, /<a href="index\/">the index<\/a>/);
  assert.match(readme, /<img src="cat.png" alt="a cat">/);
  assert.match(readme, /<li>one<\/li>/);
  assert.match(readme, /<pre><code>code &lt;b&gt;\n<\/code><\/pre>/);
  assert.ok(!policy.includes("unsafe-inline"));
  assert.match(policy, /img-src 'self' data:/);
  assert.match(policy, /script-src 'sha256-[^;]*; img-src/);
});

test("the first of README.md, readme.md, …, README.txt is shown; a .txt as preformatted text, escaped", async () => {
  assert.match(readmeOf((await page("/both/")).html)!, /readme.md<\/h2>\n<p>lower<\/p>/);
  assert.match(readmeOf((await page("/txt/")).html)!, /<pre>Plain &lt;text&gt; &amp; more\n<\/pre>/);
});

test("no README, no section and the listing's own policy; a README too large is linked, not rendered", async () => {
  const none = await page("/none/");
  assert.equal(readmeOf(none.html), null);
  assert.match(none.policy, /img-src data:;/);
  assert.match(readmeOf((await page("/big/")).html)!, /README.md is too large to show here \(over 1 MiB\): <a href="README.md">open it<\/a>/);
});

test("a README that is a link leading out is shown only where serving follows links", async () => {
  assert.match(readmeOf((await page("/linked/")).html)!, /from outside/);
  class Inside extends Readme {
    static override follow_symlinks = false;
  }
  const strict = await serve(Inside.with_directory(root));
  try {
    forgetSnapshots();
    const html = (await download(strict.port, "/linked/")).body.toString();
    assert.equal(readmeOf(html), null);
  } finally {
    await strict.close();
  }
});

test("raw HTML is shown as text, never as elements", () => {
  const html = renderMarkdown('<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n<iframe src="//evil"></iframe> <b onclick="x()">b</b>\n');
  assert.ok(!/<script|<img|<iframe|<b /.test(html), html);
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
});

test("links and images to javascript:, vbscript:, data: and file: are not links; http, https, mailto and relative ones are", () => {
  const hostile = [
    "[a](javascript:alert(1))",
    "[b](JAVASCRIPT:alert(1))",
    "[c](&#106;avascript:alert(1))",
    "[d](java\tscript:alert(1))",
    "[e](vbscript:msgbox)",
    "[f](data:text/html,<script>alert(1)</script>)",
    "[g](file:///etc/passwd)",
    "![h](javascript:alert(1))",
    "<javascript:alert(1)>",
    "[i]: javascript:alert(1)\n\n[i]",
  ];
  for (const source of hostile) {
    const html = renderMarkdown(source);
    assert.ok(!/href="|src="/.test(html), `${source} → ${html}`);
  }
  for (const [source, link] of [["[x](https://example.com/a)", 'href="https://example.com/a"'], ["[y](mailto:a@example.com)", 'href="mailto:a@example.com"'], ["[z](../up/)", 'href="../up/"'], ["[w](#part)", 'href="#part"'], ["https://example.com", 'href="https://example.com"']]) {
    assert.ok(renderMarkdown(source!).includes(link!), source);
  }
  assert.equal(isSafeUrl(" javascript:x"), false);
  assert.equal(isSafeUrl("Https://x"), true);
});

test("without readme, the rich listing shows no README", async () => {
  class Plain extends SimpleHTTPRequestHandler {
    static override listing = "rich" as const;
    override log_message(): void {}
  }
  const plain = await serve(Plain.with_directory(root));
  try {
    forgetSnapshots();
    assert.equal(readmeOf((await download(plain.port, "/md/")).body.toString()), null);
  } finally {
    await plain.close();
  }
});
