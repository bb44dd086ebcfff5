/**
 * The servers compared: how each is launched, what it can serve, and starting one on its own
 * loopback port, pinned to CPU 0, with its output in a log file.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, openSync, closeSync, readFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { start, stop } from "./children.js";
import { nginxArgs, nginxHasBrotli } from "./nginx.js";
import type { Kind, Workload } from "./load.js";
import { SUBJECT } from "./report.js";
import { Probe } from "./proc.js";
import type { Fixture } from "./fixture.js";
import type { Tools } from "./tools.js";

export const HOST = "127.0.0.1";

export interface Paths {
  /** The repository root. */
  repo: string;
  /** The source bench/ folder (its node_modules holds the npm peers). */
  benchSrc: string;
  /** dist/bench/ (the compiled baselines and launcher). */
  benchDist: string;
}

export interface Launch {
  /** Shown in the report: which command started the server. */
  label: string;
  cmd: string;
  args: string[];
  cwd?: string;
}

export interface Context {
  fixture: Fixture;
  paths: Paths;
  tools: Tools;
  /** The CPUs the servers are pinned to (`taskset -c`), and the load generator's. */
  serverCpus: string;
  clientCpus: string;
  /** wrk's threads (`-t`). */
  clientThreads: number;
  /** The OpenSSL configuration the TLS clients load (`load.ts`, `writeClientTLSConfig`). */
  clientTLSConfig: string;
}

export interface PeerSpec {
  /** The name in the report (several instances of one server may share it, serving different workloads). */
  name: string;
  /** A name of its own (for logs and the command line's `--peers`, which matches `name` too). */
  id: string;
  /** Whether it serves workload `w`. */
  serves(w: Workload): boolean;
  /** Part of `--smoke`. */
  smoke?: boolean;
  /** Why it cannot run here, or undefined when it can. */
  missing(ctx: Context): string | undefined;
  /** Ways to start it on `port`, tried in order until one listens. */
  launches(ctx: Context, port: number): Launch[];
}

export interface RunningPeer {
  spec: PeerSpec;
  port: number;
  launch: Launch;
  child: ChildProcess;
  probe: Probe;
  /** RSS once listening, before any request, KiB. */
  idleKiB: number;
  log: string;
}

const node = process.execPath;

function npmBin(ctx: Context, pkg: string, bin: string): string {
  return join(ctx.paths.benchSrc, "node_modules", pkg, bin);
}

function missingNpm(ctx: Context, pkg: string, bin: string): string | undefined {
  return existsSync(npmBin(ctx, pkg, bin)) ? undefined : `${pkg} not installed in bench/node_modules`;
}

/** Plain HTTP workloads of these kinds. */
function plain(...kinds: Kind[]): (w: Workload) => boolean {
  return (w) => !w.tls && kinds.includes(w.kind);
}

/** Workloads whose every response closes its connection. */
function closing(w: Workload): boolean {
  return w.close === true || w.closes === true;
}

function python(protocol: string): PeerSpec {
  const name = protocol === "HTTP/1.0" ? "python" : "python-1.1";
  return {
    name,
    id: name,
    smoke: protocol === "HTTP/1.0",
    serves: plain("file", "fixed", "listing"),
    missing: (ctx) => (ctx.tools.python3 ? undefined : "python3 not found"),
    launches: (ctx, port) => {
      const args = ["-m", "http.server", String(port), "-b", HOST, "-d", ctx.fixture.www];
      if (protocol !== "HTTP/1.0") args.push("-p", protocol);
      return [{ label: `python3 ${args.join(" ")}`, cmd: ctx.tools.python3!, args }];
    },
  };
}

/** The command line's arguments for serving the fixture on `port`, with `flags`. */
function cliArgs(ctx: Context, port: number, flags: string[]): string[] {
  return [join(ctx.paths.repo, "dist/src/cli/main.js"), String(port), "-b", HOST, "-d", ctx.fixture.www, ...flags];
}

/**
 * An instance of the command line with `flags`, serving the workloads `serves` picks (each
 * workload has one simplehttp instance, the subject of its ratios).
 */
function simplehttp(id: string, flags: string[], serves: PeerSpec["serves"], name = SUBJECT): PeerSpec {
  return {
    name,
    id,
    smoke: true,
    serves,
    missing: (ctx) => (existsSync(join(ctx.paths.repo, "dist/src/cli/main.js")) ? undefined : "dist/src not built"),
    launches: (ctx, port) => [{ label: `simplehttp ${flags.join(" ") || "(no flags: HTTP/1.0, as python -m http.server)"}`, cmd: node, args: cliArgs(ctx, port, flags) }],
  };
}

function tlsFlags(ctx: Context): string[] {
  return ["--tls-cert", ctx.fixture.tls.cert, "--tls-key", ctx.fixture.tls.key];
}

/** simplehttp with the compression cache off (bench/simplehttp-nocache.ts), to show what the cache is worth. */
const simplehttpNoCache: PeerSpec = {
  ...simplehttp("simplehttp-nocache", [], plain("compress")),
  name: "simplehttp, no compression cache",
  smoke: false,
  launches: (ctx, port) => [
    {
      label: "simplehttp -p HTTP/1.1 --compress, compression cache off (bench/simplehttp-nocache.ts)",
      cmd: node,
      args: [join(ctx.paths.benchDist, "simplehttp-nocache.js"), ...cliArgs(ctx, port, ["-p", "HTTP/1.1", "--compress"]).slice(1)],
    },
  ],
};

/** Every peer, in report order; simplehttp first. */
export const PEERS: PeerSpec[] = [
  simplehttp("simplehttp", ["-p", "HTTP/1.1"], (w) => plain("file", "fixed", "listing")(w) && !closing(w)),
  // Python's default, as `python -m http.server` runs: HTTP/1.0 responses, so a client sees each
  // close announced (an HTTP/1.1 response to `Connection: close` does not echo it, in Python as here).
  simplehttp("simplehttp-1.0", [], (w) => plain("file", "fixed")(w) && closing(w)),
  simplehttp("simplehttp-rich", ["-p", "HTTP/1.1", "--listing", "rich"], plain("rich")),
  simplehttp("simplehttp-compress", ["-p", "HTTP/1.1", "--compress", "--precompressed"], plain("compress", "precompressed")),
  { ...simplehttp("simplehttp-tls", ["-p", "HTTP/1.1"], (w) => w.tls === true && !w.close), launches: (ctx, port) => [{ label: "simplehttp -p HTTP/1.1 --tls-cert --tls-key", cmd: node, args: cliArgs(ctx, port, ["-p", "HTTP/1.1", ...tlsFlags(ctx)]) }] },
  { ...simplehttp("simplehttp-tls-1.0", [], (w) => w.tls === true && w.close === true), launches: (ctx, port) => [{ label: "simplehttp --tls-cert --tls-key (HTTP/1.0)", cmd: node, args: cliArgs(ctx, port, tlsFlags(ctx)) }] },
  simplehttpNoCache,
  {
    name: "node:http",
    id: "node:http",
    smoke: true,
    serves: plain("fixed"),
    missing: () => undefined,
    launches: (ctx, port) => [
      { label: "bare node:http, fixed 1 KiB", cmd: node, args: [join(ctx.paths.benchDist, "baseline-http.js"), String(port)] },
    ],
  },
  {
    name: "node:net",
    id: "node:net",
    smoke: true,
    serves: plain("fixed"),
    missing: () => undefined,
    launches: (ctx, port) => [
      { label: "bare node:net, canned reply", cmd: node, args: [join(ctx.paths.benchDist, "baseline-net.js"), String(port)] },
    ],
  },
  {
    name: "node:https",
    id: "node:https",
    smoke: true,
    serves: (w) => w.tls === true && w.kind === "fixed",
    missing: () => undefined,
    launches: (ctx, port) => [
      {
        label: "bare node:https, fixed 1 KiB",
        cmd: node,
        args: [join(ctx.paths.benchDist, "baseline-https.js"), String(port), ctx.fixture.tls.cert, ctx.fixture.tls.key],
      },
    ],
  },
  {
    name: "nginx",
    id: "nginx",
    smoke: true,
    serves: (w) => plain("file", "fixed", "listing", "rich", "compress", "precompressed")(w) && (!isBrotli(w) || nginxHasBrotli()),
    missing: (ctx) => (ctx.tools.nginx ? undefined : "nginx not found"),
    launches: (ctx, port) => {
      const dir = join(ctx.fixture.root, "nginx");
      mkdirSync(dir, { recursive: true });
      const label = `nginx 1 worker, sendfile, tcp_nopush, access log, autoindex, gzip 6${nginxHasBrotli() ? ", brotli 5" : ""}`;
      return [{ label, cmd: ctx.tools.nginx!, args: nginxArgs(dir, ctx.fixture.www, port) }];
    },
  },
  {
    name: "nginx",
    id: "nginx-tls",
    smoke: true,
    serves: (w) => w.tls === true,
    missing: (ctx) => (ctx.tools.nginx ? undefined : "nginx not found"),
    launches: (ctx, port) => {
      const dir = join(ctx.fixture.root, "nginx-tls");
      mkdirSync(dir, { recursive: true });
      return [{ label: "nginx 1 worker, ssl (TLS 1.3), sendfile, access log", cmd: ctx.tools.nginx!, args: nginxArgs(dir, ctx.fixture.www, port, ctx.fixture.tls) }];
    },
  },
  python("HTTP/1.0"),
  python("HTTP/1.1"),
  {
    name: "http-server",
    id: "http-server",
    serves: plain("file", "fixed", "listing"),
    missing: (ctx) => missingNpm(ctx, "http-server", "bin/http-server"),
    launches: (ctx, port) => [
      { label: "http-server@14", cmd: node, args: [npmBin(ctx, "http-server", "bin/http-server"), ctx.fixture.www, "-p", String(port), "-a", HOST] },
    ],
  },
  {
    name: "serve",
    id: "serve",
    serves: plain("file", "fixed", "listing"),
    missing: (ctx) => missingNpm(ctx, "serve", "build/main.js"),
    launches: (ctx, port) => [
      {
        label: "serve@14",
        cmd: node,
        args: [npmBin(ctx, "serve", "build/main.js"), "-n", "--no-port-switching", "-l", `tcp://${HOST}:${port}`, ctx.fixture.www],
      },
    ],
  },
  {
    name: "sirv",
    id: "sirv",
    serves: plain("file", "fixed"),
    missing: (ctx) => missingNpm(ctx, "sirv-cli", "bin.js"),
    launches: (ctx, port) => [
      { label: "sirv-cli@3", cmd: node, args: [npmBin(ctx, "sirv-cli", "bin.js"), ctx.fixture.www, "--host", HOST, "--port", String(port)] },
    ],
  },
];

function isBrotli(w: Workload): boolean {
  return (w.headers ?? []).some((h) => /^accept-encoding:\s*br$/i.test(h));
}

/** A free loopback port, from the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, HOST);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Polls until `port` accepts a connection; false if the child exits or `ms` pass first. */
export async function waitListening(port: number, child: ChildProcess, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (await accepts(port)) return true;
    await sleep(50);
  }
  return false;
}

function tail(path: string, lines = 3): string {
  try {
    return readFileSync(path, "utf8").trim().split("\n").slice(-lines).join(" | ");
  } catch {
    return "";
  }
}

/** `taskset -c CPUS cmd args` when pinning is possible, else `cmd args`. */
export function pinned(ctx: Context, cpus: string, cmd: string, args: string[]): [string, string[]] {
  return ctx.tools.taskset ? [ctx.tools.taskset, ["-c", cpus, cmd, ...args]] : [cmd, args];
}

async function tryLaunch(ctx: Context, spec: PeerSpec, launch: Launch, port: number, log: string): Promise<RunningPeer | string> {
  const fd = openSync(log, "a");
  const [cmd, args] = pinned(ctx, ctx.serverCpus, launch.cmd, launch.args);
  const child = start(cmd, args, { cwd: launch.cwd ?? ctx.fixture.www, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  if (!(await waitListening(port, child, 15_000))) {
    await stop(child);
    return `${launch.label}: did not listen (${tail(log) || "no output"})`;
  }
  await sleep(300);
  const probe = new Probe(child.pid!);
  return { spec, port, launch, child, probe, idleKiB: probe.rssKiB(), log };
}

/** Starts a peer; returns it running, or the reason it could not start. */
export async function startPeer(ctx: Context, spec: PeerSpec): Promise<RunningPeer | string> {
  const why = spec.missing(ctx);
  if (why !== undefined) return why;
  const reasons: string[] = [];
  const logs = join(ctx.fixture.root, "logs");
  mkdirSync(logs, { recursive: true });
  const port = await freePort();
  for (const [i, launch] of spec.launches(ctx, port).entries()) {
    const log = join(logs, `${spec.id.replace(/[^a-z0-9.]+/gi, "_")}.${i}.log`);
    const result = await tryLaunch(ctx, spec, launch, port, log);
    if (typeof result !== "string") return result;
    reasons.push(result);
  }
  return reasons.join("; ");
}
