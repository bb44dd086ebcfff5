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
import { SocketWriter } from "./writer.js";

export class BaseRequestHandler<S extends BaseServer = BaseServer> {
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
  async run(): Promise<void> {
    // Each hook is awaited only when it returned a Promise: a synchronous one costs no turn.
    const setup = this.setup();
    if (setup) await setup;
    try {
      const handled = this.handle();
      if (handled) await handled;
    } finally {
      const finished = this.finish();
      if (finished) await finished;
    }
  }

  /**
   * Called by `server_close()` while this handler is still running. Python's daemon threads are
   * simply abandoned at exit; a Node process would wait for their sockets instead, so handlers that
   * can tell they are idle (HTTP keep-alive) close themselves here. The default does nothing.
   */
  server_closing(): void {}
}

/** A request handler with `rfile` and `wfile` streams over the connection. */
export class StreamRequestHandler<S extends BaseServer = BaseServer> extends BaseRequestHandler<S> {
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
  /** The async buffered reader: `await rfile.read(n)`, `await rfile.readline(limit)`. */
  rfile!: SocketReader;
  /** The writer: `wfile.write(data)`, awaitable for backpressure. */
  wfile!: SocketWriter;

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

/** `isinstance(e, TimeoutError)`. */
export function isTimeoutError(error: unknown): error is Error {
  return error instanceof Error && error.name === "TimeoutError";
}
