/** Tools for the reliability tests: raw sockets, reply parsing, waiting, descriptor counts. */
import { connect, type Socket } from "node:net";
import { readdirSync } from "node:fs";

/** Opens a raw connection to 127.0.0.1:port. */
export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

export interface Collected {
  /** Everything received so far. */
  data(): Buffer;
  /** Settles when the server closes (or resets) the connection, with what arrived. */
  closed: Promise<Buffer>;
  /** True once closed. */
  isClosed(): boolean;
  /** The close came as a reset (ECONNRESET) rather than a FIN. */
  wasReset(): boolean;
}

/** Collects what a socket receives. */
export function collect(socket: Socket): Collected {
  const chunks: Buffer[] = [];
  let closed = false;
  let reset = false;
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "ECONNRESET") reset = true;
  });
  const done = new Promise<Buffer>((resolve) =>
    socket.on("close", () => {
      closed = true;
      resolve(Buffer.concat(chunks));
    }),
  );
  return { data: () => Buffer.concat(chunks), closed: done, isClosed: () => closed, wasReset: () => reset };
}

export interface Response {
  statusLine: string;
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/**
 * Splits a byte stream into complete HTTP/1.x responses: each a status line, headers, a blank
 * line, and a body of Content-Length bytes (none for 1xx, 204, 304). What follows the last
 * complete response is `rest`; `error` says why parsing stopped early, if it did.
 */
export function parseResponses(data: Buffer): { responses: Response[]; rest: Buffer; error?: string } {
  const responses: Response[] = [];
  let offset = 0;
  while (offset < data.length) {
    if (!data.subarray(offset, offset + 5).equals(Buffer.from("HTTP/"))) break;
    const end = data.indexOf("\r\n\r\n", offset);
    if (end < 0) return { responses, rest: data.subarray(offset), error: "incomplete head" };
    const lines = data.subarray(offset, end).toString("latin1").split("\r\n");
    const statusLine = lines[0]!;
    const match = /^HTTP\/\d\.\d (\d{3}) /.exec(statusLine + " ");
    if (!match) return { responses, rest: data.subarray(offset), error: `bad status line ${JSON.stringify(statusLine)}` };
    const status = Number(match[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) return { responses, rest: data.subarray(offset), error: `bad header line ${JSON.stringify(line)}` };
      headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    let length = 0;
    if (status >= 200 && status !== 204 && status !== 304) {
      const declared = headers.get("content-length");
      if (declared === undefined || !/^\d+$/.test(declared)) {
        return { responses, rest: data.subarray(offset), error: "no Content-Length" };
      }
      length = Number(declared);
    }
    const bodyStart = end + 4;
    if (bodyStart + length > data.length) return { responses, rest: data.subarray(offset), error: "short body" };
    responses.push({ statusLine, status, headers, body: data.subarray(bodyStart, bodyStart + length) });
    offset = bodyStart + length;
  }
  return { responses, rest: data.subarray(offset) };
}

/** Waits until `condition()` holds, polling; false if `ms` pass first. */
export async function waitFor(condition: () => boolean, ms = 10_000, every = 10): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, every));
  }
  return true;
}

/** Open file descriptors of this process (Linux), or -1. */
export function openFds(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return -1;
  }
}

/** Log lines with the `host - - [date] ` prefix removed. */
export function messages(lines: string[]): string[] {
  return lines.map((line) => line.replace(/^\S+ - - \[[^\]]*\] /, ""));
}
