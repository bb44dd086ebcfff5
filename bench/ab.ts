/**
 * A/B comparison of builds on one workload, for optimisation work on a machine that is not quiet:
 * short runs of each build in turn (A B B A A B …) so that drift and neighbours fall on both, and
 * the server's CPU per request beside the rate (less sensitive to a busy machine than req/s).
 *
 *   npm run build && node dist/bench/ab.js --workload 1k-close --rounds 8 --duration 3 \
 *     dist/src/cli/main.js /tmp/old/dist/src/cli/main.js
 *
 * Each build is the command line (its `main.js`), started with the flags the full benchmark uses
 * for that workload (`--flags "…"` adds more), pinned to CPU 0, loaded by wrk from CPU 1. A
 * benchmark peer may stand in for a build, named `peer:ID` (`peer:node:https`, `peer:nginx`):
 * the same interleaved rounds then measure a ratio against it.
 */
import { writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { atExit, installCleanup, stop, stopAll } from "./children.js";
import { buildFixture, removeFixture } from "./fixture.js";
import { runLoad, writeClientTLSConfig, writeWrkScript, WORKLOADS, type Workload } from "./load.js";
import { Meter } from "./proc.js";
import { PEERS, startPeer, type Context, type PeerSpec, type RunningPeer } from "./peers.js";
import { median } from "./report.js";
import { ensureTools } from "./tools.js";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

function builds(): string[] {
  const valued = new Set(["--workload", "--rounds", "--duration", "--flags", "--path", "--connections"]);
  const out: string[] = [];
  for (let i = 2; i < process.argv.length; i++) {
    const arg = process.argv[i]!;
    if (valued.has(arg)) i++;
    else if (arg.startsWith(PEER_PREFIX)) out.push(arg);
    else if (!arg.startsWith("--")) out.push(resolve(arg));
  }
  return out;
}

const PEER_PREFIX = "peer:";

/** What runs for `build`: the peer it names (`peer:ID`), or simplehttp's instance run from that `main.js`. */
function specFor(build: string, w: Workload, subject: PeerSpec, extra: string[], index: number): PeerSpec {
  if (!build.startsWith(PEER_PREFIX)) return variant(subject, build, extra, index);
  const id = build.slice(PEER_PREFIX.length);
  const peer = PEERS.find((p) => p.id === id && p.serves(w));
  if (!peer) throw new Error(`no peer ${id} serves ${w.id}`);
  return peer;
}

/** The spec of the simplehttp instance that serves `w`, running `main` instead, with `extra` flags. */
function variant(base: PeerSpec, main: string, extra: string[], index: number): PeerSpec {
  return {
    ...base,
    id: `${"AB"[index] ?? index}`,
    launches: (ctx, port) =>
      base.launches(ctx, port).map((l) => ({ ...l, label: main, args: [...l.args.map((a) => (a.endsWith("/cli/main.js") ? main : a)), ...extra] })),
  };
}

interface Run {
  rate: number;
  cpuPerReq: number;
  serverShare: number;
  clientShare: number;
}

async function main(): Promise<void> {
  installCleanup();
  const mains = builds();
  if (mains.length < 2) throw new Error("usage: node dist/bench/ab.js [--workload ID] [--rounds N] [--duration S] [--flags '…'] A/main.js B/main.js …");
  const base = WORKLOADS.find((w) => w.id === option("--workload", "1k"));
  if (!base) throw new Error(`no workload ${option("--workload", "1k")}`);
  const w = { ...base, path: option("--path", base.path), connections: Number(option("--connections", String(base.connections))) };
  const rounds = Number(option("--rounds", "6"));
  const seconds = Number(option("--duration", "3"));
  const extra = option("--flags", "").split(" ").filter(Boolean);
  const benchDist = dirname(fileURLToPath(import.meta.url));
  const repo = resolve(benchDist, "../..");
  const tools = ensureTools({ benchSrc: join(repo, "bench"), install: false, npmPeers: false, autocannon: false });
  const fixture = buildFixture();
  atExit(() => removeFixture(fixture));
  const ctx: Context = {
    fixture,
    paths: { repo, benchSrc: join(repo, "bench"), benchDist },
    tools,
    serverCpus: "0",
    clientCpus: "1",
    clientThreads: 1,
    clientTLSConfig: writeClientTLSConfig(fixture.root),
  };
  const spec = PEERS.find((p) => p.name === "simplehttp" && p.serves(w));
  if (!spec) throw new Error(`no simplehttp instance serves ${w.id}`);
  const script = writeWrkScript(fixture.root);
  const running: RunningPeer[] = [];
  try {
    for (const [i, m] of mains.entries()) {
      const peer = await startPeer(ctx, specFor(m, w, spec, extra, i));
      if (typeof peer === "string") throw new Error(`${m}: ${peer}`);
      running.push(peer);
      await runLoad(ctx, w, peer.port, 1, script).catch(() => undefined);
    }
    const runs: Run[][] = mains.map(() => []);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? running.map((_, i) => i) : running.map((_, i) => running.length - 1 - i);
      for (const i of order) {
        const peer = running[i]!;
        const meter = new Meter(peer.probe);
        const s = await runLoad(ctx, w, peer.port, seconds, script);
        const { cpuMicros } = meter.finish();
        const rate = w.download ? s.bytes / s.seconds / 1e6 : s.requests / s.seconds;
        const run = { rate, cpuPerReq: cpuMicros / s.requests, serverShare: cpuMicros / s.wallMicros, clientShare: s.clientCpuMicros / s.wallMicros };
        runs[i]!.push(run);
        process.stderr.write(
          `[${round + 1}/${rounds}] ${"AB"[i] ?? i} ${rate.toFixed(0)} ${w.download ? "MB/s" : "req/s"}, ${run.cpuPerReq.toFixed(1)} µs/req, server ${Math.round(run.serverShare * 100)}%, client ${Math.round(run.clientShare * 100)}%\n`,
        );
        await sleep(200);
      }
    }
    const lines = [`workload ${w.id} (${w.path}), ${rounds} rounds of ${seconds} s, medians:`];
    for (const [i, m] of mains.entries()) {
      const r = runs[i]!;
      const rate = median(r.map((x) => x.rate));
      const cpu = median(r.map((x) => x.cpuPerReq));
      const rateA = median(runs[0]!.map((x) => x.rate));
      const cpuA = median(runs[0]!.map((x) => x.cpuPerReq));
      lines.push(`${"AB"[i] ?? i} ${m}: ${rate.toFixed(0)} ${w.download ? "MB/s" : "req/s"} (${(rate / rateA).toFixed(3)}× A), ${cpu.toFixed(2)} µs/req (${(cpu / cpuA).toFixed(3)}× A), server ${Math.round(median(r.map((x) => x.serverShare)) * 100)}%`);
    }
    process.stdout.write(`${lines.join("\n")}\n`);
    writeFileSync(join(fixture.root, "ab.json"), JSON.stringify(runs));
  } finally {
    for (const peer of running) await stop(peer.child);
    await stopAll();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`ab: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
