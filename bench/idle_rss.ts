/**
 * Idle memory (issue 15, target 4): the resident set of `simplehttp PORT -b 127.0.0.1` (no flags)
 * once it has started, beside bare `node:net` and `node:http` servers and a few flagged command
 * lines, each started fresh, unpinned, one at a time. For each: VmRSS `--wait` ms after it first
 * accepts a connection (a connect and close, no request: `npm run bench` reads it 300 ms after
 * the same probe), then again after a warm-up (a listing and a file, three times each) and
 * `--wait` ms more. Medians of `--rounds` fresh starts, MiB.
 *
 * `--modules` adds a second table: RSS after importing one module of dist/ in a fresh
 * `node --expose-gc` with a forced gc, to see which imports the start pays for.
 *
 * Usage: npm run build && node dist/bench/idle_rss.js [--rounds 5] [--wait 1000] [--modules]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort, waitListening } from "./peers.js";
import { stop } from "./children.js";

const HOST = "127.0.0.1";
const benchDist = dirname(fileURLToPath(import.meta.url));
const srcDist = resolve(benchDist, "../src");

interface Subject {
  name: string;
  args: (port: number) => string[];
  /** Whether it serves the warm-up's listing and file (the baselines answer anything with 1 KiB). */
  warmup: boolean;
}

const cli = join(srcDist, "cli/main.js");
const SUBJECTS: Subject[] = [
  { name: "bare node:net", args: (port) => [join(benchDist, "baseline-net.js"), String(port)], warmup: true },
  { name: "bare node:http", args: (port) => [join(benchDist, "baseline-http.js"), String(port)], warmup: true },
  { name: "simplehttp (no flags)", args: (port) => [cli, String(port), "-b", HOST], warmup: true },
  { name: "simplehttp --listing rich", args: (port) => [cli, String(port), "-b", HOST, "--listing", "rich"], warmup: true },
  { name: "simplehttp --upload --webdav", args: (port) => [cli, String(port), "-b", HOST, "--upload", "--webdav"], warmup: true },
];

/** Modules whose import cost the `--modules` table shows, relative to dist/src. */
const MODULES = [
  null,
  "socketserver/index.js",
  "server/base_handler.js",
  "server/http_server.js",
  "server/simple_handler.js",
  "cli/options.js",
  "cli/server.js",
  "cli/program.js",
  "index.js",
];

function vmRssKiB(pid: number): number {
  const match = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
  return match ? Number(match[1]) : 0;
}

function get(port: number, path: string): Promise<void> {
  return new Promise((done, fail) => {
    const req = request({ host: HOST, port, path, agent: false }, (res) => {
      res.resume();
      res.once("end", done);
    });
    req.once("error", fail);
    req.end();
  });
}

/** One fresh start: RSS once listening and idle (no request yet), and after a warm-up. */
async function measure(subject: Subject, root: string, waitMs: number): Promise<[number, number]> {
  const port = await freePort();
  const child = spawn(process.execPath, subject.args(port), { cwd: root, stdio: "ignore", detached: true });
  try {
    if (!(await waitListening(port, child, 15_000))) throw new Error(`${subject.name} did not listen`);
    await sleep(waitMs);
    const idle = vmRssKiB(child.pid!);
    for (let i = 0; i < 3; i++) {
      await get(port, "/");
      await get(port, "/page.html");
    }
    await sleep(waitMs);
    return [idle, vmRssKiB(child.pid!)];
  } finally {
    await stop(child);
  }
}

/** RSS of a fresh `node --expose-gc` that imported `module` (or nothing), after a forced gc. */
async function importCost(module: string | null): Promise<number> {
  const target = module === null ? "" : `await import(${JSON.stringify(join(srcDist, module))});`;
  const script = `${target} await new Promise((r) => setTimeout(r, 800)); gc(); await new Promise((r) => setTimeout(r, 200));
    process.stdout.write(String(process.memoryUsage().rss));`;
  const child = spawn(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk));
  await new Promise((done) => child.once("exit", done));
  return Number(out) / 1024;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

const mib = (kib: number) => (kib / 1024).toFixed(1);

function makeRoot(): string {
  const root = mkdtempSync(join(tmpdir(), "idle-rss-"));
  writeFileSync(join(root, "page.html"), "<p>" + "x".repeat(2048) + "</p>\n");
  for (let i = 0; i < 20; i++) writeFileSync(join(root, `file-${i}.txt`), `file ${i}\n`);
  mkdirSync(join(root, "sub"));
  return root;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rounds: { type: "string", default: "5" }, wait: { type: "string", default: "1000" }, modules: { type: "boolean", default: false } },
  });
  const rounds = Number(values.rounds);
  const waitMs = Number(values.wait);
  const root = makeRoot();
  try {
    process.stdout.write(`Node ${process.version}; medians of ${rounds} fresh starts; RSS read ${waitMs} ms after listening and after the warm-up.\n\n`);
    process.stdout.write("| server | RSS idle, MiB | after warm-up, MiB |\n|---|---|---|\n");
    for (const subject of SUBJECTS) {
      const idle: number[] = [];
      const warm: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const [a, b] = await measure(subject, root, waitMs);
        idle.push(a);
        warm.push(b);
      }
      process.stdout.write(`| ${subject.name} | ${mib(median(idle))} | ${mib(median(warm))} |\n`);
    }
    if (!values.modules) return;
    process.stdout.write("\n| imported (dist/src/…), forced gc | RSS, MiB |\n|---|---|\n");
    for (const module of MODULES) {
      const costs: number[] = [];
      for (let i = 0; i < rounds; i++) costs.push(await importCost(module));
      process.stdout.write(`| ${module ?? "(nothing)"} | ${mib(median(costs))} |\n`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
