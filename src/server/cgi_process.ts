/**
 * The process side of CGI: starting a script, its `cgi_timeout` deadline, ending it (SIGTERM to its
 * process group, then SIGKILL), and killing scripts still running when the server process exits.
 */
import type { ChildProcess, SpawnOptions } from "node:child_process";
import type { Writable } from "node:stream";

/** After SIGTERM, how long a timed-out script has before SIGKILL. */
const KILL_GRACE_MS = 2000;
/** After SIGKILL, how long to wait for the script's pipes to close before abandoning them. */
const ABANDON_MS = 2000;

/** Starts the script; rejects if it could not be (sync or async spawn errors alike). */
export async function spawnScript(command: string, args: string[], options: SpawnOptions): Promise<ChildProcess> {
  // node:child_process is loaded by the first script (`getBuiltinModule`): a server without CGI never pays for it.
  const child = process.getBuiltinModule("node:child_process").spawn(command, args, options);
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", reject);
  });
  child.on("error", () => {}); // a kill() that finds the process already gone
  track(child);
  return child;
}

/** `cgi_timeout` as a timer: `onExpire` runs when it fires; `expired` settles then, or on `cancel()`. */
export class Deadline {
  readonly expired: Promise<null>;
  private settle!: () => void;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(seconds: number | null, onExpire: () => void) {
    this.expired = new Promise((resolve) => (this.settle = () => resolve(null)));
    if (seconds === null || !Number.isFinite(seconds)) return;
    this.timer = setTimeout(() => {
      this.settle();
      onExpire();
    }, Math.max(0, seconds * 1000));
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.settle();
  }
}

/**
 * Ends a timed-out script: SIGTERM to its process group (the script, or what it left running),
 * SIGKILL after a grace period, then, should a descendant that left the group still hold the
 * pipes, stops waiting for them. `signal` is the last signal sent.
 */
export class Termination {
  signal: NodeJS.Signals | null = null;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly child: ChildProcess,
    private readonly group: boolean,
  ) {}

  start(): void {
    this.send("SIGTERM");
    this.later(KILL_GRACE_MS, () => {
      this.send("SIGKILL");
      this.later(ABANDON_MS, () => {
        this.child.stdout?.destroy();
        this.child.stderr?.destroy();
      });
    });
  }

  cancel(): void {
    for (const timer of this.timers) clearTimeout(timer);
  }

  private send(signal: NodeJS.Signals): void {
    this.signal = signal;
    killGroup(this.child, signal, this.group);
  }

  private later(ms: number, action: () => void): void {
    this.timers.push(setTimeout(action, ms));
  }
}

/** Settles once the stream can take more, or is gone. */
export function writable(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      stream.off("error", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
    stream.on("error", done);
  });
}

/** A spawn error in a few words: its code (`ENOENT`, `EACCES` …) or message. */
export function describe(error: unknown): string {
  if (error instanceof Error) return (error as NodeJS.ErrnoException).code ?? error.message;
  return String(error);
}

/** Scripts still running, killed if the server process exits first. */
const running = new Set<ChildProcess>();
let exitHook = false;

function track(child: ChildProcess): void {
  running.add(child);
  child.once("exit", () => running.delete(child));
  if (exitHook) return;
  exitHook = true;
  process.once("exit", () => {
    for (const script of running) killGroup(script, "SIGTERM", process.platform !== "win32");
  });
}

/** Signals the script's process group (the script and what it started), or just the script. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals, group: boolean): void {
  if (group && child.pid !== undefined) {
    try {
      process.kill(-child.pid, signal);
      return;
    } catch {
      // The group is gone (or was never made): fall back to the process itself.
    }
  }
  try {
    child.kill(signal);
  } catch {
    // Already gone.
  }
}
