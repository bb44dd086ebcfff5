/**
 * What a server loads, and when (issue 15, idle memory): the command line without flags loads
 * none of the opt-in modules; a flag loads its modules before the server listens; a program that
 * sets a class attribute gets the feature from its first connection; V8's optimizing compiler
 * stays paused until the command line listens. These guard the memory a plain server idles at
 * without asserting a figure (bench/idle_rss.ts measures it).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { loadFeaturesFor, loaded } from "../src/server/feature_modules.js";
import { exchange, serve } from "./helpers.js";
import { MAIN, TIMEOUT, killAll, request, startServer, stop, waitFor } from "./cli_process.js";

/** The modules a plain `simplehttp` must not load: each is some flag's, or some option's, alone. */
const OPT_IN_MODULES = [
  "features/upload.js",
  "features/upload_target.js",
  "features/upload_page.js",
  "features/atomic_write.js",
  "features/manage.js",
  "features/manage_page.js",
  "features/webdav.js",
  "features/locks.js",
  "features/rich_listing.js",
  "features/rich_listing_page.js",
  "features/archive.js",
  "features/archive_writers.js",
  "features/tree_walk.js",
  "features/search.js",
  "features/share_page.js",
  "features/readme.js",
  "features/qr.js",
  "features/compression.js",
  "features/livereload.js",
  "server/cgi_handler.js",
  "server/https_server.js",
  "server/forms.js",
  "cli/workers.js",
];

let root: string;
let hooks: string;
let record: string;

before(() => {
  root = mkdtempSync(join(tmpdir(), "feature-modules-"));
  writeFileSync(join(root, "page.html"), "<p>hello</p>\n");
  // A loader hook (run with --import through NODE_OPTIONS) that writes each module's URL as it loads.
  record = join(root, "loaded.txt");
  writeFileSync(
    join(root, "hooks.mjs"),
    `import { appendFileSync } from "node:fs";
export async function load(url, context, next) {
  appendFileSync(process.env.LOADED_RECORD, url + "\\n");
  return next(url, context);
}
`,
  );
  hooks = join(root, "register.mjs");
  writeFileSync(hooks, `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(root, "hooks.mjs")).href)});\n`);
});

after(() => {
  killAll();
  rmSync(root, { recursive: true, force: true });
});

/** Serves `args` (from `root`), asks for `/` and a file, and returns the dist/src modules it loaded. */
async function modulesLoadedServing(args: readonly string[]): Promise<string[]> {
  rmSync(record, { force: true });
  const env = { ...process.env, NODE_OPTIONS: `--import=${pathToFileURL(hooks).href}`, LOADED_RECORD: record };
  const server = await startServer(["0", "-b", "127.0.0.1", "-d", root, ...args], { env });
  try {
    assert.match((await request(server.port, "/")).status, / 200 /);
    assert.match((await request(server.port, "/page.html")).status, / 200 /);
  } finally {
    await stop(server.proc);
  }
  return readFileSync(record, "utf8")
    .split("\n")
    .filter((url) => url.includes("/dist/src/"))
    .map((url) => url.slice(url.indexOf("/dist/src/") + "/dist/src/".length));
}

describe("the modules the command line loads", () => {
  test("without flags: none of the opt-in modules, though it serves a listing and a file", TIMEOUT, async () => {
    const modules = await modulesLoadedServing([]);
    assert.ok(modules.includes("server/simple_handler.js"), "the hook saw the server's modules");
    assert.deepEqual(
      OPT_IN_MODULES.filter((name) => modules.includes(name)),
      [],
    );
  });

  test("with flags: their modules, loaded before it listens", TIMEOUT, async () => {
    const modules = await modulesLoadedServing(["--listing", "rich", "--upload", "--compress", "--qr"]);
    for (const name of ["features/rich_listing.js", "features/upload.js", "features/upload_page.js", "features/atomic_write.js", "features/compression.js", "features/qr.js"]) {
      assert.ok(modules.includes(name), `${name} loaded`);
    }
    assert.ok(!modules.includes("features/webdav.js"), "webdav.js stays unloaded without --webdav");
  });

  test("--listing rich alone: the rich listing's modules, not those of archives, QR codes or READMEs", TIMEOUT, async () => {
    const modules = await modulesLoadedServing(["--listing", "rich"]);
    assert.ok(modules.includes("features/rich_listing.js"));
    assert.deepEqual(
      ["features/archive.js", "features/qr.js", "features/readme.js", "features/tree_walk.js", "features/upload.js"].filter((name) => modules.includes(name)),
      [],
    );
  });
});

describe("a program that sets the class attributes", () => {
  test("loadFeaturesFor is null (no Promise) for a handler without options", () => {
    assert.equal(loadFeaturesFor(SimpleHTTPRequestHandler), null);
  });

  test("the first connection of a handler with `upload` waits for its modules: PUT works at once", TIMEOUT, async () => {
    assert.equal(loaded.upload, undefined, "not loaded before the first connection");
    const directory = mkdtempSync(join(root, "upload-"));
    class Uploads extends SimpleHTTPRequestHandler {
      static override upload = true;
      static override directory = directory;
      override log_message(): void {}
    }
    const running = await serve(Uploads);
    try {
      const reply = await exchange(running.port, "PUT /new.txt HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
      assert.match(reply.toString("latin1"), /^HTTP\/1\.0 201 /);
      assert.equal(readFileSync(join(directory, "new.txt"), "utf8"), "abc");
    } finally {
      await running.close();
    }
    assert.ok(loaded.upload !== undefined, "loaded by the first connection");
    assert.equal(loadFeaturesFor(Uploads), null, "nothing left to load: later connections do not wait");
  });
});

describe("a program that overrides setup()", () => {
  test("still gets the methods its options add on the first connection (MKCOL with allow_mkdir)", TIMEOUT, async () => {
    assert.equal(loaded.manage, undefined, "not loaded before the first connection");
    const directory = mkdtempSync(join(root, "mkcol-"));
    let setups = 0;
    class Folders extends SimpleHTTPRequestHandler {
      static override allow_mkdir = true;
      static override directory = directory;
      override setup(): void {
        super.setup(); // what super returns is dropped, as many a subclass does
        setups++;
      }
      override log_message(): void {}
    }
    const running = await serve(Folders);
    try {
      const reply = await exchange(running.port, "MKCOL /made HTTP/1.0\r\n\r\n");
      assert.match(reply.toString("latin1"), /^HTTP\/1\.0 201 /);
    } finally {
      await running.close();
    }
    assert.equal(setups, 1);
    assert.ok(statSync(join(directory, "made")).isDirectory());
  });
});

describe("the optimizing compiler", () => {
  test("stays paused while the command line starts, and is back once it serves", TIMEOUT, async () => {
    const child = spawn(process.execPath, ["--trace-opt", MAIN, "0", "-b", "127.0.0.1", "-d", root], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    try {
      await waitFor(() => /^Serving HTTP on/m.test(out), "the banner");
      const beforeBanner = out.slice(0, out.search(/^Serving HTTP on/m));
      assert.doesNotMatch(beforeBanner, /TURBOFAN/, "nothing optimized before listening");
      const port = Number(/port (\d+)/.exec(out)![1]);
      for (let i = 0; i < 300 && !/TURBOFAN/.test(out.slice(out.search(/^Serving/m))); i++) await request(port, "/page.html");
      assert.match(out.slice(out.search(/^Serving/m)), /TURBOFAN/, "optimized while serving");
    } finally {
      child.kill("SIGKILL");
    }
  });
});
