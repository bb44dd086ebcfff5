/**
 * How many connections a server holds, and what it does when the process runs out of file
 * descriptors.
 *
 * Node cannot stop accepting while it keeps listening (libuv has no `uv_listen_stop`), so
 * connections beyond `max_connections` cannot be left in the kernel's backlog: they are accepted
 * and wait, paused (nothing is read from them), in the server's own accept queue, up to
 * `request_queue_size` of them. Only past that are new connections closed at once.
 */
import { closeSync, openSync, readFileSync } from "node:fs";

/** Descriptors left to Node itself: stdio, the event loop, the thread pool, the listening socket. */
const FD_RESERVE = 32;

let cachedLimit: number | undefined;

/** The process's soft limit on open files (`Max open files` in /proc/self/limits); Infinity if unknown. */
export function openFileLimit(): number {
  cachedLimit ??= readOpenFileLimit();
  return cachedLimit;
}

function readOpenFileLimit(): number {
  try {
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "latin1"));
    if (match && match[1] !== "unlimited") return Number(match[1]);
  } catch {
    // Not Linux: no limit is known, so none is applied beyond the attributes.
  }
  return Infinity;
}

export interface ConnectionLimits {
  /** Connections handled at once. */
  handled: number;
  /** Connections open in all: handled, waiting in the accept queue, and closing. */
  open: number;
}

/**
 * The limits a server applies: `max_connections` handled and `queueSize` more waiting, both cut
 * down to fit in the descriptor limit, counting two descriptors for a handled connection (its
 * socket and the file it sends) and one for a waiting one. At least one is always handled.
 */
export function connectionLimits(maxConnections: number, queueSize: number, fdLimit = openFileLimit()): ConnectionLimits {
  const budget = fdLimit - FD_RESERVE;
  if (!Number.isFinite(budget)) {
    const handled = Math.max(1, maxConnections);
    return { handled, open: handled + Math.max(0, queueSize) };
  }
  const waiting = Math.max(0, Math.min(queueSize, Math.floor(budget / 4)));
  const handled = Math.max(1, Math.min(maxConnections, Math.floor((budget - waiting) / 2)));
  return { handled, open: handled + waiting };
}

/** How long the server stops listening when accept() fails with nothing left to free. */
const FIRST_PAUSE_MS = 100;
const MAX_PAUSE_MS = 5000;
/** accept() failures in one turn of the event loop that mean libuv's retry loop cannot progress. */
const SPIN_FAILURES = 64;
/** The shortest interval between two log lines about running out of descriptors. */
const REPORT_INTERVAL_MS = 10_000;

/**
 * `EMFILE`/`ENFILE` from accept(). libuv usually absorbs these itself: it keeps a spare
 * descriptor, and on EMFILE frees it, accepts and closes the waiting connections, and takes it
 * back. Node reports the error only when that spare was lost — and libuv then retries accept()
 * at once, in a loop, until it stops failing. So, on a reported failure, the guard
 * - frees a spare descriptor of its own, so that the retry succeeds;
 * - sheds load until the event loop turns: connections accepted meanwhile are closed at once
 *   (which frees their descriptors for the next retry, until the kernel's queue is empty);
 * - if failures go on with nothing left to free, stops listening for a while (0.1 s, doubling up
 *   to 5 s while it recurs), the only way to end libuv's loop;
 * - logs one line per episode (at most one per ten seconds);
 * then takes its spare back and accepts as usual.
 */
export class AcceptGuard {
  private spare: number | null = null;
  private shed = false;
  private burst = 0;
  private pause = FIRST_PAUSE_MS;
  private lastReport = -Infinity;

  constructor(
    /** Logs a line. */
    private readonly report: (message: string) => void,
    /** Stops accepting for `ms` milliseconds (closes and reopens the listening socket). */
    private readonly pauseListening: (ms: number) => void,
  ) {
    this.takeSpare();
  }

  /** True while connections are to be closed at once (until the event loop turns). */
  shedding(): boolean {
    return this.shed;
  }

  /** Handles one accept() failure; false for errors that are not about descriptors (ignored). */
  onAcceptError(error: NodeJS.ErrnoException): boolean {
    if (error.code !== "EMFILE" && error.code !== "ENFILE") return false;
    const now = Date.now();
    if (now - this.lastReport >= REPORT_INTERVAL_MS) {
      const reason = error.code === "EMFILE" ? "too many open files" : "too many open files in the system";
      this.report(`Accepting a connection failed (${error.code}: ${reason}); closing new connections until descriptors are free`);
      this.lastReport = now;
    }
    if (!this.shed) {
      this.shed = true;
      setImmediate(() => this.recover()).unref();
    }
    if (this.spare !== null) {
      closeSync(this.spare);
      this.spare = null;
    } else if (++this.burst === SPIN_FAILURES) {
      this.pauseListening(this.pause);
      this.pause = Math.min(MAX_PAUSE_MS, this.pause * 2);
    }
    return true;
  }

  /** Releases the spare descriptor (when the server closes). */
  close(): void {
    if (this.spare !== null) closeSync(this.spare);
    this.spare = null;
  }

  /** Once the event loop has turned: accepts as usual again, the spare taken back if it can be. */
  private recover(): void {
    this.shed = false;
    if (this.burst < SPIN_FAILURES) this.pause = FIRST_PAUSE_MS;
    this.burst = 0;
    this.takeSpare();
  }

  private takeSpare(): void {
    if (this.spare !== null) return;
    try {
      this.spare = openSync("/dev/null", "r");
    } catch {
      // Still no descriptor (or no /dev/null): the next failure goes without a spare.
    }
  }
}
