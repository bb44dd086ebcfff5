/**
 * The programs the benchmark uses, found on PATH, and installed when missing: wrk and nginx
 * with apt-get (as root, non-interactively), the npm peers and autocannon with `npm install`
 * inside bench/.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { cpus } from "node:os";
import { delimiter, join } from "node:path";
import { nginxHasBrotli } from "./nginx.js";

export interface Tools {
  wrk?: string;
  curl?: string;
  nginx?: string;
  python3?: string;
  /** Absent when there is one CPU or no taskset: nothing is pinned then. */
  taskset?: string;
  /** bench/node_modules/autocannon's entry point, the load generator when wrk is missing. */
  autocannon?: string;
  /** What was installed, or why not. */
  notes: string[];
}

export interface InstallOptions {
  benchSrc: string;
  /** Try apt-get / npm install for what is missing. */
  install: boolean;
  /** The npm peers are wanted (full mode), not only autocannon. */
  npmPeers: boolean;
  /** autocannon is wanted even where wrk is installed. */
  autocannon: boolean;
}

/** Path of an executable on PATH (plus the sbin folders, where nginx lives), or undefined. */
export function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      /* next */
    }
  }
  return undefined;
}

function run(cmd: string, args: string[], cwd?: string): { ok: boolean; output: string } {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const result = spawnSync(cmd, args, { cwd, env, encoding: "utf8", timeout: 600_000, stdio: ["ignore", "pipe", "pipe"] });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim().split("\n").slice(-3).join(" | ");
  return { ok: result.status === 0, output: output || String(result.error ?? "") };
}

/** `apt-get install -y` the Debian packages missing; runs `apt-get update` once if that fails. */
function aptInstall(packages: string[], notes: string[]): void {
  if (packages.length === 0) return;
  if (process.getuid?.() !== 0 || !which("apt-get")) {
    notes.push(`not installing ${packages.join(", ")}: needs root and apt-get`);
    return;
  }
  const args = ["install", "-y", "-q", "--no-install-recommends", ...packages];
  process.stderr.write(`bench: apt-get ${args.join(" ")}\n`);
  let result = run("apt-get", args);
  if (!result.ok) {
    run("apt-get", ["update", "-q"]);
    result = run("apt-get", args);
  }
  notes.push(result.ok ? `installed with apt-get: ${packages.join(", ")}` : `apt-get install ${packages.join(" ")} failed: ${result.output}`);
}

const NPM_PACKAGES = ["autocannon", "http-server", "serve", "sirv-cli"];

/** `npm install` in bench/ (pinned by bench/package.json and its lock) when a package is missing. */
function npmInstall(benchSrc: string, notes: string[]): void {
  if (NPM_PACKAGES.every((pkg) => existsSync(join(benchSrc, "node_modules", pkg, "package.json")))) return;
  const npm = which("npm");
  if (!npm) {
    notes.push("npm not found: npm peers and autocannon skipped");
    return;
  }
  process.stderr.write("bench: npm install (in bench/)\n");
  const result = run(npm, ["install", "--no-audit", "--no-fund", "--loglevel=error"], benchSrc);
  notes.push(result.ok ? `installed with npm in bench/: ${NPM_PACKAGES.join(", ")}` : `npm install in bench/ failed: ${result.output}`);
}

/** Finds the tools, installing what is missing when allowed. */
export function ensureTools(options: InstallOptions): Tools {
  const notes: string[] = [];
  if (options.install) {
    const missing = ["wrk", "nginx", "openssl"].filter((name) => !which(name));
    // Debian's brotli modules for nginx: the peer for `--compress` with `br` (and `brotli_static`).
    if (!nginxHasBrotli()) missing.push("libnginx-mod-http-brotli-filter", "libnginx-mod-http-brotli-static");
    aptInstall(missing, notes);
    if (options.npmPeers || options.autocannon || !which("wrk")) npmInstall(options.benchSrc, notes);
  }
  const autocannon = join(options.benchSrc, "node_modules/autocannon/autocannon.js");
  const taskset = cpus().length >= 2 ? which("taskset") : undefined;
  if (!taskset) notes.push("no pinning: needs taskset and 2 CPUs");
  return {
    wrk: options.autocannon ? undefined : which("wrk"),
    curl: which("curl"),
    nginx: which("nginx"),
    python3: which("python3"),
    taskset,
    autocannon: existsSync(autocannon) ? autocannon : undefined,
    notes,
  };
}
