/**
 * Instructions per request, counted by valgrind (callgrind): a measure of the server's own work
 * that a busy machine does not disturb, for A/B comparisons of builds while other work runs.
 * Counts user-space instructions of the main thread only (the event loop: JavaScript, V8, Node,
 * libuv); the kernel's work (system calls, TCP) and V8's helper threads are not in it.
 *
 *   npm run build && node dist/bench/instructions.js [--mode close|keepalive] [--tls [--resume]] [--requests N]
 *     [--batches B] [--path /1k.bin] [--header "Accept-Encoding: br"] [--flags "…"] dist/src/cli/main.js /tmp/old/dist/src/cli/main.js
 *
 * `--tls` serves over HTTPS (`--tls-cert`/`--tls-key` with the benchmark's certificate) and
 * loads with TLS 1.3 and the benchmark's one cipher suite; a baseline command may name the
 * certificate as `{cert}` and `{key}` (`"node dist/bench/baseline-https.js {port} {cert} {key}"`).
 * New TLS connections make full handshakes; with `--resume` every other one resumes the session
 * of the last (a TLS 1.3 ticket), as wrk's do (it keeps the session across `SSL_clear`), so the
 * server's own work per connection weighs as it does in the benchmark.
 * `--keep` keeps each build's callgrind dumps and prints where, for `callgrind_annotate`.
 *
 * Each build's command line is started under `valgrind --tool=callgrind --separate-threads=yes`
 * with the flags the benchmark uses (`-p HTTP/1.1` for keep-alive), warmed up with N requests,
 * then B batches of N requests are counted (`callgrind_control --zero` … `--dump`).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect as connectPlain, type Socket } from "node:net";
import { connect as connectTLS } from "node:tls";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { atExit, installCleanup, start, stop, stopAll } from "./children.js";
import { buildFixture, removeFixture } from "./fixture.js";
import { freePort, HOST } from "./peers.js";
import { TLS_SUITE } from "./load.js";
import { median } from "./report.js";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

/** A connection to the server under test, plain or TLS; `ready` is its event once it may send. */
function connect(port: number, tls: TLSMode | null): { socket: Socket; ready: string } {
  if (!tls) return { socket: connectPlain(port, HOST), ready: "connect" };
  const session = tls.resume && tls.connections++ % 2 === 1 ? tls.session : undefined;
  const socket = connectTLS({ port, host: HOST, rejectUnauthorized: false, minVersion: "TLSv1.3", ciphers: TLS_SUITE, ALPNProtocols: ["http/1.1"], session });
  if (tls.resume) socket.on("session", (ticket: Buffer) => (tls.session = ticket));
  return { socket, ready: "secureConnect" };
}

/** The client's TLS state: whether it resumes sessions, and the last ticket it was given. */
interface TLSMode {
  resume: boolean;
  connections: number;
  session?: Buffer;
}

function builds(): string[] {
  const valued = new Set(["--mode", "--requests", "--batches", "--path", "--flags", "--connections", "--header"]);
  const out: string[] = [];
  for (let i = 2; i < process.argv.length; i++) {
    if (valued.has(process.argv[i]!)) i++;
    else if (process.argv[i]!.includes("{port}")) out.push(process.argv[i]!);
    else if (!process.argv[i]!.startsWith("--")) out.push(resolve(process.argv[i]!));
  }
  return out;
}

/** `n` GETs of `path`: each on a new connection (`close`), or over `connections` kept-alive ones. */
async function load(port: number, n: number, options: Options, tls: TLSMode | null): Promise<void> {
  const { path, mode, connections, header } = options;
  const close = mode === "close";
  const extra = (close ? "Connection: close\r\n" : "") + (header ? `${header}\r\n` : "");
  const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n${extra}\r\n`);
  let started = 0;
  const oneConnection = (): Promise<void> =>
    new Promise((resolveConnection) => {
      const { socket, ready } = connect(port, tls);
      let pending = Buffer.alloc(0);
      const next = () => {
        if (started >= n) return socket.end();
        started++;
        socket.write(request);
      };
      socket.on(ready, next);
      socket.on("data", (data: Buffer) => {
        if (close) return;
        // Keep-alive: one response at a time; its end is its Content-Length after the head.
        pending = Buffer.concat([pending, data]);
        for (;;) {
          const head = pending.indexOf("\r\n\r\n");
          if (head < 0) return;
          const length = Number(/content-length: (\d+)/i.exec(pending.subarray(0, head).toString("latin1"))?.[1] ?? 0);
          if (pending.length < head + 4 + length) return;
          pending = pending.subarray(head + 4 + length);
          next();
        }
      });
      socket.on("end", () => socket.end());
      socket.on("error", () => {});
      socket.on("close", () => resolveConnection());
    });
  if (close) {
    const worker = async () => {
      while (started < n) await oneConnection();
    };
    await Promise.all(Array.from({ length: connections }, worker));
  } else {
    await Promise.all(Array.from({ length: connections }, oneConnection));
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolveCheck) => {
    const socket = connectPlain(port, HOST);
    socket.once("connect", () => {
      socket.destroy();
      resolveCheck(true);
    });
    socket.once("error", () => resolveCheck(false));
  });
}

/** The main thread's instruction total in the newest dump of `dir` (`--separate-threads`: `*-01`). */
function mainThreadInstructions(dir: string, seen: Set<string>): number {
  const files = readdirSync(dir).filter((f) => f.endsWith("-01") && !seen.has(f));
  if (files.length !== 1) throw new Error(`expected one new main-thread dump in ${dir}, found ${files.join(", ") || "none"}`);
  seen.add(files[0]!);
  const text = readFileSync(join(dir, files[0]!), "latin1");
  writeFileSync(join(dir, `batch${seen.size}.callgrind`), text, "latin1"); // for `--keep`
  const summary = /^summary: (\d+)/m.exec(text) ?? /^totals: (\d+)/m.exec(text);
  if (!summary) throw new Error(`no summary in ${files[0]}`);
  return Number(summary[1]);
}

interface Options {
  mode: string;
  n: number;
  batches: number;
  path: string;
  /** One more request header line (`--header "Accept-Encoding: br"`), or "". */
  header: string;
  flags: string[];
  connections: number;
  tls: { cert: string; key: string } | null;
  keep: boolean;
  resume: boolean;
}

async function count(main: string, www: string, options: Options): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), "simplehttp-callgrind-"));
  const port = await freePort();
  // A build's main.js, or a whole command with `{port}` in it (a baseline: `node dist/bench/baseline-net.js {port}`).
  const tlsFlags = options.tls ? ["--tls-cert", options.tls.cert, "--tls-key", options.tls.key] : [];
  const command = main.includes("{port}")
    ? main
        .replaceAll("{port}", String(port))
        .replaceAll("{cert}", options.tls?.cert ?? "")
        .replaceAll("{key}", options.tls?.key ?? "")
        .split(" ")
        .map((word) => (word === "node" ? process.execPath : word))
    : [process.execPath, main, String(port), "-b", HOST, "-d", www, ...tlsFlags, ...options.flags];
  // Names uncompressed: each dump then stands alone for `callgrind_annotate` (`--keep`).
  const args = ["--tool=callgrind", "--fair-sched=yes", "--separate-threads=yes", "--compress-strings=no", `--callgrind-out-file=${dir}/cg.%p`, ...command];
  const child = start("taskset", ["-c", "0", "valgrind", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.resume();
  child.stderr!.resume();
  try {
    const deadline = Date.now() + 120_000;
    while (!(await listening(port))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${main} did not start under valgrind`);
      await sleep(500);
    }
    const pid = String(child.pid);
    const clientTLS: TLSMode | null = options.tls ? { resume: options.resume, connections: 0 } : null;
    await load(port, 2 * options.n, options, clientTLS); // warm-up: JIT, caches
    const seen = new Set<string>();
    const perRequest: number[] = [];
    for (let b = 0; b < options.batches; b++) {
      spawnSync("callgrind_control", ["--zero", pid], { stdio: "ignore" });
      await load(port, options.n, options, clientTLS);
      spawnSync("callgrind_control", ["--dump", pid], { stdio: "ignore" });
      await sleep(500);
      perRequest.push(mainThreadInstructions(dir, seen) / options.n);
      process.stderr.write(`${main}: batch ${b + 1}: ${Math.round(perRequest.at(-1)!).toLocaleString("en-US")} instructions per request\n`);
    }
    return perRequest;
  } finally {
    await stop(child, 5000);
    // `--keep`: the dumps stay, for `callgrind_annotate` (which functions the instructions go to).
    if (options.keep) process.stderr.write(`${main}: callgrind dumps kept in ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  installCleanup();
  const mains = builds();
  if (mains.length === 0) throw new Error("usage: node dist/bench/instructions.js [--mode close|keepalive] [--requests N] [--batches B] main.js …");
  const mode = option("--mode", "close");
  const fixture = buildFixture();
  atExit(() => removeFixture(fixture));
  const flags = [...(mode === "close" ? [] : ["-p", "HTTP/1.1"]), ...option("--flags", "").split(" ").filter(Boolean)];
  const options: Options = {
    mode,
    n: Number(option("--requests", "1000")),
    batches: Number(option("--batches", "3")),
    path: option("--path", "/1k.bin"),
    header: option("--header", ""),
    flags,
    connections: Number(option("--connections", "10")),
    tls: process.argv.includes("--tls") ? fixture.tls : null,
    keep: process.argv.includes("--keep"),
    resume: process.argv.includes("--resume"),
  };
  const results: string[] = [];
  let first = 0;
  for (const main of mains) {
    const counts = await count(main, fixture.www, options);
    const m = median(counts);
    first ||= m;
    results.push(`${main}: ${Math.round(m).toLocaleString("en-US")} instructions per request (${(m / first).toFixed(3)}× the first; batches ${counts.map((c) => Math.round(c / 1000) + "k").join(", ")})`);
  }
  process.stdout.write(`${mode}${options.tls ? ` over TLS${options.resume ? " (every other session resumed)" : ""}` : ""}, ${options.path}, ${options.n} requests per batch, main thread:\n${results.join("\n")}\n`);
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`instructions: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
