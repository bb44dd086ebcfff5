/**
 * Every child process the benchmark starts, and their end: each one is spawned in its own
 * process group and killed (group and all) at exit, on Ctrl-C, on SIGTERM and on an error.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";

const live = new Set<ChildProcess>();

/** Spawns `cmd args` in a new process group and registers it for cleanup. */
export function start(cmd: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: "ignore", ...options, detached: true });
  live.add(child);
  child.once("exit", () => live.delete(child));
  child.once("error", () => live.delete(child));
  return child;
}

/** Sends `signal` to the child's whole process group (falls back to the child alone). */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves once the child has exited, or after `ms` (then false). */
export function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child) || child.pid === undefined) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIGTERM to the group, SIGKILL after `graceMs` if it is still there. */
export async function stop(child: ChildProcess, graceMs = 2000, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (exited(child)) return;
  signalGroup(child, signal);
  if (!(await waitExit(child, graceMs))) {
    signalGroup(child, "SIGKILL");
    await waitExit(child, 1000);
  }
  live.delete(child);
}

/** Stops every live child. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((child) => stop(child)));
}

const exitHooks: Array<() => void> = [];

/** Runs `hook` (synchronous) when the process exits, however it exits, after the children are killed. */
export function atExit(hook: () => void): void {
  exitHooks.push(hook);
}

/** Last resort on process exit: synchronous SIGKILL to every group still registered, then the hooks. */
function onExit(): void {
  for (const child of live) signalGroup(child, "SIGKILL");
  live.clear();
  for (const hook of exitHooks) {
    try {
      hook();
    } catch {
      /* best effort */
    }
  }
}

/** Installs the exit and signal hooks: a signal stops every child, then exits (running the hooks). */
export function installCleanup(): void {
  process.once("exit", onExit);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping every server and load generator\n`);
      void stopAll().finally(() => process.exit(130));
    });
  }
}
