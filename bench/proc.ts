/**
 * Reading a server's cost from /proc: CPU time (utime + stime from /proc/PID/stat) and memory
 * (VmRSS / VmHWM from /proc/PID/status), summed over the process and its descendants (nginx's
 * master and worker, a wrapper and its child).
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";

/** Clock ticks per second for /proc/PID/stat times (`getconf CLK_TCK`, 100 on Linux). */
export const CLK_TCK = readClockTicks();

function readClockTicks(): number {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** The fields of /proc/PID/stat after the `(comm)` field; index 0 is field 3 (state). */
function statFields(pid: number): string[] | undefined {
  const text = readText(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

/** The pid and every descendant of it, found through the ppid field of /proc/N/stat. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = Number(statFields(Number(name))?.[1]);
    if (!Number.isFinite(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** utime + stime of one process, in microseconds (0 when it is gone). */
function cpuMicros(pid: number): number {
  const fields = statFields(pid);
  if (fields === undefined) return 0;
  const ticks = Number(fields[11]) + Number(fields[12]); // fields 14 and 15: utime, stime
  return (ticks * 1e6) / CLK_TCK;
}

/** A `VmXXX:` line of /proc/PID/status, in KiB (0 when missing). */
function statusKiB(pid: number, key: "VmRSS" | "VmHWM"): number {
  const match = readText(`/proc/${pid}/status`)?.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"));
  return match ? Number(match[1]) : 0;
}

/** The pids measured for a server: fixed once it is up (nginx's worker is forked at start). */
export class Probe {
  readonly pids: number[];

  constructor(root: number) {
    this.pids = processTree(root);
  }

  /** CPU time used so far by the whole tree, µs. */
  cpuMicros(): number {
    return this.pids.reduce((sum, pid) => sum + cpuMicros(pid), 0);
  }

  /** CPU time used so far by each process of the tree, µs, in `pids` order. */
  cpuMicrosEach(): number[] {
    return this.pids.map(cpuMicros);
  }

  /** Resident memory now, KiB. */
  rssKiB(): number {
    return this.pids.reduce((sum, pid) => sum + statusKiB(pid, "VmRSS"), 0);
  }

  /** Peak resident memory since start or since `resetPeak()`, KiB. */
  hwmKiB(): number {
    return this.pids.reduce((sum, pid) => sum + statusKiB(pid, "VmHWM"), 0);
  }

  /** Resets VmHWM to the current RSS (`echo 5 > /proc/PID/clear_refs`); false if not allowed. */
  resetPeak(): boolean {
    let ok = true;
    for (const pid of this.pids) {
      try {
        writeFileSync(`/proc/${pid}/clear_refs`, "5");
      } catch {
        ok = false;
      }
    }
    return ok;
  }
}

/**
 * Measures one load run: CPU delta and peak RSS. The peak is the larger of VmHWM (reset at the
 * start when the kernel allows) and VmRSS sampled every 50 ms.
 */
export class Meter {
  private readonly cpuStart: number;
  private readonly peakReset: boolean;
  private sampledPeak: number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly probe: Probe) {
    this.peakReset = probe.resetPeak();
    this.sampledPeak = probe.rssKiB();
    this.cpuStart = probe.cpuMicros();
    this.timer = setInterval(() => {
      this.sampledPeak = Math.max(this.sampledPeak, probe.rssKiB());
    }, 50);
  }

  /** Stops sampling; returns the CPU µs used and the peak RSS in KiB during the run. */
  finish(): { cpuMicros: number; peakKiB: number } {
    clearInterval(this.timer);
    const cpuMicros = this.probe.cpuMicros() - this.cpuStart;
    const sampled = Math.max(this.sampledPeak, this.probe.rssKiB());
    const peakKiB = this.peakReset ? Math.max(sampled, this.probe.hwmKiB()) : sampled;
    return { cpuMicros, peakKiB };
  }
}
