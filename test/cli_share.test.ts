/**
 * The sharing flags through the built binary: `--archive`, `--qr`, `--search` (`--search-max`,
 * `--search-time`), `--readme` — their parsing and usage errors, the features line, and `--auth`
 * guarding all of it (as it guards serving), in one process and with `--workers 2`.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCommandLine } from "../src/cli/options.js";
import { featureNames } from "../src/cli/startup.js";
import { killAll, TIMEOUT, testUsageErrors, withServer } from "./cli_process.js";
import { ARCHIVE_TOOLS, download, ensureTools, runTool, writeTree, zipCentralRecords } from "./archive_fixture.js";

let root = "";
let missing = "";
before(() => {
  root = fs.mkdtempSync(join(tmpdir(), "simplehttp-cli-share-"));
  writeTree(root, { "shared/photo-1.jpg": "jpeg", "shared/notes/README.md": "# Notes\n", ".env": "SECRET" });
  missing = ensureTools(ARCHIVE_TOOLS);
});
after(() => {
  killAll();
  fs.rmSync(root, { recursive: true, force: true });
});

const at = (...args: string[]) => ["-b", "127.0.0.1", "-d", root, ...args, "0"];
const BASIC = "Basic " + Buffer.from("alice:s3cret").toString("base64");

describe("parsing", () => {
  test("each flag sets its attribute; --search and --readme turn the rich listing on", () => {
    const command = parseCommandLine(["--archive", "--qr", "--search", "--search-max", "500", "--search-time", "2.5", "--readme"], "/cwd");
    assert.ok(typeof command === "object");
    assert.equal(command.archive, true);
    assert.equal(command.qr, true);
    assert.equal(command.search, true);
    assert.equal(command.search_max_entries, 500);
    assert.equal(command.search_timeout, 2.5);
    assert.equal(command.readme, true);
    assert.equal(command.listing, "rich");
    assert.equal(command.additions, true);
    assert.deepEqual(featureNames(command), ["rich listing", "archives (zip, tar, tar.gz)", "search", "README", "QR code"]);
    const readmeOnly = parseCommandLine(["--readme"], "/cwd");
    assert.ok(typeof readmeOnly === "object" && readmeOnly.listing === "rich" && readmeOnly.search === undefined);
  });

  test("--dev turns none of them on", () => {
    const command = parseCommandLine(["--dev"], "/cwd");
    assert.ok(typeof command === "object");
    assert.equal(command.archive ?? false, false);
    assert.equal(command.qr ?? false, false);
    assert.equal(command.search ?? false, false);
    assert.equal(command.readme ?? false, false);
  });
});

testUsageErrors([
  [["--search-max", "10"], "--search-max requires --search to be set"],
  [["--search-time", "1"], "--search-time requires --search to be set"],
  [["--search", "--listing", "python"], "--search requires the rich listing (--listing rich)"],
  [["--readme", "--listing=python"], "--readme requires the rich listing (--listing rich)"],
  [["--search", "--search-max", "0"], "argument --search-max: 0 is not a number of entries (1 or more)"],
  [["--search", "--search-max", "many"], "argument --search-max: invalid int value: 'many'"],
  [["--search", "--search-time", "0"], "argument --search-time: 0 is not a number of seconds (more than 0)"],
  [["--search", "--search-time", "soon"], "argument --search-time: invalid float value: 'soon'"],
  [["--q"], "ambiguous option: --q could match --quiet, --qr"],
]);

describe("--auth guards the archive, the search and the page", () => {
  for (const extra of [[], ["--workers", "2"]]) {
    test(`401 without credentials, the content with them${extra.length ? " (--workers 2)" : ""}`, TIMEOUT, async (t) => {
      await withServer(at("--archive", "--search", "--readme", "--qr", "--no-dotfiles", "--auth", "alice:s3cret", ...extra), async ({ port }) => {
        for (const path of ["/shared/?download=zip", "/shared/?download=tar.gz", "/?q=photo", "/shared/notes/"]) {
          const refused = await download(port, path);
          assert.equal(refused.status, 401, path);
          assert.ok(!refused.body.includes("photo-1") && !refused.body.includes("Notes"), path);
          assert.equal((await download(port, path, { Authorization: "Basic " + Buffer.from("alice:wrong").toString("base64") })).status, 401);
        }
        const zip = await download(port, "/shared/?download=zip", { Authorization: BASIC });
        assert.equal(zip.status, 200);
        assert.deepEqual(zipCentralRecords(zip.body).map((r) => r.name).sort(), ["shared/", "shared/notes/", "shared/notes/README.md", "shared/photo-1.jpg"]);
        const found = JSON.parse((await download(port, "/?q=e&format=json", { Authorization: BASIC })).body.toString()) as { results: { path: string }[] };
        assert.ok(!found.results.some((r) => r.path === ".env"), "hidden under --no-dotfiles");
        assert.ok(found.results.some((r) => r.path === "shared/notes/README.md"));
        const page = (await download(port, "/shared/notes/", { Authorization: BASIC })).body.toString();
        assert.match(page, /<h1>Notes<\/h1>/);
        if (missing) return t.skip(missing);
        fs.writeFileSync(join(root, "cli.zip"), zip.body);
        assert.equal(runTool("unzip", ["-t", join(root, "cli.zip")]).status, 0);
      });
    });
  }

  test("--auth-scope uploads leaves reading open: the archive without credentials", TIMEOUT, async () => {
    await withServer(at("--archive", "--upload", "--auth", "alice:s3cret", "--auth-scope", "uploads"), async ({ port }) => {
      assert.equal((await download(port, "/shared/?download=tar")).status, 200);
    });
  });
});
