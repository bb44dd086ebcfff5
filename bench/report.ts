/**
 * Turning samples into the report: medians per workload and server, derived columns (req/s,
 * MB/s, CPU µs per request, RSS) and ratios of simplehttp against each peer of the same run,
 * as one Markdown table.
 */
import type { Sample, Workload } from "./load.js";

/** A Sample plus what the server spent on it. */
export interface Measurement extends Sample {
  cpuMicros: number;
  peakKiB: number;
  /** How many CPUs the server and the client were each pinned to (what their shares are of). */
  serverCores: number;
  clientCores: number;
}

/** What bounded a run: the server's CPU, the load generator's, or neither (waiting: latency, I/O). */
export type Limit = "server" | "client" | "neither";

/** A core this busy (as a fraction of the run) counts as full. */
export const FULL_CORE = 0.9;

/** The derived numbers of one row (each the median over the runs). */
export interface Row {
  workload: Workload;
  server: string;
  runs: number;
  reqPerSec: number;
  mbPerSec: number;
  p99Ms: number;
  cpuPerReq: number;
  idleMiB: number;
  peakMiB: number;
  errors: number;
  badStatus: number;
  /** The server's and the client's CPU time as a share of their cores over the run (medians). */
  serverShare: number;
  clientShare: number;
  limit: Limit;
  /**
   * Requests (bytes, for downloads) per second the server would serve with its core(s) full, at
   * the CPU cost it had in this run: the rate ÷ its share. Equal to the rate when the server was
   * the limit; above it otherwise (then an estimate, assuming the cost stays the same).
   */
  capacity: number;
  /** simplehttp ÷ this server: rate (req/s, MB/s for a download) and CPU per request. */
  rateRatio?: number;
  cpuRatio?: number;
}

export const SUBJECT = "simplehttp";

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const medianOf = (ms: Measurement[], f: (m: Measurement) => number): number => median(ms.map(f));

/** What bounded a run, from the two shares. */
export function limitOf(serverShare: number, clientShare: number): Limit {
  if (serverShare >= FULL_CORE) return "server";
  if (clientShare >= FULL_CORE) return "client";
  return "neither";
}

const serverShareOf = (m: Measurement) => m.cpuMicros / m.wallMicros / m.serverCores;
const clientShareOf = (m: Measurement) => m.clientCpuMicros / m.wallMicros / m.clientCores;

/** The run's rate ÷ the server's share of its core(s), capped at 1 (see `Row.capacity`). */
function capacityOf(workload: Workload, m: Measurement): number {
  const rate = workload.download ? m.bytes / m.seconds / 1e6 : m.requests / m.seconds;
  const share = serverShareOf(m);
  return share > 0 ? rate / Math.min(1, share) : rate;
}

/** One row from the runs of one workload on one server. */
export function summarize(workload: Workload, server: string, idleKiB: number, ms: Measurement[]): Row {
  const serverShare = medianOf(ms, serverShareOf);
  const clientShare = medianOf(ms, clientShareOf);
  return {
    serverShare,
    clientShare,
    limit: limitOf(serverShare, clientShare),
    capacity: medianOf(ms, (m) => capacityOf(workload, m)),
    workload,
    server,
    runs: ms.length,
    reqPerSec: medianOf(ms, (m) => m.requests / m.seconds),
    mbPerSec: medianOf(ms, (m) => m.bytes / m.seconds / 1e6),
    p99Ms: medianOf(ms, (m) => m.p99Ms),
    cpuPerReq: medianOf(ms, (m) => (m.requests > 0 ? m.cpuMicros / m.requests : NaN)),
    idleMiB: idleKiB / 1024,
    peakMiB: medianOf(ms, (m) => m.peakKiB) / 1024,
    errors: ms.reduce((sum, m) => sum + m.errors, 0),
    badStatus: ms.reduce((sum, m) => sum + m.badStatus, 0),
  };
}

/** Fills `rateRatio` / `cpuRatio` of each row against simplehttp's row of the same workload. */
export function addRatios(rows: Row[]): void {
  for (const row of rows) {
    const subject = rows.find((r) => r.workload.id === row.workload.id && r.server === SUBJECT);
    // A ratio against a row of wrong statuses (an error page for a listing) would mislead.
    if (!subject || subject.badStatus > 0 || row.badStatus > 0) continue;
    const rate = (r: Row) => (r.workload.download ? r.mbPerSec : r.reqPerSec);
    row.rateRatio = rate(subject) / rate(row);
    row.cpuRatio = subject.cpuPerReq / row.cpuPerReq;
  }
}

function fmt(n: number | undefined, digits = 0): string {
  if (n === undefined || !Number.isFinite(n)) return "–";
  if (digits === 0 && Math.abs(n) >= 1000) return Math.round(n).toLocaleString("en-US");
  return n.toFixed(digits);
}

function ratio(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? "–" : `${n.toFixed(2)}×`;
}

function cpuDigits(n: number): number {
  return n >= 100 ? 0 : 1;
}

const HEADER =
  "| workload | server | req/s | MB/s | p99 ms | CPU µs/req | server CPU | client CPU | limit | RSS idle MiB | RSS peak MiB | errors | simplehttp ÷ rate | simplehttp ÷ CPU |";
const RULE = "|---|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|";

function percent(share: number): string {
  return Number.isFinite(share) ? `${Math.round(share * 100)}%` : "–";
}

function line(row: Row): string {
  const errs = row.errors + row.badStatus;
  return [
    "",
    row.workload.title,
    row.server,
    row.workload.download ? "–" : fmt(row.reqPerSec),
    fmt(row.mbPerSec, 1),
    fmt(row.p99Ms, row.p99Ms < 10 ? 2 : 1),
    fmt(row.cpuPerReq, cpuDigits(row.cpuPerReq)),
    percent(row.serverShare),
    percent(row.clientShare),
    row.limit,
    fmt(row.idleMiB, 1),
    fmt(row.peakMiB, 1),
    errs === 0 ? "0" : `${row.errors} sock, ${row.badStatus} status`,
    ratio(row.rateRatio),
    ratio(row.cpuRatio),
    "",
  ].join(" | ").trim();
}

/** The main table, rows grouped by workload in the order given. */
export function table(rows: Row[]): string {
  return [HEADER, RULE, ...rows.map(line)].join("\n");
}

/** The many-connections table: RSS with `c` open keep-alive connections. */
export function connectionsTable(rows: Row[]): string {
  const head = "| server | connections | req/s | p99 ms | RSS idle MiB | RSS peak MiB | peak − idle, KiB per connection | errors |";
  const rule = "|---|--:|--:|--:|--:|--:|--:|--:|";
  const body = rows.map((r) => {
    const perConn = ((r.peakMiB - r.idleMiB) * 1024) / r.workload.connections;
    const errs = r.errors + r.badStatus;
    return `| ${r.server} | ${r.workload.connections} | ${fmt(r.reqPerSec)} | ${fmt(r.p99Ms, 1)} | ${fmt(r.idleMiB, 1)} | ${fmt(r.peakMiB, 1)} | ${fmt(perConn, 1)} | ${errs} |`;
  });
  return [head, rule, ...body].join("\n");
}
