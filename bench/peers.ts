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
import { nginxArgs } from "./nginx.js";
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
}

export interface PeerSpec {
  name: string;
  /** Serves one fixed 1 KiB body whatever the path: only the 1 KiB workloads apply. */
  fixedBody?: boolean;
  /** Has no directory listing. */
  noListing?: boolean;
  /** simplehttp with `--listing rich`: serves the rich-listing workloads only (under simplehttp's name). */
  richListing?: boolean;
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

function python(protocol: string): PeerSpec {
  return {
    name: protocol === "HTTP/1.0" ? "python" : "python-1.1",
    smoke: protocol === "HTTP/1.0",
    missing: (ctx) => (ctx.tools.python3 ? undefined : "python3 not found"),
    launches: (ctx, port) => {
      const args = ["-m", "http.server", String(port), "-b", HOST, "-d", ctx.fixture.www];
      if (protocol !== "HTTP/1.0") args.push("-p", protocol);
      return [{ label: `python3 ${args.join(" ")}`, cmd: ctx.tools.python3!, args }];
    },
  };
}

/** simplehttp: the command line first; the fallback launcher while the CLI is unfinished. */
const simplehttp: PeerSpec = {
  name: "simplehttp",
  smoke: true,
  missing: (ctx) => (existsSync(join(ctx.paths.repo, "dist/src/index.js")) ? undefined : "dist/src not built"),
  launches: (ctx, port) => {
    const cli = join(ctx.paths.repo, "dist/src/cli/main.js");
    const cliArgs = [cli, String(port), "-b", HOST, "-d", ctx.fixture.www, "-p", "HTTP/1.1"];
    const fallback = join(ctx.paths.benchDist, "simplehttp-server.js");
    return [
      { label: "simplehttp CLI (-p HTTP/1.1)", cmd: node, args: cliArgs },
      { label: "bench/simplehttp-server.ts (CLI not ready)", cmd: node, args: [fallback, String(port), ctx.fixture.www, "HTTP/1.1"] },
    ];
  },
};

/** simplehttp with the rich listing, for the `rich` workloads (compared with nginx's autoindex). */
const simplehttpRich: PeerSpec = {
  ...simplehttp,
  richListing: true,
  launches: (ctx, port) => [
    {
      label: "simplehttp CLI (-p HTTP/1.1 --listing rich)",
      cmd: node,
      args: [join(ctx.paths.repo, "dist/src/cli/main.js"), String(port), "-b", HOST, "-d", ctx.fixture.www, "-p", "HTTP/1.1", "--listing", "rich"],
    },
  ],
};

/** Every peer, in report order; simplehttp first. */
export const PEERS: PeerSpec[] = [
  simplehttp,
  simplehttpRich,
  {
    name: "node:http",
    fixedBody: true,
    smoke: true,
    missing: () => undefined,
    launches: (ctx, port) => [
      { label: "bare node:http, fixed 1 KiB", cmd: node, args: [join(ctx.paths.benchDist, "baseline-http.js"), String(port)] },
    ],
  },
  {
    name: "node:net",
    fixedBody: true,
    smoke: true,
    missing: () => undefined,
    launches: (ctx, port) => [
      { label: "bare node:net, canned reply", cmd: node, args: [join(ctx.paths.benchDist, "baseline-net.js"), String(port)] },
    ],
  },
  {
    name: "nginx",
    smoke: true,
    missing: (ctx) => (ctx.tools.nginx ? undefined : "nginx not found"),
    launches: (ctx, port) => {
      const dir = join(ctx.fixture.root, "nginx");
      mkdirSync(dir, { recursive: true });
      return [{ label: "nginx 1 worker, sendfile, autoindex", cmd: ctx.tools.nginx!, args: nginxArgs(dir, ctx.fixture.www, port) }];
    },
  },
  python("HTTP/1.0"),
  python("HTTP/1.1"),
  {
    name: "http-server",
    missing: (ctx) => missingNpm(ctx, "http-server", "bin/http-server"),
    launches: (ctx, port) => [
      { label: "http-server@14", cmd: node, args: [npmBin(ctx, "http-server", "bin/http-server"), ctx.fixture.www, "-p", String(port), "-a", HOST] },
    ],
  },
  {
    name: "serve",
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
    noListing: true,
    missing: (ctx) => missingNpm(ctx, "sirv-cli", "bin.js"),
    launches: (ctx, port) => [
      { label: "sirv-cli@3", cmd: node, args: [npmBin(ctx, "sirv-cli", "bin.js"), ctx.fixture.www, "--host", HOST, "--port", String(port)] },
    ],
  },
];

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
async function waitListening(port: number, child: ChildProcess, ms: number): Promise<boolean> {
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

/** `taskset -c CPU cmd args` when pinning is possible, else `cmd args`. */
export function pinned(ctx: Context, cpu: number, cmd: string, args: string[]): [string, string[]] {
  return ctx.tools.taskset ? [ctx.tools.taskset, ["-c", String(cpu), cmd, ...args]] : [cmd, args];
}

async function tryLaunch(ctx: Context, spec: PeerSpec, launch: Launch, port: number, log: string): Promise<RunningPeer | string> {
  const fd = openSync(log, "a");
  const [cmd, args] = pinned(ctx, 0, launch.cmd, launch.args);
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
    const log = join(logs, `${spec.name.replace(/[^a-z0-9.]+/gi, "_")}.${i}.log`);
    const result = await tryLaunch(ctx, spec, launch, port, log);
    if (typeof result !== "string") return result;
    reasons.push(result);
  }
  return reasons.join("; ");
}
