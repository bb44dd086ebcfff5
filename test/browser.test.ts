/**
 * The server as a browser uses it: Debian's Chromium driven by playwright-core (never a browser
 * download). Each test serves a fixture with the built binary and looks at what the page shows.
 *
 * Chromium is installed by the setup step below when it is missing and we are root (as in CI,
 * where `.ci/run` also installs it); when it cannot be had, the tests skip and say why.
 */
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { killAll, waitFor } from "./cli_process.js";
import { serve } from "./helpers.js";
import { FormReporter } from "./forms_fixture.js";
import { BrowserSession, CHROMIUM, CHROMIUM_ARGS, INSTALL_TIMEOUT_MS, serving } from "./chromium_fixture.js";

// The functions given to page.evaluate run in the page; the suite compiles without the DOM
// library, so the little of it they use is declared here.
interface PageElement {
  textContent: string | null;
  readyState: number;
  duration: number;
  currentTime: number;
  error: { code: number } | null;
  onloadedmetadata: (() => void) | null;
  onerror: (() => void) | null;
  onseeked: (() => void) | null;
}
declare const document: { getElementById(id: string): PageElement | null };
declare const window: Record<string, unknown>;

const TIMEOUT = { timeout: 120_000 };

let root: string;
let browser: BrowserContext | null = null;
let unavailable = "";

const session = new BrowserSession();

before(async () => {
  root = mkdtempSync(join(tmpdir(), "simplehttp-browser-"));
  await session.start(root);
  browser = session.browser;
  unavailable = session.unavailable;
}, { timeout: INSTALL_TIMEOUT_MS + 60_000 });

after(async () => {
  await session.close();
  killAll();
  rmSync(root, { recursive: true, force: true });
});

/** A fresh page, closed when the test ends; null (the test skipped) when there is no browser. */
const newPage = (t: TestContext): Promise<Page | null> => session.newPage(t);

function site(name: string, files: Record<string, string | Buffer>): string {
  const dir = join(root, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/**
 * A valid WAV file (PCM, 8 kHz, 16-bit mono) of `seconds` of a 500 Hz tone: an audio-only media
 * file a browser can seek in, made without an encoder.
 */
function wav(seconds: number): Buffer {
  const rate = 8000;
  const period = Buffer.alloc(rate / 500 * 2);
  for (let i = 0; i < period.length / 2; i++) period.writeInt16LE(Math.round(6000 * Math.sin((2 * Math.PI * i * 500) / rate)), i * 2);
  const data = Buffer.alloc(rate * 2 * seconds);
  data.fill(period);
  const header = Buffer.alloc(44);
  header.write("RIFF", 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write("WAVEfmt ", 8);
  header.writeUInt32LE(16, 16); // the fmt chunk's size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28); // bytes per second
  header.writeUInt16LE(2, 32); // bytes per frame
  header.writeUInt16LE(16, 34); // bits per sample
  header.write("data", 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

describe("in Chromium", () => {
  test("a directory listing renders, and its links lead through a folder to a file", TIMEOUT, async (t) => {
    const page = await newPage(t);
    if (!page) return;
    const dir = site("listing", {
      "docs/a b.txt": "a file with a space\n",
      "docs/naïve café.txt": "a file with accents\n",
      "readme.txt": "top\n",
    });
    const { port } = await serving(t, ["-b", "127.0.0.1", "-d", dir, "0"]);
    await page.goto(`http://127.0.0.1:${port}/`);
    assert.equal(await page.title(), "Directory listing for /");
    assert.deepEqual(await page.locator("li a").allTextContents(), ["docs/", "readme.txt"]);
    await page.click("text=docs/");
    await page.waitForURL(`http://127.0.0.1:${port}/docs/`);
    assert.equal(await page.locator("h1").textContent(), "Directory listing for /docs/");
    await page.click("text=naïve café.txt");
    await page.waitForURL(/caf%C3%A9\.txt$/);
    assert.equal(await page.locator("body").textContent(), "a file with accents\n");
    await page.goBack();
    await page.click("text=a b.txt");
    await page.waitForURL(/a%20b\.txt$/);
    assert.equal(await page.locator("body").textContent(), "a file with a space\n");
  });

  test("a <video> element seeking far into a large (audio-only WAV) file fetches there with a Range request, answered 206", TIMEOUT, async (t) => {
    const page = await newPage(t);
    if (!page) return;
    const seconds = 4000; // 64 MB: more than a browser reads ahead before it is asked to seek
    const dir = site("media", {
      "tone.wav": wav(seconds),
      "index.html": '<!DOCTYPE html><html><body><video id="v" preload="metadata" src="tone.wav"></video></body></html>\n',
    });
    const { port } = await serving(t, ["-b", "127.0.0.1", "-d", dir, "-p", "HTTP/1.1", "0"]);
    const fetched: { range: string | undefined; status: number; contentRange: string | undefined }[] = [];
    page.on("response", (response) => {
      if (!response.url().endsWith("/tone.wav")) return;
      fetched.push({ range: response.request().headers()["range"], status: response.status(), contentRange: response.headers()["content-range"] });
    });
    await page.goto(`http://127.0.0.1:${port}/`);
    const duration = await page.evaluate(
      () =>
        new Promise<number | string>((resolve) => {
          const video = document.getElementById("v")!;
          if (video.readyState >= 1) resolve(video.duration);
          video.onloadedmetadata = () => resolve(video.duration);
          video.onerror = () => resolve(`media error ${video.error?.code}`);
        }),
    );
    assert.equal(duration, seconds);
    const target = seconds - 100;
    const seeked = await page.evaluate(
      (time) =>
        new Promise<[number, number]>((resolve) => {
          const video = document.getElementById("v")!;
          video.onseeked = () => resolve([video.currentTime, video.readyState]);
          video.currentTime = time;
        }),
      target,
    );
    assert.equal(seeked[0], target);
    assert.ok(seeked[1] >= 2, `readyState ${seeked[1]}: data at the new position`);
    // The data near the end came from a request that started there, and the server answered it with a 206.
    const farOffset = 44 + 16_000 * (seconds / 2);
    const far = fetched.filter(({ range }) => Number(/^bytes=(\d+)-/.exec(range ?? "")?.[1] ?? -1) > farOffset);
    assert.ok(far.length >= 1, JSON.stringify(fetched));
    for (const { range, status, contentRange } of far) {
      assert.equal(status, 206);
      const start = /^bytes=(\d+)-/.exec(range!)![1];
      assert.match(contentRange!, new RegExp(`^bytes ${start}-\\d+/${44 + 16_000 * seconds}$`));
    }
  });

  test("--watch reloads an open page when its file is edited", TIMEOUT, async (t) => {
    const page = await newPage(t);
    if (!page) return;
    const dir = site("watch", { "index.html": '<!DOCTYPE html><html><body><p id="v">first</p></body></html>\n' });
    const server = await serving(t, ["-b", "127.0.0.1", "-d", dir, "--watch", "0"]);
    await page.goto(`http://127.0.0.1:${server.port}/`);
    assert.equal(await page.locator("#v").textContent(), "first");
    // The page listens once its event stream is open: the server logs that request.
    await waitFor(() => server.proc.stderr().includes('"GET /__simplehttp/livereload HTTP/1.1" 200'), "the page's event stream", server.proc);
    await page.evaluate(() => (window["marker"] = 1));
    writeFileSync(join(dir, "index.html"), '<!DOCTYPE html><html><body><p id="v">second</p></body></html>\n');
    await page.waitForFunction(() => document.getElementById("v")?.textContent === "second", null, { timeout: 60_000 });
    // A reload, not a patch of the old page: the old page's state is gone.
    assert.equal(await page.evaluate(() => window["marker"]), undefined);
  });

  test("--spa serves a deep link with index.html, whose script then runs", TIMEOUT, async (t) => {
    const page = await newPage(t);
    if (!page) return;
    const dir = site("spa", {
      "index.html": '<!DOCTYPE html><html><body><h1>the app</h1><p id="route"></p><script src="/main.js"></script></body></html>\n',
      "main.js": 'document.getElementById("route").textContent = "route " + location.pathname;\n',
    });
    // The port before --spa: a value after it would be its FILE.
    const { port } = await serving(t, ["-b", "127.0.0.1", "-d", dir, "0", "--spa"]);
    const response = await page.goto(`http://127.0.0.1:${port}/app/deep/link`);
    assert.equal(response?.status(), 200);
    assert.equal(await page.locator("h1").textContent(), "the app");
    await page.waitForFunction(() => document.getElementById("route")?.textContent !== "");
    assert.equal(await page.locator("#route").textContent(), "route /app/deep/link");
    const missing = await page.goto(`http://127.0.0.1:${port}/app/missing.js`);
    assert.equal(missing?.status(), 404);
  });

  describe("the rich listing (--listing rich, --dev)", () => {
    const LONG = "a-very-long-file-name-without-any-space-that-a-phone-screen-could-never-show-on-one-line-0123456789.txt";
    let dir = "";
    before(() => {
      dir = site("rich", {
        "docs/readme.txt": "inside docs\n",
        "big.bin": Buffer.alloc(50_000, 1),
        "medium.txt": "m".repeat(5000),
        "small.md": "# small\n",
        "apple.txt": "apple\n",
        "application.js": "console.log('app');\n",
        [LONG]: "long\n",
      });
    });

    /**
     * Console errors (CSP violations are reported there), page errors, and requests that leave the
     * server. A plain file shown by the browser (no icon of its own) makes it ask for /favicon.ico,
     * a 404 the console reports: those, and only those, are left out.
     */
    function watch(page: Page, port: number) {
      const errors: string[] = [];
      const external: string[] = [];
      page.on("console", (message) => {
        if (message.type() !== "error" && message.type() !== "warning") return;
        if (message.location().url === `http://127.0.0.1:${port}/favicon.ico`) return;
        errors.push(`${message.text()} (${message.location().url})`);
      });
      page.on("pageerror", (error) => errors.push(error.message));
      page.on("request", (request) => {
        const url = request.url();
        if (!url.startsWith(`http://127.0.0.1:${port}/`) && !url.startsWith("data:")) external.push(url);
      });
      return { errors, external };
    }

    const rowNames = (page: Page) => page.locator("tbody tr:not([hidden]) td:first-child a").allTextContents();

    test("sorting by size (the column's link, no script needed) puts the largest file first, folders still on top", TIMEOUT, async (t) => {
      const page = await newPage(t);
      if (!page) return;
      const { port } = await serving(t, ["-b", "127.0.0.1", "-d", dir, "--listing", "rich", "0"]);
      const seen = watch(page, port);
      await page.goto(`http://127.0.0.1:${port}/`);
      assert.equal(await page.title(), "Directory listing for /");
      await page.click("th >> text=Size");
      await page.waitForURL(`http://127.0.0.1:${port}/?sort=size&order=desc`);
      const names = await rowNames(page);
      assert.deepEqual(names.slice(0, 3), ["docs/", "big.bin", "medium.txt"]);
      await page.click("th >> text=Size");
      await page.waitForURL(/order=asc$/);
      assert.deepEqual((await rowNames(page)).slice(0, 3), ["docs/", LONG, "apple.txt"]); // 5 bytes, then 6
      assert.deepEqual(seen.errors, []);
      assert.deepEqual(seen.external, []);
    });

    test("the filter hides the rows that do not match, and / then the arrow keys and Enter open an entry", TIMEOUT, async (t) => {
      const page = await newPage(t);
      if (!page) return;
      const { port } = await serving(t, ["-b", "127.0.0.1", "-d", dir, "--listing", "rich", "0"]);
      const seen = watch(page, port);
      await page.goto(`http://127.0.0.1:${port}/`);
      assert.equal((await rowNames(page)).length, 7);
      await page.keyboard.press("/");
      assert.equal(await page.evaluate("document.activeElement.id"), "filter");
      await page.keyboard.type("APP");
      assert.deepEqual(await rowNames(page), ["apple.txt", "application.js"]);
      await page.keyboard.press("ArrowDown");
      await page.keyboard.press("ArrowDown");
      assert.equal(await page.evaluate("document.activeElement.textContent"), "application.js");
      await page.keyboard.press("Enter");
      await page.waitForURL(`http://127.0.0.1:${port}/application.js`);
      assert.equal(await page.locator("body").textContent(), "console.log('app');\n");
      // Back on the listing, from the top: the arrows go down to a folder, Enter opens it.
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.keyboard.press("ArrowDown");
      await page.keyboard.press("Enter");
      await page.waitForURL(`http://127.0.0.1:${port}/docs/`);
      assert.deepEqual(await rowNames(page), ["../", "readme.txt"]);
      assert.deepEqual(seen.errors, []);
      assert.deepEqual(seen.external, []);
    });

    test("under --dev (live reload in the page): no console error, no CSP violation, no request leaving the server", TIMEOUT, async (t) => {
      const page = await newPage(t);
      if (!page) return;
      const server = await serving(t, ["--dev", "-b", "127.0.0.1", "-d", dir, "0"]);
      const seen = watch(page, server.port);
      const response = await page.goto(`http://127.0.0.1:${server.port}/docs/`);
      assert.match(response!.headers()["content-security-policy"]!, /^default-src 'none'/);
      // The live-reload script ran (the CSP let it): its event stream was opened.
      await waitFor(() => server.proc.stderr().includes('"GET /__simplehttp/livereload HTTP/1.1" 200'), "the page's event stream", server.proc);
      await page.click("text=readme.txt");
      await page.waitForURL(/readme\.txt$/);
      await page.goBack();
      assert.deepEqual(seen.errors, []);
      assert.deepEqual(seen.external, []);
    });

    test("light and dark follow prefers-color-scheme", TIMEOUT, async (t) => {
      const page = await newPage(t);
      if (!page) return;
      const { port } = await serving(t, ["-b", "127.0.0.1", "-d", dir, "--listing", "rich", "0"]);
      await page.emulateMedia({ colorScheme: "light" });
      await page.goto(`http://127.0.0.1:${port}/`);
      const background = () => page.evaluate("getComputedStyle(document.body).backgroundColor");
      const text = () => page.evaluate("getComputedStyle(document.body).color");
      assert.equal(await background(), "rgb(255, 255, 255)");
      await page.emulateMedia({ colorScheme: "dark" });
      assert.equal(await background(), "rgb(18, 22, 28)");
      assert.equal(await text(), "rgb(230, 237, 243)");
    });

    test("on a 375 px wide phone, nothing scrolls sideways, a long name included", TIMEOUT, async (t) => {
      const page = await newPage(t);
      if (!page) return;
      const { port } = await serving(t, ["-b", "127.0.0.1", "-d", dir, "--listing", "rich", "0"]);
      await page.setViewportSize({ width: 375, height: 740 });
      await page.goto(`http://127.0.0.1:${port}/?sort=mtime`);
      assert.ok(await page.locator(`text=${LONG}`).isVisible());
      const [scrollWidth, clientWidth] = (await page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")) as number[];
      assert.ok(scrollWidth! <= clientWidth!, `scrollWidth ${scrollWidth} > clientWidth ${clientWidth}`);
      assert.equal(clientWidth, 375);
    });
  });

  describe("uploads (--upload)", () => {
    /** A browser for the tests that need a context of their own (credentials, no JavaScript). */
    let separate: import("playwright-core").Browser | null = null;
    after(async () => {
      await separate?.close();
    });

    async function newContext(t: TestContext, options: import("playwright-core").BrowserContextOptions): Promise<Page | null> {
      if (!browser) {
        t.skip(unavailable);
        return null;
      }
      const { chromium } = await import("playwright-core");
      separate ??= await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
      const context = await separate.newContext(options);
      t.after(() => context.close());
      return context.newPage();
    }

    /**
     * What the progress list showed, across the reload that ends a batch: each change of it, as
     * the rows' texts (name, state) and their bars' values, kept in sessionStorage.
     */
    const RECORD_PROGRESS = `addEventListener("DOMContentLoaded", () => {
      const list = document.getElementById("upload-progress");
      if (!list) return;
      new MutationObserver(() => {
        const seen = JSON.parse(sessionStorage.getItem("seen") || "[]");
        seen.push([...list.querySelectorAll("li")].map((li) => [li.textContent, li.querySelector("progress")?.value ?? null]));
        sessionStorage.setItem("seen", JSON.stringify(seen));
      }).observe(list, { subtree: true, childList: true, characterData: true, attributes: true });
    });`;

    type Seen = [text: string, value: number | null][][];
    const progressSeen = async (page: Page) => JSON.parse((await page.evaluate("sessionStorage.getItem('seen') || '[]'")) as string) as Seen;

    /** Slows the page's uploads to `bytesPerSecond`, so that a progress bar has time to move. */
    async function throttleUploads(page: Page, bytesPerSecond: number): Promise<void> {
      const cdp = await page.context().newCDPSession(page);
      await cdp.send("Network.enable");
      await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond });
    }

    async function chooseAndUpload(page: Page, files: { name: string; buffer: Buffer }[]): Promise<void> {
      const [chooser] = await Promise.all([page.waitForEvent("filechooser"), page.click("#upload input[type=file]")]);
      await chooser.setFiles(files.map(({ name, buffer }) => ({ name, mimeType: "application/octet-stream", buffer })));
      await page.click("#upload button");
    }

    test("files picked with the chooser go up one by one, each with a moving progress bar, then the listing shows them", TIMEOUT, async (t) => {
      const page = await newPage(t);
      if (!page) return;
      const dir = site("upload-chooser", { "existing.txt": "x\n" });
      const { port } = await serving(t, ["--upload", "-b", "127.0.0.1", "-d", dir, "0"]);
      await page.addInitScript(RECORD_PROGRESS);
      await page.goto(`http://127.0.0.1:${port}/`);
      assert.ok(await page.locator("#upload-hint").isVisible(), "the drop hint shows once the script runs");
      await throttleUploads(page, 1024 * 1024);
      const files = [
        { name: "first.bin", buffer: Buffer.alloc(600_000, 1) },
        { name: "naïve café.txt", buffer: Buffer.from("accents\n") },
      ];
      await chooseAndUpload(page, files);
      await page.waitForSelector("li a:text-is('first.bin')", { timeout: 60_000 });
      assert.deepEqual(await page.locator("li a").allTextContents(), ["existing.txt", "first.bin", "naïve café.txt"]);
      for (const { name, buffer } of files) assert.deepEqual(readFileSync(join(dir, name)), buffer);
      const seen = await progressSeen(page);
      const firstRow = seen.map((rows) => rows[0]).filter((row) => row !== undefined);
      const partial = firstRow.filter(([, value]) => value !== null && value > 0 && value < 1);
      assert.ok(partial.length > 0, `the bar moved between 0 and 1: ${JSON.stringify(firstRow)}`);
      assert.ok(firstRow.some(([text]) => /^first\.bin\d+ %$/.test(text) && !text.endsWith("0 %")), "a percentage was shown");
      const last = seen[seen.length - 1]!;
      assert.deepEqual(last.map(([text]) => text), ["first.binuploaded", "naïve café.txtuploaded"]);
    });

    test("files dropped on the page are uploaded", TIMEOUT, async (t) => {
      const page = await newPage(t);
      if (!page) return;
      const dir = site("upload-drop", { "here.txt": "h\\n" });
      const { port } = await serving(t, ["--upload", "-b", "127.0.0.1", "-d", dir, "0"]);
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.evaluate(`(() => {
        const data = new DataTransfer();
        data.items.add(new File(["dropped\\n"], "dropped.txt", { type: "text/plain" }));
        document.body.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
        document.body.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
      })()`);
      await page.waitForSelector("li a:text-is('dropped.txt')");
      assert.equal(readFileSync(join(dir, "dropped.txt"), "utf8"), "dropped\n");
    });

    test("a file the server refuses is shown in words, and the page stays for them to be read", TIMEOUT, async (t) => {
      const page = await newPage(t);
      if (!page) return;
      const dir = site("upload-refused", { "taken.txt": "old\n" });
      const { port } = await serving(t, ["--upload", "-b", "127.0.0.1", "-d", dir, "0"]);
      await page.goto(`http://127.0.0.1:${port}/`);
      await chooseAndUpload(page, [
        { name: "taken.txt", buffer: Buffer.from("new\n") },
        { name: "fresh.txt", buffer: Buffer.from("fresh\n") },
      ]);
      await page.waitForSelector("#upload-progress a");
      assert.deepEqual(await page.locator("#upload-progress li").allTextContents(), [
        "taken.txtrefused: a file of that name exists",
        "fresh.txtuploaded",
        "reload the listing",
      ]);
      assert.equal(readFileSync(join(dir, "taken.txt"), "utf8"), "old\n");
      assert.equal(readFileSync(join(dir, "fresh.txt"), "utf8"), "fresh\n");
    });

    for (const listing of ["python", "rich"]) {
      test(`without JavaScript, the plain form of the ${listing} listing posts the files and comes back to the listing (303)`, TIMEOUT, async (t) => {
        const dir = site(`upload-nojs-${listing}`, { "here.txt": "h\n" });
        const { port } = await serving(t, ["--upload", "--listing", listing, "-b", "127.0.0.1", "-d", dir, "0"]);
        const page = await newContext(t, { javaScriptEnabled: false });
        if (!page) return;
        const errors: string[] = [];
        page.on("console", (message) => {
          if (message.type() === "error" && !message.location().url.endsWith("/favicon.ico")) errors.push(message.text());
        });
        const url = `http://127.0.0.1:${port}/?sort=name`;
        await page.goto(url);
        assert.equal(await page.locator("#upload-hint").isVisible(), false, "the drop hint needs the script");
        await page.setInputFiles("#upload input[type=file]", [
          { name: "plain one.txt", mimeType: "text/plain", buffer: Buffer.from("one\n") },
          { name: "two.bin", mimeType: "application/octet-stream", buffer: Buffer.alloc(100_000, 2) },
        ]);
        const [response] = await Promise.all([page.waitForResponse((r) => r.request().method() === "POST"), page.click("#upload button")]);
        assert.equal(response.status(), 303);
        await page.waitForURL(url);
        const links = listing === "rich" ? "td a" : "li a";
        assert.deepEqual((await page.locator(links).allTextContents()).filter((name) => name !== "../"), ["here.txt", "plain one.txt", "two.bin"]);
        assert.equal(readFileSync(join(dir, "plain one.txt"), "utf8"), "one\n");
        assert.deepEqual(readFileSync(join(dir, "two.bin")), Buffer.alloc(100_000, 2));
        assert.deepEqual(errors, [], "no CSP violation for the form's post");
      });
    }

    test("with --auth: the browser logs in, and its uploads carry the credentials; without them, 401", TIMEOUT, async (t) => {
      const dir = site("upload-auth", { "here.txt": "h\\n" });
      const { port } = await serving(t, ["--upload", "--auth", "me:s3cret pass", "-b", "127.0.0.1", "-d", dir, "0"]);
      const anonymous = await newContext(t, {});
      if (!anonymous) return;
      // (A page without credentials cannot be navigated headless: the challenge fails the load.)
      const refused = await anonymous.request.get(`http://127.0.0.1:${port}/`);
      assert.equal(refused.status(), 401);
      assert.equal(refused.headers()["www-authenticate"], 'Basic realm="simplehttp", charset="UTF-8"');
      const page = (await newContext(t, { httpCredentials: { username: "me", password: "s3cret pass" } }))!;
      assert.equal((await page.goto(`http://127.0.0.1:${port}/`))!.status(), 200);
      await chooseAndUpload(page, [{ name: "private.txt", buffer: Buffer.from("mine\n") }]);
      await page.waitForSelector("li a:text-is('private.txt')");
      assert.equal(readFileSync(join(dir, "private.txt"), "utf8"), "mine\n");
    });

    test("--dev --upload: under the rich listing's policy and live reload, a batch goes up whole (the reloads wait), with no console error or CSP violation", TIMEOUT, async (t) => {
      const page = await newPage(t);
      if (!page) return;
      const dir = site("upload-dev", { "readme.txt": "r\n" });
      const server = await serving(t, ["--dev", "--upload", "-b", "127.0.0.1", "-d", dir, "0"]);
      const errors: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error" && !message.location().url.endsWith("/favicon.ico")) errors.push(message.text());
      });
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(`http://127.0.0.1:${server.port}/`);
      await waitFor(() => server.proc.stderr().includes('"GET /__simplehttp/livereload HTTP/1.1" 200'), "the page's event stream", server.proc);
      // Each file takes about half a second: the reload its arrival sends comes while the next goes up.
      await throttleUploads(page, 256 * 1024);
      const files = ["one.bin", "two.bin", "three.bin"].map((name, i) => ({ name, buffer: Buffer.alloc(120_000, i + 1) }));
      await chooseAndUpload(page, files);
      await page.waitForSelector("td a:text-is('three.bin')", { timeout: 60_000 });
      for (const { name, buffer } of files) assert.deepEqual(readFileSync(join(dir, name)), buffer, name);
      assert.match(server.proc.stderr(), /uploaded \/one\.bin \(120000 bytes\)\n[\s\S]*uploaded \/two\.bin[\s\S]*uploaded \/three\.bin/);
      assert.deepEqual(errors, []);
    });
  });

  test("a form with a text field and two files, posted by the browser, is parsed by form()", TIMEOUT, async (t) => {
    const page = await newPage(t);
    if (!page) return;
    class Quiet extends FormReporter {
      override log_message() {}
    }
    const running = await serve(Quiet);
    t.after(() => running.close());
    await page.goto(`http://127.0.0.1:${running.port}/`);
    await page.fill("#title", "Ferienfotos für Oma");
    await page.setInputFiles("#files", [
      { name: "strand bild.png", mimeType: "image/png", buffer: Buffer.alloc(300_000, 9) },
      { name: "notiz.txt", mimeType: "text/plain", buffer: Buffer.from("grüße\n") },
    ]);
    await Promise.all([page.waitForURL(`http://127.0.0.1:${running.port}/upload`), page.click("#send")]);
    const parts = JSON.parse((await page.locator("body").textContent()) ?? "null");
    assert.deepEqual(parts, [
      { type: "field", name: "title", value: "Ferienfotos für Oma", mimeType: "text/plain" },
      { type: "file", name: "files", filename: "strand bild.png", mimeType: "image/png", size: 300_000 },
      { type: "file", name: "files", filename: "notiz.txt", mimeType: "text/plain", size: Buffer.byteLength("grüße\n") },
    ]);
  });
});

describe("in Chromium: managing files (--allow-delete, --allow-mkdir, --allow-move)", () => {
  /** Console messages and page errors (a CSP violation is one), which these pages must not have. */
  function watchErrors(page: Page): string[] {
    const errors: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") errors.push(message.text());
    });
    page.on("pageerror", (error) => errors.push(error.message));
    return errors;
  }

  /** Answers the next dialog (a prompt with `text`, a confirm with OK) and keeps its message. */
  function answerDialogs(page: Page, answers: (string | boolean)[]): string[] {
    const messages: string[] = [];
    page.on("dialog", async (dialog) => {
      messages.push(dialog.message());
      const answer = answers.shift();
      if (answer === false) await dialog.dismiss();
      else await dialog.accept(typeof answer === "string" ? answer : undefined);
    });
    return messages;
  }

  const rowNames = (page: Page) => page.locator("tbody tr:not(.up) td:first-child a").allTextContents();

  test("New folder, Rename (into that folder) and Delete (after a confirmation) change the folder and the listing", TIMEOUT, async (t) => {
    const page = await newPage(t);
    if (!page) return;
    const dir = site("manage-buttons", { "notes.txt": "n\n", "old name.txt": "o\n", "photos/a.jpg": "jpg" });
    const server = await serving(t, ["--listing", "rich", "--allow-delete", "--allow-mkdir", "--allow-move", "-b", "127.0.0.1", "-d", dir, "0"]);
    const errors = watchErrors(page);
    const messages = answerDialogs(page, ["new folder", "new folder/renamed é.txt", false, true, true]);
    await page.goto(`http://127.0.0.1:${server.port}/`);
    assert.deepEqual(await rowNames(page), ["photos/", "notes.txt", "old name.txt"]);

    await Promise.all([page.waitForEvent("load"), page.click("#mkdir")]);
    assert.ok(existsSync(join(dir, "new folder")), "MKCOL made the folder");
    assert.deepEqual(await rowNames(page), ["new folder/", "photos/", "notes.txt", "old name.txt"]);

    await Promise.all([page.waitForEvent("load"), page.click("button[aria-label='Rename old name.txt']")]);
    assert.equal(readFileSync(join(dir, "new folder", "renamed é.txt"), "utf8"), "o\n");
    assert.ok(!existsSync(join(dir, "old name.txt")));
    assert.deepEqual(await rowNames(page), ["new folder/", "photos/", "notes.txt"]);

    // The first confirmation is dismissed: nothing goes.
    await page.click("button[aria-label='Delete notes.txt']");
    await page.waitForTimeout(300);
    assert.ok(existsSync(join(dir, "notes.txt")), "dismissed: kept");
    await Promise.all([page.waitForEvent("load"), page.click("button[aria-label='Delete notes.txt']")]);
    assert.ok(!existsSync(join(dir, "notes.txt")));
    await Promise.all([page.waitForEvent("load"), page.click("button[aria-label='Delete photos']")]);
    assert.ok(!existsSync(join(dir, "photos")), "a folder goes with what it holds (?recursive=1)");
    assert.deepEqual(await rowNames(page), ["new folder/"]);

    assert.deepEqual(messages, [
      "Name of the new folder",
      "Rename or move old name.txt to (a name, or a path such as ../other/old name.txt)",
      "Delete notes.txt?",
      "Delete notes.txt?",
      "Delete the folder photos and everything in it?",
    ]);
    assert.deepEqual(errors, [], "no CSP violation, no script error");
    const log = server.proc.stderr();
    for (const line of ["made directory /new folder/", "moved /old name.txt to /new folder/renamed é.txt", "deleted /notes.txt", "deleted /photos/ (with its contents)"]) {
      assert.ok(log.includes(line), `logged: ${line}`);
    }
  });

  test("a refusal is shown in words, and the listing stays", TIMEOUT, async (t) => {
    const page = await newPage(t);
    if (!page) return;
    const dir = site("manage-refused", { "a.txt": "a\n", "b.txt": "b\n" });
    const { port } = await serving(t, ["--listing", "rich", "--allow-move", "-b", "127.0.0.1", "-d", dir, "0"]);
    answerDialogs(page, ["b.txt"]);
    await page.goto(`http://127.0.0.1:${port}/`);
    assert.equal(await page.locator("button[aria-label='Delete a.txt']").count(), 0, "no Delete without --allow-delete");
    assert.equal(await page.locator("#mkdir").isVisible(), false, "no New folder without --allow-mkdir");
    await page.click("button[aria-label='Rename a.txt']");
    await page.waitForSelector("#manage-status.failed");
    assert.equal(await page.locator("#manage-status").textContent(), "Moving a.txt: refused: 412 The destination exists (Overwrite: F)");
    assert.equal(readFileSync(join(dir, "b.txt"), "utf8"), "b\n", "never over an existing name");
  });

  test("without the flags the rich listing has no buttons", TIMEOUT, async (t) => {
    const page = await newPage(t);
    if (!page) return;
    const dir = site("manage-none", { "a.txt": "a\n" });
    const { port } = await serving(t, ["--listing", "rich", "-b", "127.0.0.1", "-d", dir, "0"]);
    await page.goto(`http://127.0.0.1:${port}/`);
    assert.equal(await page.locator("#manage").count(), 0);
    assert.equal(await page.locator("td.act").count(), 0);
  });
});
