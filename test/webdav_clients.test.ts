/**
 * WebDAV against real clients, through the command line: litmus (the WebDAV compliance suite) and
 * rclone (a `:webdav:` remote: lsf, copy up and back, sync, delete, purge, bytes compared).
 *
 * Both are Debian packages. They are installed here when missing and we are root with apt-get
 * (`.ci/run` installs them too); when they cannot be had, the tests skip and say why.
 */
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { killAll, launch, stop, waitFor, withServer, type Proc } from "./cli_process.js";

const TIMEOUT = { timeout: 300_000 };
const TLS = fileURLToPath(new URL("../../test/fixtures/tls/", import.meta.url));
const INSTALL_TIMEOUT_MS = 10 * 60_000;

/** Installs the Debian package `pkg` when `binary` is missing and we may; returns why not otherwise. */
function ensureTool(binary: string, pkg: string): string {
  if (existsSync(binary)) return "";
  if (process.platform !== "linux" || process.getuid?.() !== 0) return `${binary} is missing, and only root can install it`;
  if (spawnSync("sh", ["-c", "command -v apt-get"]).status !== 0) return `${binary} is missing, and there is no apt-get to install it`;
  process.stdout.write(`installing Debian's ${pkg} for the WebDAV client tests (apt-get)\n`);
  const install = spawnSync("sh", ["-c", `apt-get install -y ${pkg} || (apt-get update && apt-get install -y ${pkg})`], {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    stdio: ["ignore", "ignore", "pipe"],
    timeout: INSTALL_TIMEOUT_MS,
  });
  if (existsSync(binary)) return "";
  const why = install.error?.message || install.stderr?.toString().trim().split("\n").pop() || `status ${install.status}`;
  return `${pkg} could not be installed: ${why}`;
}

let root = "";
const missing: Record<string, string> = {};

before(() => {
  root = mkdtempSync(join(tmpdir(), "simplehttp-davclients-"));
  for (const [binary, pkg] of [["/usr/bin/litmus", "litmus"], ["/usr/bin/rclone", "rclone"]] as const) {
    const why = ensureTool(binary, pkg);
    if (why) {
      missing[pkg] = why;
      process.stdout.write(`${pkg} tests skipped: ${why}\n`);
    }
  }
}, { timeout: 2 * INSTALL_TIMEOUT_MS });

after(() => {
  killAll();
  rmSync(root, { recursive: true, force: true });
});

/** Runs a command to its end: status and output. */
function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; output: string; stdout: string }> {
  return new Promise((resolve) => {
    // In a folder of its own: litmus writes its debug.log where it runs.
    const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    let stdout = "";
    child.stdout.on("data", (data) => {
      output += data;
      stdout += data;
    });
    child.stderr.on("data", (data) => (output += data));
    child.on("close", (status) => resolve({ status, output, stdout }));
  });
}

/** rclone's environment: an empty configuration of its own (the remotes are given inline). */
function rcloneEnv(): NodeJS.ProcessEnv {
  const config = join(root, "rclone.conf");
  writeFileSync(config, "");
  return { RCLONE_CONFIG: config };
}

/** Serves `args` (HTTP or HTTPS) with the binary for the duration of `body`. */
async function serving(args: readonly string[], body: (server: { port: number; proc: Proc }) => Promise<void>): Promise<void> {
  const proc = launch(args);
  try {
    const banner = /^Serving HTTPS? on \S+ port (\d+) /;
    await waitFor(() => banner.test(proc.stdout()) || proc.hasExited(), "the banner", proc, 60_000);
    const port = Number(banner.exec(proc.stdout())?.[1]);
    assert.ok(port > 0, `no banner: ${proc.stderr()}`);
    await body({ port, proc });
  } finally {
    await stop(proc);
  }
}

let folders = 0;
function folder(): string {
  const dir = join(root, `f${++folders}`);
  mkdirSync(dir);
  return dir;
}

/** Every file under `dir` with the SHA-256 of its bytes. */
function digests(dir: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, entry);
    if (statSync(path).isFile()) result[relative(dir, path)] = createHash("sha256").update(readFileSync(path)).digest("hex");
  }
  return result;
}

function skipWithout(t: TestContext, pkg: string): boolean {
  if (!missing[pkg]) return false;
  t.skip(missing[pkg]);
  return true;
}

describe("litmus", () => {
  // --webdav answers in HTTP/1.1 unless -p says otherwise: litmus's http group needs 100 Continue.
  for (const args of [[], ["--tls-cert", join(TLS, "cert.pem"), "--tls-key", join(TLS, "key.pem")]]) {
    const scheme = args.length > 0 ? "https" : "http";
    test(`basic, copymove, props, locks and http pass in full against --webdav rw, over ${scheme}`, TIMEOUT, async (t) => {
      if (skipWithout(t, "litmus")) return;
      const dir = folder();
      await serving(["--webdav", "rw", "-b", "127.0.0.1", "-d", dir, ...args, "0"], async ({ port, proc }) => {
        const { status, output } = await run("litmus", [`${scheme}://127.0.0.1:${port}/`], { TESTS: "basic copymove props locks http" });
        const summaries = output.match(/^<- summary for `\w+': .*$/gm) ?? [];
        assert.deepEqual(
          summaries.map((line) => line.replace(/of (\d+) tests run: \1 passed, 0 failed\. 100\.0%/, "all passed")),
          ["basic", "copymove", "props", "locks", "http"].map((group) => `<- summary for \`${group}': all passed`),
          output,
        );
        // litmus itself does not run expect100 over TLS ("skipping for SSL server").
        assert.doesNotMatch(output.replace(/SKIPPED \(skipping for SSL server\)/g, ""), /WARNING|SKIPPED|FAIL/, "no warning, no test skipped");
        assert.equal(status, 0);
        assert.doesNotMatch(proc.stderr(), /Traceback|Error:/);
        // litmus's expect100 leaves its PUT unsent; the server drops it once litmus has gone.
        const temps = () => (readdirSync(dir, { recursive: true }) as string[]).filter((name) => name.includes(".simplehttp-upload-"));
        for (let waited = 0; temps().length > 0 && waited < 5000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.deepEqual(temps(), [], "no temporary file left");
      });
    });
  }
});

describe("rclone", () => {
  test("lsf, a tree copied up and back, sync, delete and purge against a :webdav: remote, bytes compared", TIMEOUT, async (t) => {
    if (skipWithout(t, "rclone")) return;
    const source = folder();
    const served = folder();
    const back = folder();
    mkdirSync(join(source, "sub", "deep"), { recursive: true });
    writeFileSync(join(source, "big.bin"), Buffer.alloc(5 * 1024 * 1024).map((_, i) => (i * 7919) & 0xff));
    writeFileSync(join(source, "a b & <c>.txt"), "spaces and specials\n");
    writeFileSync(join(source, "sub", "naïve café.txt"), "accents\n");
    writeFileSync(join(source, "sub", "deep", "x.txt"), "deep\n");
    await withServer(["--webdav", "rw", "-b", "127.0.0.1", "-p", "HTTP/1.1", "-d", served, "0"], async ({ port }) => {
      const remote = `:webdav,url='http://127.0.0.1:${port}/':`;
      const env = rcloneEnv();
      const rclone = async (...args: string[]) => {
        const { status, output, stdout } = await run("rclone", args, env);
        assert.equal(status, 0, `rclone ${args.join(" ")}: ${output}`);
        return stdout;
      };
      await rclone("copy", source, `${remote}up`);
      assert.deepEqual(digests(join(served, "up")), digests(source), "copied up: the same bytes on the server");
      const listed = (await rclone("lsf", "-R", `${remote}up`)).trim().split("\n").sort();
      assert.deepEqual(listed, ["a b & <c>.txt", "big.bin", "sub/", "sub/deep/", "sub/deep/x.txt", "sub/naïve café.txt"]);
      await rclone("copy", `${remote}up`, back);
      assert.deepEqual(digests(back), digests(source), "copied back: the same bytes");

      rmSync(join(source, "a b & <c>.txt"));
      rmSync(join(source, "sub", "deep"), { recursive: true });
      writeFileSync(join(source, "sub", "new.txt"), "new\n");
      writeFileSync(join(source, "big.bin"), "now small\n");
      await rclone("sync", source, `${remote}up`);
      assert.deepEqual(digests(join(served, "up")), digests(source), "synced");
      assert.ok(!existsSync(join(served, "up", "sub", "deep")), "sync removed the folder gone from the source");

      await rclone("delete", `${remote}up/sub`);
      assert.deepEqual(readdirSync(join(served, "up", "sub")), [], "delete removed the files");
      await rclone("purge", `${remote}up`);
      assert.deepEqual(readdirSync(served), [], "purge removed the tree");
    });
  });

  test("a read-only share: rclone lists and copies down, and its writes are refused", TIMEOUT, async (t) => {
    if (skipWithout(t, "rclone")) return;
    const served = folder();
    const back = folder();
    writeFileSync(join(served, "keep.txt"), "keep\n");
    await withServer(["--webdav", "-b", "127.0.0.1", "-d", served, "0"], async ({ port }) => {
      const remote = `:webdav,url='http://127.0.0.1:${port}/':`;
      const env = rcloneEnv();
      assert.equal((await run("rclone", ["lsf", remote], env)).stdout.trim(), "keep.txt");
      assert.equal((await run("rclone", ["copy", remote, back], env)).status, 0);
      assert.equal(readFileSync(join(back, "keep.txt"), "utf8"), "keep\n");
      const write = await run("rclone", ["copy", back, `${remote}again`, "--retries", "1", "--low-level-retries", "1"], env);
      assert.notEqual(write.status, 0, write.output);
      const remove = await run("rclone", ["delete", remote, "--retries", "1", "--low-level-retries", "1"], env);
      assert.notEqual(remove.status, 0, remove.output);
    });
    assert.deepEqual(readdirSync(served), ["keep.txt"]);
  });
});
