/**
 * Log lines reach stderr in one write per event-loop turn: under load, hundreds of request lines
 * leave in a single system call instead of one each. Lines are written in order, before the
 * process exits, and a write is never later than the end of the current turn.
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
