/**
 * Files written whole or not at all (src/features/atomic_write.ts): the temporary file, the length
 * check, no-clobber and replacing commits, aborts, the exit hook, and the sweep of files a killed
 * process left.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AtomicFile,
  BATCH_BYTES,
  LengthMismatchError,
  TEMP_PREFIX,
  TargetExistsError,
  isUploadTemp,
  openUploadCount,
  removeStaleUploads,
} from "../src/features/atomic_write.js";

let root = "";
let count = 0;

before(() => {
  root = mkdtempSync(join(tmpdir(), "simplehttp-atomic-"));
});

after(() => rmSync(root, { recursive: true, force: true }));

/** A fresh empty directory. */
function folder(): string {
  const dir = join(root, `d${++count}`);
  mkdirSync(dir);
  return dir;
}

async function written(dir: string, chunks: Buffer[]): Promise<AtomicFile> {
  const file = await AtomicFile.create(dir);
  for (const chunk of chunks) await file.write(chunk);
  return file;
}

test("the temporary file is a new dotfile beside the target, named with the pid, and nothing else shows until the commit", async () => {
  const dir = folder();
  const file = await written(dir, [Buffer.from("hello ")]);
  const names = readdirSync(dir);
  assert.equal(names.length, 1);
  assert.match(names[0]!, new RegExp(`^\\${TEMP_PREFIX}${process.pid}-[0-9a-f]{16}\\.part$`));
  assert.ok(isUploadTemp(names[0]!) && isUploadTemp(join(dir, names[0]!)));
  await file.write(Buffer.from("world"));
  assert.equal(await file.commit(join(dir, "greeting.txt"), { overwrite: false, expectedLength: 11 }), false);
  assert.deepEqual(readdirSync(dir), ["greeting.txt"]);
  assert.equal(readFileSync(join(dir, "greeting.txt"), "utf8"), "hello world");
  assert.equal(openUploadCount(), 0);
});

test("isUploadTemp knows only our own pattern", () => {
  for (const name of [".simplehttp-upload-1-0123456789abcdef.part", "dir/.simplehttp-upload-42-ffffffffffffffff.part"]) {
    assert.ok(isUploadTemp(name), name);
  }
  for (const name of ["a.part", ".simplehttp-upload-x-0123456789abcdef.part", ".simplehttp-upload-1-0123.part", "simplehttp-upload-1-0123456789abcdef.part"]) {
    assert.ok(!isUploadTemp(name), name);
  }
});

test("many batches are written in order, whole (more than two batches in flight would not be)", async () => {
  const dir = folder();
  const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(100_000, i));
  const file = await written(dir, chunks);
  await file.commit(join(dir, "big.bin"), { overwrite: false, expectedLength: 5_000_000 });
  assert.ok(5_000_000 > 2 * BATCH_BYTES);
  assert.deepEqual(readFileSync(join(dir, "big.bin")), Buffer.concat(chunks));
});

test("a length other than the one announced is refused, and leaves nothing", async () => {
  const dir = folder();
  const file = await written(dir, [Buffer.from("short")]);
  await assert.rejects(file.commit(join(dir, "x"), { overwrite: false, expectedLength: 6 }), LengthMismatchError);
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(openUploadCount(), 0);
});

test("without overwrite, a target that exists — even one made during the upload — is TargetExistsError, and stays as it was", async () => {
  const dir = folder();
  const file = await written(dir, [Buffer.from("new")]);
  writeFileSync(join(dir, "x"), "made meanwhile");
  await assert.rejects(file.commit(join(dir, "x"), { overwrite: false }), TargetExistsError);
  assert.deepEqual(readdirSync(dir), ["x"]);
  assert.equal(readFileSync(join(dir, "x"), "utf8"), "made meanwhile");
});

test("with overwrite, a regular file is replaced (true), but a directory or a link is not", async () => {
  const dir = folder();
  writeFileSync(join(dir, "x"), "old");
  const file = await written(dir, [Buffer.from("new")]);
  assert.equal(await file.commit(join(dir, "x"), { overwrite: true }), true);
  assert.equal(readFileSync(join(dir, "x"), "utf8"), "new");

  mkdirSync(join(dir, "sub"));
  symlinkSync(join(dir, "x"), join(dir, "link"));
  for (const name of ["sub", "link"]) {
    const other = await written(dir, [Buffer.from("nope")]);
    await assert.rejects(other.commit(join(dir, name), { overwrite: true }), TargetExistsError);
  }
  assert.ok(lstatSync(join(dir, "link")).isSymbolicLink());
  assert.equal(readFileSync(join(dir, "x"), "utf8"), "new");
  assert.deepEqual(readdirSync(dir).sort(), ["link", "sub", "x"]);
});

test("two writers of one name never mix their bytes: without overwrite the first commit wins, with it the last, each whole", async () => {
  const dir = folder();
  const a = Array.from({ length: 20 }, () => Buffer.alloc(64 * 1024, 0x61));
  const b = Array.from({ length: 20 }, () => Buffer.alloc(64 * 1024, 0x62));
  const [first, second] = await Promise.all([AtomicFile.create(dir), AtomicFile.create(dir)]);
  // Interleaved writes, as two connections would make them.
  for (let i = 0; i < a.length; i++) {
    await first.write(a[i]!);
    await second.write(b[i]!);
  }
  const results = await Promise.allSettled([first.commit(join(dir, "x"), { overwrite: false }), second.commit(join(dir, "x"), { overwrite: false })]);
  assert.deepEqual(results.map((result) => result.status).sort(), ["fulfilled", "rejected"]);
  const content = readFileSync(join(dir, "x"));
  assert.ok(content.equals(Buffer.concat(a)) || content.equals(Buffer.concat(b)));

  const [third, fourth] = await Promise.all([written(dir, a), written(dir, b)]);
  await Promise.all([third.commit(join(dir, "y"), { overwrite: true }), fourth.commit(join(dir, "y"), { overwrite: true })]);
  const replaced = readFileSync(join(dir, "y"));
  assert.ok(replaced.equals(Buffer.concat(a)) || replaced.equals(Buffer.concat(b)));
  assert.deepEqual(readdirSync(dir).sort(), ["x", "y"]);
});

test("abort removes the temporary file, and is safe to repeat", async () => {
  const dir = folder();
  const file = await written(dir, [Buffer.alloc(3 * BATCH_BYTES)]);
  await file.abort();
  await file.abort();
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(openUploadCount(), 0);
});

test("a process that exits (process.exit, as a second Ctrl-C does) mid-upload leaves no temporary file", () => {
  const dir = folder();
  const module = new URL("../src/features/atomic_write.js", import.meta.url).href;
  const script = `
    const { AtomicFile } = await import(${JSON.stringify(module)});
    const file = await AtomicFile.create(${JSON.stringify(dir)});
    await file.write(Buffer.alloc(100));
    process.stdout.write(String((await import("node:fs")).readdirSync(${JSON.stringify(dir)}).length));
    process.exit(0);`;
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, "1"); // it was there while the process ran
  assert.deepEqual(readdirSync(dir), []);
});

test("removeStaleUploads removes what a dead process left, at any depth, and nothing else", async () => {
  const dir = folder();
  mkdirSync(join(dir, "a", "b"), { recursive: true });
  // A pid no process has: past the kernel's maximum.
  const maxPid = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8"));
  const dead = `${TEMP_PREFIX}${maxPid + 1}-0123456789abcdef.part`;
  const running = `${TEMP_PREFIX}${process.ppid}-0123456789abcdef.part`;
  const mine = `${TEMP_PREFIX}${process.pid}-fedcba9876543210.part`; // not open here: a previous run's, with our pid
  writeFileSync(join(dir, dead), "x");
  writeFileSync(join(dir, "a", "b", dead), "x");
  writeFileSync(join(dir, "a", running), "x");
  writeFileSync(join(dir, "a", mine), "x");
  writeFileSync(join(dir, "a", "keep.part"), "x");
  const live = await AtomicFile.create(join(dir, "a"));
  const removed = await removeStaleUploads(dir);
  assert.deepEqual(removed.sort(), [join(dir, dead), join(dir, "a", mine), join(dir, "a", "b", dead)].sort());
  assert.ok(existsSync(join(dir, "a", running)));
  assert.ok(existsSync(join(dir, "a", "keep.part")));
  assert.ok(existsSync(live.tempPath), "a file this process is writing stays");
  await live.abort();
});

test("removeStaleUploads does not follow links out, and stops after maxDirectories", async () => {
  const dir = folder();
  const outside = folder();
  const dead = `${TEMP_PREFIX}${Number(readFileSync("/proc/sys/kernel/pid_max", "utf8")) + 1}-0123456789abcdef.part`;
  writeFileSync(join(outside, dead), "x");
  symlinkSync(outside, join(dir, "out"));
  mkdirSync(join(dir, "deep"));
  writeFileSync(join(dir, "deep", dead), "x");
  assert.deepEqual(await removeStaleUploads(dir, { maxDirectories: 1 }), []);
  assert.deepEqual(await removeStaleUploads(dir), [join(dir, "deep", dead)]);
  assert.ok(existsSync(join(outside, dead)));
});
