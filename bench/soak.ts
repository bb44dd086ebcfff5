/**
 * The soak test (not in CI): `npm run soak -- [--minutes N] [--clients N] [--no-extremes]`.
 *
 * Runs simplehttp (ThreadingHTTPServer + SimpleHTTPRequestHandler, HTTP/1.1, default limits and
 * timeouts) in a child process and hits it with 200 concurrent clients for N minutes (default
 * 10): files of 1 KiB to 1 MiB, listings, 404s and redirects, over keep-alive and one-request
 * connections, with slow readers, clients that reset mid-file and clients that stall then leave.
 * Then, unless `--no-extremes`: a 1 GB upload nobody reads, a 1 GB file uploaded as a form and
 * written to disk by `form()` (its peak RSS must stay flat), a 1 GB `PUT` written to disk by the
 * upload feature (a second server with `upload` on; checked on disk), and 1,000 clients that stop
 * reading a 100 MiB file.
 *
 * It reports the errors clients saw (must be 0), the server's RSS over time (must be flat), its
 * open file descriptors once the load is gone (back to the idle count), and what it logged.
 * Exit status 0 when all three hold, 1 otherwise.
 */
import { spawn } from "node:child_process";
import { closeSync, createWriteStream, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SimpleHTTPRequestHandler, ThreadingHTTPServer } from "../src/index.js";

const MiB = 1024 * 1024;

interface Options {
  minutes: number;
  clients: number;
  extremes: boolean;
}

function parseOptions(argv: string[]): Options {
  const value = (name: string, fallback: number) => {
    const i = argv.indexOf(name);
    if (i < 0) return fallback;
    const n = Number(argv[i + 1]);
    if (!(n > 0)) throw new Error(`${name} wants a positive number, got ${argv[i + 1]}`);
    return n;
  };
  return { minutes: value("--minutes", 10), clients: value("--clients", 200), extremes: !argv.includes("--no-extremes") };
}

// ---------------------------------------------------------------------------------------------
// The server, in its own process: `node soak.js --serve DIRECTORY`

async function serve(directory: string): Promise<void> {
  class Handler extends SimpleHTTPRequestHandler {
    static override protocol_version = "HTTP/1.1";

    /** POST /upload: each file of the form written to disk (then removed); else Python's 501. */
    async do_POST() {
      if (this.path !== "/upload") return this.send_error(501, "Unsupported method ('POST')");
      let bytes = 0;
      for await (const part of this.form()) {
        if (part.type !== "file") continue;
        const target = join(directory, `.upload-${process.pid}`);
        await pipeline(part.stream, createWriteStream(target));
        bytes += statSync(target).size;
        rmSync(target, { force: true });
      }
      const body = Buffer.from(`${bytes}\n`);
      this.send_response(201);
      this.send_header("Content-Length", body.length);
      await this.end_headers();
      await this.wfile.write(body);
    }
  }
  const server = new ThreadingHTTPServer(["127.0.0.1", 0], Handler.with_directory(directory));
  await server.ready;
  const loop = server.serve_forever();
  // The upload feature gets a server of its own, so the load above meets Python's handler unchanged.
  class Uploads extends SimpleHTTPRequestHandler {
    static override protocol_version = "HTTP/1.1";
    static override upload = true;
    static override upload_max = null;
  }
  const uploads = new ThreadingHTTPServer(["127.0.0.1", 0], Uploads.with_directory(`${directory}-uploads`));
  await uploads.ready;
  const uploadLoop = uploads.serve_forever();
  process.stdout.write(`port ${server.server_address[1]}\nuploads ${uploads.server_address[1]}\n`);
  // The live heap, measured after a full collection: what a leak would make grow.
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on("SIGUSR2", () => {
    gc?.();
    process.stdout.write(`heap ${process.memoryUsage().heapUsed}\n`);
  });
  process.once("SIGTERM", async () => {
    await Promise.all([server.graceful_close(), uploads.graceful_close()]);
    await Promise.all([loop, uploadLoop]);
  });
}

// ---------------------------------------------------------------------------------------------
// The fixture

interface Fixture {
  root: string;
  sizes: Map<string, number>;
}

function makeFixture(): Fixture {
  const root = mkdtempSync(join(tmpdir(), "simplehttp-soak-"));
  mkdirSync(`${root}-uploads`);
  const sizes = new Map<string, number>();
  for (const [name, size] of [["1k.bin", 1024], ["64k.bin", 64 * 1024], ["1m.bin", MiB]] as const) {
    writeFileSync(join(root, name), Buffer.alloc(size, 0x61));
    sizes.set("/" + name, size);
  }
  const big = openSync(join(root, "100m.bin"), "w");
  ftruncateSync(big, 100 * MiB); // sparse
  closeSync(big);
  sizes.set("/100m.bin", 100 * MiB);
  mkdirSync(join(root, "dir"));
  for (let i = 0; i < 200; i++) writeFileSync(join(root, "dir", `file ${i}.txt`), `${i}\n`);
  return { root, sizes };
}

// ---------------------------------------------------------------------------------------------
// A minimal client: sequential requests on one connection, bodies counted, not kept

interface Reply {
  status: number;
  length: number;
  /** The server said `Connection: close` (every error does, as in Python). */
  closing: boolean;
}

class Connection {
  private socket: Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private closed = false;
  error: NodeJS.ErrnoException | null = null;
  /** Pause between reads, for a slow reader. */
  slowMs = 0;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
      if (this.slowMs > 0) {
        socket.pause();
        setTimeout(() => socket.resume(), this.slowMs);
      }
      this.wake();
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      this.error ??= error;
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  static open(port: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = new Socket();
      socket.once("error", reject);
      socket.connect(port, "127.0.0.1", () => {
        socket.off("error", reject);
        resolve(new Connection(socket));
      });
    });
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  private more(): Promise<void> {
    if (this.closed) throw this.error ?? new Error("connection closed by the server");
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** Sends a GET and reads the reply, the body counted up to `stopAfter` bytes. */
  async get(path: string, close: boolean, stopAfter = Infinity): Promise<Reply> {
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: soak${close ? "\r\nConnection: close" : ""}\r\n\r\n`);
    let end: number;
    while ((end = this.buffer.indexOf("\r\n\r\n")) < 0) await this.more();
    const head = this.buffer.subarray(0, end).toString("latin1");
    this.buffer = this.buffer.subarray(end + 4);
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? NaN);
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? NaN);
    const closing = /\r\nconnection: close/i.test(head);
    let left = length;
    for (;;) {
      const take = Math.min(left, this.buffer.length);
      left -= take;
      this.buffer = this.buffer.subarray(take);
      if (left === 0 || length - left >= stopAfter) break;
      await this.more();
    }
    return { status, length, closing };
  }

  /** Waits until the server closes the connection (after `Connection: close`). */
  async closedByServer(): Promise<void> {
    while (!this.closed) await this.more().catch(() => {});
  }

  pause(): void {
    this.socket.pause();
  }

  reset(): void {
    this.socket.resetAndDestroy();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// The load

interface Counts {
  requests: number;
  errors: number;
  resets: number;
  stalls: number;
  errorSamples: string[];
}

const NORMAL_PATHS = ["/1k.bin", "/1k.bin", "/64k.bin", "/1m.bin", "/dir/", "/missing", "/dir"];

/** What a path must answer: status and, for files, length. */
function check(fixture: Fixture, path: string, reply: Reply): string | null {
  if (path === "/missing") return reply.status === 404 ? null : `${path}: ${reply.status}`;
  if (path === "/dir") return reply.status === 301 && reply.length === 0 ? null : `${path}: ${reply.status}`;
  if (path === "/dir/") return reply.status === 200 && reply.length > 10_000 ? null : `${path}: ${reply.status} ${reply.length}`;
  const size = fixture.sizes.get(path);
  return reply.status === 200 && reply.length === size ? null : `${path}: ${reply.status} ${reply.length} (want ${size})`;
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One client's loop until `until`: a scenario at a time. */
async function client(port: number, fixture: Fixture, until: number, counts: Counts): Promise<void> {
  const fail = (message: string) => {
    counts.errors++;
    if (counts.errorSamples.length < 20) counts.errorSamples.push(message);
  };
  while (Date.now() < until) {
    const roll = Math.random();
    let connection: Connection | null = null;
    try {
      connection = await Connection.open(port);
      if (roll < 0.55) {
        // Keep-alive: a few requests on one connection (a new one after an error closes it).
        const n = 1 + Math.floor(Math.random() * 20);
        for (let i = 0; i < n; i++) {
          const path = pick(NORMAL_PATHS);
          const reply = await connection.get(path, i === n - 1);
          const problem = check(fixture, path, reply);
          if (problem) fail(problem);
          counts.requests++;
          if (reply.closing && i < n - 1) {
            await connection.closedByServer();
            connection = await Connection.open(port);
          }
        }
        await connection.closedByServer();
      } else if (roll < 0.85) {
        // One request, Connection: close.
        const path = pick(NORMAL_PATHS);
        const problem = check(fixture, path, await connection.get(path, true));
        if (problem) fail(problem);
        counts.requests++;
        await connection.closedByServer();
      } else if (roll < 0.93) {
        // A slow reader of a 1 MiB file.
        connection.slowMs = 2;
        const problem = check(fixture, "/1m.bin", await connection.get("/1m.bin", true));
        if (problem) fail(problem);
        counts.requests++;
      } else if (roll < 0.99) {
        // A reset in the middle of a 100 MiB file.
        await connection.get("/100m.bin", false, 256 * 1024);
        connection.reset();
        counts.resets++;
      } else {
        // Stops reading a 100 MiB file for a while, then leaves.
        await connection.get("/100m.bin", false, 64 * 1024);
        connection.pause();
        await sleep(2000 + Math.random() * 3000);
        connection.destroy();
        counts.stalls++;
      }
    } catch (error) {
      fail(`connection error: ${(error as Error).message}`);
    } finally {
      connection?.destroy();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The server's figures, from /proc

function rssMiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) / 1024 : NaN;
}

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Waits until `condition()` holds or `ms` pass. */
async function settle(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(250);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The extremes: a 1 GB upload nobody reads, 1,000 clients that stop reading 100 MiB

async function uploadNobodyReads(port: number, bytes: number): Promise<number> {
  const socket = new Socket({ allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.connect(port, "127.0.0.1", resolve);
  });
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.write(`POST /1k.bin HTTP/1.1\r\nHost: soak\r\nContent-Length: ${bytes}\r\n\r\n`);
  const chunk = Buffer.alloc(MiB, 0x62);
  let sent = 0;
  while (sent < bytes && !socket.destroyed) {
    sent += chunk.length;
    if (!socket.write(chunk)) await Promise.race([new Promise((resolve) => socket.once("drain", resolve)), closed]);
  }
  socket.destroy();
  return sent;
}

/**
 * Sends `head`, `bytes` of body and `tail` to `port` as fast as the server takes them; resolves
 * with the server's reply, the highest RSS (MiB) of `pid` sampled every 100 ms meanwhile, and the
 * seconds it took.
 */
async function streamUpload(port: number, pid: number, head: string, bytes: number, tail = ""): Promise<{ reply: string; peak: number; seconds: number }> {
  const socket = new Socket();
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.connect(port, "127.0.0.1", resolve);
  });
  let reply = "";
  socket.on("data", (chunk: Buffer) => (reply += chunk.toString("latin1")));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  let peak = rssMiB(pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 100);
  const started = Date.now();
  socket.write(head);
  const chunk = Buffer.alloc(MiB, 0x62);
  for (let sent = 0; sent < bytes && !socket.destroyed; sent += chunk.length) {
    if (!socket.write(chunk)) await Promise.race([new Promise((resolve) => socket.once("drain", resolve)), closed]);
  }
  socket.end(tail);
  await closed;
  clearInterval(sampler);
  return { reply, peak, seconds: (Date.now() - started) / 1000 };
}

/** Uploads `bytes` of one file as multipart/form-data to /upload (the soak handler's `form()`). */
function formUpload(port: number, bytes: number, pid: number): Promise<{ reply: string; peak: number }> {
  const boundary = "soakBoundary";
  const part = `--${boundary}\r\nContent-Disposition: form-data; name="f"; filename="big.bin"\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  const head =
    `POST /upload HTTP/1.1\r\nHost: soak\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
    `Content-Length: ${part.length + bytes + tail.length}\r\nConnection: close\r\n\r\n${part}`;
  return streamUpload(port, pid, head, bytes, tail);
}

/** `PUT /1g.bin` of `bytes` to the upload server (the upload feature): its status line, peak RSS and seconds. */
async function uploadToDisk(port: number, pid: number, bytes: number): Promise<{ status: string; peak: number; seconds: number }> {
  const head = `PUT /1g.bin HTTP/1.1\r\nHost: soak\r\nContent-Length: ${bytes}\r\nConnection: close\r\n\r\n`;
  const { reply, peak, seconds } = await streamUpload(port, pid, head, bytes);
  return { status: reply.split("\r\n", 1)[0]!, peak, seconds };
}

async function stalledReaders(port: number, count: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = new Socket();
    socket.on("error", () => {});
    socket.connect(port, "127.0.0.1", () => socket.write("GET /100m.bin HTTP/1.1\r\nHost: soak\r\n\r\n"));
    let received = 0;
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > 64 * 1024) socket.pause();
    });
    sockets.push(socket);
    if (i % 50 === 49) await sleep(50);
  }
  return sockets;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const fixture = makeFixture();
  const logPath = join(fixture.root, "..", `${fixture.root.split("/").pop()}-server.log`);
  const log = openSync(logPath, "w");
  const child = spawn(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), "--serve", fixture.root], {
    stdio: ["ignore", "pipe", log],
  });
  let stdout = "";
  child.stdout!.on("data", (chunk) => (stdout += chunk));
  /** The server's live heap in MiB after a full collection. */
  const heapMiB = async (): Promise<number> => {
    const seen = stdout.length;
    child.kill("SIGUSR2");
    await settle(() => /heap \d+\n/.test(stdout.slice(seen)), 10_000);
    return Number(/heap (\d+)\n/.exec(stdout.slice(seen))?.[1] ?? NaN) / MiB;
  };
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    if (!(await settle(() => /port \d+/.test(stdout), 10_000))) throw new Error("the server did not start");
    const port = Number(/port (\d+)/.exec(stdout)![1]);
    const uploadPort = Number(/uploads (\d+)/.exec(stdout)![1]);
    const pid = child.pid!;
    await sleep(500);
    const idleFds = openFds(pid);
    const startRss = rssMiB(pid);
    const startHeap = await heapMiB();
    console.log(
      `soak: ${options.clients} clients for ${options.minutes} min against pid ${pid} (port ${port}); ` +
        `idle: ${idleFds} fds, ${startRss.toFixed(1)} MiB RSS, ${startHeap.toFixed(1)} MiB live heap`,
    );

    const counts: Counts = { requests: 0, errors: 0, resets: 0, stalls: 0, errorSamples: [] };
    const started = Date.now();
    const until = started + options.minutes * 60_000;
    /** [RSS, live heap] in MiB, sampled during the load. */
    const samples: [number, number][] = [];
    const every = Math.min(30_000, (options.minutes * 60_000) / 8);
    const sampling = (async () => {
      for (let next = started + every; next < until; next += every) {
        await sleep(next - Date.now());
        const rss = rssMiB(pid);
        const heap = await heapMiB();
        samples.push([rss, heap]);
        const minute = (Date.now() - started) / 60_000;
        console.log(
          `  ${minute.toFixed(1)} min  RSS ${rss.toFixed(1)} MiB  heap ${heap.toFixed(1)} MiB  fds ${openFds(pid)}  requests ${counts.requests}  errors ${counts.errors}`,
        );
      }
    })();
    await Promise.all(Array.from({ length: options.clients }, () => client(port, fixture, until, counts)));
    await sampling;

    // Flat: the last third of the samples against the second (the first is warm-up), by the live
    // heap after a full collection (RSS also holds memory V8 keeps without using).
    const third = Math.max(1, Math.floor(samples.length / 3));
    const average = (part: [number, number][], i: 0 | 1) => part.reduce((sum, sample) => sum + sample[i], 0) / Math.max(1, part.length);
    const [middle, last] = [samples.slice(third, 2 * third), samples.slice(-third)];
    const flat = samples.length < 3 || average(last, 1) <= average(middle, 1) * 1.1 + 4;

    let extremes = "";
    let uploadOk = true;
    if (options.extremes) {
      const before = rssMiB(pid);
      const sent = await uploadNobodyReads(port, 1024 * MiB);
      const afterUpload = rssMiB(pid);
      const form = await formUpload(port, 1024 * MiB, pid);
      const afterForm = rssMiB(pid);
      const formBody = form.reply.slice(form.reply.indexOf("\r\n\r\n") + 4).trim();
      const written = await uploadToDisk(uploadPort, pid, 1024 * MiB);
      const uploaded = join(`${fixture.root}-uploads`, "1g.bin");
      const size = statSync(uploaded, { throwIfNoEntry: false })?.size ?? 0;
      rmSync(uploaded, { force: true });
      const afterPut = rssMiB(pid);
      uploadOk = written.status === "HTTP/1.1 201 Created" && size === 1024 * MiB;
      const readers = await stalledReaders(port, 1000);
      await sleep(5000);
      const withReaders = rssMiB(pid);
      for (const socket of readers) socket.destroy();
      extremes =
        `1 GB upload nobody reads: ${(sent / MiB).toFixed(0)} MiB sent, RSS ${before.toFixed(1)} → ${afterUpload.toFixed(1)} MiB\n` +
        `1 GB file uploaded as a form, written to disk by form(): ${form.reply.split("\r\n")[0]}, ${formBody} bytes; ` +
        `RSS ${afterUpload.toFixed(1)} → peak ${form.peak.toFixed(1)} → ${afterForm.toFixed(1)} MiB\n` +
        `1 GB PUT written to disk by the upload feature: ${written.status}, ${(size / MiB).toFixed(0)} MiB on disk in ` +
        `${written.seconds.toFixed(1)} s; RSS ${afterForm.toFixed(1)} → peak ${written.peak.toFixed(1)} → ${afterPut.toFixed(1)} MiB` +
        ` — ${uploadOk ? "OK" : "FAILED"}\n` +
        `1,000 stalled readers of 100 MiB: RSS ${afterForm.toFixed(1)} → ${withReaders.toFixed(1)} MiB`;
    }

    // Idle again: keep-alive timeouts and lingering closes are a few seconds at most.
    await settle(() => openFds(pid) <= idleFds, 20_000);
    const endFds = openFds(pid);
    const endRss = rssMiB(pid);
    child.kill("SIGTERM");
    const code = await exited;
    closeSync(log);

    const logText = readFileSync(logPath, "latin1");
    const logLines = logText.split("\n").filter(Boolean);
    const tracebacks = (logText.match(/Exception occurred during processing/g) ?? []).length;
    const kinds = new Map<string, number>();
    for (const line of logLines) {
      const message = line.replace(/^\S+ - - \[[^\]]*\] /, "");
      const kind = message.startsWith('"') ? `requests ${message.split(" ").at(-2)}` : message.replace(/"[^"]*"/g, '"…"').replace(/\d+(\.\d+)? seconds?/, "N s");
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }

    console.log(`\nrequests checked: ${counts.requests}; resets mid-file: ${counts.resets}; stalled then gone: ${counts.stalls}`);
    console.log(`errors: ${counts.errors}${counts.errorSamples.length ? "\n  " + counts.errorSamples.join("\n  ") : ""}`);
    console.log(
      `RSS: ${startRss.toFixed(1)} MiB idle, ${average(middle, 0).toFixed(1)} MiB mid-run, ${average(last, 0).toFixed(1)} MiB ` +
        `at the end of the load, ${endRss.toFixed(1)} MiB idle after`,
    );
    console.log(
      `live heap: ${startHeap.toFixed(1)} MiB idle, ${average(middle, 1).toFixed(1)} MiB mid-run, ` +
        `${average(last, 1).toFixed(1)} MiB at the end of the load — ${flat ? "flat" : "GROWING"}`,
    );
    if (extremes) console.log(extremes);
    console.log(`open fds: ${idleFds} idle before, ${endFds} after — ${endFds <= idleFds ? "back to idle" : "LEAKED"}`);
    console.log(`server log: ${logLines.length} lines, ${tracebacks} tracebacks; exit status ${code} after SIGTERM`);
    for (const [kind, n] of [...kinds].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${String(n).padStart(8)}  ${kind}`);
    const ok = counts.errors === 0 && flat && endFds <= idleFds && tracebacks === 0 && code === 0 && uploadOk;
    console.log(ok ? "\nsoak: OK" : "\nsoak: FAILED");
    return ok ? 0 : 1;
  } finally {
    child.kill("SIGKILL");
    rmSync(fixture.root, { recursive: true, force: true });
    rmSync(`${fixture.root}-uploads`, { recursive: true, force: true });
    rmSync(logPath, { force: true });
  }
}

if (process.argv[2] === "--serve") {
  await serve(process.argv[3]!);
} else {
  process.exitCode = await main();
}
