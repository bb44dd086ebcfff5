/**
 * `socketserver.BaseRequestHandler` and `StreamRequestHandler`.
 *
 * Python runs `setup()`, `handle()` and `finish()` inside `__init__`. A JavaScript constructor cannot
 * await, and a subclass's fields are set only after the base constructor returns, so here the
 * server constructs the handler and then awaits `handler.run()`, which makes the same three calls.
 */
import type { Socket } from "node:net";
import type { Address } from "./address.js";
import type { BaseServer } from "./servers.js";
import { SocketReader, SocketTimeoutError } from "./reader.js";
import { SocketWriter, connectionClosed } from "./writer.js";

/**
 * A Python-style file a program may put in place of `rfile` — a `BytesIO` in a unit test, as
 * Python's own tests do: `read(size)` and `readline(size)`, returning bytes or Promises of them.
 */
export interface BinaryReader {
  read(size?: number | null): Uint8Array | Promise<Uint8Array>;
  readline(size?: number | null): Uint8Array | Promise<Uint8Array>;
}

/** A Python-style file a program may put in place of `wfile`: `write(bytes)` (a Buffer is passed). */
export interface BinaryWriter {
  write(data: Buffer): unknown;
}

export class BaseRequestHandler<S extends BaseServer<any> = BaseServer> {
  /** The connected socket (Python's `request`). */
  request: Socket;
  /** `[host, port]` of the peer. */
  client_address: Address;
  server: S;

  constructor(request: Socket, client_address: Address, server: S) {
    this.request = request;
    this.client_address = client_address;
    this.server = server;
  }

  /** Called before `handle()`. */
  setup(): void | Promise<void> {}

  /** Serves the request: override it. */
  handle(): void | Promise<void> {}

  /** Called after `handle()`, even when it throws. */
  finish(): void | Promise<void> {}

  /** `setup()`, `handle()`, then `finish()` (always), as Python's `__init__` does. */
  run(): Promise<void> {
    return runHooks(this);
  }

  /**
   * Called by `server_close()` while this handler is still running. Python's daemon threads are
   * simply abandoned at exit; a Node process would wait for their sockets instead, so handlers that
   * can tell they are idle (HTTP keep-alive) close themselves here. The default does nothing.
   */
  server_closing(): void {}
}

/** A request handler with `rfile` and `wfile` streams over the connection. */
export class StreamRequestHandler<S extends BaseServer<any> = BaseServer> extends BaseRequestHandler<S> {
  /** Python's read buffer size; kept for compatibility (`rfile` is always buffered). */
  static rbufsize = -1;
  /** Python's write buffer size; `wfile` always writes through (as with Python's default 0). */
  static wbufsize = 0;
  /** Seconds of socket inactivity before a read or write fails with `TimeoutError`; `null` waits forever. */
  static timeout: number | null = null;
  /** Set `TCP_NODELAY` on the connection. */
  static disable_nagle_algorithm = false;

  rbufsize: number = (this.constructor as typeof StreamRequestHandler).rbufsize;
  wbufsize: number = (this.constructor as typeof StreamRequestHandler).wbufsize;
  timeout: number | null = (this.constructor as typeof StreamRequestHandler).timeout;
  disable_nagle_algorithm: boolean = (this.constructor as typeof StreamRequestHandler).disable_nagle_algorithm;

  /** The socket (Python's `connection`, the same object as `request`). */
  connection!: Socket;
  private reader!: SocketReader;
  private writer!: SocketWriter;
  private abort: AbortController | null = null;

  /**
   * The async buffered reader: `await rfile.read(n)`, `await rfile.readline(limit)`. A program may
   * set it to a Python-style file (`BinaryReader`, e.g. a `BytesIO`) to drive the handler without
   * a socket; only `read()` and `readline()` are then used.
   */
  get rfile(): SocketReader {
    return this.reader;
  }
  set rfile(file: SocketReader | BinaryReader) {
    this.reader = file as SocketReader;
  }

  /**
   * The writer: `wfile.write(data)`, awaitable for backpressure. Once the client has gone, a write
   * rejects with `BrokenPipeError` or `ConnectionResetError` (`ConnectionClosedError`); `signal`
   * says so as soon as it happens, without a write. A program may set it to a Python-style file
   * (`BinaryWriter`, e.g. a `BytesIO`), which is then given Buffers only.
   */
  get wfile(): SocketWriter {
    return this.writer;
  }
  set wfile(file: SocketWriter | BinaryWriter) {
    this.writer = file as SocketWriter;
  }

  /**
   * Aborted when the client goes away: it closes or resets the connection (or it is closed for a
   * timeout). Pass it to `fetch()`, timers (`setTimeout` from `node:timers/promises`), streams
   * (`pipeline(…, { signal })`) or `addEventListener("abort", …)` to stop work nobody will
   * receive — an event stream or a proxied request — at once, rather than at the next write's
   * `BrokenPipeError`. Its `reason` is a `ConnectionClosedError` (`BrokenPipeError` or
   * `ConnectionResetError`). The signal is the connection's: on a kept-alive connection every
   * request sees the same one. A client that half-closes its side after sending (`shutdown(SHUT_WR)`,
   * as `nc -N` does) looks the same as one that left, as in Node's own http server. Without a
   * socket (a handler driven by `BytesIO` files) it never aborts.
   */
  get signal(): AbortSignal {
    return (this.abort ??= abortOnClose(this.request)).signal;
  }

  override setup(): void {
    this.connection = this.request;
    if (this.timeout !== null) this.connection.setTimeout(this.timeout * 1000, this.onTimeout);
    if (this.disable_nagle_algorithm) this.connection.setNoDelay(true);
    this.rfile = new SocketReader(this.connection);
    this.wfile = new SocketWriter(this.connection);
  }

  private readonly onTimeout = () => {
    const error = new SocketTimeoutError();
    this.rfile.fail(error);
    this.wfile.fail(error);
  };

  override finish(): void {
    if (this.timeout !== null) this.connection.setTimeout(0);
    this.wfile.close();
    this.rfile.close();
  }
}

/** What `runHooks` calls: a request handler of either kind (stream or datagram). */
export interface HandlerHooks {
  setup(): void | Promise<void>;
  handle(): void | Promise<void>;
  finish(): void | Promise<void>;
}

/** `setup()`, `handle()`, then `finish()` (always). */
export async function runHooks(handler: HandlerHooks): Promise<void> {
  // Each hook is awaited only when it returned a Promise: a synchronous one costs no turn.
  const setup = handler.setup();
  if (setup) await setup;
  try {
    const handled = handler.handle();
    if (handled) await handled;
  } finally {
    const finished = handler.finish();
    if (finished) await finished;
  }
}

/** An AbortController aborted when `socket`'s peer closes or resets the connection. */
function abortOnClose(socket: Socket | null | undefined): AbortController {
  const controller = new AbortController();
  if (!socket || typeof socket.once !== "function") return controller;
  const gone = (code: string) => () => {
    socket.off("end", onEnd);
    socket.off("close", onClose);
    socket.off("error", onError);
    if (!controller.signal.aborted) controller.abort(connectionClosed(code));
  };
  const onEnd = gone("EPIPE");
  const onClose = gone("EPIPE");
  const onError = (error: NodeJS.ErrnoException) => gone(error.code === "ECONNRESET" ? "ECONNRESET" : "EPIPE")();
  if (socket.destroyed || socket.readableEnded) {
    controller.abort(connectionClosed());
    return controller;
  }
  socket.once("end", onEnd);
  socket.once("close", onClose);
  socket.once("error", onError);
  return controller;
}

/** `isinstance(e, TimeoutError)`. */
export function isTimeoutError(error: unknown): error is Error {
  return error instanceof Error && error.name === "TimeoutError";
}
