/** Shared test tools: a server on an ephemeral loopback port, raw exchanges, captured stderr. */
import { connect } from "node:net";
import { ThreadingHTTPServer } from "../src/server/http_server.js";
import { flushLog } from "../src/socketserver/log_writer.js";
import type { TCPServer, RequestHandlerClass } from "../src/socketserver/servers.js";

export type ServerClass = new (address: [string, number], handler: RequestHandlerClass) => TCPServer;

export interface Running<S extends TCPServer = TCPServer> {
  server: S;
  port: number;
  host: string;
  /** Shuts the loop down and closes the server. */
  close(): Promise<void>;
}

/** Starts `ServerClass` (default `ThreadingHTTPServer`) with `Handler` on 127.0.0.1, port 0. */
export async function serve<S extends TCPServer = TCPServer>(
  Handler: RequestHandlerClass,
  ServerClass: ServerClass = ThreadingHTTPServer as unknown as ServerClass,
  host = "127.0.0.1",
): Promise<Running<S>> {
  const server = new ServerClass([host, 0], Handler) as S;
  await server.ready;
  const loop = server.serve_forever(0.05);
  return {
    server,
    port: server.server_address[1],
    host,
    async close() {
      await server.shutdown();
      await loop;
      await server.server_close();
    },
  };
}

export interface ExchangeOptions {
  host?: string;
  /** Half-close after writing (the client sends FIN). */
  end?: boolean;
  /** Give up after this many ms and return what arrived. */
  timeoutMs?: number;
  /** Resolve as soon as this many bytes arrived (for keep-alive connections). */
  until?: (received: Buffer) => boolean;
}

/** Sends raw bytes and collects every byte of the reply until the server closes. */
export function exchange(port: number, data: string | Buffer, options: ExchangeOptions = {}): Promise<Buffer> {
  const { host = "127.0.0.1", end = false, timeoutMs = 5000, until } = options;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, host);
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks));
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on("connect", () => {
      socket.write(data);
      if (end) socket.end();
    });
    socket.on("data", (chunk) => {
      chunks.push(chunk);
      if (until?.(Buffer.concat(chunks))) finish();
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNRESET") finish();
      else reject(error);
    });
    socket.on("close", finish);
  });
}

/** The reply as Latin-1 text with the Date and Server values masked, for exact comparisons. */
export function masked(reply: Buffer | string): string {
  const text = typeof reply === "string" ? reply : reply.toString("latin1");
  return text.replace(/^Date: .*\r$/gm, "Date: <date>\r").replace(/^Server: .*\r$/gm, "Server: <server>\r");
}

/** Splits a reply into the head (status line and headers) and the body. */
export function splitReply(reply: Buffer): { head: string; body: Buffer } {
  const end = reply.indexOf("\r\n\r\n");
  if (end < 0) return { head: reply.toString("latin1"), body: Buffer.alloc(0) };
  return { head: reply.subarray(0, end).toString("latin1"), body: reply.subarray(end + 4) };
}

/** Captures what is written to process.stderr until `restore()`. */
export function captureStderr(): { text(): string; lines(): string[]; restore(): void } {
  const original = process.stderr.write.bind(process.stderr);
  let captured = "";
  process.stderr.write = ((chunk: string | Uint8Array) => {
    captured += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    return true;
  }) as typeof process.stderr.write;
  // Log lines are batched per event-loop turn (log_writer.ts): flush them before looking.
  const text = () => {
    if (process.stderr.write !== original) flushLog();
    return captured;
  };
  return {
    text,
    lines: () => text().split("\n").filter(Boolean),
    restore: () => {
      flushLog();
      process.stderr.write = original;
    },
  };
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** True when a command is on PATH. */
export async function hasCommand(command: string): Promise<boolean> {
  const { spawnSync } = await import("node:child_process");
  return spawnSync("sh", ["-c", `command -v ${command}`]).status === 0;
}
