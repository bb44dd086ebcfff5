/**
 * The package as users get it: packed (`npm pack`, with the real prepack/postpack hooks), installed
 * from the tarball into a new project with no network (`npm install --offline`, the dependencies
 * packed from this checkout's node_modules, an empty npm cache), then imported from ESM and
 * required from CommonJS, and its command run.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
/** What `prepack` runs before its own step: the build (the JavaScript, then the declarations). */
const BUILD = `${pkg.scripts.build} && `;
let work = "";
let project = "";
let tarball = "";
let unavailable = "";

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking the event loop; never rejects. */
function run(command: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, encoding: "utf8", timeout: 120_000, env: { ...process.env, npm_config_update_notifier: "false" } }, (error, stdout, stderr) => {
      const status = error ? (typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : 1) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

/** The runtime dependencies installed in this checkout (what the tarball will need), as folders. */
async function runtimeDependencies(): Promise<string[]> {
  const listed = await run("npm", ["ls", "--omit=dev", "--all", "--parseable"], root);
  return listed.stdout.split("\n").filter((line) => line.includes("node_modules"));
}

before(async () => {
  const npm = await run("npm", ["--version"], root);
  if (npm.status !== 0) {
    unavailable = "npm is not on PATH";
    return;
  }
  work = mkdtempSync(join(tmpdir(), "simplehttp-package-"));
  // A copy of what `npm pack` reads. Its prepack skips the build (dist/ is built by `npm test`,
  // and rebuilding it under other tests would race them); it keeps the rest of the hook.
  const source = join(work, "source");
  mkdirSync(source);
  for (const entry of ["README.md", "docs", "scripts", "dist/src"]) cpSync(join(root, entry), join(source, entry), { recursive: true });
  const copy = structuredClone(pkg);
  copy.scripts.prepack = copy.scripts.prepack.replace(BUILD, "");
  writeFileSync(join(source, "package.json"), JSON.stringify(copy, null, 2) + "\n");
  const packed = await run("npm", ["pack", "--pack-destination", work], source);
  assert.equal(packed.status, 0, packed.stderr);
  tarball = join(work, packed.stdout.trim().split("\n").pop()!);
  // The package.json the hooks put back is the one they took.
  assert.deepEqual(JSON.parse(readFileSync(join(source, "package.json"), "utf8")), copy);

  const deps = join(work, "deps");
  mkdirSync(deps);
  const folders = await runtimeDependencies();
  const depsPacked = await run("npm", ["pack", "--ignore-scripts", ...folders], deps);
  assert.equal(depsPacked.status, 0, depsPacked.stderr);

  project = join(work, "project");
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "user-project", version: "1.0.0", private: true }) + "\n");
  const tarballs = [tarball, ...readdirSync(deps).map((name) => join(deps, name))];
  const installed = await run(
    "npm",
    ["install", "--offline", "--cache", join(work, "cache"), "--no-audit", "--no-fund", "--loglevel", "warn", ...tarballs],
    project,
  );
  assert.equal(installed.status, 0, installed.stderr);
  // No install script to approve: `prepare` stays out of the tarball.
  assert.doesNotMatch(installed.stderr, /install-scripts|allowScripts/);
}, { timeout: 300_000 });

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test("the package builds at pack time (prepack), keeps prepare for git installs, and states the Node versions require() works on", () => {
  assert.equal(pkg.scripts.build, "tsc -p . && tsc -p tsconfig.types.json");
  assert.equal(pkg.scripts.prepack, `${pkg.scripts.build} && node scripts/pack-manifest.mjs strip`);
  assert.equal(pkg.scripts.postpack, "node scripts/pack-manifest.mjs restore");
  assert.equal(pkg.scripts.prepare, pkg.scripts.build);
  for (const script of ["preinstall", "install", "postinstall"]) assert.equal(pkg.scripts[script], undefined, script);
  assert.equal(pkg.engines.node, "^20.19.0 || >=22.12.0");
});

test("the tarball has the built library and command, no source maps to missing sources, no tests, no prepare script", async (t) => {
  if (unavailable) return t.skip(unavailable);
  const listing = await run("tar", ["-tzf", tarball], work);
  const files = listing.stdout.split("\n").filter(Boolean);
  for (const file of ["package/dist/src/index.js", "package/dist/src/index.d.ts", "package/dist/src/socketserver/index.js", "package/dist/src/cli/main.js", "package/README.md"]) {
    assert.ok(files.includes(file), file);
  }
  assert.deepEqual(files.filter((file) => file.endsWith(".map")), []);
  assert.deepEqual(files.filter((file) => file.includes("/test/") || file.includes("/bench/") || file.includes("/scripts/")), []);
  const installed = JSON.parse(readFileSync(join(project, "node_modules", "simplehttp", "package.json"), "utf8"));
  assert.equal(installed.scripts.prepare, undefined);
  assert.equal(installed.scripts.prepack, pkg.scripts.prepack.replace(BUILD, ""));
});

const SERVE_ONE = (load: string) => `
${load}
class Hello extends BaseHTTPRequestHandler {
  async do_GET() {
    const body = Buffer.from("Hello from " + this.path);
    this.send_response(200);
    this.send_header("Content-Length", body.length);
    await this.end_headers();
    await this.wfile.write(body);
  }
  log_message() {}
}
const server = new HTTPServer(["127.0.0.1", 0], Hello);
server.ready.then(async () => {
  const serving = server.serve_forever(0.05);
  const response = await fetch("http://127.0.0.1:" + server.server_address[1] + "/installed");
  console.log(response.status, await response.text(), typeof UDPServer, typeof form);
  await server.shutdown();
  await serving;
  await server.server_close();
});
`;

test("imported from ESM, the installed package serves a request", async (t) => {
  if (unavailable) return t.skip(unavailable);
  writeFileSync(
    join(project, "esm.mjs"),
    SERVE_ONE(`import { BaseHTTPRequestHandler, HTTPServer } from "simplehttp";
import { UDPServer } from "simplehttp/socketserver";
const form = BaseHTTPRequestHandler.prototype.form;`),
  );
  const result = await run(process.execPath, ["esm.mjs"], project);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, "200 Hello from /installed function function\n");
});

test("required from CommonJS, the installed package serves a request", async (t) => {
  if (unavailable) return t.skip(unavailable);
  const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
  if ((major === 20 && minor < 19) || (major === 22 && minor < 12) || major === 21) {
    return t.skip(`require() of an ES module needs Node ^20.19 or >=22.12 (this is ${process.versions.node}): package.json's engines says so`);
  }
  writeFileSync(
    join(project, "cjs.cjs"),
    SERVE_ONE(`const { BaseHTTPRequestHandler, HTTPServer } = require("simplehttp");
const { UDPServer } = require("simplehttp/socketserver");
const form = BaseHTTPRequestHandler.prototype.form;`),
  );
  const result = await run(process.execPath, ["cjs.cjs"], project);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, "200 Hello from /installed function function\n");
});

test("the installed command runs: simplehttp --help", async (t) => {
  if (unavailable) return t.skip(unavailable);
  const result = await run(join(project, "node_modules", ".bin", "simplehttp"), ["--help"], project);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^usage: simplehttp /);
});
