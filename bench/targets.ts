/**
 * Issue 15's targets, judged against one run: each ratio from the same table, the limit of both
 * cells named. A ratio between two cells that were both server-bound is the ratio of their rates;
 * where either was not (its client's core full, or neither), it is the lower of the rates' ratio
 * and the capacities' ratio (rate ÷ the server's share of its core), so a peer slowed by its
 * load generator never flatters simplehttp.
 */
import type { MulticoreRow } from "./multicore.js";
import { SUBJECT, type Row } from "./report.js";

interface Judged {
  target: string;
  measured: string;
  limits: string;
  met: boolean | null;
}

function rate(row: Row): number {
  return row.workload.download ? row.mbPerSec : row.reqPerSec;
}

/** The ratio of `a` to `b` as described above, and how it was taken. */
export function fairRatio(a: Row, b: Row): { value: number; how: string } {
  const byRate = rate(a) / rate(b);
  if (a.limit === "server" && b.limit === "server") return { value: byRate, how: "rates" };
  const byCapacity = a.capacity / b.capacity;
  return byCapacity < byRate ? { value: byCapacity, how: "capacities" } : { value: byRate, how: "rates" };
}

function unit(row: Row): string {
  return row.workload.download ? "MB/s" : "req/s";
}

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1);
}

class Judge {
  readonly lines: Judged[] = [];

  constructor(private readonly rows: Row[]) {}

  row(workload: string, server: string): Row | undefined {
    return this.rows.find((r) => r.workload.id === workload && r.server === server && r.badStatus === 0);
  }

  /** simplehttp (or `subject`) on `workload` against `peer` (or `peerWorkload` of the subject), at least `min`×. */
  ratio(target: string, workload: string, peer: string, min: number, options: { subject?: string; peerWorkload?: string } = {}): void {
    const a = this.row(workload, options.subject ?? SUBJECT);
    const b = this.row(options.peerWorkload ?? workload, peer);
    if (!a || !b) {
      this.lines.push({ target, measured: "not measured in this run", limits: "–", met: null });
      return;
    }
    const { value, how } = fairRatio(a, b);
    const note = how === "capacities" ? `; by capacity (${fmt(a.capacity)} vs ${fmt(b.capacity)})` : "";
    this.lines.push({
      target,
      measured: `${fmt(rate(a))} vs ${fmt(rate(b))} ${unit(a)}: **${value.toFixed(2)}×**${note}`,
      limits: `${a.limit} · ${b.limit}`,
      met: value >= min,
    });
  }

  value(target: string, measured: string, limits: string, met: boolean | null): void {
    this.lines.push({ target, measured, limits, met });
  }
}

/** The targets table, Markdown. */
export function targetsTable(rows: Row[], multicore: MulticoreRow[]): string {
  const j = new Judge(rows);
  j.ratio("1. 1 KiB `Connection: close` ≥ 0.8× bare `node:net`", "1k-close", "node:net", 0.8);
  j.ratio("2. 1 MiB keep-alive ≥ 0.5× nginx", "1m", "nginx", 0.5);
  j.ratio("2. 100 MiB download ≥ 1.0× Python's `http.server`", "100m", "python", 1.0);
  j.ratio("2. 100 MiB download ≥ 0.7× nginx", "100m", "nginx", 0.7);
  j.ratio("3. 1 KiB keep-alive ≥ 0.6× nginx (access log on)", "1k", "nginx", 0.6);
  const small = j.row("1k", SUBJECT);
  j.value("3. CPU per 1 KiB request ≤ 12 µs", small ? `**${small.cpuPerReq.toFixed(1)} µs**` : "not measured", small?.limit ?? "–", small ? small.cpuPerReq <= 12 : null);
  const idle = rows.find((r) => r.server === SUBJECT && r.workload.id === "1k-close") ?? rows.find((r) => r.server === SUBJECT);
  const bare = rows.find((r) => r.server === "node:http");
  j.value(
    "4. RSS ≤ 50 MiB after start (`simplehttp`, no flags)",
    idle ? `**${idle.idleMiB.toFixed(1)} MiB**${bare ? ` (bare node:http ${bare.idleMiB.toFixed(1)})` : ""}` : "not measured",
    "–",
    idle ? idle.idleMiB <= 50 : null,
  );
  j.ratio("5. TLS 1 KiB keep-alive ≥ 1.0× bare `node:https`", "tls-1k", "node:https", 1.0);
  j.ratio("5. TLS 1 KiB keep-alive ≥ 0.5× nginx `ssl`", "tls-1k", "nginx", 0.5);
  j.ratio("5. new TLS connections ≥ 0.9× `node:https`", "tls-close", "node:https", 0.9);
  j.ratio("5. TLS 100 MiB download ≥ 0.7× nginx", "tls-100m", "nginx", 0.7);
  j.ratio("6. gzip on the fly ≥ 1.0× nginx `gzip on` (level 6)", "gzip", "nginx", 1.0);
  j.ratio("6. … without the compression cache", "gzip", "nginx", 1.0, { subject: "simplehttp, no compression cache" });
  j.ratio("6. brotli on the fly ≥ 1.0× nginx `brotli on` (quality 5)", "br", "nginx", 1.0);
  j.ratio("6. … without the compression cache", "br", "nginx", 1.0, { subject: "simplehttp, no compression cache" });
  j.ratio("6. precompressed `.br` at the plain-file rate (≥ 0.95× the `.br` fetched by name)", "pre-br", SUBJECT, 0.95, { peerWorkload: "plain-br" });
  j.ratio("6. precompressed `.gz` ≥ nginx `gzip_static`", "pre-gzip", "nginx", 1.0);
  j.ratio("7. 404 ≥ 0.95× our own `Connection: close`", "404", SUBJECT, 0.95, { peerWorkload: "1k-close" });
  for (const id of ["1k", "1k-close"]) {
    const one = multicore.find((r) => r.workload.id === id && r.processes === 1);
    const two = multicore.find((r) => r.workload.id === id && r.processes === 2);
    if (!one || !two) continue;
    const each = two.workerShares.map((s) => `${Math.round(s * 100)}%`).join(" · ");
    j.value(
      `8. \`--workers 2\` ≥ 1.7× one process (${id === "1k" ? "keep-alive" : "new connections"})`,
      `${fmt(two.reqPerSec)} vs ${fmt(one.reqPerSec)} req/s: **${(two.reqPerSec / one.reqPerSec).toFixed(2)}×** with wrk sharing both cores; workers' CPU ${each}; ${two.cpuPerReq.toFixed(1)} vs ${one.cpuPerReq.toFixed(1)} µs/req`,
      "cores shared with the client",
      null,
    );
  }
  const head = "| target | measured (simplehttp vs peer) | limit (simplehttp · peer) | met? |";
  const rule = "|---|---|---|---|";
  const body = j.lines.map((l) => `| ${l.target} | ${l.measured} | ${l.limits} | ${l.met === null ? "see below" : l.met ? "yes" : "**no**"} |`);
  return [head, rule, ...body].join("\n");
}
