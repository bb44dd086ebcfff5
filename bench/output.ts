/**
 * The report as printed and saved: what ran where (machine, versions, pinning, launchers), the
 * table, the many-connections table, what was skipped or failed. Saved as Markdown and JSON in
 * bench/results/ (ignored by git).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { join } from "node:path";
import type { Options } from "./options.js";
import type { Context, RunningPeer } from "./peers.js";
import { connectionsTable, table, SUBJECT, type Row } from "./report.js";
import { multicoreTable, type MulticoreRow } from "./multicore.js";
import { targetsTable } from "./targets.js";
import { TLS_SUITE } from "./load.js";
import { nginxHasBrotli } from "./nginx.js";

export interface RunInfo {
  options: Options;
  generator: string;
  running: RunningPeer[];
  skipped: string[];
  failures: string[];
  /** Wall time of the measured rounds. */
  seconds: number;
  /** What each TLS peer negotiated. */
  tls: string[];
}

/** A command's output (stdout, else stderr: `nginx -v` prints there), or "" when it fails. */
function quiet(cmd: string, args: string[], cwd?: string): string {
  const result = spawnSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return (result.stdout || result.stderr || "").trim();
}

function commit(ctx: Context): string {
  const hash = quiet("git", ["rev-parse", "--short", "HEAD"], ctx.paths.repo);
  const dirty = quiet("git", ["status", "--porcelain", "--", "src"], ctx.paths.repo) ? " + uncommitted changes in src/" : "";
  return /^[0-9a-f]+$/.test(hash) ? `${hash}${dirty}` : "unknown";
}

function versions(ctx: Context): string {
  const parts = [`node ${process.version}`];
  if (ctx.tools.python3) parts.push(quiet(ctx.tools.python3, ["--version"]));
  if (ctx.tools.nginx) parts.push(quiet(ctx.tools.nginx, ["-v"]).replace("nginx version: ", ""));
  if (ctx.tools.wrk) parts.push(quiet(ctx.tools.wrk, ["-v"]).split("\n")[0]!.split(" [")[0]!);
  return parts.filter(Boolean).join(", ");
}

/** How many lines simplehttp logged: the logging must be on, as for python. */
function subjectLogLines(info: RunInfo): string | undefined {
  const subject = info.running.find((p) => p.spec.name === SUBJECT);
  if (!subject) return undefined;
  try {
    const lines = readFileSync(subject.log, "utf8").split("\n").length - 1;
    return `simplehttp logged ${lines.toLocaleString("en-US")} lines to stderr (its log file)`;
  } catch {
    return undefined;
  }
}

function header(ctx: Context, info: RunInfo): string[] {
  const o = info.options;
  const pinning = ctx.tools.taskset ? `servers on CPU ${ctx.serverCpus}, load generator on CPU ${ctx.clientCpus} (taskset)` : "none";
  return [
    `# simplehttp benchmark — ${new Date().toISOString()}`,
    "",
    `- mode: ${o.smoke ? "smoke (numbers are not meaningful)" : "full"}; ${o.runs} round(s) of ${o.seconds} s per run, medians; measured in ${info.seconds.toFixed(0)} s`,
    `- machine: ${cpus()[0]?.model ?? "?"} × ${cpus().length}, Linux ${release()}; pinning: ${pinning}`,
    `- commit: ${commit(ctx)}; ${versions(ctx)}; load: ${info.generator} -t${ctx.clientThreads} (curl for the downloads)`,
    `- TLS: certificate ${ctx.fixture.tls.kind}; clients offer TLS 1.3 with ${TLS_SUITE} only; negotiated: ${info.tls.join("; ") || "no TLS peer ran"}`,
    `- compression: nginx gzip level 6${nginxHasBrotli() ? ", brotli quality 5, window 512 KiB (Debian's brotli modules)" : "; no brotli module for nginx"}`,
    ...info.running.map((p) => `- ${p.spec.name}: ${p.launch.label}`),
  ];
}

function footer(ctx: Context, info: RunInfo): string[] {
  const lines: string[] = [];
  const logged = subjectLogLines(info);
  if (logged) lines.push(`- ${logged}`);
  for (const s of info.skipped) lines.push(`- skipped ${s}`);
  for (const f of info.failures) lines.push(`- failed ${f}`);
  for (const n of ctx.tools.notes) lines.push(`- ${n}`);
  return lines.length > 0 ? ["", "Notes:", "", ...lines] : [];
}

export function render(ctx: Context, info: RunInfo, rows: Row[], many: Row[], cores: MulticoreRow[]): string {
  const parts = [...header(ctx, info), "", "Targets (issue 15):", "", targetsTable(rows, cores), "", table(rows)];
  if (many.length > 0) parts.push("", `Many keep-alive connections (${info.generator} -c${info.options.manyConnections}, GET 1 KiB):`, "", connectionsTable(many));
  if (cores.length > 0) parts.push("", "One process and `--workers 2`, servers and wrk -t2 sharing both CPUs:", "", multicoreTable(cores));
  parts.push(...footer(ctx, info));
  return `${parts.join("\n")}\n`;
}

/** Prints the report and saves it (Markdown and JSON) in bench/results/. */
export function writeReport(ctx: Context, info: RunInfo, rows: Row[], many: Row[], cores: MulticoreRow[] = []): void {
  const text = render(ctx, info, rows, many, cores);
  process.stdout.write(`\n${text}`);
  const dir = join(ctx.paths.benchSrc, "results");
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const name = `${stamp}-${info.options.smoke ? "smoke" : "full"}`;
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.md`), text);
    const json = {
      rows: rows.map((r) => ({ ...r, workload: r.workload.id })),
      many: many.map((r) => ({ ...r, workload: r.workload.id })),
      multicore: cores.map((r) => ({ ...r, workload: r.workload.id })),
      skipped: info.skipped,
      failures: info.failures,
    };
    writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`);
    process.stderr.write(`bench: saved bench/results/${name}.md and .json\n`);
  } catch (error) {
    process.stderr.write(`bench: could not save results: ${(error as Error).message}\n`);
  }
}
