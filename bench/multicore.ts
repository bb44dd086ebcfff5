/**
 * `--workers 2` against one process (issue 15, target 8). This machine has two cores and the load
 * generator needs one, so nothing here can show two server cores at work beside a client of its
 * own. What it measures instead, with the servers and wrk (`-t2`) sharing both cores, unpinned
 * within them: the throughput of each, the CPU each server process used (how evenly the kernel
 * spread the connections), the client's CPU, and the server's CPU per request (whether a second
 * process costs anything per request). docs/benchmarks.md models more cores from these.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { stop } from "./children.js";
import { runLoad, WORKLOADS, type Workload } from "./load.js";
import { Meter } from "./proc.js";
import { PEERS, startPeer, type Context, type PeerSpec, type RunningPeer } from "./peers.js";
import { median } from "./report.js";

export interface MulticoreRow {
  workload: Workload;
  processes: number;
  reqPerSec: number;
  /** Server CPU (all its processes) as a share of the two cores. */
  serverShare: number;
  /** Each serving process's share of one core (the primary left out). */
  workerShares: number[];
  clientShare: number;
  cpuPerReq: number;
  runs: number;
}

/** The simplehttp instance that serves `w` in the main table, with `--workers N` added. */
function instance(w: Workload, workers: number): PeerSpec {
  const base = PEERS.find((p) => p.name === "simplehttp" && p.serves(w))!;
  if (workers === 1) return base;
  return {
    ...base,
    id: `${base.id}-workers${workers}`,
    launches: (ctx, port) =>
      base.launches(ctx, port).map((l) => ({ ...l, label: `${l.label} --workers ${workers}`, args: [...l.args, "--workers", String(workers)] })),
  };
}

interface Sampled {
  requests: number;
  seconds: number;
  serverShare: number;
  workerShares: number[];
  clientShare: number;
  cpuPerReq: number;
}

async function once(ctx: Context, peer: RunningPeer, w: Workload, seconds: number, script: string): Promise<Sampled> {
  const before = peer.probe.cpuMicrosEach();
  const meter = new Meter(peer.probe);
  const sample = await runLoad(ctx, w, peer.port, seconds, script);
  const { cpuMicros } = meter.finish();
  const after = peer.probe.cpuMicrosEach();
  const each = after.map((us, i) => (us - before[i]!) / sample.wallMicros);
  // The primary (the first pid, when there are workers) only supervises.
  const workerShares = each.length > 1 ? each.slice(1) : each;
  return {
    requests: sample.requests,
    seconds: sample.seconds,
    serverShare: cpuMicros / sample.wallMicros / 2,
    workerShares,
    clientShare: sample.clientCpuMicros / sample.wallMicros / 2,
    cpuPerReq: cpuMicros / sample.requests,
  };
}

/**
 * One process and `--workers 2`, each on both CPUs with wrk -t2 beside them, for GET 1 KiB
 * keep-alive and with `Connection: close`; `runs` rounds alternating the two, medians.
 */
export async function multicore(baseCtx: Context, runs: number, seconds: number, script: string): Promise<MulticoreRow[]> {
  const ctx: Context = { ...baseCtx, serverCpus: "0,1", clientCpus: "0,1", clientThreads: 2 };
  const rows: MulticoreRow[] = [];
  for (const id of ["1k", "1k-close"]) {
    const w = { ...WORKLOADS.find((workload) => workload.id === id)!, connections: 100 };
    const samples = new Map<number, Sampled[]>([[1, []], [2, []]]);
    const peers = new Map<number, RunningPeer>();
    try {
      for (const workers of [1, 2]) {
        const peer = await startPeer(ctx, instance(w, workers));
        if (typeof peer === "string") throw new Error(`simplehttp with ${workers} process(es): ${peer}`);
        peers.set(workers, peer);
        await runLoad(ctx, w, peer.port, 1, script).catch(() => undefined); // warm-up
      }
      for (let round = 0; round < runs; round++) {
        for (const workers of round % 2 === 0 ? [1, 2] : [2, 1]) {
          const sampled = await once(ctx, peers.get(workers)!, w, seconds, script);
          samples.get(workers)!.push(sampled);
          process.stderr.write(`[multicore ${round + 1}/${runs}] ${id} ${workers} process(es): ${Math.round(sampled.requests / sampled.seconds)} req/s\n`);
          await sleep(200);
        }
      }
    } finally {
      for (const peer of peers.values()) await stop(peer.child);
    }
    for (const [workers, list] of samples) {
      if (list.length === 0) continue;
      const shares = list[0]!.workerShares.map((_, i) => median(list.map((s) => s.workerShares[i] ?? NaN)));
      rows.push({
        workload: w,
        processes: workers,
        reqPerSec: median(list.map((s) => s.requests / s.seconds)),
        serverShare: median(list.map((s) => s.serverShare)),
        workerShares: shares,
        clientShare: median(list.map((s) => s.clientShare)),
        cpuPerReq: median(list.map((s) => s.cpuPerReq)),
        runs: list.length,
      });
    }
  }
  return rows;
}

/** The multicore table, Markdown. */
export function multicoreTable(rows: MulticoreRow[]): string {
  const head = "| workload | simplehttp | req/s | × one process | server CPU (of 2 cores) | each serving process | client CPU (of 2 cores) | server CPU µs/req |";
  const rule = "|---|---|--:|--:|--:|---|--:|--:|";
  const body = rows.map((r) => {
    const one = rows.find((o) => o.workload.id === r.workload.id && o.processes === 1);
    const times = one ? `${(r.reqPerSec / one.reqPerSec).toFixed(2)}×` : "–";
    const each = r.workerShares.map((s) => `${Math.round(s * 100)}%`).join(" · ");
    const label = r.processes === 1 ? "one process" : `--workers ${r.processes}`;
    return `| ${r.workload.title.replace("(c=50)", "(c=100, wrk -t2)")} | ${label} | ${Math.round(r.reqPerSec).toLocaleString("en-US")} | ${times} | ${Math.round(r.serverShare * 100)}% | ${each} | ${Math.round(r.clientShare * 100)}% | ${r.cpuPerReq.toFixed(1)} |`;
  });
  return [head, rule, ...body].join("\n");
}
