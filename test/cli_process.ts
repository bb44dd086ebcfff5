/**
 * Running the built `simplehttp` binary in a child process, for the tests of the command line
 * (cli, cli_features, cli_reliability, livereload, workers, browser): start, wait for the banner,
 * stop, and never leave a process behind (`killAll()` in an `after` hook).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { exchange, splitReply } from "./helpers.js";

export const MAIN = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

/** The usage line argparse prints before every usage error, as Python 3.14's command line has it. */
export const PYTHON_USAGE = `usage: simplehttp [-h] [--cgi] [-b ADDRESS] [-d DIRECTORY] [-p VERSION]
                  [--tls-cert PATH] [--tls-key PATH]
                  [--tls-password-file PATH]
                  [port]
`;
/** Generous: the machine is small and shared with other test runs. */
export const TIMEOUT = { timeout: 60_000 };
/**
 * Python's banner, then the lines our flags add after it (indented, written with it: the URLs and
 * the features on; see src/cli/startup.ts).
 */
export const BANNER = /^Serving HTTP on (\S+) port (\d+) \(http:\/\/(\S+):(\d+)\/\) \.\.\.\n(?: {2}\S.*\n)*/;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Proc {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
  hasExited(): boolean;
}

const children = new Set<ChildProcess>();

/** Kills every process still running (for an `after` hook). */
export function killAll(): void {
  for (const child of children) child.kill("SIGKILL");
}

export interface LaunchOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** The script to run. @default MAIN, the built binary */
  script?: string;
}

export function launch(args: readonly string[], { cwd, env, script = MAIN }: LaunchOptions = {}): Proc {
  const child = spawn(process.execPath, [script, ...args], { cwd, env: env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let out = "";
  let err = "";
  let done = false;
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  const exited = new Promise<Exit>((resolve) => {
    child.on("close", (code, signal) => {
      done = true;
      children.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, stdout: () => out, stderr: () => err, exited, hasExited: () => done };
}

/** Kills the process (SIGKILL) unless it has exited, and waits for it. */
export async function stop(proc: Proc): Promise<void> {
  if (!proc.hasExited()) proc.child.kill("SIGKILL");
  await proc.exited;
}

/** Polls until `predicate` holds; fails with `what` and the process's output after `ms`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, proc?: Proc, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) {
      const output = proc ? `\nstdout: ${JSON.stringify(proc.stdout())}\nstderr: ${JSON.stringify(proc.stderr())}` : "";
      assert.fail(`timed out waiting for ${what}${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Runs the binary to its end. */
export async function run(args: readonly string[], options: LaunchOptions = {}) {
  const proc = launch(args, options);
  try {
    const { code, signal } = await proc.exited;
    return { code, signal, stdout: proc.stdout(), stderr: proc.stderr() };
  } finally {
    await stop(proc);
  }
}

export interface Running {
  proc: Proc;
  host: string;
  port: number;
  /** Everything printed at startup: Python's banner line, then the lines our flags add. */
  banner: string;
  /** The lines after Python's banner line ("" without our flags). */
  startup: string;
}

/** Starts a server and waits for its banner; fails with its stderr if it exits first. */
export async function startServer(args: readonly string[], options: LaunchOptions = {}): Promise<Running> {
  const proc = launch(args, options);
  try {
    await waitFor(() => BANNER.test(proc.stdout()) || proc.hasExited(), "the banner", proc, 60_000);
    const match = BANNER.exec(proc.stdout());
    if (!match) assert.fail(`exited without a banner: ${JSON.stringify(await proc.exited)}, stderr: ${proc.stderr()}`);
    const banner = match[0];
    return { proc, host: match[1]!, port: Number(match[2]), banner, startup: banner.slice(banner.indexOf("\n") + 1) };
  } catch (error) {
    await stop(proc);
    throw error;
  }
}

/** Serves `args` for the duration of `body`, then kills the server. */
export async function withServer(args: readonly string[], body: (server: Running) => Promise<void>, options: LaunchOptions = {}) {
  const server = await startServer(args, options);
  try {
    await body(server);
  } finally {
    await stop(server.proc);
  }
}

export interface Reply {
  status: string;
  head: string;
  /** The headers, names lower-cased (the last of a repeated header). */
  headers: Record<string, string>;
  body: Buffer;
}

/** One HTTP/1.0 request (`extra` header lines), read to the server's close. */
export async function request(port: number, path: string, extra: readonly string[] = [], method = "GET", host = "127.0.0.1"): Promise<Reply> {
  const lines = [`${method} ${path} HTTP/1.0`, ...extra, "", ""].join("\r\n");
  const reply = await exchange(port, lines, { host, timeoutMs: 20_000 });
  const { head, body } = splitReply(reply);
  const [status = "", ...fields] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const field of fields) {
    const colon = field.indexOf(":");
    headers[field.slice(0, colon).toLowerCase()] = field.slice(colon + 1).trim();
  }
  return { status, head, headers, body };
}

/**
 * One test per `[args, message]`: the binary prints the usage line and `simplehttp: error:
 * <message>` on stderr, nothing on stdout, and exits with status 2, as argparse does.
 */
export function testUsageErrors(cases: readonly (readonly [args: string[], message: string])[], options: LaunchOptions = {}): void {
  for (const [args, message] of cases) {
    test(`simplehttp ${args.map((arg) => JSON.stringify(arg)).join(" ")} → ${message}`, TIMEOUT, async () => {
      const result = await run(args, options);
      assert.equal(result.stderr, `${PYTHON_USAGE}simplehttp: error: ${message}\n`);
      assert.equal(result.stdout, "");
      assert.equal(result.code, 2);
    });
  }
}
