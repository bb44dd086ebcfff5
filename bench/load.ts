/**
 * The workloads and the load generators: wrk (autocannon from bench/node_modules where wrk is
 * missing) for the request-rate workloads, curl for the single large download. Each runs pinned
 * to CPU 1 and returns one Sample.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { start } from "./children.js";
import { FILES, LISTING_PATH, MISSING_PATH } from "./fixture.js";
import { HOST, pinned, type Context } from "./peers.js";

export interface Workload {
  id: string;
  /** The row label in the report. */
  title: string;
  path: string;
  /** Concurrent connections (wrk -c). */
  connections: number;
  /** Send `Connection: close`: one request per connection. */
  close?: boolean;
  /** The status every response should have. */
  status: 200 | 404;
  /** One curl download instead of a timed wrk run. */
  download?: boolean;
  /** Also run against the fixed-body baselines (node:http, node:net). */
  baseline?: boolean;
  listing?: boolean;
  /**
   * simplehttp's rich listing (`--listing rich`): served by a simplehttp started with that flag;
   * the other peers serve their own listing of the same directory (nginx: autoindex).
   */
  rich?: boolean;
  smoke: boolean;
}

export const WORKLOADS: Workload[] = [
  { id: "1k", title: "GET 1 KiB keep-alive (c=50)", path: "/1k.bin", connections: 50, status: 200, baseline: true, smoke: true },
  { id: "1k-close", title: "GET 1 KiB Connection: close (c=50)", path: "/1k.bin", connections: 50, close: true, status: 200, baseline: true, smoke: true },
  { id: "64k", title: "GET 64 KiB keep-alive (c=50)", path: "/64k.bin", connections: 50, status: 200, smoke: false },
  { id: "1m", title: "GET 1 MiB keep-alive (c=50)", path: "/1m.bin", connections: 50, status: 200, smoke: true },
  { id: "listing", title: "listing of 1000 entries (c=4)", path: LISTING_PATH, connections: 4, status: 200, listing: true, smoke: true },
  { id: "listing-rich", title: "rich listing of 1000 entries (c=4)", path: LISTING_PATH, connections: 4, status: 200, listing: true, rich: true, smoke: true },
  { id: "404", title: "404 (c=50)", path: MISSING_PATH, connections: 50, status: 404, smoke: true },
  { id: "100m", title: "one 100 MiB download (curl)", path: "/100m.bin", connections: 1, status: 200, download: true, smoke: true },
];

/** One measured run, before the server-side numbers are added. */
export interface Sample {
  requests: number;
  seconds: number;
  bytes: number;
  /** p99 latency; for a download, its total time. */
  p99Ms: number;
  /** Socket errors and timeouts. */
  errors: number;
  /** Responses whose status was not the expected one (wrk: only tells 4xx/5xx apart). */
  badStatus: number;
}

const WRK_SCRIPT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,"p99_us":%.0f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(99)))
end
`;

/** Writes the wrk Lua reporter into the temp dir; returns its path. */
export function writeWrkScript(dir: string): string {
  const path = join(dir, "report.lua");
  writeFileSync(path, WRK_SCRIPT);
  return path;
}

/** Runs a pinned command to completion; resolves with its stdout, rejects on failure. */
function capture(ctx: Context, cmd: string, args: string[], timeoutMs: number): Promise<string> {
  const [pcmd, pargs] = pinned(ctx, 1, cmd, args);
  const child = start(pcmd, pargs, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} exited ${code}: ${(err || out).trim().split("\n").slice(-2).join(" | ")}`));
    });
  });
}

function url(port: number, path: string): string {
  return `http://${HOST}:${port}${path}`;
}

function expectedStatusCount(w: Workload, requests: number, errorStatus: number): number {
  return w.status === 404 ? requests - errorStatus : errorStatus;
}

async function wrk(ctx: Context, w: Workload, port: number, seconds: number, script: string): Promise<Sample> {
  const args = ["-t1", `-c${w.connections}`, `-d${seconds}s`, "--timeout", "5s", "-s", script];
  if (w.close) args.push("-H", "Connection: close");
  const out = await capture(ctx, ctx.tools.wrk!, [...args, url(port, w.path)], (seconds + 30) * 1000);
  const line = out.split("\n").find((l) => l.startsWith("BENCHJSON "));
  if (!line) throw new Error(`wrk printed no summary: ${out.trim().slice(-200)}`);
  const r = JSON.parse(line.slice("BENCHJSON ".length)) as Record<string, number>;
  return {
    requests: r.requests!,
    seconds: r.duration_us! / 1e6,
    bytes: r.bytes!,
    p99Ms: r.p99_us! / 1000,
    errors: r.connect! + r.read! + r.write! + r.timeout!,
    badStatus: expectedStatusCount(w, r.requests!, r.status!),
  };
}

interface AutocannonResult {
  requests: { total: number };
  throughput: { total: number };
  latency: { p99: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  "4xx": number;
}

async function autocannon(ctx: Context, w: Workload, port: number, seconds: number): Promise<Sample> {
  const args = [ctx.tools.autocannon!, "-j", "-c", String(w.connections), "-d", String(seconds)];
  if (w.close) args.push("-H", "Connection=close");
  const out = await capture(ctx, process.execPath, [...args, url(port, w.path)], (seconds + 30) * 1000);
  const r = JSON.parse(out) as AutocannonResult;
  return {
    requests: r.requests.total,
    seconds: r.duration,
    bytes: r.throughput.total,
    p99Ms: r.latency.p99,
    errors: r.errors + r.timeouts,
    badStatus: w.status === 404 ? r.requests.total - r["4xx"] : r.non2xx,
  };
}

async function curl(ctx: Context, w: Workload, port: number): Promise<Sample> {
  const args = ["-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}", url(port, w.path)];
  const [code, size, time] = (await capture(ctx, ctx.tools.curl!, args, 120_000)).trim().split(" ").map(Number);
  const expected = FILES[w.path as keyof typeof FILES];
  return {
    requests: 1,
    seconds: time!,
    bytes: size!,
    p99Ms: time! * 1000,
    errors: size === expected ? 0 : 1,
    badStatus: code === w.status ? 0 : 1,
  };
}

/** The load generator in use, for the report; undefined when there is none. */
export function generatorName(ctx: Context): string | undefined {
  if (ctx.tools.wrk) return "wrk";
  if (ctx.tools.autocannon) return "autocannon";
  return undefined;
}

/** Runs workload `w` against the server on `port` for `seconds` (downloads run once). */
export function runLoad(ctx: Context, w: Workload, port: number, seconds: number, wrkScript: string): Promise<Sample> {
  if (w.download) return curl(ctx, w, port);
  if (ctx.tools.wrk) return wrk(ctx, w, port, seconds, wrkScript);
  return autocannon(ctx, w, port, seconds);
}

/** wrk -c`connections` keep-alive GETs of 1 KiB: the many-connections memory run. */
export function manyConnections(connections: number): Workload {
  return { id: `c${connections}`, title: `GET 1 KiB keep-alive (c=${connections})`, path: "/1k.bin", connections, status: 200, smoke: true };
}
