/**
 * Archives at full size (not in CI): `npm run build && node dist/bench/archive.js [--no-zip64]`.
 *
 * Serves, with the built command line (`--archive`), a folder of 2 GB (eight 256 MiB files that
 * do not compress) and one of 20,000 small files (200 folders of 100), and downloads each as
 * zip, tar and tar.gz: time to the first byte, total time, throughput, and the server's RSS before
 * and at its peak (VmHWM reset per run, and VmRSS sampled every 50 ms). Each archive is saved
 * and checked with the real tools (`unzip -t`, `bsdtar -tf`, `tar -tzf`), and its files' SHA-256
 * compared with the tree's (extracted one by one from the zip; the tar checked by `tar -d`).
 * Then, unless `--no-zip64`, the cases ZIP64 is for: a 4.5 GiB (sparse) file and 70,000 entries.
 * Exit status 0 when every check passed.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, createWriteStream, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Meter, Probe } from "./proc.js";
import { noise } from "./fixture.js";

const MiB = 1024 * 1024;
const MAIN = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "simplehttp-archive-bench-"));
let failures = 0;

function check(ok: boolean, what: string): void {
  if (!ok) failures++;
  process.stdout.write(`  ${ok ? "ok  " : "FAIL"} ${what}\n`);
}

function tool(command: string, args: string[], options: { cwd?: string } = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { ...options, env: { ...process.env, LC_ALL: "C.UTF-8" }, maxBuffer: 1 << 30 });
  return { status: result.status, stdout: result.stdout?.toString() ?? "", stderr: result.stderr?.toString() ?? "" };
}

function makeBigFolder(dir: string): Map<string, string> {
  const hashes = new Map<string, string>();
  mkdirSync(dir, { recursive: true });
  // Incompressible (no repeat within deflate's 32 KiB window): zip stores it, gzip works for nothing.
  const block = noise(MiB);
  for (let f = 0; f < 8; f++) {
    const hash = createHash("sha256");
    const fd = openSync(join(dir, `part-${f}.bin`), "w");
    const first = Buffer.from(`part ${f}\n`); // files differ from their first bytes
    writeSync(fd, first);
    hash.update(first);
    for (let m = 0; m < 256; m++) {
      writeSync(fd, block);
      hash.update(block);
    }
    closeSync(fd);
    hashes.set(`part-${f}.bin`, hash.digest("hex"));
  }
  return hashes;
}

function makeManyFolder(dir: string, folders: number, perFolder: number): void {
  for (let d = 0; d < folders; d++) {
    mkdirSync(join(dir, `folder-${d}`), { recursive: true });
    for (let f = 0; f < perFolder; f++) {
      const fd = openSync(join(dir, `folder-${d}`, `file-${f}.txt`), "w");
      writeSync(fd, `file ${d}/${f}\n`.repeat(1 + (f % 20)));
      closeSync(fd);
    }
  }
}

interface Server {
  port: number;
  pid: number;
  stop(): void;
}

function startServer(directory: string): Promise<Server> {
  const child = spawn(process.execPath, [MAIN, "--archive", "--quiet", "-b", "127.0.0.1", "-d", directory, "0"], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk) => {
      out += chunk;
      const match = /port (\d+)/.exec(out);
      if (match) resolve({ port: Number(match[1]), pid: child.pid!, stop: () => child.kill("SIGKILL") });
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
}

interface Fetched {
  firstByteMs: number;
  totalMs: number;
  bytes: number;
}

/** Downloads `path` to `file`, as fast as the disk takes it. */
function fetchTo(port: number, path: string, file: string): Promise<Fetched> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let firstByteMs = -1;
      let bytes = 0;
      const out = createWriteStream(file);
      res.on("data", (chunk: Buffer) => {
        if (firstByteMs < 0) firstByteMs = performance.now() - start;
        bytes += chunk.length;
      });
      res.pipe(out);
      out.on("finish", () => resolve({ firstByteMs, totalMs: performance.now() - start, bytes }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

interface Row {
  what: string;
  size: string;
  firstByte: string;
  total: string;
  rate: string;
  rss: string;
}
const rows: Row[] = [];

async function measure(server: Server, what: string, path: string, file: string): Promise<Fetched> {
  const probe = new Probe(server.pid);
  const idle = probe.rssKiB() / 1024;
  const meter = new Meter(probe);
  const fetched = await fetchTo(server.port, path, file);
  const { peakKiB } = meter.finish();
  rows.push({
    what,
    size: `${(fetched.bytes / MiB).toFixed(0)} MiB`,
    firstByte: `${fetched.firstByteMs.toFixed(0)} ms`,
    total: `${(fetched.totalMs / 1000).toFixed(1)} s`,
    rate: `${(fetched.bytes / MiB / (fetched.totalMs / 1000)).toFixed(0)} MiB/s`,
    rss: `${idle.toFixed(0)} → ${(peakKiB / 1024).toFixed(0)} MiB`,
  });
  process.stdout.write(`${what}: ${JSON.stringify(rows[rows.length - 1])}\n`);
  return fetched;
}

function sha256OfZipEntry(zip: string, name: string): string {
  const result = spawnSync("sh", ["-c", `unzip -p "$0" "$1" | sha256sum`, zip, name], { maxBuffer: 1 << 20 });
  return result.stdout.toString().split(" ")[0]!;
}

async function bigFolder(): Promise<void> {
  process.stdout.write("making a 2 GiB folder…\n");
  const root = join(work, "big");
  const hashes = makeBigFolder(join(root, "video"));
  const server = await startServer(root);
  try {
    for (const format of ["zip", "tar", "tar.gz"]) {
      const file = join(work, `video.${format}`);
      await measure(server, `2 GiB folder, ${format}`, `/video/?download=${format}`, file);
      if (format === "zip") {
        check(tool("unzip", ["-t", file]).stdout.includes("No errors detected"), "unzip -t of the 2 GiB zip");
        for (const [name, hash] of hashes) check(sha256OfZipEntry(file, `video/${name}`) === hash, `${name}: SHA-256 as on disk`);
      } else {
        const list = tool(format === "tar" ? "bsdtar" : "tar", [format === "tar" ? "-tf" : "-tzf", file]);
        check(list.status === 0 && list.stdout.split("\n").filter(Boolean).length === 9, `${format === "tar" ? "bsdtar -tf" : "tar -tzf"} lists 9 entries`);
        const diff = tool("tar", [format === "tar" ? "-df" : "-dzf", file, "-C", root]);
        check(diff.status === 0, `tar -d: every byte, mode and time of the ${format} matches the tree${diff.stdout ? ` (${diff.stdout.slice(0, 200)})` : ""}`);
      }
      rmSync(file);
    }
  } finally {
    server.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

async function manyFiles(): Promise<void> {
  process.stdout.write("making 20,000 small files…\n");
  const root = join(work, "many");
  makeManyFolder(join(root, "notes"), 200, 100);
  const server = await startServer(root);
  try {
    for (const format of ["zip", "tar.gz"]) {
      const file = join(work, `notes.${format}`);
      await measure(server, `20,000 files, ${format}`, `/notes/?download=${format}`, file);
      if (format === "zip") {
        const test = tool("unzip", ["-tq", file]);
        check(test.status === 0, "unzip -tq of the 20,000-file zip");
        check(tool("zipinfo", ["-1", file]).stdout.split("\n").filter(Boolean).length === 20_201, "20,000 files, 200 folders and the top one in the zip");
      } else {
        check(tool("tar", ["-dzf", file, "-C", root]).status === 0, "tar -d: the tar.gz matches the tree");
      }
      rmSync(file);
    }
  } finally {
    server.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

async function zip64(): Promise<void> {
  process.stdout.write("ZIP64: a 4.5 GiB sparse file, and 70,000 entries…\n");
  const root = join(work, "z64");
  mkdirSync(join(root, "huge"), { recursive: true });
  const fd = openSync(join(root, "huge", "disk.img"), "w");
  ftruncateSync(fd, 4.5 * 1024 * MiB);
  closeSync(fd);
  makeManyFolder(join(root, "entries"), 100, 700);
  const server = await startServer(root);
  try {
    const huge = join(work, "huge.zip");
    await measure(server, "4.5 GiB file, zip (ZIP64)", "/huge/?download=zip", huge);
    const test = tool("unzip", ["-t", huge]);
    check(test.stdout.includes("No errors detected"), "unzip -t of the zip holding a 4.5 GiB file");
    check(tool("zipinfo", ["-v", huge]).stdout.includes("4831838208 bytes"), "its size (4831838208) read back");
    rmSync(huge);
    const entries = join(work, "entries.zip");
    await measure(server, "70,000 files, zip (ZIP64)", "/entries/?download=zip", entries);
    check(tool("unzip", ["-tq", entries]).status === 0, "unzip -tq of the 70,101-entry zip");
    check(tool("zipinfo", ["-1", entries]).stdout.split("\n").filter(Boolean).length === 70_101, "70,101 entries read back");
    rmSync(entries);
  } finally {
    server.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

try {
  await manyFiles();
  await bigFolder();
  if (!process.argv.includes("--no-zip64")) await zip64();
  process.stdout.write("\n| archive | size | first byte | total | rate | server RSS, idle → peak |\n|---|---|---|---|---|---|\n");
  for (const row of rows) process.stdout.write(`| ${row.what} | ${row.size} | ${row.firstByte} | ${row.total} | ${row.rate} | ${row.rss} |\n`);
  process.stdout.write(`\n${failures === 0 ? "all checks passed" : `${failures} checks FAILED`}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(failures === 0 ? 0 : 1);
