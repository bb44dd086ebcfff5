/**
 * The workloads and the load generators: wrk (autocannon from bench/node_modules where wrk is
 * missing) for the request-rate workloads, curl for single-stream downloads. Each runs pinned to
 * CPU 1 and returns one Sample, with the CPU time the load generator itself used: a run in which
 * the client's core was full and the server's was not measured the client, not the server.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { start } from "./children.js";
import { FILES, LISTING_PATH, MISSING_PATH, PRECOMPRESSED_PATH, SCRIPT_PATH, SCRIPT_SIZE } from "./fixture.js";
import { CLK_TCK } from "./proc.js";
import { HOST, pinned, type Context } from "./peers.js";

/**
 * What a workload asks of a server, which decides who serves it (`PeerSpec.serves`):
 * - `file`: the fixture's files (1 KiB … 100 MiB, a missing one);
 * - `fixed`: any path answered with 1 KiB (the fixed-body baselines take these too);
 * - `listing` / `rich`: the 1000-entry directory, as Python's list or `--listing rich`;
 * - `compress` / `precompressed`: `js/app.js` with `Accept-Encoding`, compressed on the fly or
 *   served from `pre/app.js.gz` / `.br`.
 */
export type Kind = "file" | "fixed" | "listing" | "rich" | "compress" | "precompressed";

export interface Workload {
  id: string;
  /** The row label in the report. */
  title: string;
  path: string;
  kind: Kind;
  /** Over TLS (https://). */
  tls?: boolean;
  /** Concurrent connections (wrk -c). */
  connections: number;
  /** Send `Connection: close`: one request per connection. */
  close?: boolean;
  /** Every response closes its connection (the server says so): new connections, as `close`. */
  closes?: boolean;
  /** Request headers beyond wrk's own. */
  headers?: string[];
  /** The status every response should have. */
  status: 200 | 404;
  /** Downloads one at a time with curl for the run's duration instead of a wrk run. */
  download?: boolean;
  smoke: boolean;
}

/** What Chromium 131 sends with a page request besides Host and Connection: 12 more lines. */
const BROWSER = [
  'sec-ch-ua: "Chromium";v="131", "Not_A Brand";v="24"',
  "sec-ch-ua-mobile: ?0",
  'sec-ch-ua-platform: "Linux"',
  "Upgrade-Insecure-Requests: 1",
  "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8",
  "Sec-Fetch-Site: none",
  "Sec-Fetch-Mode: navigate",
  "Sec-Fetch-User: ?1",
  "Sec-Fetch-Dest: document",
  "Accept-Encoding: gzip, deflate, br, zstd",
  "Accept-Language: en-US,en;q=0.9",
];
const GZIP = ["Accept-Encoding: gzip"];
const BR = ["Accept-Encoding: br"];

export const WORKLOADS: Workload[] = [
  { id: "1k", title: "GET 1 KiB keep-alive (c=50)", path: "/1k.bin", kind: "fixed", connections: 50, status: 200, smoke: true },
  { id: "1k-browser", title: "GET 1 KiB keep-alive, a browser's request headers (c=50)", path: "/1k.bin", kind: "fixed", headers: BROWSER, connections: 50, status: 200, smoke: false },
  { id: "1k-close", title: "GET 1 KiB Connection: close (c=50)", path: "/1k.bin", kind: "fixed", connections: 50, close: true, status: 200, smoke: true },
  { id: "404", title: "404 (c=50)", path: MISSING_PATH, kind: "file", connections: 50, closes: true, status: 404, smoke: true },
  { id: "64k", title: "GET 64 KiB keep-alive (c=50)", path: "/64k.bin", kind: "file", connections: 50, status: 200, smoke: false },
  { id: "1m", title: "GET 1 MiB keep-alive (c=50)", path: "/1m.bin", kind: "file", connections: 50, status: 200, smoke: true },
  { id: "100m", title: "100 MiB downloads, one at a time (curl)", path: "/100m.bin", kind: "file", connections: 1, status: 200, download: true, smoke: true },
  { id: "listing", title: "listing of 1000 entries (c=4)", path: LISTING_PATH, kind: "listing", connections: 4, status: 200, smoke: true },
  { id: "listing-rich", title: "rich listing of 1000 entries (c=4)", path: LISTING_PATH, kind: "rich", connections: 4, status: 200, smoke: false },
  { id: "tls-1k", title: "TLS: GET 1 KiB keep-alive (c=50)", path: "/1k.bin", kind: "fixed", tls: true, connections: 50, status: 200, smoke: true },
  { id: "tls-close", title: "TLS: new connections, GET 1 KiB Connection: close (c=50)", path: "/1k.bin", kind: "fixed", tls: true, connections: 50, close: true, status: 200, smoke: true },
  { id: "tls-100m", title: "TLS: 100 MiB downloads, one at a time (curl)", path: "/100m.bin", kind: "file", tls: true, connections: 1, status: 200, download: true, smoke: true },
  { id: "gzip", title: "100 KiB script, gzip on the fly (c=50)", path: SCRIPT_PATH, kind: "compress", headers: GZIP, connections: 50, status: 200, smoke: true },
  { id: "br", title: "100 KiB script, brotli on the fly (c=50)", path: SCRIPT_PATH, kind: "compress", headers: BR, connections: 50, status: 200, smoke: false },
  { id: "pre-gzip", title: "100 KiB script, precompressed .gz (c=50)", path: PRECOMPRESSED_PATH, kind: "precompressed", headers: GZIP, connections: 50, status: 200, smoke: false },
  { id: "pre-br", title: "100 KiB script, precompressed .br (c=50)", path: PRECOMPRESSED_PATH, kind: "precompressed", headers: BR, connections: 50, status: 200, smoke: true },
  { id: "plain-br", title: "the same .br as a plain file (c=50)", path: `${PRECOMPRESSED_PATH}.br`, kind: "file", connections: 50, status: 200, smoke: false },
];

/** The size of each download workload's file, to check what curl received. */
const DOWNLOAD_SIZES: Record<string, number> = { ...FILES, [SCRIPT_PATH]: SCRIPT_SIZE };

/** One measured run, before the server-side numbers are added. */
export interface Sample {
  requests: number;
  seconds: number;
  bytes: number;
  /** p99 latency; for downloads, the slowest one's total time. */
  p99Ms: number;
  /** Socket errors and timeouts. */
  errors: number;
  /** Responses whose status was not the expected one (wrk: only tells 4xx/5xx apart). */
  badStatus: number;
  /** CPU time (user + system) of the load generator during the run, µs. */
  clientCpuMicros: number;
  /** Wall time of the run as the harness saw it (µs): what the CPU times are shares of. */
  wallMicros: number;
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

/**
 * An OpenSSL configuration for the TLS clients (wrk, curl): TLS 1.3 and one cipher suite, so every
 * TLS peer negotiates the same (the report checks which each one did).
 */
export const TLS_SUITE = "TLS_AES_128_GCM_SHA256";

export function writeClientTLSConfig(dir: string): string {
  const path = join(dir, "openssl-client.cnf");
  writeFileSync(
    path,
    [
      "openssl_conf = default_conf",
      "[default_conf]",
      "ssl_conf = ssl_sect",
      "[ssl_sect]",
      "system_default = system_default_sect",
      "[system_default_sect]",
      "MinProtocol = TLSv1.3",
      `Ciphersuites = ${TLS_SUITE}`,
      "",
    ].join("\n"),
  );
  return path;
}

/**
 * The shell around a load generator that reports its CPU time: after it exits, the shell's
 * `cutime + cstime` (fields 16 and 17 of /proc/PID/stat) are the generator's, as the shell waited
 * for it (taskset execs the generator in place).
 */
const CPU_REPORTER = `"$0" "$@"; status=$?; echo "BENCHCPU $(cat /proc/$$/stat)"; exit $status`;

/** Runs a pinned load generator to completion; resolves with its stdout and CPU time (µs). */
function capture(ctx: Context, cmd: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<{ out: string; cpuMicros: number }> {
  const [pcmd, pargs] = pinned(ctx, ctx.clientCpus, cmd, args);
  const child = start("sh", ["-c", CPU_REPORTER, pcmd, ...pargs], { stdio: ["ignore", "pipe", "pipe"], ...(env ? { env: { ...process.env, ...env } } : {}) });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      const line = out.split("\n").find((l) => l.startsWith("BENCHCPU "));
      const fields = line ? line.slice(line.lastIndexOf(")") + 2).split(" ") : [];
      const cpuMicros = ((Number(fields[13]) + Number(fields[14])) * 1e6) / CLK_TCK; // cutime + cstime
      if (code === 0) resolve({ out, cpuMicros: Number.isFinite(cpuMicros) ? cpuMicros : NaN });
      else reject(new Error(`${cmd} exited ${code}: ${(err || out).trim().split("\n").slice(-2).join(" | ")}`));
    });
  });
}

function url(w: Workload, port: number, path = w.path): string {
  return `${w.tls ? "https" : "http"}://${HOST}:${port}${path}`;
}

function expectedStatusCount(w: Workload, requests: number, errorStatus: number): number {
  return w.status === 404 ? requests - errorStatus : errorStatus;
}

function tlsEnv(ctx: Context, w: Workload): NodeJS.ProcessEnv | undefined {
  return w.tls ? { OPENSSL_CONF: ctx.clientTLSConfig } : undefined;
}

async function wrk(ctx: Context, w: Workload, port: number, seconds: number, script: string, path?: string): Promise<Sample> {
  const args = [`-t${ctx.clientThreads}`, `-c${w.connections}`, `-d${seconds}s`, "--timeout", "5s", "-s", script];
  if (w.close) args.push("-H", "Connection: close");
  for (const header of w.headers ?? []) args.push("-H", header);
  const started = process.hrtime.bigint();
  const { out, cpuMicros } = await capture(ctx, ctx.tools.wrk!, [...args, url(w, port, path)], (seconds + 30) * 1000, tlsEnv(ctx, w));
  const wallMicros = Number(process.hrtime.bigint() - started) / 1000;
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
    clientCpuMicros: cpuMicros,
    wallMicros,
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
  for (const header of w.headers ?? []) args.push("-H", header.replace(": ", "="));
  const started = process.hrtime.bigint();
  const { out, cpuMicros } = await capture(ctx, process.execPath, [...args, url(w, port)], (seconds + 30) * 1000);
  const r = JSON.parse(out.slice(0, out.lastIndexOf("BENCHCPU"))) as AutocannonResult;
  return {
    requests: r.requests.total,
    seconds: r.duration,
    bytes: r.throughput.total,
    p99Ms: r.latency.p99,
    errors: r.errors + r.timeouts,
    badStatus: w.status === 404 ? r.requests.total - r["4xx"] : r.non2xx,
    clientCpuMicros: cpuMicros,
    wallMicros: Number(process.hrtime.bigint() - started) / 1000,
  };
}

/**
 * curl downloads of the file, one after another (each a new connection and a new curl) until
 * `seconds` have passed: the rate of one stream, over enough bytes to mean something. The run's
 * time is the downloads' own (curl's `time_total`), not curl's start-up between them.
 */
async function downloads(ctx: Context, w: Workload, port: number, seconds: number): Promise<Sample> {
  const args = ["-s", "-k", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}\n", url(w, port)];
  const expected = DOWNLOAD_SIZES[w.path];
  const sample: Sample = { requests: 0, seconds: 0, bytes: 0, p99Ms: 0, errors: 0, badStatus: 0, clientCpuMicros: 0, wallMicros: 0 };
  const deadline = Date.now() + seconds * 1000;
  while (sample.requests === 0 || Date.now() < deadline) {
    const started = process.hrtime.bigint();
    const { out, cpuMicros } = await capture(ctx, ctx.tools.curl!, args, 120_000, tlsEnv(ctx, w));
    sample.wallMicros += Number(process.hrtime.bigint() - started) / 1000;
    const [code, size, time] = out.trim().split("\n")[0]!.split(" ").map(Number);
    sample.requests++;
    sample.seconds += time!;
    sample.bytes += size!;
    sample.p99Ms = Math.max(sample.p99Ms, time! * 1000);
    sample.errors += size === expected ? 0 : 1;
    sample.badStatus += code === w.status ? 0 : 1;
    sample.clientCpuMicros += cpuMicros;
  }
  // The shares of CPU are of the transfers' time, not of curl's start-up between them.
  sample.wallMicros = sample.seconds * 1e6;
  return sample;
}

/**
 * The TLS version and cipher suite a client with the benchmark's OpenSSL configuration
 * negotiates with the server on `port` (from `curl -v`), e.g. `TLSv1.3 / TLS_AES_128_GCM_SHA256`.
 */
export async function negotiatedTLS(ctx: Context, port: number): Promise<string> {
  if (!ctx.tools.curl) return "unknown (no curl)";
  try {
    const { out } = await capture(ctx, "sh", ["-c", `"${ctx.tools.curl}" -sk -v -o /dev/null "$0" 2>&1`, `https://${HOST}:${port}/1k.bin`], 10_000, { OPENSSL_CONF: ctx.clientTLSConfig });
    return /SSL connection using ([^\n]+)/.exec(out)?.[1]?.trim() ?? "unknown";
  } catch (error) {
    return `failed: ${(error as Error).message}`;
  }
}

/** The load generator in use, for the report; undefined when there is none. */
export function generatorName(ctx: Context): string | undefined {
  if (ctx.tools.wrk) return "wrk";
  if (ctx.tools.autocannon) return "autocannon";
  return undefined;
}

/** Runs workload `w` against the server on `port` for `seconds`. */
export function runLoad(ctx: Context, w: Workload, port: number, seconds: number, wrkScript: string): Promise<Sample> {
  if (w.download) return downloads(ctx, w, port, seconds);
  if (ctx.tools.wrk) return wrk(ctx, w, port, seconds, wrkScript);
  return autocannon(ctx, w, port, seconds);
}

/** wrk -c`connections` keep-alive GETs of 1 KiB: the many-connections memory run. */
export function manyConnections(connections: number): Workload {
  return { id: `c${connections}`, title: `GET 1 KiB keep-alive (c=${connections})`, path: "/1k.bin", kind: "fixed", connections, status: 200, smoke: true };
}
