/**
 * Folders as archives (`archive = true`, features/archive.ts): checked with the real tools
 * (`unzip -t`, `bsdtar -tf`, `tar -tzf`, then extracted and compared byte for byte with the
 * tree), times, modes and UTF-8 names kept, what serving refuses left out, what cannot be read
 * named in the note and the log, the stream started at once and stopped when the client leaves.
 * The 2 GB folder and the 20,000 files are in bench/archive.ts; scaled down here.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { CGIHTTPRequestHandler } from "../src/server/cgi_handler.js";
import { archivesRunning, contentDisposition, exactBytes, requestedArchive } from "../src/features/archive.js";
import * as fsPromises from "node:fs/promises";
import { captureStderr, exchange, serve, sleep, splitReply, type Running } from "./helpers.js";
import { MAIN, waitFor } from "./cli_process.js";
import { ARCHIVE_TOOLS, download, ensureTools, runTool, treeFiles, writeTree, zipCentralRecords } from "./archive_fixture.js";

class Quiet extends SimpleHTTPRequestHandler {
  override log_message(): void {}
}
class Archive extends Quiet {
  static override archive = true;
}
class Hidden extends Archive {
  static override dotfiles = false;
  static override follow_symlinks = false;
}

let root = "";
let tree = "";
let outside = "";
let missingTools = "";
let archive: Running;
let hidden: Running;

const OLD = new Date("2020-01-02T03:04:05Z");

before(() => {
  missingTools = ensureTools(ARCHIVE_TOOLS);
  if (missingTools) process.stdout.write(`archive tool checks skipped: ${missingTools}\n`);
  root = fs.mkdtempSync(join(tmpdir(), "simplehttp-archive-"));
  fs.chmodSync(root, 0o755);
  tree = join(root, "photos");
  outside = fs.mkdtempSync(join(tmpdir(), "simplehttp-archive-outside-"));
  writeTree(tree, {
    "a.txt": "hello\n",
    "text/long.txt": "line of text\n".repeat(5000),
    "random.bin": Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919 + (i >> 3)) & 0xff)),
    "ünïcødé näme.txt": "utf-8\n",
    "deep/er/and/deeper/leaf.txt": "leaf\n",
    ".env": "SECRET=1\n",
    ".git/config": "[core]\n",
    "inside-target/t.txt": "target\n",
  });
  fs.mkdirSync(join(tree, "empty"));
  fs.writeFileSync(join(tree, ".simplehttp-upload-4242-0123456789abcdef.part"), "half an upload");
  writeTree(outside, { "secret.txt": "outside\n" });
  fs.symlinkSync("inside-target", join(tree, "link-in"));
  fs.symlinkSync(outside, join(tree, "link-out"));
  fs.symlinkSync(join(outside, "secret.txt"), join(tree, "file-out.txt"));
  fs.chmodSync(join(tree, "a.txt"), 0o750);
  fs.utimesSync(join(tree, "a.txt"), OLD, OLD);
  fs.utimesSync(join(tree, "deep"), OLD, OLD);
});

after(async () => {
  await archive?.close();
  await hidden?.close();
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(outside, { recursive: true, force: true });
});

describe("archives over HTTP", () => {
  before(async () => {
    archive = await serve(Archive.with_directory(root));
    hidden = await serve(Hidden.with_directory(root));
  });

  test("?download= takes zip, tar and tar.gz; another value is a 400 naming them", async () => {
    assert.equal(requestedArchive("/d/?download=zip"), "zip");
    assert.equal(requestedArchive("/d/?x=1&download=tar.gz#f"), "tar.gz");
    assert.equal(requestedArchive("/d/?download=rar"), "unknown");
    assert.equal(requestedArchive("/d/?downloads=zip"), null);
    const reply = await download(archive.port, "/photos/?download=rar");
    assert.equal(reply.status, 400);
    assert.match(reply.body.toString(), /Unknown archive format \(use \?download=zip, \?download=tar, \?download=tar.gz\)/);
  });

  test("the zip: attachment named after the folder, no length, chunked on HTTP/1.1; unzip -t passes; bytes, modes and times as on disk", async (t) => {
    const reply = await download(archive.port, "/photos/?download=zip");
    assert.equal(reply.status, 200);
    assert.equal(reply.headers["content-type"], "application/zip");
    assert.equal(reply.headers["content-disposition"], 'attachment; filename="photos.zip"');
    assert.equal(reply.headers["content-length"], undefined);
    assert.equal(reply.headers["transfer-encoding"], undefined, "the server speaks HTTP/1.0 here: the end of the body is the close");
    if (missingTools) return t.skip(missingTools);
    const file = join(root, "out.zip");
    fs.writeFileSync(file, reply.body);
    const check = runTool("unzip", ["-t", file]);
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /No errors detected/);
    const into = fs.mkdtempSync(join(root, "unzip-"));
    assert.equal(runTool("unzip", ["-q", file, "-d", into]).status, 0);
    assertSameFiles(join(into, "photos"), join(tree), { followedOutside: true });
    assert.equal(fs.statSync(join(into, "photos", "a.txt")).mode & 0o777, 0o750);
    // Info-ZIP's unzip restores the DOS time (2-second steps); the exact one is in the central
    // directory's Info-ZIP UT field (checked by zipinfo below).
    assert.ok(Math.abs(fs.statSync(join(into, "photos", "a.txt")).mtime.getTime() - OLD.getTime()) <= 2000);
    assert.match(runTool("zipinfo", ["-v", file, "photos/a.txt"]).stdout, /UT extra field modtime\): 2020 Jan 2 03:04:05 UTC/);
    assert.ok(fs.statSync(join(into, "photos", "empty")).isDirectory(), "an empty folder is kept");
  });

  test("every zip entry has the UTF-8 flag; text is deflated, random bytes stored; Unix modes in the external attributes", async () => {
    const { body } = await download(archive.port, "/photos/?download=zip");
    const records = zipCentralRecords(body);
    assert.ok(records.length > 5);
    for (const record of records) assert.equal(record.flags & 0x0800, 0x0800, `${record.name} has the UTF-8 flag`);
    const names = records.map((record) => record.name);
    assert.ok(names.includes("photos/ünïcødé näme.txt"));
    assert.ok(names.includes("photos/empty/"));
    assert.equal(names[0], "photos/", "the top folder first, with its own time and mode");
    assert.equal(records.find((r) => r.name === "photos/a.txt")!.externalMode, 0o100750);
    assert.ok(body.length < 300_000 + 65_000 + 20_000, "the 65 KB of text was deflated");
  });

  test("tar and tar.gz: bsdtar -tf and tar -tzf list every entry; extracted, the bytes, modes and times are the tree's", async (t) => {
    const tarReply = await download(archive.port, "/photos/?download=tar");
    assert.equal(tarReply.headers["content-type"], "application/x-tar");
    const gzReply = await download(archive.port, "/photos/?download=tar.gz");
    assert.equal(gzReply.headers["content-type"], "application/gzip");
    assert.equal(gzReply.headers["content-disposition"], 'attachment; filename="photos.tar.gz"');
    if (missingTools) return t.skip(missingTools);
    fs.writeFileSync(join(root, "out.tar"), tarReply.body);
    fs.writeFileSync(join(root, "out.tar.gz"), gzReply.body);
    const bsd = runTool("bsdtar", ["-tf", join(root, "out.tar")]);
    assert.equal(bsd.status, 0, bsd.stderr);
    const gnu = runTool("tar", ["-tzf", join(root, "out.tar.gz")]);
    assert.equal(gnu.status, 0, gnu.stderr);
    assert.deepEqual(gnu.stdout.split("\n").filter(Boolean), bsd.stdout.split("\n").filter(Boolean));
    assert.ok(gnu.stdout.includes("photos/ünïcødé näme.txt\n"));
    for (const [name, flags] of [["out.tar", "-xf"], ["out.tar.gz", "-xzf"]] as const) {
      const into = fs.mkdtempSync(join(root, "untar-"));
      const extracted = runTool("tar", [flags, join(root, name), "-C", into]);
      assert.equal(extracted.status, 0, extracted.stderr);
      assertSameFiles(join(into, "photos"), tree, { followedOutside: true });
      assert.equal(fs.statSync(join(into, "photos", "a.txt")).mode & 0o777, 0o750);
      assert.equal(fs.statSync(join(into, "photos", "a.txt")).mtime.getTime(), OLD.getTime());
      assert.equal(fs.statSync(join(into, "photos", "deep")).mtime.getTime(), OLD.getTime(), "a folder's time too");
    }
  });

  test("never what serving refuses: dotfiles under dotfiles = false, links leading out under follow_symlinks = false, uploads in progress — and none of them named", async (t) => {
    const { body } = await download(hidden.port, "/photos/?download=zip");
    const names = zipCentralRecords(body).map((record) => record.name);
    for (const refused of ["photos/.env", "photos/.git/", "photos/.git/config", "photos/link-out/", "photos/link-out/secret.txt", "photos/file-out.txt"]) {
      assert.ok(!names.includes(refused), `${refused} left out`);
    }
    assert.ok(!names.some((name) => name.includes("simplehttp-upload")), "no upload's temporary file");
    assert.ok(names.includes("photos/link-in/t.txt"), "a link leading inside is followed, as serving follows it");
    assert.ok(!names.some((name) => name.includes("skipped")), "nothing failed: no note");
    assert.ok(!body.includes("SECRET=1") && !body.includes("outside\n"));
    // Served as Python serves, the refused paths are 404s; the archive agrees.
    for (const path of ["/photos/.env", "/photos/link-out/secret.txt"]) assert.equal((await download(hidden.port, path)).status, 404);
    if (missingTools) return t.skip(missingTools);
    fs.writeFileSync(join(root, "hidden.tar.gz"), (await download(hidden.port, "/photos/?download=tar.gz")).body);
    const listed = runTool("tar", ["-tzf", join(root, "hidden.tar.gz")]).stdout;
    assert.ok(!listed.includes(".env") && !listed.includes("link-out") && !listed.includes("file-out") && !listed.includes("upload"));
  });

  test("the archive of the root is named after the served folder; a dotfile folder under dotfiles = false is a 404", async () => {
    const reply = await download(hidden.port, "/?download=tar");
    assert.equal(reply.headers["content-disposition"], `attachment; filename="${root.split("/").pop()}.tar"`);
    assert.equal((await download(hidden.port, "/photos/.git/?download=zip")).status, 404);
  });

  test("a folder without its slash is redirected with the query kept; a folder with an index page is still archived", async () => {
    const redirect = await download(archive.port, "/photos?download=zip");
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, "/photos/?download=zip");
    fs.writeFileSync(join(tree, "deep", "index.html"), "<p>index</p>");
    try {
      const names = zipCentralRecords((await download(archive.port, "/photos/deep/?download=zip")).body).map((r) => r.name);
      assert.ok(names.includes("deep/er/and/deeper/leaf.txt") && names.includes("deep/index.html"));
    } finally {
      fs.rmSync(join(tree, "deep", "index.html"));
    }
  });

  test("HEAD sends the headers and builds nothing", async () => {
    const reply = await download(archive.port, "/photos/?download=zip", {}, "HEAD");
    assert.equal(reply.status, 200);
    assert.equal(reply.body.length, 0);
    assert.equal(archivesRunning(), 0);
  });

  test("on HTTP/1.1 the archive is chunked and the connection stays open for the next request", async () => {
    class Keep extends Archive {
      static override protocol_version = "HTTP/1.1";
    }
    const server = await serve(Keep.with_directory(root));
    try {
      const raw = await exchange(server.port, "GET /photos/?download=tar HTTP/1.1\r\nHost: x\r\n\r\nGET /photos/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { timeoutMs: 20_000 });
      const { head, body } = splitReply(raw);
      assert.match(head, /Transfer-Encoding: chunked/);
      assert.ok(body.includes("\r\n0\r\n\r\nHTTP/1.1 200 OK"), "the chunked body ends, then the next response follows");
      assert.ok(body.toString("latin1").endsWith("hello\n"));
    } finally {
      await server.close();
    }
  });

  test("without archive, ?download=zip is the listing, as Python serves it", async () => {
    const server = await serve(Quiet.with_directory(root));
    try {
      const reply = await download(server.port, "/photos/?download=zip");
      assert.match(reply.headers["content-type"]!, /^text\/html/);
      assert.ok(!reply.body.includes("Download this folder"));
    } finally {
      await server.close();
    }
  });

  test("Python's listing links the three formats under the flag", async () => {
    const { body } = await download(archive.port, "/photos/");
    assert.ok(body.includes('<p>Download this folder: <a href="?download=zip" download>zip</a> <a href="?download=tar" download>tar</a> <a href="?download=tar.gz" download>tar.gz</a></p>\n</body>'));
  });

  test("Content-Disposition carries a UTF-8 name with an ASCII fallback", () => {
    assert.equal(contentDisposition("photos.zip"), 'attachment; filename="photos.zip"');
    assert.equal(contentDisposition('été "x".zip'), `attachment; filename="_t_ _x_.zip"; filename*=UTF-8''%C3%A9t%C3%A9%20%22x%22.zip`);
  });

  test("a CGI handler's cgi-bin is never archived (its scripts would run, their source is never served)", async () => {
    writeTree(join(root, "site"), { "cgi-bin/script.py": "#!/usr/bin/python3\nprint('secret source')\n", "page.html": "<p>x</p>" });
    class Cgi extends CGIHTTPRequestHandler {
      static override archive = true;
      override log_message(): void {}
    }
    const server = await serve(Cgi.with_directory(join(root, "site")));
    try {
      const { body } = await download(server.port, "/?download=zip");
      const names = zipCentralRecords(body).map((r) => r.name);
      assert.ok(names.includes("site/page.html"));
      assert.ok(!names.some((name) => name.includes("cgi-bin")));
    } finally {
      await server.close();
    }
  });
});

describe("what cannot be read", () => {
  test("a symbolic link loop, a link back to a folder above, a broken link and a FIFO: left out, each logged, and named in simplehttp-skipped.txt", async (t) => {
    const dir = join(root, "faults");
    writeTree(dir, { "good.txt": "good\n", "simplehttp-skipped.txt": "a file of that name already\n", "sub/x.txt": "x\n" });
    fs.symlinkSync("self", join(dir, "self"));
    fs.symlinkSync("..", join(dir, "sub", "up"));
    fs.symlinkSync("nowhere", join(dir, "broken"));
    spawnSyncOk("mkfifo", [join(dir, "fifo")]);
    class Logged extends SimpleHTTPRequestHandler {
      static override archive = true;
    }
    const server = await serve(Logged.with_directory(root));
    const stderr = captureStderr();
    let body: Buffer;
    try {
      body = (await download(server.port, "/faults/?download=zip")).body;
      await sleep(50);
    } finally {
      stderr.restore();
      await server.close();
    }
    const names = zipCentralRecords(body).map((r) => r.name);
    assert.ok(names.includes("faults/good.txt") && names.includes("faults/sub/x.txt"));
    assert.ok(names.includes("faults/simplehttp-skipped-1.txt"), "the note does not replace a file of its name");
    const log = stderr.text();
    for (const [entry, why] of [["self", "symbolic link loop"], ["sub/up", "symbolic link loop"], ["broken", "broken symbolic link"], ["fifo", "not a regular file"]]) {
      assert.match(log, new RegExp(`archive /faults/: left out ${entry}: ${why}`));
    }
    assert.match(log, /archive \/faults\/ \(zip\): 3 files, 1 folders, \d+ bytes, 4 left out/);
    if (missingTools) return t.skip(missingTools);
    fs.writeFileSync(join(root, "faults.zip"), body);
    assert.equal(runTool("unzip", ["-t", join(root, "faults.zip")]).status, 0);
    const note = runTool("unzip", ["-p", join(root, "faults.zip"), "faults/simplehttp-skipped-1.txt"]).stdout;
    assert.match(note, /could not put 4 entries of \/faults\/ in this archive whole/);
    for (const line of ["self: symbolic link loop", "sub/up: symbolic link loop", "broken: broken symbolic link", "fifo: not a regular file"]) {
      assert.ok(note.includes(line), `${line} in ${note}`);
    }
  });

  test("an unreadable file and folder (the server running as nobody): left out and named, the archive whole", async (t) => {
    if (process.getuid?.() !== 0) return t.skip("needs root to run the server as nobody");
    const nobody = fs.readFileSync("/etc/passwd", "utf8").split("\n").map((line) => line.split(":")).find((fields) => fields[0] === "nobody");
    if (!nobody) return t.skip("no nobody user");
    const dir = join(root, "perms");
    writeTree(dir, { "ok.txt": "ok\n", "locked.txt": "locked\n", "closed/in.txt": "in\n" });
    fs.chmodSync(join(dir, "locked.txt"), 0);
    fs.chmodSync(join(dir, "closed"), 0);
    const child = spawn(process.execPath, [MAIN, "--archive", "-b", "127.0.0.1", "-d", dir, "0"], {
      uid: Number(nobody[2]),
      gid: Number(nobody[3]),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (chunk) => (out += chunk));
    child.stderr!.on("data", (chunk) => (err += chunk));
    try {
      await waitFor(() => /port (\d+)/.test(out), "the banner");
      const port = Number(/port (\d+)/.exec(out)![1]);
      const { body } = await download(port, "/?download=tar");
      await waitFor(() => err.includes("left out"), "the log lines");
      assert.match(err, /left out locked.txt: permission denied/);
      assert.match(err, /left out closed: cannot read the directory: permission denied/);
      if (missingTools) return t.skip(missingTools);
      fs.writeFileSync(join(root, "perms.tar"), body);
      const listed = runTool("tar", ["-tf", join(root, "perms.tar")]);
      assert.equal(listed.status, 0);
      assert.ok(listed.stdout.includes("perms/ok.txt\n") && !listed.stdout.includes("locked.txt\n"));
      const note = runTool("tar", ["-xOf", join(root, "perms.tar"), "perms/simplehttp-skipped.txt"]).stdout;
      assert.match(note, /locked.txt: permission denied/);
      assert.match(note, /closed: cannot read the directory: permission denied/);
    } finally {
      child.kill("SIGKILL");
      fs.chmodSync(join(dir, "closed"), 0o755);
    }
  });

  test("a file that shrinks while it is archived is filled with zeros to the size its header announced, and named", async () => {
    const file = join(root, "shrunk.bin");
    fs.writeFileSync(file, Buffer.alloc(100_000, 0x61));
    const handle = await fsPromises.open(file, "r");
    const problems: string[] = [];
    try {
      // The walk saw 200,000 bytes; the file now holds 100,000.
      const chunks: Buffer[] = [];
      for await (const chunk of exactBytes(handle, 200_000, (why) => problems.push(why), new AbortController().signal)) chunks.push(chunk);
      const data = Buffer.concat(chunks);
      assert.equal(data.length, 200_000);
      assert.ok(data.subarray(0, 100_000).equals(Buffer.alloc(100_000, 0x61)));
      assert.ok(data.subarray(100_000).equals(Buffer.alloc(100_000)));
      assert.deepEqual(problems, ["shrank to 100000 bytes while being archived: the rest of its 200000 bytes is zeros"]);
      // One that grew is cut at the size announced.
      const cut: Buffer[] = [];
      for await (const chunk of exactBytes(handle, 10, () => assert.fail("no problem"), new AbortController().signal)) cut.push(chunk);
      assert.equal(Buffer.concat(cut).length, 10);
    } finally {
      await handle.close();
    }
  });
});

describe("streaming", () => {
  let big = "";
  before(() => {
    big = join(root, "big");
    fs.mkdirSync(big);
    // 64 MiB that does not compress (stored): the archive is about as large.
    const block = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 2654435761) >>> 24));
    const fd = fs.openSync(join(big, "data.bin"), "w");
    for (let i = 0; i < 64; i++) fs.writeSync(fd, block);
    fs.closeSync(fd);
  });

  test("the first bytes leave before the archive is built", async () => {
    const first = await firstBytes(archive.port, "/big/?download=zip", 64 * 1024);
    assert.ok(first.received >= 64 * 1024);
    assert.equal(archivesRunning(), 1, "still building when the first 64 KiB arrived");
    first.abort();
    await waitFor(() => archivesRunning() === 0, "the build to stop");
  });

  test("a client that disconnects stops the work at once (zip, tar.gz, and HTTP/1.1 chunked)", async () => {
    for (const format of ["zip", "tar.gz", "tar"]) {
      const first = await firstBytes(archive.port, `/big/?download=${format}`, 256 * 1024);
      assert.equal(archivesRunning(), 1);
      first.abort();
      await waitFor(() => archivesRunning() === 0, `the ${format} build to stop`, undefined, 5000);
    }
  });

  test("memory stays flat: 64 MiB archived to a client that reads slowly adds far less than 64 MiB", async () => {
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const received = await slowDownload(archive.port, "/big/?download=zip");
      assert.ok(received > 64 * 1024 * 1024);
    } finally {
      clearInterval(sample);
    }
    assert.ok(peak - before < 48 * 1024 * 1024, `RSS grew by ${((peak - before) / 1048576).toFixed(1)} MiB`);
  });

  test("names a zip cannot hold as they are (a backslash, a drive letter): `\\` and the drive's colon become `_`, and the archive is whole", async (t) => {
    const odd = join(root, "c:odd");
    writeTree(odd, { "x\\": "x\n", "..\\y": "y\n", "in\\side/z.txt": "z\n" });
    const { body } = await download(archive.port, `/${encodeURIComponent("c:odd")}/?download=zip`);
    const names = zipCentralRecords(body).map((record) => record.name).sort();
    assert.deepEqual(names, ["c_odd/", "c_odd/.._y", "c_odd/in_side/", "c_odd/in_side/z.txt", "c_odd/x_"]);
    if (missingTools) return t.skip(missingTools);
    fs.writeFileSync(join(root, "odd.zip"), body);
    const check = runTool("unzip", ["-t", join(root, "odd.zip")]);
    assert.equal(check.status, 0, check.stdout + check.stderr);
  });

  test("3,000 small files: every one in the zip, unzip -t passes", async (t) => {
    const many = join(root, "many");
    for (let d = 0; d < 30; d++) {
      fs.mkdirSync(join(many, `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) fs.writeFileSync(join(many, `d${d}`, `f${f}.txt`), `${d}/${f}\n`);
    }
    const { body } = await download(archive.port, "/many/?download=zip");
    assert.equal(zipCentralRecords(body).length, 3000 + 30 + 1, "the files, their 30 folders and the top folder");
    if (missingTools) return t.skip(missingTools);
    fs.writeFileSync(join(root, "many.zip"), body);
    assert.equal(runTool("unzip", ["-tq", join(root, "many.zip")]).status, 0);
  });
});

/** Reads `bytes` of a GET, then offers to abort the connection. */
function firstBytes(port: number, path: string, bytes: number): Promise<{ received: number; abort(): void }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let received = 0;
      res.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received >= bytes) {
          res.pause();
          resolve({ received, abort: () => req.destroy() });
        }
      });
    });
    req.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "ECONNRESET") reject(error);
    });
    req.end();
  });
}

/** Reads a whole body in pauses (as a slow client would), returning its size. */
function slowDownload(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let received = 0;
      let count = 0;
      res.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (++count % 64 === 0) {
          res.pause();
          setTimeout(() => res.resume(), 5);
        }
      });
      res.on("end", () => resolve(received));
    });
    req.on("error", reject);
    req.end();
  });
}

function spawnSyncOk(command: string, args: string[]): void {
  const result = runTool(command, args);
  assert.equal(result.status, 0, result.stderr);
}

/**
 * The files extracted under `got` are those under `tree` that serving gives (dotfiles and all,
 * links followed): same paths, same bytes.
 */
function assertSameFiles(got: string, tree: string, _options: { followedOutside: boolean }): void {
  const expected = new Map([...treeFiles(tree)].filter(([path]) => !path.includes("simplehttp-upload")));
  const actual = treeFiles(got);
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [path, data] of expected) assert.ok(actual.get(path)!.equals(data), `${path}: same bytes`);
}
