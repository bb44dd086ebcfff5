/**
 * The sharing additions as a browser uses them (Debian's Chromium through playwright-core; see
 * chromium_fixture.ts): the download links give archives the real tools accept, the QR code is
 * visible and a screenshot of it decodes (zbarimg) to the page's network URL, the search box
 * finds a file, and a README is shown while a hostile one runs nothing.
 */
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { killAll } from "./cli_process.js";
import { BrowserSession, INSTALL_TIMEOUT_MS, serving } from "./chromium_fixture.js";
import { ARCHIVE_TOOLS, ensureTools, runTool, treeFiles, writeTree, zbarDecode } from "./archive_fixture.js";

declare const window: Record<string, unknown>;
declare const document: { querySelectorAll(selector: string): ArrayLike<{ getAttribute(name: string): string | null }> };

const TIMEOUT = { timeout: 120_000 };
let root = "";
let missingTools = "";
const session = new BrowserSession();

before(async () => {
  root = fs.mkdtempSync(join(tmpdir(), "simplehttp-share-browser-"));
  missingTools = ensureTools({ ...ARCHIVE_TOOLS, zbarimg: "zbar-tools" });
  await session.start(root);
}, { timeout: INSTALL_TIMEOUT_MS + 60_000 });

after(async () => {
  await session.close();
  killAll();
  fs.rmSync(root, { recursive: true, force: true });
});

const newPage = (t: TestContext): Promise<Page | null> => session.newPage(t);

function tree(name: string, files: Record<string, string | Buffer>): string {
  const dir = join(root, name);
  writeTree(dir, files);
  return dir;
}

describe("the page controls", () => {
  test("the rich listing's zip link downloads an archive unzip accepts, holding the folder's bytes", TIMEOUT, async (t) => {
    const page = await newPage(t);
    if (!page) return;
    const dir = tree("dl", { "album/one.txt": "one\n", "album/deep/two.bin": Buffer.alloc(200_000, 7), "album/ünï.txt": "u\n" });
    const server = await serving(t, ["--archive", "--listing", "rich", "-b", "127.0.0.1", "-d", dir, "0"]);
    await page.goto(`http://127.0.0.1:${server.port}/album/`);
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "zip", exact: true }).click()]);
    assert.equal(download.suggestedFilename(), "album.zip");
    const file = join(root, "album.zip");
    await download.saveAs(file);
    if (missingTools) return t.skip(missingTools);
    assert.equal(runTool("unzip", ["-t", file]).status, 0);
    const into = fs.mkdtempSync(join(root, "x-"));
    runTool("unzip", ["-q", file, "-d", into]);
    assert.deepEqual(treeFiles(join(into, "album")), treeFiles(join(dir, "album")));
  });

  test("Python's listing links the archives too: tar.gz, which tar -tzf lists", TIMEOUT, async (t) => {
    const page = await newPage(t);
    if (!page) return;
    const dir = tree("dl-python", { "set/a.txt": "a\n", "set/b/c.txt": "c\n" });
    const server = await serving(t, ["--archive", "-b", "127.0.0.1", "-d", dir, "0"]);
    await page.goto(`http://127.0.0.1:${server.port}/set/`);
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "tar.gz" }).click()]);
    assert.equal(download.suggestedFilename(), "set.tar.gz");
    const file = join(root, "set.tar.gz");
    await download.saveAs(file);
    if (missingTools) return t.skip(missingTools);
    assert.deepEqual(runTool("tar", ["-tzf", file]).stdout.split("\n").filter(Boolean), ["set/", "set/a.txt", "set/b/", "set/b/c.txt"]);
  });

  test("the QR code is visible, and its screenshot decodes to this folder's network URL", TIMEOUT, async (t) => {
    const page = await newPage(t);
    if (!page) return;
    const dir = tree("qr", { "sub/a.txt": "a\n" });
    const server = await serving(t, ["--qr", "--listing", "rich", "-b", "127.0.0.1", "-d", dir, "0"]);
    const violations: string[] = [];
    page.on("console", (message) => violations.push(message.text()));
    await page.goto(`http://127.0.0.1:${server.port}/sub/`);
    await page.getByText("QR code").click();
    const svg = page.locator(".qr svg");
    assert.ok(await svg.isVisible());
    const box = (await svg.boundingBox())!;
    assert.ok(box.width >= 150 && Math.abs(box.width - box.height) < 1, `${box.width}×${box.height}`);
    const url = `http://127.0.0.1:${server.port}/sub/`;
    assert.equal(await page.locator(".qr a").textContent(), url);
    assert.deepEqual(violations, []);
    if (missingTools) return t.skip(missingTools);
    const shot = join(root, "qr.png");
    await svg.screenshot({ path: shot });
    assert.equal(zbarDecode(shot), url);
  });

  test("the search box finds a file below the folder, and its link opens it", TIMEOUT, async (t) => {
    const page = await newPage(t);
    if (!page) return;
    const dir = tree("find", { "docs/2026/Summer-Photo.jpg": "jpeg", "docs/other.txt": "o" });
    const server = await serving(t, ["--search", "-b", "127.0.0.1", "-d", dir, "0"]);
    await page.goto(`http://127.0.0.1:${server.port}/docs/`);
    await page.getByRole("searchbox", { name: "Search below this folder" }).fill("summer");
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForURL(/\?q=summer$/);
    const link = page.getByRole("link", { name: "2026/Summer-Photo.jpg" });
    assert.ok(await link.isVisible());
    assert.match((await page.locator("p").first().textContent())!, /1 match for “summer” among 3 entries/);
    await link.click();
    await page.waitForURL(/Summer-Photo\.jpg$/);
  });

  test("the README is shown below the listing; a hostile one runs nothing: no dialog, no console message, no script", TIMEOUT, async (t) => {
    const page = await newPage(t);
    if (!page) return;
    const hostile = [
      "# Welcome",
      "",
      "<script>window.__pwned = 1; alert('script')</script>",
      '<img src="x" onerror="window.__pwned = 2; alert(\'img\')">',
      '<svg onload="alert(\'svg\')"></svg> <iframe srcdoc="<script>parent.alert(1)</script>"></iframe>',
      "",
      "[click](javascript:alert('link')) [data](data:text/html,<script>alert(1)</script>) <javascript:alert('auto')>",
      "[ok](notes.txt) ![pic](javascript:alert('pic'))",
      "",
      '<a href="javascript:alert(\'raw\')">raw</a> <style>body{display:none}</style>',
    ].join("\n");
    const dir = tree("readme", { "README.md": hostile, "notes.txt": "notes\n" });
    const server = await serving(t, ["--readme", "-b", "127.0.0.1", "-d", dir, "0"]);
    const dialogs: string[] = [];
    const messages: string[] = [];
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    // A text file has no icon of its own: Chromium's request for /favicon.ico is its 404, not ours.
    page.on("console", (message) => {
      if (!message.location().url.endsWith("/favicon.ico")) messages.push(message.text());
    });
    page.on("pageerror", (error) => messages.push(error.message));
    const response = await page.goto(`http://127.0.0.1:${server.port}/`);
    const policy = response!.headers()["content-security-policy"]!;
    assert.ok(!policy.includes("unsafe-inline") && !policy.includes("unsafe-eval"), policy);
    assert.equal(await page.locator("article.readme h1").textContent(), "Welcome");
    assert.ok(await page.locator("article.readme").isVisible());
    assert.ok(await page.locator("body").isVisible(), "the README's <style> is text, not style");
    assert.match((await page.locator("article.readme").textContent())!, /<script>window.__pwned = 1/);
    const hrefs = await page.evaluate(() => Array.from(document.querySelectorAll("article.readme [href], article.readme [src]"), (e) => e.getAttribute("href") ?? e.getAttribute("src")));
    assert.deepEqual(hrefs, ["notes.txt"]);
    await page.locator("article.readme").click({ position: { x: 5, y: 5 } });
    await page.getByRole("link", { name: "ok" }).click();
    await page.waitForURL(/notes\.txt$/);
    await page.goBack();
    assert.equal(await page.evaluate(() => window["__pwned"]), undefined);
    assert.deepEqual(dialogs, []);
    assert.deepEqual(messages, []);
  });
});
