/**
 * The benchmark suite (`npm run bench`): builds the fixture, starts simplehttp and its peers
 * pinned to CPU 0, runs every workload round-robin from CPU 1, and prints one table of medians
 * with simplehttp's ratios against each peer of the same run. `--profile` instead profiles
 * simplehttp under one workload. See docs/benchmarks.md.
 */
import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { atExit, installCleanup, stop, stopAll } from "./children.js";
import { buildFixture, removeFixture } from "./fixture.js";
import { generatorName, manyConnections, negotiatedTLS, runLoad, writeClientTLSConfig, writeWrkScript, WORKLOADS, type Workload } from "./load.js";
import { parseOptions, USAGE, type Options } from "./options.js";
import { PEERS, startPeer, type Context, type Paths, type PeerSpec, type RunningPeer } from "./peers.js";
import { Meter } from "./proc.js";
import { profile } from "./profile.js";
import { addRatios, summarize, SUBJECT, type Measurement, type Row } from "./report.js";
import { writeReport, type RunInfo } from "./output.js";
import { ensureTools } from "./tools.js";
import { multicore, type MulticoreRow } from "./multicore.js";
import { cpus } from "node:os";

function resolvePaths(): Paths {
  const benchDist = dirname(fileURLToPath(import.meta.url));
  const repo = resolve(benchDist, "../..");
  return { repo, benchSrc: join(repo, "bench"), benchDist };
}

/** Moves this process (and so its timers and samplers) to the load generator's CPU. */
function pinSelf(ctx: Context): void {
  if (ctx.tools.taskset) spawnSync(ctx.tools.taskset, ["-cp", ctx.clientCpus, String(process.pid)], { stdio: "ignore" });
}

/** The peers asked for (by name or id; simplehttp's instances always run), or the mode's set. */
function selectPeers(options: Options): PeerSpec[] {
  if (options.peers.length > 0) return PEERS.filter((p) => p.name === SUBJECT || options.peers.includes(p.name) || options.peers.includes(p.id));
  return options.smoke ? PEERS.filter((p) => p.smoke) : PEERS;
}

function selectWorkloads(options: Options): Workload[] {
  if (options.workloads.length > 0) return WORKLOADS.filter((w) => options.workloads.includes(w.id));
  return options.smoke ? WORKLOADS.filter((w) => w.smoke) : WORKLOADS;
}

/**
 * autocannon always sends `Connection: keep-alive` and appends any `Connection: close` as a second
 * header, which Python-semantics servers (simplehttp, python) read as keep-alive: no close runs.
 */
function usableWorkloads(workloads: Workload[], generator: string): { workloads: Workload[]; dropped: string[] } {
  if (generator !== "autocannon") return { workloads, dropped: [] };
  const dropped = workloads.filter((w) => w.close).map((w) => `workload ${w.id}: autocannon cannot send a lone Connection: close (install wrk)`);
  return { workloads: workloads.filter((w) => !w.close), dropped };
}

/** Whether `peer` serves workload `w`. */
function applies(peer: RunningPeer, w: Workload): boolean {
  return peer.spec.serves(w);
}

async function startPeers(ctx: Context, specs: PeerSpec[]): Promise<{ running: RunningPeer[]; skipped: string[] }> {
  const running: RunningPeer[] = [];
  const skipped: string[] = [];
  for (const spec of specs) {
    const result = await startPeer(ctx, spec);
    if (typeof result === "string") {
      skipped.push(`${spec.id}: ${result}`);
      process.stderr.write(`bench: skipping ${spec.id}: ${result}\n`);
    } else {
      running.push(result);
      process.stderr.write(`bench: ${spec.id} on port ${result.port} (${result.launch.label})\n`);
    }
  }
  return { running, skipped };
}

/** One measured run of `w` against `peer`: the load generator's sample plus the server's CPU and peak RSS. */
async function measure(ctx: Context, peer: RunningPeer, w: Workload, seconds: number, script: string): Promise<Measurement> {
  if (peer.child.exitCode !== null || peer.child.signalCode !== null) throw new Error(`${peer.spec.name} has exited`);
  const meter = new Meter(peer.probe);
  let sample;
  try {
    sample = await runLoad(ctx, w, peer.port, seconds, script);
  } catch (error) {
    meter.finish();
    throw error;
  }
  return { ...sample, ...meter.finish(), serverCores: cpuCount(ctx.serverCpus), clientCores: cpuCount(ctx.clientCpus) };
}

/** How many CPUs a `taskset -c` list names (`0`, `0,1`, `0-3`); all of them without pinning. */
export function cpuCount(list: string): number {
  let n = 0;
  for (const part of list.split(",")) {
    const [a, b] = part.split("-").map(Number);
    n += b === undefined ? 1 : b - a! + 1;
  }
  return n || cpus().length;
}

/**
 * One second of the first keep-alive workload and of the first new-connections workload each
 * server serves, so JITs and caches are warm before the first measurement. Both, because the code
 * that accepts, sets up and closes a connection (a TLS handshake's above all) runs only once per
 * connection: a keep-alive warm-up opens 50, too few for V8 to optimise it, and the first round
 * of new connections then measured the warm-up instead (TLS: 0.8× node:https cold, 0.9× warm).
 */
async function warmUp(ctx: Context, running: RunningPeer[], workloads: Workload[], script: string): Promise<void> {
  const opensConnections = (w: Workload) => w.close === true || w.closes === true;
  for (const peer of running) {
    const served = workloads.filter((w) => !w.download && peer.spec.serves(w));
    const first = [served.find((w) => !opensConnections(w)), served.find(opensConnections)];
    for (const w of first) if (w) await runLoad(ctx, w, peer.port, 1, script).catch(() => undefined);
  }
}

/** The round's peer order, rotated by one each round so no server always runs first. */
function rotate<T>(items: T[], round: number): T[] {
  const k = items.length === 0 ? 0 : round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

class Results {
  private readonly samples = new Map<string, Measurement[]>();
  readonly failures: string[] = [];
  /** RSS of the fresh process each many-connections run started, before any request (KiB). */
  readonly freshIdleKiB = new Map<string, number>();

  add(w: Workload, peer: string, m: Measurement): void {
    const key = `${w.id}\0${peer}`;
    this.samples.set(key, [...(this.samples.get(key) ?? []), m]);
  }

  get(w: Workload, peer: string): Measurement[] {
    return this.samples.get(`${w.id}\0${peer}`) ?? [];
  }
}

async function measureInto(ctx: Context, results: Results, peer: RunningPeer, w: Workload, seconds: number, script: string, tag: string): Promise<void> {
  try {
    const m = await measure(ctx, peer, w, seconds, script);
    results.add(w, peer.spec.name, m);
    const rate = w.download ? `${((m.bytes / m.seconds) / 1e6).toFixed(0)} MB/s` : `${Math.round(m.requests / m.seconds)} req/s`;
    const trouble = m.errors + m.badStatus > 0 ? `  (${m.errors} socket errors, ${m.badStatus} responses not ${w.status})` : "";
    const shares = `server ${Math.round((100 * m.cpuMicros) / m.wallMicros / m.serverCores)}%, client ${Math.round((100 * m.clientCpuMicros) / m.wallMicros / m.clientCores)}%`;
    process.stderr.write(`${tag} ${w.id.padEnd(12)} ${peer.spec.id.padEnd(20)} ${rate} (${shares})${trouble}\n`);
  } catch (error) {
    const message = `${w.id} on ${peer.spec.id}: ${(error as Error).message}`;
    results.failures.push(message);
    process.stderr.write(`${tag} FAILED ${message}\n`);
  }
  await sleep(200);
}

/** The peers of the many-connections run: simplehttp, and node:http for scale. */
function manyConnectionPeers(running: RunningPeer[]): RunningPeer[] {
  return running.filter((p) => p.spec.id === SUBJECT || p.spec.id === "node:http");
}

async function rounds(ctx: Context, options: Options, running: RunningPeer[], workloads: Workload[], script: string): Promise<Results> {
  const results = new Results();
  const many = options.manyConnections > 0 ? manyConnections(options.manyConnections) : undefined;
  for (let round = 0; round < options.runs; round++) {
    const tag = `[${round + 1}/${options.runs}]`;
    for (const w of workloads) {
      for (const peer of rotate(running.filter((p) => applies(p, w)), round)) {
        await measureInto(ctx, results, peer, w, options.seconds, script, tag);
      }
    }
    if (many) for (const peer of manyConnectionPeers(running)) await measureFresh(ctx, results, peer, many, options.seconds, script, tag);
  }
  return results;
}

/**
 * The many-connections run, against a fresh process of the peer: its RSS then shows what the
 * open connections cost, not what earlier workloads (1 MiB buffers, listings) left behind.
 */
async function measureFresh(ctx: Context, results: Results, peer: RunningPeer, w: Workload, seconds: number, script: string, tag: string): Promise<void> {
  const fresh = await startPeer(ctx, peer.spec);
  if (typeof fresh === "string") {
    results.failures.push(`${w.id} on ${peer.spec.name}: ${fresh}`);
    return;
  }
  try {
    await runLoad(ctx, WORKLOADS[0]!, fresh.port, 1, script).catch(() => undefined); // warm-up, as for the others
    results.freshIdleKiB.set(peer.spec.name, fresh.idleKiB);
    await measureInto(ctx, results, fresh, w, seconds, script, tag);
  } finally {
    await stop(fresh.child);
  }
}

/** The table rows; `fresh`: the runs were against fresh processes (their own idle RSS). */
function rowsFor(workloads: Workload[], running: RunningPeer[], results: Results, fresh = false): Row[] {
  const rows: Row[] = [];
  for (const w of workloads) {
    for (const peer of fresh ? manyConnectionPeers(running) : running) {
      if (!fresh && !applies(peer, w)) continue;
      const ms = results.get(w, peer.spec.name);
      const idleKiB = fresh ? (results.freshIdleKiB.get(peer.spec.name) ?? peer.idleKiB) : peer.idleKiB;
      if (ms.length > 0) rows.push(summarize(w, peer.spec.name, idleKiB, ms));
    }
  }
  return rows;
}

async function benchmark(ctx: Context, options: Options): Promise<void> {
  const generator = generatorName(ctx);
  if (!generator) throw new Error("no load generator: needs wrk (apt-get install wrk) or autocannon (npm install in bench/)");
  const script = writeWrkScript(ctx.fixture.root);
  const { workloads, dropped } = usableWorkloads(selectWorkloads(options), generator);
  // A server starts only when a workload to run is one it serves.
  const specs = selectPeers(options).filter((spec) => workloads.some((w) => spec.serves(w)));
  const { running, skipped } = await startPeers(ctx, specs);
  skipped.push(...dropped);
  if (!running.some((p) => p.spec.name === SUBJECT)) process.stderr.write("bench: simplehttp did not start: no ratios\n");
  const tls = await checkTLS(ctx, running);
  await warmUp(ctx, running, workloads, script);
  const started = Date.now();
  const results = await rounds(ctx, options, running, workloads, script);
  for (const peer of running) await stop(peer.child);
  const rows = rowsFor(workloads, running, results);
  addRatios(rows);
  const many = options.manyConnections > 0 ? rowsFor([manyConnections(options.manyConnections)], running, results, true) : [];
  let cores: MulticoreRow[] = [];
  if (options.multicore && generator === "wrk" && cpus().length >= 2) {
    try {
      cores = await multicore(ctx, options.runs * 2, options.seconds, script);
    } catch (error) {
      results.failures.push(`multicore: ${(error as Error).message}`);
    }
  }
  const info: RunInfo = { options, generator, running, skipped, failures: results.failures, seconds: (Date.now() - started) / 1000, tls };
  writeReport(ctx, info, rows, many, cores);
}

/** The TLS version and cipher suite each TLS peer negotiated with the benchmark's clients. */
async function checkTLS(ctx: Context, running: RunningPeer[]): Promise<string[]> {
  const lines: string[] = [];
  for (const peer of running) {
    if (WORKLOADS.some((w) => w.tls && peer.spec.serves(w))) lines.push(`${peer.spec.id}: ${await negotiatedTLS(ctx, peer.port)}`);
  }
  return lines;
}

async function main(): Promise<void> {
  const options = parseOptions();
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  installCleanup();
  const paths = resolvePaths();
  const tools = ensureTools({ benchSrc: paths.benchSrc, install: options.install, npmPeers: !options.smoke && !options.profile, autocannon: options.autocannon });
  const fixture = buildFixture();
  if (options.keep) atExit(() => process.stderr.write(`bench: kept ${fixture.root}\n`));
  else atExit(() => removeFixture(fixture));
  const ctx: Context = { fixture, paths, tools, serverCpus: "0", clientCpus: "1", clientThreads: 1, clientTLSConfig: writeClientTLSConfig(fixture.root) };
  pinSelf(ctx);
  try {
    if (options.profile) await profile(ctx, options);
    else await benchmark(ctx, options);
  } finally {
    await stopAll();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
