/**
 * Attacks on the request path, at full size (not in CI; `npm test` runs smaller versions):
 *
 *   node dist/bench/attacks.js [heads] [trickle] [queue] [--workers N] [--tls] [--protocol HTTP/1.1]
 *
 * - `heads`: 2,000 connections (`--connections`) each send a request line, then header lines of
 *   65,000 bytes as fast as the server takes them, up to Python's 99 (`--lines`), and never finish. Reports
 *   the server's peak RSS (all processes), how the connections ended, and a normal client's
 *   latency meanwhile (a GET every 250 ms). Holds when RSS stays under `--ceiling` MiB (1024)
 *   and every normal request is answered within 2 s.
 * - `trickle`: 12 connections (`--attackers`) each send header lines a byte per TCP segment
 *   (TCP_NODELAY, a write per byte), starting again when cut off, for 20 s (`--seconds`), while a
 *   normal client sends GETs back to back. Holds when their p95 latency is under 100 ms.
 * - `queue`: with `--max-connections 10 --header-timeout 2`, 110 connections that send nothing,
 *   then a normal client. Holds when it is answered within 2 header timeouts.
 *
 * The server is the command line (`dist/src/cli/main.js`) in a child process, serving a small
 * temporary directory. Exit status 0 when every scenario run holds, 1 otherwise.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ChildProcess } from "node:child_process";
import { installCleanup, start, stop } from "./children.js";
import { Meter, Probe } from "./proc.js";

const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const TLS_DIR = fileURLToPath(new URL("../../test/fixtures/tls/", import.meta.url));

interface Options {
  scenarios: string[];
  workers: number;
  tls: boolean;
  protocol: string;
  connections: number;
  ceiling: number;
  attackers: number;
  seconds: number;
  lines: number;
}

function parseOptions(argv: string[]): Options {
  const value = (name: string, fallback: string) => {
    const i = argv.indexOf(name);
    return i < 0 ? fallback : argv[i + 1]!;
  };
  const named = new Set(["--workers", "--protocol", "--connections", "--ceiling", "--attackers", "--seconds", "--lines"]);
  const scenarios = argv.filter((arg, i) => !arg.startsWith("--") && !named.has(argv[i - 1]!));
  return {
    scenarios: scenarios.length ? scenarios : ["heads", "trickle", "queue"],
    workers: Number(value("--workers", "1")),
    tls: argv.includes("--tls"),
    protocol: value("--protocol", "HTTP/1.0"),
    connections: Number(value("--connections", "2000")),
    ceiling: Number(value("--ceiling", "1024")),
    attackers: Number(value("--attackers", "12")),
    seconds: Number(value("--seconds", "20")),
    lines: Number(value("--lines", "99")),
  };
}

// ---------------------------------------------------------------------------------------------
// The server

interface Server {
  child: ChildProcess;
  port: number;
  tls: boolean;
  /** Lines the server printed on stderr (its request log). */
  log: string[];
}

async function startServer(options: Options, root: string, extra: string[] = []): Promise<Server> {
  const args = [CLI, "0", "-b", "127.0.0.1", "-d", root, "-p", options.protocol, "--workers", String(options.workers), ...extra];
  if (options.tls) args.push("--tls-cert", join(TLS_DIR, "cert.pem"), "--tls-key", join(TLS_DIR, "key.pem"));
  const child = start(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const log: string[] = [];
  let pending = "";
  child.stderr!.setEncoding("utf8").on("data", (text: string) => {
    pending += text;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) if (log.length < 1_000_000) log.push(line);
  });
  const port = await new Promise<number>((resolve, reject) => {
    let banner = "";
    child.stdout!.setEncoding("utf8").on("data", (text: string) => {
      banner += text;
      const match = / port (\d+) /.exec(banner);
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) => reject(new Error(`the server exited (${code}) before listening`)));
  });
  // With --workers, the workers are up once one answers.
  for (let i = 0; i < 100 && (await request({ port, tls: options.tls } as Server, 2000)) < 0; i++) await sleep(100);
  return { child, port, tls: options.tls, log };
}

// ---------------------------------------------------------------------------------------------
// Clients

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function open(server: Pick<Server, "port" | "tls">, noDelay = false): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket: Socket = server.tls
      ? tlsConnect({ port: server.port, host: "127.0.0.1", rejectUnauthorized: false }, () => resolve(socket))
      : new Socket().connect(server.port, "127.0.0.1", () => resolve(socket));
    if (noDelay) socket.setNoDelay(true);
    socket.once("error", reject);
  });
}

/** A normal `GET /` on a new connection: the milliseconds until the whole reply came, or -1. */
async function request(server: Pick<Server, "port" | "tls">, timeoutMs = 10_000): Promise<number> {
  const started = performance.now();
  let socket: Socket;
  try {
    socket = await open(server);
  } catch {
    return -1;
  }
  return new Promise((resolve) => {
    let reply = "";
    const timer = setTimeout(() => finish(false), timeoutMs);
    function finish(ok: boolean) {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok ? performance.now() - started : -1);
    }
    socket.on("error", () => finish(false));
    socket.on("data", (chunk: Buffer) => {
      reply += chunk.toString("latin1");
      if (reply.startsWith("HTTP/1.") && reply.endsWith("hello\n")) finish(reply.startsWith("HTTP/1.0 200") || reply.startsWith("HTTP/1.1 200"));
    });
    socket.on("close", () => finish(false));
    socket.write("GET /index.html HTTP/1.0\r\n\r\n");
  });
}

/** Normal requests, one every `everyMs`, until `stop()`: their latencies (-1: failed). */
function normalClient(server: Server, everyMs: number): { stop(): Promise<number[]> } {
  const latencies: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      latencies.push(await request(server));
      if (everyMs > 0) await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return latencies;
    },
  };
}

function percentile(values: number[], p: number): number {
  const sorted = values.filter((v) => v >= 0).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]! : NaN;
}

function latencySummary(latencies: number[]): string {
  const failed = latencies.filter((v) => v < 0).length;
  return `${latencies.length} requests, ${failed} failed; p50 ${percentile(latencies, 50).toFixed(1)} ms, p95 ${percentile(latencies, 95).toFixed(1)} ms, max ${latencies.reduce((a, b) => Math.max(a, b), 0).toFixed(1)} ms`;
}

// ---------------------------------------------------------------------------------------------
// Scenarios

const HEADER_LINE = Buffer.from("X-Padding: " + "a".repeat(65_000 - 13) + "\r\n", "latin1");

/** Resolves when the socket can take more, or has closed. */
function drained(socket: Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      socket.off("drain", done);
      socket.off("close", done);
      resolve();
    };
    socket.on("drain", done);
    socket.on("close", done);
  });
}

/** One connection that sends a head that never ends; resolves when it has sent all it may. */
async function endlessHead(server: Server, lines: number): Promise<{ socket: Socket; reply: () => string; closed: () => boolean }> {
  const socket = await open(server);
  let reply = "";
  let closed = false;
  socket.on("data", (chunk: Buffer) => {
    if (reply.length < 200) reply += chunk.toString("latin1");
  });
  socket.on("error", () => {});
  socket.on("close", () => (closed = true));
  socket.write("GET /index.html HTTP/1.1\r\nHost: bench\r\n");
  for (let i = 0; i < lines && !closed; i++) {
    if (!socket.write(HEADER_LINE)) await drained(socket);
  }
  return { socket, reply: () => reply, closed: () => closed };
}

async function heads(options: Options, root: string): Promise<boolean> {
  console.log(`\nheads: ${options.connections} connections, each up to ${options.lines} header lines of 65,000 bytes, never finished`);
  const server = await startServer(options, root);
  const probe = new Probe(server.child.pid!);
  const idle = probe.rssKiB() / 1024;
  const meter = new Meter(probe);
  const normal = normalClient(server, 250);
  const started = Date.now();
  const attackers: Awaited<ReturnType<typeof endlessHead>>[] = [];
  let failedToConnect = 0;
  const BATCH = 100;
  for (let i = 0; i < options.connections; i += BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, options.connections - i) }, () => endlessHead(server, options.lines).catch(() => null)),
    );
    for (const attacker of batch) attacker ? attackers.push(attacker) : failedToConnect++;
  }
  await sleep(2000);
  const sent = (Date.now() - started) / 1000;
  const atEnd = probe.rssKiB() / 1024;
  const latencies = await normal.stop();
  const { peakKiB } = meter.finish();
  const refused = attackers.filter((a) => a.reply().startsWith("HTTP/1.1 431") || a.reply().startsWith("HTTP/1.0 431")).length;
  const closed = attackers.filter((a) => a.closed()).length;
  const alive = server.child.exitCode === null && server.child.signalCode === null;
  for (const attacker of attackers) attacker.socket.destroy();
  const crashed = server.log.some((line) => /heap out of memory|FATAL|worker .* died/i.test(line));
  await stop(server.child);
  const peak = peakKiB / 1024;
  console.log(`  server RSS: ${idle.toFixed(0)} MiB idle, peak ${peak.toFixed(0)} MiB, ${atEnd.toFixed(0)} MiB with every head held (after ${sent.toFixed(1)} s)`);
  console.log(`  connections: ${attackers.length} opened (${failedToConnect} failed), ${refused} answered 431, ${closed} closed`);
  console.log(`  normal client meanwhile: ${latencySummary(latencies)}`);
  const ok = alive && !crashed && peak < options.ceiling && latencies.every((v) => v >= 0 && v < 2000);
  console.log(`  ${ok ? "holds" : "FAILS"}: alive ${alive}, peak < ${options.ceiling} MiB, every normal request within 2 s`);
  return ok;
}

/** Sends header lines a byte per segment until the server closes the connection or `until`. */
async function trickler(server: Server, until: number): Promise<number> {
  let sent = 0;
  while (Date.now() < until) {
    let socket: Socket;
    try {
      socket = await open(server, true);
    } catch {
      await sleep(10);
      continue;
    }
    let closed = false;
    socket.on("error", () => {});
    socket.on("close", () => (closed = true));
    socket.resume();
    socket.write("GET /index.html HTTP/1.1\r\n");
    const line = "X-Trickle: " + "b".repeat(60_000) + "\r\n";
    for (let i = 0; !closed && Date.now() < until; i = (i + 1) % line.length) {
      // One byte per write, each its own segment; wait for the socket to take it before the next.
      if (!socket.write(line[i]!)) await drained(socket);
      sent++;
      // A pause after each byte, so that the server reads it alone (a burst would be read at once).
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    socket.destroy();
  }
  return sent;
}

async function trickle(options: Options, root: string): Promise<boolean> {
  console.log(`\ntrickle: ${options.attackers} connections sending header lines a byte per segment, ${options.seconds} s`);
  const server = await startServer(options, root);
  const probe = new Probe(server.child.pid!);
  const baseline = normalClient(server, 0);
  await sleep(2000);
  const before = await baseline.stop();
  const meter = new Meter(probe);
  const until = Date.now() + options.seconds * 1000;
  const attack = Promise.all(Array.from({ length: options.attackers }, () => trickler(server, until)));
  await sleep(1000);
  const normal = normalClient(server, 0);
  const bytes = (await attack).reduce((a, b) => a + b, 0);
  const latencies = await normal.stop();
  const { cpuMicros, peakKiB } = meter.finish();
  await stop(server.child);
  const p95 = percentile(latencies, 95);
  console.log(`  without attackers: ${latencySummary(before)}`);
  console.log(`  attackers sent ${bytes} bytes a byte per write; server CPU ${(cpuMicros / 1e6 / options.seconds * 100).toFixed(0)} %, peak RSS ${(peakKiB / 1024).toFixed(0)} MiB`);
  console.log(`  normal client under attack: ${latencySummary(latencies)}`);
  const ok = p95 < 100 && latencies.every((v) => v >= 0);
  console.log(`  ${ok ? "holds" : "FAILS"}: p95 under 100 ms`);
  return ok;
}

async function queue(options: Options, root: string): Promise<boolean> {
  console.log("\nqueue: --max-connections 10 --header-timeout 2, 110 connections that send nothing, then a normal client");
  const server = await startServer(options, root, ["--max-connections", "10", "--header-timeout", "2"]);
  const silent = await Promise.all(Array.from({ length: 110 }, () => open(server)));
  for (const socket of silent) socket.on("error", () => {});
  const started = performance.now();
  const latency = await request(server, 60_000);
  const seconds = (performance.now() - started) / 1000;
  for (const socket of silent) socket.destroy();
  await stop(server.child);
  const timedOut = server.log.filter((line) => line.includes("Request timed out")).length;
  console.log(`  normal client answered after ${latency < 0 ? "no answer" : seconds.toFixed(2) + " s"}; ${timedOut} timed-out connections logged`);
  const ok = latency >= 0 && seconds < 4;
  console.log(`  ${ok ? "holds" : "FAILS"}: answered within 2 header timeouts (4 s)`);
  return ok;
}

const SCENARIOS: Record<string, (options: Options, root: string) => Promise<boolean>> = { heads, trickle, queue };

async function main(): Promise<number> {
  installCleanup();
  const options = parseOptions(process.argv.slice(2));
  const root = mkdtempSync(join(tmpdir(), "simplehttp-attacks-"));
  writeFileSync(join(root, "index.html"), "hello\n");
  const mode = `${options.protocol}${options.tls ? ", TLS" : ""}${options.workers > 1 ? `, --workers ${options.workers}` : ""}`;
  console.log(`simplehttp under attack (${mode}), Node ${process.version}`);
  let ok = true;
  try {
    for (const name of options.scenarios) {
      const scenario = SCENARIOS[name];
      if (!scenario) throw new Error(`no scenario ${name} (${Object.keys(SCENARIOS).join(", ")})`);
      ok = (await scenario(options, root)) && ok;
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return ok ? 0 : 1;
}

process.exitCode = await main();
