/** The benchmark's command line: `npm run bench -- [options]`. */

export interface Options {
  smoke: boolean;
  profile: boolean;
  runs: number;
  /** Seconds per timed run. */
  seconds: number;
  /** Peer names to run (simplehttp is always kept); empty: the mode's default set. */
  peers: string[];
  /** Workload ids to run; empty: the mode's default set. */
  workloads: string[];
  /** Connections for the many-connections RSS run; 0 skips it. */
  manyConnections: number;
  /** Run `--workers 2` against one process (multicore.ts). */
  multicore: boolean;
  install: boolean;
  keep: boolean;
  /** Use autocannon even where wrk is installed. */
  autocannon: boolean;
  help: boolean;
}

export const USAGE = `usage: npm run bench -- [--smoke] [--profile] [--runs N] [--duration S] [--peers a,b]
                           [--workloads ID,…] [--connections N] [--[no-]multicore]
                           [--no-install] [--keep] [--autocannon]

  workloads: 1k 1k-browser 1k-close 404 64k 1m 100m listing listing-rich tls-1k tls-close tls-100m
             gzip br pre-gzip pre-br plain-br

  --smoke         short runs, fewer peers, one round: under a minute (also BENCH_SMOKE=1)
  --profile       run simplehttp under node --cpu-prof for GET 1 KiB keep-alive and print the
                  top self-time functions (also BENCH_PROFILE=1)
  --runs N        rounds; each number is the median of the rounds (default 3, smoke 1)
  --duration S    seconds per timed run (default 5, smoke 1)
  --peers LIST    only these peers (names as in the table, or ids: nginx-tls, simplehttp-nocache…;
                  simplehttp always runs)
  --workloads L   only these workloads
  --connections N the many-keep-alive-connections RSS run (default 1000, 0 skips it)
  --no-multicore  skip --workers 2 against one process (skipped too when --workloads is given,
                  unless --multicore)
  --no-install    install nothing (apt-get, npm); skip what is missing
  --keep          keep the temp dir (fixture, logs, configs, profiles)
  --autocannon    load with autocannon (bench/node_modules) even where wrk is installed`;

function flag(name: string, env?: string): boolean {
  return process.argv.includes(name) || (env !== undefined && process.env[env] === "1");
}

function value(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function list(name: string): string[] {
  return (value(name) ?? "").split(",").map((s) => s.trim()).filter(Boolean);
}

function positive(name: string, fallback: number): number {
  const raw = value(name);
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} wants a whole number, got ${raw}`);
  return n;
}

export function parseOptions(): Options {
  const smoke = flag("--smoke", "BENCH_SMOKE");
  return {
    smoke,
    profile: flag("--profile", "BENCH_PROFILE"),
    runs: Math.max(1, positive("--runs", smoke ? 1 : 3)),
    seconds: Math.max(1, positive("--duration", smoke ? 1 : 5)),
    peers: list("--peers"),
    workloads: list("--workloads"),
    manyConnections: positive("--connections", 1000),
    multicore: flag("--multicore") || (!flag("--no-multicore") && list("--workloads").length === 0),
    install: !flag("--no-install"),
    keep: flag("--keep"),
    autocannon: flag("--autocannon"),
    help: flag("-h") || flag("--help"),
  };
}
