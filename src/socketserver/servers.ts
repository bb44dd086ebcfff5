/**
 * `socketserver.BaseServer`, `TCPServer`, `ThreadingMixIn` and `ThreadingTCPServer` on `node:net`.
 *
 * A `TCPServer` handles one connection at a time in arrival order, as Python's does: connections
 * that arrive meanwhile wait, paused, in an accept queue. `ThreadingMixIn` handles each connection
 * as soon as it arrives, concurrently ("threads" are async tasks on the event loop).
 */
import { createServer, type ListenOptions, type Server, type Socket } from "node:net";
import { type Address, type AddressFamily, addressRepr, checkServerAddress, describeValue, familyOf, resolveBindHost, AF_INET6 } from "./address.js";
import { bindError, resolveError } from "./errors.js";
import type { BaseRequestHandler } from "./handlers.js";
import { DeadlineSweeper, LingeringSockets, expectsNothingMore } from "./deadlines.js";
import { writeLogLine } from "./log_writer.js";
import { endAfterWrites, isEnding } from "./writer.js";
import { AcceptGuard, connectionLimits, type ConnectionLimits } from "./admission.js";
import { logDateNow } from "../http/dates.js";
import { scrubControlCharacters } from "../py/text.js";

/**
 * A request handler class: `new Handler(request, client_address, server)`. The request is a
 * connected socket for stream servers, `[data, socket]` for datagram servers.
 */
export type RequestHandlerClass<S extends BaseServer<any> = any> = new (
  request: any,
  client_address: Address,
  server: S,
) => BaseRequestHandler<any>;

type Waiter = (gotRequest: boolean) => void;

/** After `graceful_close()` forces connections closed, how long it waits for their handlers. */
const FORCED_CLOSE_WAIT_MS = 1000;
/** The shortest interval between two "too many connections" log lines. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

type ServerClass = typeof BaseServer;

/**
 * What `ThreadingMixIn.process_request()` returns: settled already (the connection goes on in its
 * "thread"), and known to be, so the serving loop does not wait a turn for it.
 */
const SETTLED: Promise<void> = Promise.resolve();

/**
 * The serving loop, independent of the transport: `serve_forever`, `handle_request`, `shutdown`,
 * and the per-request hooks Python documents.
 */
export abstract class BaseServer<A = Address> {
  /**
   * Connections handled at once. More wait, paused, in the accept queue (`request_queue_size` of
   * them) and are handled as others finish; the limit is lowered to fit the process's file
   * descriptor limit. Python has no such limit.
   * @default 10000
   */
  static max_connections = 10_000;
  /** Seconds `graceful_close()` gives requests in flight before closing their connections. @default 10 */
  static shutdown_grace = 10;
  /**
   * Bytes that requests still arriving may hold in all (HTTP heads: request line and headers).
   * Past it, a request holding more than 64 KiB is refused as it grows (431 for HTTP), so many
   * clients that never finish their requests cannot exhaust memory. Python has no such limit.
   * @default 134217728 (128 MiB)
   */
  static max_header_memory = 128 * 1024 * 1024;

  /** Seconds `handle_request()` waits for a connection; `null` waits forever. */
  timeout: number | null = null;
  max_connections: number = (this.constructor as ServerClass).max_connections;
  shutdown_grace: number = (this.constructor as ServerClass).shutdown_grace;
  max_header_memory: number = (this.constructor as ServerClass).max_header_memory;
  /** Bytes held now by requests still arriving, as their handlers report them (`max_header_memory`). @internal */
  _headerBytes = 0;
  /**
   * The connection `_handle_request_noblock()` took last and when it entered the accept queue
   * (`Date.now()`): its handler's first deadline runs from there (`queuedAt()`), so time spent
   * waiting for a slot counts against `header_timeout`.
   * @internal
   */
  _taken: { socket: Socket | null; at: number } = { socket: null, at: 0 };
  /** Where the server listens: `[host, port]` for TCP and UDP, a path for Unix sockets. */
  server_address: A;
  RequestHandlerClass: RequestHandlerClass;

  /** Settles once the server is bound and listening; rejects with the bind error. */
  ready: Promise<void> = Promise.resolve();

  /** Queued connections: the socket, its address, and when it was queued. @internal */
  _pending: [Socket, Address, number][] = [];
  /** @internal */
  _handlers = new Set<BaseRequestHandler<any>>();
  /** @internal */
  _waiter: Waiter | null = null;
  /** @internal */
  _shutdownRequested = false;
  /** @internal */
  _serving: Promise<void> | null = null;
  /** @internal */
  _closed = false;
  /** Every accepted connection not yet closed: handled, waiting, in a TLS handshake, or closing. @internal */
  readonly _connections = new Set<Socket>();
  /** The deadlines of handlers, handshakes and closing connections, checked by one timer. @internal */
  readonly _sweeper = new DeadlineSweeper();
  /**
   * Connections already answered and ended (`close_request`): reading until the peer closes, or,
   * when it has nothing more to send, waiting only for what was written to leave. @internal
   */
  readonly _lingering = new LingeringSockets(this._sweeper);
  /** Called when the last connection and handler are gone (`graceful_close()` waits on it). @internal */
  _onIdle: (() => void) | null = null;
  /** Handlers that gave their slot back (`release_slot()`): not counted against the limits. @internal */
  readonly _released = new Set<BaseRequestHandler<any>>();

  /** `server_address` is checked (and copied) by the subclass that knows its shape. */
  constructor(server_address: NoInfer<A>, RequestHandlerClass: RequestHandlerClass) {
    this.server_address = server_address;
    this.RequestHandlerClass = checkHandlerClass(RequestHandlerClass);
  }

  /** Called by `server_bind`/`server_activate` users; overridden by `TCPServer`. */
  server_activate(): void | Promise<void> {}

  /**
   * Handles requests until `shutdown()`; the Promise settles once the loop has stopped.
   * Every `poll_interval` seconds without a connection, `service_actions()` runs.
   */
  serve_forever(poll_interval = 0.5): Promise<void> {
    const loop = this._serveLoop(poll_interval);
    this._serving = loop.catch(() => {});
    return loop;
  }

  /** @internal */
  async _serveLoop(poll_interval: number): Promise<void> {
    try {
      await this.ready;
      while (!this._shutdownRequested) {
        // Each step is awaited only when it returned a Promise: a connection handed to a
        // "thread" (ThreadingMixIn) costs the loop no turn of its own.
        const gotRequest = this._canHandle() || (await this._waitForRequest(this.pollFor(poll_interval)));
        if (this._shutdownRequested) break;
        if (gotRequest) {
          const handled = this._handle_request_noblock();
          if (handled) await handled;
        }
        const actions = this.service_actions();
        if (actions) await actions;
      }
    } finally {
      this._shutdownRequested = false;
      this._serving = null;
    }
  }

  /**
   * How long `serve_forever()` waits for a connection before running `service_actions()`: the
   * poll interval, or null (until a connection or `shutdown()`) while `service_actions()` is the
   * default that does nothing — a timer set and cleared for every connection costs 8k
   * instructions of the 240k a new connection takes.
   */
  private pollFor(poll_interval: number): number | null {
    return this.service_actions === BaseServer.prototype.service_actions ? null : poll_interval;
  }

  /**
   * Stops `serve_forever()` and resolves once it has stopped. As in Python, a handler of a
   * one-connection-at-a-time server must not await this (its own connection keeps the loop busy).
   */
  shutdown(): Promise<void> {
    this._shutdownRequested = true;
    this._wake(false);
    return this._serving ?? Promise.resolve();
  }

  /** Called once per loop iteration of `serve_forever()`; override to do periodic work. */
  service_actions(): void | Promise<void> {}

  /** Waits for and handles one connection, or calls `handle_timeout()` after `timeout` seconds. */
  async handle_request(): Promise<void> {
    await this.ready;
    const gotRequest = await this._waitForRequest(this.timeout);
    if (!gotRequest) return this.handle_timeout();
    return this._handle_request_noblock();
  }

  /** Called when `handle_request()` waited `timeout` seconds for nothing. */
  handle_timeout(): void | Promise<void> {}

  /** Return false to refuse a connection before it is handled. */
  verify_request(_request: Socket, _client_address: Address): boolean | Promise<boolean> {
    return true;
  }

  /**
   * Takes the next queued connection: `verify_request()`, then `process_request()` or
   * `shutdown_request()`; `handle_error()` for an exception. Returns a Promise only when one of
   * those did (a serial server's `process_request()` does, a threading one's does not).
   * @internal
   */
  _handle_request_noblock(): void | Promise<void> {
    const next = this._pending.shift();
    if (!next) return;
    const [request, client_address, queuedAt] = next;
    try {
      const verified = this.verify_request(request, client_address);
      if (verified === true) return this.afterProcess(this.processTaken(request, client_address, queuedAt), request, client_address);
      if (verified === false) return this.shutdown_request(request);
      return verified.then(
        (ok) => (ok ? this.afterProcess(this.processTaken(request, client_address, queuedAt), request, client_address) : this.shutdown_request(request)),
        (error) => this.requestFailed(request, client_address, error),
      );
    } catch (error) {
      this.requestFailed(request, client_address, error);
    }
  }

  /**
   * `process_request()`, telling the handler it constructs (synchronously, as every server here
   * does) when its connection was queued (`_queuedAt()`).
   */
  private processTaken(request: Socket, client_address: Address, queuedAt: number): void | Promise<void> {
    this._taken.socket = request;
    this._taken.at = queuedAt;
    try {
      return this.process_request(request, client_address);
    } finally {
      this._taken.socket = null;
    }
  }

  /** What `process_request()` returned, awaited (and its failure reported) only when it is pending. */
  private afterProcess(processing: void | Promise<void>, request: Socket, client_address: Address): void | Promise<void> {
    if (processing === undefined || processing === SETTLED) return;
    return processing.then(undefined, (error) => this.requestFailed(request, client_address, error));
  }

  private requestFailed(request: Socket, client_address: Address, error: unknown): void {
    this.handle_error(request, client_address, error);
    this.shutdown_request(request);
  }

  /** Handles the connection to its end, then closes it. `ThreadingMixIn` runs this concurrently. */
  async process_request(request: Socket, client_address: Address): Promise<void> {
    await this.finish_request(request, client_address);
    this.shutdown_request(request);
  }

  /** Constructs the request handler and runs it. */
  async finish_request(request: Socket, client_address: Address): Promise<void> {
    await this._runHandler(new this.RequestHandlerClass(request, client_address, this));
  }

  /** Runs a handler, tracking it so `server_close()` can reach it. @internal */
  async _runHandler(handler: BaseRequestHandler<any>): Promise<void> {
    this._handlers.add(handler);
    try {
      await handler.run();
    } finally {
      this._handlers.delete(handler);
      this._released.delete(handler);
      // A connection waiting for a free slot may start now.
      if (this._canHandle()) this._wake(true);
      this._checkIdle();
    }
  }

  /** The connection limits in force (see `admission.ts`); `TCPServer` adds its queue size. @internal */
  _connectionLimits(): ConnectionLimits {
    return this._limitsFor(0);
  }

  private limits: ConnectionLimits & { max: number; queue: number } = { handled: 0, open: 0, max: NaN, queue: NaN };

  /** `connectionLimits()`, made again only when `max_connections` or the queue size changed. @internal */
  _limitsFor(queueSize: number): ConnectionLimits {
    const limits = this.limits;
    if (limits.max !== this.max_connections || limits.queue !== queueSize) {
      this.limits = { ...connectionLimits(this.max_connections, queueSize), max: this.max_connections, queue: queueSize };
    }
    return this.limits;
  }

  /** True when a queued connection is there and a handling slot is free. @internal */
  _canHandle(): boolean {
    return this._pending.length > 0 && this._handlers.size - this._released.size < this._connectionLimits().handled;
  }

  /**
   * Stops counting `handler`'s connection against `max_connections` and the accept queue's room,
   * and lets a waiting connection take its slot. For a connection that stays open long after its
   * request and is held to a cap of its own (live reload's event streams, see
   * `server/livereload.ts`), so that such connections never keep normal requests waiting. Not
   * Python; a serial `TCPServer` still handles nothing else while the handler runs.
   */
  release_slot(handler: BaseRequestHandler<any>): void {
    if (!this._handlers.has(handler) || this._released.has(handler)) return;
    this._released.add(handler);
    if (this._canHandle()) this._wake(true);
  }

  /**
   * When `request` entered the accept queue, if it is the connection taken last (its handler is
   * being made); else now. @internal
   */
  _queuedAt(request: Socket): number {
    return this._taken.socket === request ? this._taken.at : Date.now();
  }

  /** Ends the connection after what was written has been sent. */
  shutdown_request(request: Socket): void {
    if (!request.destroyed) endAfterWrites(request);
    this.close_request(request);
  }

  /**
   * Closes the connection. Closing at once would make the kernel answer any unread request bytes
   * with a reset, which can destroy the response still in flight; so the socket keeps reading
   * (and discarding) until the peer closes: for two seconds at most once everything was sent, and
   * for a minute at most while a client that does not read holds up the end of the response.
   * A peer known to have nothing more to send (`expectsNothingMore`: its request was read whole)
   * is not waited for: the socket closes once what was written has left (within that minute).
   */
  close_request(request: Socket): void {
    if (request.destroyed) return;
    // Closing down: no lingering, the socket goes as soon as what was written has left.
    if (this._closed) return closeWhenFlushed(request);
    if (expectsNothingMore(request)) closeWhenFlushed(request);
    else request.resume();
    if (!request.destroyed) this._lingering.add(request);
  }

  /**
   * Reports an exception from handling a connection, in Python's format, on stderr.
   * JavaScript has no "current exception", so the error is passed as a third argument.
   */
  handle_error(_request: Socket, client_address: Address, error?: unknown): void {
    const dashes = "-".repeat(40);
    const detail = error instanceof Error ? (error.stack ?? String(error)) : `Error: ${String(error)}`;
    writeLogLine(
      `${dashes}\nException occurred during processing of request from ${addressRepr(client_address)}\n${detail}\n${dashes}\n`,
    );
  }

  /** Closes the listening socket and every queued connection; idle handlers close too. */
  async server_close(): Promise<void> {
    this._closed = true;
    for (const [request] of this._pending.splice(0)) request.destroy();
    for (const handler of this._handlers) handler.server_closing();
  }

  /**
   * Stops serving without cutting requests short — what SIGTERM and Ctrl-C should do: stops
   * `serve_forever()` and stops accepting (`shutdown()` + `server_close()`), closes idle keep-alive
   * connections, lets requests in flight finish for up to `grace` seconds, then closes whatever
   * is left. Resolves once every connection is closed. Like `shutdown()`, not for a serial
   * server's own handler to await.
   */
  async graceful_close(grace: number = this.shutdown_grace): Promise<void> {
    const deadline = Date.now() + Math.max(0, grace) * 1000;
    const stopped = this.shutdown();
    const closed = this.server_close();
    // Answered connections need not wait for their peers to close: the process is leaving.
    for (const socket of this._lingering.sockets()) closeWhenFlushed(socket);
    await this._idleBy(deadline);
    if (!this._isIdle()) {
      this._destroyConnections();
      // Their sockets gone, handlers end at their next read or write (a handler stuck elsewhere
      // is not waited for long).
      await this._idleBy(Date.now() + FORCED_CLOSE_WAIT_MS);
    }
    await settleWithin(Promise.allSettled([stopped, closed]), FORCED_CLOSE_WAIT_MS);
    this._sweeper.close();
  }

  /** Resolves when no connection or handler is left, or at `deadline` (ms). @internal */
  _idleBy(deadline: number): Promise<void> {
    if (this._isIdle()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this._onIdle = () => {
        this._onIdle = null;
        done();
      };
    });
  }

  /** @internal */
  _isIdle(): boolean {
    return this._connections.size === 0 && this._handlers.size === 0;
  }

  /** @internal */
  _checkIdle(): void {
    if (this._onIdle && this._isIdle()) this._onIdle();
  }

  /** Closes every connection at once: queued, handled, in a handshake, or closing. @internal */
  _destroyConnections(): void {
    for (const [request] of this._pending.splice(0)) request.destroy();
    for (const handler of this._handlers) handler.request.destroy();
    for (const socket of this._connections) socket.destroy();
  }

  /**
   * One line in the request log's format (`host - - [date] message`) about a connection that is
   * not a request: refused, failed in its TLS handshake. Python's socketserver logs none of these.
   */
  log_connection_error(client_address: Address | null, message: string): void {
    const host = client_address?.[0] || "-";
    writeLogLine(`${host} - - [${logDateNow()}] ${scrubControlCharacters(message)}\n`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.server_close();
  }

  /** Queues an accepted connection and wakes the serving loop if it may be handled now. @internal */
  _enqueue(request: Socket, client_address: Address): void {
    if (this._closed) {
      request.destroy();
      return;
    }
    this._pending.push([request, client_address, Date.now()]);
    if (this._canHandle()) this._wake(true);
  }

  /** @internal */
  _wake(gotRequest: boolean): void {
    const waiter = this._waiter;
    this._waiter = null;
    waiter?.(gotRequest);
  }

  /**
   * Resolves true when a queued connection may be handled (one is waiting and a slot is free),
   * false on timeout (`null`: none) or shutdown.
   * @internal
   */
  _waitForRequest(seconds: number | null): Promise<boolean> {
    if (this._canHandle()) return Promise.resolve(true);
    if (this._shutdownRequested) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = seconds === null ? undefined : setTimeout(() => this._wake(false), seconds * 1000);
      this._waiter = (gotRequest) => {
        clearTimeout(timer);
        resolve(gotRequest);
      };
    });
  }
}

/** A TCP server: binds `server_address` and hands each connection to `RequestHandlerClass`. */
export class TCPServer<A = Address> extends BaseServer<A> {
  /** `AF_INET` or `AF_INET6`; by default, the family of `server_address`'s host. */
  static address_family: AddressFamily | null = null;
  /** Node always sets `SO_REUSEADDR` on listening sockets; kept for compatibility. */
  allow_reuse_address = false;
  /** `SO_REUSEPORT` needs Node ≥ 22.12; on older Node it is ignored. */
  allow_reuse_port = false;
  /**
   * The listen backlog, and how many connections may wait in the server's own accept queue while
   * `max_connections` are handled (Node cannot leave them in the kernel's backlog; see
   * `admission.ts`). Past both, new connections are closed at once.
   */
  request_queue_size = 5;

  address_family: AddressFamily;
  /** The listening `net.Server` (Python's listening socket). */
  socket: Server;
  /** What to do when accept() runs out of file descriptors; made when listening starts. @internal */
  _acceptGuard: AcceptGuard | null = null;
  private listenArguments: ListenOptions | null = null;
  private relistenTimer: NodeJS.Timeout | null = null;
  private refusedSinceLog = 0;
  private lastRefusalLog = 0;

  constructor(server_address: NoInfer<A>, RequestHandlerClass: RequestHandlerClass, bind_and_activate = true) {
    super((new.target as typeof TCPServer).check_address(server_address) as A, RequestHandlerClass);
    this.address_family =
      (this.constructor as typeof TCPServer).address_family ?? familyOf((this.server_address as Address)[0]);
    // allowHalfOpen: a client that half-closes after its request (`printf … | nc`) still gets the
    // reply; Node would otherwise end our side as soon as the client's FIN is read.
    this.socket = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => this.admit(socket));
    // Accept failures are ignored, as Python's loop ignores an OSError from accept() (without a
    // listener Node would throw them and end the process); running out of descriptors backs off.
    this.socket.on("error", (error: NodeJS.ErrnoException) => this._acceptGuard?.onAcceptError(error));
    if (bind_and_activate) {
      // Deferred one microtask so that subclass fields (request_queue_size …) are set first.
      this.ready = Promise.resolve().then(() => bindAndActivate(this));
      this.ready.catch(() => {});
    }
  }

  /**
   * Checks a `server_address` given to the constructor and returns the copy the server keeps:
   * `[host, port]` here (see `checkServerAddress`), a path for a Unix socket.
   * @throws TypeError or RangeError, before anything is bound
   */
  static check_address(server_address: unknown): unknown {
    return checkServerAddress(server_address);
  }

  /** Options for `listen()` beyond host, port and backlog (dual-stack servers set `ipv6Only`). */
  protected listenOptions(): { ipv6Only?: boolean } {
    return {};
  }

  /**
   * Binds the socket and sets `server_address` to the real address (port 0 → the port the OS gave).
   * Node binds and listens in one step, so the listen backlog (`request_queue_size`) is given here.
   */
  server_bind(): Promise<void> {
    const [name, port] = this.server_address as Address;
    return resolveBindHost(name, this.address_family).then(
      (host) =>
        new Promise<void>((resolve, reject) => {
          // Closed while the host was resolved: Python binds synchronously, so it never listens.
          if (this._closed) return resolve();
          const onError = (error: Error) => reject(bindError(error, host, port));
          this.socket.once("error", onError);
          const options = {
            host,
            port,
            backlog: this.request_queue_size,
            exclusive: true,
            ...(this.allow_reuse_port ? { reusePort: true } : {}),
            ...this.listenOptions(),
          };
          this.socket.listen(options, () => {
            this.socket.off("error", onError);
            const bound = this.socket.address();
            if (bound && typeof bound === "object") this.server_address = [bound.address, bound.port] as A;
            // A pause after EMFILE listens again on the same port.
            this.listenArguments = { ...options, ...(bound && typeof bound === "object" ? { port: bound.port } : {}) };
            if (this._closed) this.socket.close(); // server_close() came during the bind
            else this._acceptGuard ??= new AcceptGuard(
              (message) => this.log_connection_error(null, message),
              (ms) => this.pauseListening(ms),
            );
            resolve();
          });
        }),
      (error) => {
        throw resolveError(error, name);
      },
    );
  }

  /** Python calls `listen()` here; Node already listens after `server_bind()`. */
  override server_activate(): void {}

  /** @internal */
  override _connectionLimits(): ConnectionLimits {
    return this._limitsFor(this.request_queue_size);
  }

  /**
   * Counts a new connection in and passes it to `accept()`; or closes it at once when the server
   * is closed, holds all the connections it may, or has just run out of file descriptors.
   */
  private admit(socket: Socket): void {
    // Errors are made harmless here, once for the connection's life (every reader of the socket
    // learns of them from its close, or its `errored`).
    socket.on("error", ignore);
    if (this._closed || this._acceptGuard?.shedding() || this._connections.size - this._released.size >= this._connectionLimits().open) {
      this.refuse(socket);
      return;
    }
    this._connections.add(socket);
    socket.on("close", this.onConnectionClose);
    this.accept(socket);
  }

  /** A connection's end, whatever its state: one listener, shared by every connection. */
  private readonly onConnectionClose = (() => {
    const server = this;
    return function (this: Socket) {
      server._connections.delete(this);
      server._lingering.delete(this);
      server._checkIdle();
    };
  })();

  /** Closes a connection the server has no room for; logged once per ten seconds at most. */
  private refuse(socket: Socket): void {
    socket.destroy();
    if (this._closed || this._acceptGuard?.shedding()) return;
    this.refusedSinceLog++;
    const now = Date.now();
    if (now - this.lastRefusalLog < REFUSAL_LOG_INTERVAL_MS) return;
    const { handled, open } = this._connectionLimits();
    const count = this.refusedSinceLog === 1 ? "1 connection" : `${this.refusedSinceLog} connections`;
    this.log_connection_error(
      [socket.remoteAddress ?? "", 0],
      `Too many connections (${handled} handled, ${open - handled} waiting): ${count} closed`,
    );
    this.lastRefusalLog = now;
    this.refusedSinceLog = 0;
  }

  /** Takes a new connection (its errors already made harmless): it waits in the accept queue. */
  protected accept(socket: Socket): void {
    this._enqueue(socket, [socket.remoteAddress ?? "", socket.remotePort ?? 0]);
  }

  /** Stops accepting for `ms` milliseconds, the last resort when accept() keeps failing. */
  private pauseListening(ms: number): void {
    if (!this.socket.listening || !this.listenArguments || this.relistenTimer) return;
    this.socket.close();
    this.relistenTimer = setTimeout(() => {
      this.relistenTimer = null;
      if (this._closed) return;
      const onError = (error: NodeJS.ErrnoException) =>
        this.log_connection_error(null, `Listening again failed (${error.code ?? error.message}): no longer accepting connections`);
      this.socket.once("error", onError);
      this.socket.listen(this.listenArguments!, () => this.socket.off("error", onError));
    }, ms);
  }

  /** Stops listening and closes the queued connections (`with` / `await using` call this). */
  override async server_close(): Promise<void> {
    await super.server_close();
    if (this.relistenTimer) clearTimeout(this.relistenTimer);
    this.relistenTimer = null;
    this._acceptGuard?.close();
    if (this.socket.listening) this.socket.close();
  }

  /** `fileno()` has no Node equivalent; the listening address is `server_address`. */
  get is_ipv6(): boolean {
    return this.address_family === AF_INET6;
  }
}

function ignore(): void {}

/** What `bindAndActivate` calls: a server that binds itself (TCP, UDP, Unix). */
interface Bindable {
  server_bind(): void | Promise<void>;
  server_activate(): void | Promise<void>;
  server_close(): Promise<void>;
}

/**
 * `server_bind()` then `server_activate()`, as Python's constructor does when `bind_and_activate`
 * is true; on failure the server is closed (its port freed) and the error rethrown for `ready`.
 */
export async function bindAndActivate(server: Bindable): Promise<void> {
  try {
    await server.server_bind();
    await server.server_activate();
  } catch (error) {
    await server.server_close();
    throw error;
  }
}

/**
 * `RequestHandlerClass` must be a class (a constructor), checked once at construction rather than
 * failing on every request.
 */
function checkHandlerClass(Handler: unknown): RequestHandlerClass {
  if (typeof Handler === "function" && isConstructor(Handler)) return Handler as RequestHandlerClass;
  throw new TypeError(`RequestHandlerClass must be a class (a constructor) such as BaseHTTPRequestHandler; got ${describeValue(Handler)}`);
}

/** Whether `new f()` is allowed, without calling `f`. */
function isConstructor(f: Function): boolean {
  try {
    Reflect.construct(String, [], f);
    return true;
  } catch {
    return false;
  }
}

/** Resolves when `promise` settles or after `ms` milliseconds, whichever comes first. */
export function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise.finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Destroys a socket once everything written to it (up to its end) has been handed to the kernel. */
function closeWhenFlushed(socket: Socket): void {
  if (!(socket.writableEnded || isEnding(socket)) || socket.writableFinished) socket.destroy();
  else socket.once("finish", destroyEmitter);
}

/** A listener that destroys the socket it is called for: one function for every socket. */
function destroyEmitter(this: Socket): void {
  this.destroy();
}

type ServerConstructor = abstract new (...args: any[]) => BaseServer<any>;

/**
 * `ThreadingMixIn`: each connection is handled as soon as it is accepted, concurrently with the
 * others. `server_close()` waits for the connections in flight when `block_on_close` is true and
 * `daemon_threads` is false, as Python joins its non-daemon threads.
 */
export function ThreadingMixIn<T extends ServerConstructor>(Base: T): T & (abstract new (...args: any[]) => ThreadingServer) {
  abstract class Threading extends Base implements ThreadingServer {
    daemon_threads = false;
    block_on_close = true;
    /** @internal */
    readonly _threads = new Set<Promise<void>>();

    override process_request(request: Socket, client_address: Address): Promise<void> {
      const thread = this.process_request_thread(request, client_address);
      if (this.block_on_close && !this.daemon_threads) {
        this._threads.add(thread);
        void thread.finally(() => this._threads.delete(thread));
      }
      return SETTLED;
    }

    /** One connection's whole life: handle, report an exception, close. */
    async process_request_thread(request: Socket, client_address: Address): Promise<void> {
      try {
        await this.finish_request(request, client_address);
      } catch (error) {
        this.handle_error(request, client_address, error);
      } finally {
        this.shutdown_request(request);
      }
    }

    override async server_close(): Promise<void> {
      await super.server_close();
      if (this.block_on_close) await Promise.allSettled([...this._threads]);
    }
  }
  return Threading;
}

/** What `ThreadingMixIn` adds to a server class (its declared type, written once). */
export interface ThreadingServer {
  /** Python's: a "thread" (here, a connection's task) that `server_close()` does not wait for. @default false */
  daemon_threads: boolean;
  /** Whether `server_close()` waits for the connections in flight. @default true */
  block_on_close: boolean;
  /** One connection's whole life: handle, report an exception, close. */
  process_request_thread(request: Socket, client_address: Address): Promise<void>;
}

/** A `TCPServer` that handles connections concurrently. */
export class ThreadingTCPServer extends ThreadingMixIn(TCPServer) {}
