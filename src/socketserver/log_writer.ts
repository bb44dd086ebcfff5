/**
 * Log lines reach stderr in one write per event-loop turn: under load, hundreds of request lines
 * leave in a single system call instead of one each. Lines are written in order, before the
 * process exits, and a write is never later than the end of the current turn.
 */
let pending = "";
let scheduled = false;

/** Queues a whole line (with its newline) for stderr. */
export function writeLogLine(line: string): void {
  pending += line;
  if (scheduled) return;
  scheduled = true;
  setImmediate(flushLog);
}

/** Writes what is queued now. */
export function flushLog(): void {
  scheduled = false;
  if (!pending) return;
  const text = pending;
  pending = "";
  process.stderr.write(text);
}

process.on("exit", flushLog);
