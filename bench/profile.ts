/**
 * `--profile`: simplehttp under `node --cpu-prof`, loaded with GET 1 KiB keep-alive, then the
 * top self-time functions of its .cpuprofile, summed by function and script, in µs per request.
 */
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { stop, waitExit } from "./children.js";
import { runLoad, writeWrkScript, WORKLOADS, generatorName } from "./load.js";
import type { Options } from "./options.js";
import { PEERS, startPeer, type Context, type PeerSpec } from "./peers.js";
import { SUBJECT } from "./report.js";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** simplehttp's launches, each behind `node --cpu-prof --import profile-preload.js`. */
function profiled(ctx: Context, dir: string): PeerSpec {
  const subject = PEERS.find((p) => p.name === SUBJECT)!;
  const preload = pathToFileURL(join(ctx.paths.benchDist, "profile-preload.js")).href;
  const flags = ["--cpu-prof", "--cpu-prof-dir", dir, "--import", preload];
  return {
    ...subject,
    launches: (c, port) => subject.launches(c, port).map((l) => ({ ...l, label: `${l.label} + --cpu-prof`, args: [...flags, ...l.args] })),
  };
}

/** Self time per profile node, µs: each sample lasts until the next one. */
function selfTimes(profile: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  const { samples = [], timeDeltas = [] } = profile;
  if (samples.length === 0) {
    const total = profile.endTime - profile.startTime;
    const hits = profile.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0) || 1;
    for (const n of profile.nodes) self.set(n.id, ((n.hitCount ?? 0) * total) / hits);
    return self;
  }
  let t = profile.startTime;
  const stamps = timeDeltas.map((d) => (t += d));
  for (let i = 0; i < samples.length; i++) {
    const next = i + 1 < stamps.length ? stamps[i + 1]! : profile.endTime;
    self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + Math.max(0, next - stamps[i]!));
  }
  return self;
}

function scriptName(ctx: Context, url: string): string {
  if (url.startsWith("file://")) return relative(ctx.paths.repo, new URL(url).pathname);
  return url || "(native: bindings, V8, GC)";
}

/** Self time summed by `function script:line`, and by script. */
function aggregate(ctx: Context, profile: CpuProfile): { byFunction: Map<string, number>; byScript: Map<string, number> } {
  const self = selfTimes(profile);
  const byFunction = new Map<string, number>();
  const byScript = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = self.get(node.id) ?? 0;
    if (us === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const script = scriptName(ctx, url);
    const where = url ? ` ${script}:${lineNumber + 1}` : "";
    const key = `${functionName || "(anonymous)"}${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    if (functionName !== "(idle)") byScript.set(script, (byScript.get(script) ?? 0) + us);
  }
  return { byFunction, byScript };
}

function top(map: Map<string, number>, n: number, total: number, requests: number, label: string): string {
  const rows = [...map].sort((a, b) => b[1] - a[1]).slice(0, n);
  const lines = rows.map(([name, us]) =>
    `| ${(us / 1000).toFixed(1)} | ${((100 * us) / total).toFixed(1)}% | ${(us / requests).toFixed(2)} | ${name} |`,
  );
  return [`| self ms | % busy | µs/req | ${label} |`, "|--:|--:|--:|---|", ...lines].join("\n");
}

function readProfile(dir: string): CpuProfile {
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
  return JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
}

/** Prints the profile's top functions and scripts; `requests` is everything served while profiled. */
function printProfile(ctx: Context, profile: CpuProfile, requests: number): void {
  const { byFunction, byScript } = aggregate(ctx, profile);
  const idle = byFunction.get("(idle)") ?? 0;
  const total = [...byFunction.values()].reduce((a, b) => a + b, 0);
  const busy = total - idle;
  byFunction.delete("(idle)");
  process.stdout.write(
    `\nsimplehttp CPU profile: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy, ` +
      `${requests.toLocaleString("en-US")} requests: ${(busy / requests).toFixed(1)} µs busy per request\n\n` +
      `${top(byFunction, 30, busy, requests, "function script:line")}\n\n${top(byScript, 12, busy, requests, "script")}\n`,
  );
}

export async function profile(ctx: Context, options: Options): Promise<void> {
  if (!generatorName(ctx)) throw new Error("no load generator: needs wrk or autocannon");
  const dir = join(ctx.fixture.root, "profile");
  mkdirSync(dir, { recursive: true });
  const script = writeWrkScript(ctx.fixture.root);
  const peer = await startPeer(ctx, profiled(ctx, dir));
  if (typeof peer === "string") throw new Error(`simplehttp did not start: ${peer}`);
  process.stderr.write(`bench: profiling ${peer.launch.label} on port ${peer.port}\n`);
  const workload = WORKLOADS[0]!;
  const warm = await runLoad(ctx, workload, peer.port, 1, script);
  const sample = await runLoad(ctx, workload, peer.port, options.seconds, script);
  process.stderr.write(`bench: ${workload.title}: ${Math.round(sample.requests / sample.seconds)} req/s under the profiler\n`);
  await stop(peer.child, 15_000);
  await waitExit(peer.child, 1000);
  printProfile(ctx, readProfile(dir), warm.requests + sample.requests);
}
