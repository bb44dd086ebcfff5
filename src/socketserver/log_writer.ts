/**
 * Log lines reach stderr in one write per event-loop turn, and at most one write per millisecond:
 * under load, hundreds of request lines leave in a single system call instead of one each. Lines
 * are written in order and before the process exits; a line leaves at the end of its own turn,
 * or a millisecond after it was queued when the last write was less than a millisecond ago. A
 * server closing every connection handles one per turn (libuv accepts one connection per loop
 * iteration), so without the millisecond each of its requests cost a write of its own.
 *
 * Where several processes share one stderr (`--workers`), a write is atomic only up to
 * `PIPE_BUF` (4096 bytes on Linux) when stderr is a pipe: a longer one may interleave with
 * another process's, cutting lines in two, and so may the `writev` in which Node's stream sends
 * writes queued behind a full pipe. Those processes call `limitLogWrites(4096)`, and a batch then
 * leaves in system calls of their own (`writeSync`), each whole lines of at most that many bytes
 * (a single longer line alone), waiting while the pipe is full as Python's blocking writes do.
 */
import { writeSync } from "node:fs";

let pending = "";
let scheduled = false;
let maxWriteBytes = Infinity;
/** When (`performance.now()`) the last write left. */
let lastWrite = -Infinity;
/** The least time between two writes, in milliseconds. */
let writeInterval = 1;

/** Queues a whole line (with its newline) for stderr. */
export function writeLogLine(line: string): void {
  pending += line;
  if (scheduled) return;
  scheduled = true;
  if (performance.now() - lastWrite >= writeInterval) setImmediate(flushLog);
  else if (timer) timer.refresh();
  else timer = setTimeout(flushLog, writeInterval);
}

/** The one timer that flushes lines queued within a millisecond of the last write (re-armed, never re-made). */
let timer: NodeJS.Timeout | null = null;

/** Writes what is queued now. */
export function flushLog(): void {
  scheduled = false;
  if (!pending) return;
  const text = pending;
  pending = "";
  lastWrite = performance.now();
  if (maxWriteBytes === Infinity) process.stderr.write(text);
  else for (const piece of wholeLinePieces(Buffer.from(text), maxWriteBytes)) writeWhole(2, piece);
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `data` to `fd`, retrying while a non-blocking pipe is full (EAGAIN). */
function writeWhole(fd: number, data: Buffer): void {
  let written = 0;
  while (written < data.length) {
    try {
      written += writeSync(fd, data, written);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") return; // stderr gone: nothing to do
      Atomics.wait(pause, 0, 0, 1); // a millisecond for the reader
    }
  }
}

/** Sets the least time between two writes (1 ms); for tests, which need a longer one to observe it. @internal */
export function _setLogWriteInterval(ms: number): void {
  flushLog();
  writeInterval = ms;
  if (timer) clearTimeout(timer);
  timer = null;
}

/** Makes every later write to stderr whole lines of at most `bytes` bytes (see above). */
export function limitLogWrites(bytes: number): void {
  maxWriteBytes = bytes;
}

/** `data` cut after newlines into pieces of at most `limit` bytes; a longer line is a piece alone. */
export function wholeLinePieces(data: Buffer, limit: number): Buffer[] {
  const pieces: Buffer[] = [];
  let start = 0;
  while (data.length - start > limit) {
    const cut = data.lastIndexOf(0x0a, start + limit - 1);
    const end = cut >= start ? cut + 1 : data.indexOf(0x0a, start + limit) + 1 || data.length;
    pieces.push(data.subarray(start, end));
    start = end;
  }
  if (start < data.length) pieces.push(data.subarray(start));
  return pieces;
}

process.on("exit", flushLog);
