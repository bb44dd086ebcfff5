/**
 * `socketserver.UDPServer`, `ThreadingUDPServer` and `DatagramRequestHandler` on `node:dgram`.
 *
 * Each datagram is one request: `request` is `[data, socket]`, the handler reads the datagram from
 * `rfile` (a `BytesIO`), writes its reply to `wfile`, and `finish()` sends what was written back
 * to `client_address` in one datagram — an empty one when nothing was written, as Python does.
 * A datagram longer than `max_packet_size` is cut to it, as `recvfrom(max_packet_size)` cuts it.
 *
 * `UnixDatagramServer` cannot be had: Node.js has no Unix-domain datagram sockets (they left core
 * in 0.5, with the Windows port; `node:dgram` is UDP only), and the native addon that restores
 * them must be compiled at install time. Constructing one throws and names the alternatives.
 */
import { createSocket, type Socket as UDPSocket } from "node:dgram";
import type { Socket } from "node:net";
import { type Address, type AddressFamily, checkServerAddress, familyOf, resolveBindHost, AF_INET6 } from "./address.js";
import { BaseServer, ThreadingMixIn, bindAndActivate, type RequestHandlerClass } from "./servers.js";
import { runHooks } from "./handlers.js";
import { bindError, resolveError } from "./errors.js";
import { BytesIO } from "../py/io.js";

/** The server's socket as a datagram handler sees it: Python's `sendto(data, address)` on `node:dgram`. */
export class DatagramSocket {
  constructor(
    /** The `node:dgram` socket underneath. */
    readonly dgram: UDPSocket,
  ) {}

  /** Sends `data` as one datagram to `[host, port]`; resolves to the number of bytes sent. */
  sendto(data: Uint8Array | string, address: Address): Promise<number> {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    return new Promise((resolve, reject) => {
      this.dgram.send(bytes, address[1], address[0], (error, sent) => (error ? reject(error) : resolve(sent)));
    });
  }

  /** `getsockname()`: the bound `[host, port]`. */
  getsockname(): Address {
    const { address, port } = this.dgram.address();
    return [address, port];
  }
}

/** What a datagram server hands its handler: the datagram's bytes and the socket to answer on. */
export type DatagramRequest = [data: Buffer, socket: DatagramSocket];

/** A datagram handler class: `new Handler([data, socket], client_address, server)`. */
export type DatagramHandlerClass<S extends UDPServer = any> = new (
  request: DatagramRequest,
  client_address: Address,
  server: S,
) => DatagramRequestHandler<any>;

/**
 * `DatagramRequestHandler`: `packet` and `socket` from the request, `rfile` over the datagram,
 * `wfile` collecting the reply that `finish()` sends.
 */
export class DatagramRequestHandler<S extends UDPServer = UDPServer> {
  request: DatagramRequest;
  client_address: Address;
  server: S;
  /** The datagram received. */
  packet!: Buffer;
  /** The server's socket: `await this.socket.sendto(data, this.client_address)`. */
  socket!: DatagramSocket;
  /** The datagram, as a file: `await this.rfile.read()`, `readline()`. */
  rfile!: BytesIO;
  /** The reply, sent as one datagram by `finish()`. */
  wfile!: BytesIO;

  constructor(request: DatagramRequest, client_address: Address, server: S) {
    this.request = request;
    this.client_address = client_address;
    this.server = server;
  }

  setup(): void | Promise<void> {
    [this.packet, this.socket] = this.request;
    this.rfile = new BytesIO(this.packet);
    this.wfile = new BytesIO();
  }

  /** Serves the datagram: override it. */
  handle(): void | Promise<void> {}

  /** Sends what was written to `wfile` back to the client (an empty datagram if nothing). */
  async finish(): Promise<void> {
    await this.socket.sendto(this.wfile.getvalue(), this.client_address);
  }

  /** `setup()`, `handle()`, then `finish()` (always). */
  run(): Promise<void> {
    return runHooks(this);
  }

  /** Nothing to close: a datagram handler holds no connection. */
  server_closing(): void {}
}

/**
 * `UDPServer`: binds `server_address` (`[host, port]`) and hands each datagram to the handler,
 * one at a time (`ThreadingUDPServer`: as they come). Datagrams that arrive while the server is
 * busy wait in a queue of at most `max_queued_datagrams`; past it they are dropped, as a full
 * socket buffer drops them.
 */
export class UDPServer extends BaseServer<Address> {
  /** `AF_INET` or `AF_INET6`; by default, the family of `server_address`'s host. */
  static address_family: AddressFamily | null = null;
  /** The longest datagram read; longer ones are cut to this length. @default 8192 */
  static max_packet_size = 8192;

  allow_reuse_address = false;
  /** `SO_REUSEPORT`; needs Node ≥ 22.12, else ignored. */
  allow_reuse_port = false;
  max_packet_size: number = (this.constructor as typeof UDPServer).max_packet_size;
  /** Datagrams kept while the handler is busy (Python's are kept by the kernel's buffer). @default 1024 */
  max_queued_datagrams = 1024;
  address_family: AddressFamily;
  /**
   * The server's socket (`socket.sendto` is what handlers answer with); made by `server_bind()`,
   * one microtask after construction, so that `allow_reuse_address` set by a subclass applies.
   */
  socket: DatagramSocket | null = null;

  constructor(server_address: Address, RequestHandlerClass: DatagramHandlerClass, bind_and_activate = true) {
    super(checkServerAddress(server_address), RequestHandlerClass as unknown as RequestHandlerClass);
    this.address_family = (this.constructor as typeof UDPServer).address_family ?? familyOf(this.server_address[0]);
    if (bind_and_activate) {
      this.ready = Promise.resolve().then(() => bindAndActivate(this));
      this.ready.catch(() => {});
    }
  }

  /** Binds the socket and sets `server_address` to the real address (port 0 → the port given). */
  async server_bind(): Promise<void> {
    const [name, port] = this.server_address;
    let host: string;
    try {
      host = await resolveBindHost(name, this.address_family);
    } catch (error) {
      throw resolveError(error, name);
    }
    if (this._closed) return;
    const dgram = createSocket({
      type: this.address_family === AF_INET6 ? "udp6" : "udp4",
      reuseAddr: this.allow_reuse_address,
      ...(this.allow_reuse_port ? { reusePort: true } : {}),
    } as Parameters<typeof createSocket>[0] & object);
    const socket = new DatagramSocket(dgram);
    this.socket = socket;
    dgram.on("message", (data, peer) => this.receive(socket, data, [peer.address, peer.port]));
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => reject(bindError(error, host, port));
      dgram.once("error", onError);
      dgram.bind({ address: host, port, exclusive: true }, () => {
        // Errors after the bind (an unreachable peer reported on a send) concern one reply.
        dgram.on("error", () => {});
        dgram.off("error", onError);
        const bound = dgram.address();
        this.server_address = [bound.address, bound.port];
        resolve();
      });
    });
  }

  /** Python's UDP server has nothing to activate (no `listen()`). */
  override server_activate(): void {}

  private receive(socket: DatagramSocket, data: Buffer, client_address: Address): void {
    if (this._closed || this._pending.length >= this.max_queued_datagrams) return;
    const packet = data.length > this.max_packet_size ? data.subarray(0, this.max_packet_size) : data;
    const request: DatagramRequest = [packet, socket];
    this._enqueue(request as unknown as Socket, client_address);
  }

  override async finish_request(request: Socket, client_address: Address): Promise<void> {
    const Handler = this.RequestHandlerClass as unknown as DatagramHandlerClass;
    const handler = new Handler(request as unknown as DatagramRequest, client_address, this);
    await this._runHandler(handler as never);
  }

  /** A datagram needs no shutting down (Python: `close_request`, which does nothing). */
  override shutdown_request(request: Socket): void {
    this.close_request(request);
  }

  override close_request(_request: Socket): void {}

  override _destroyConnections(): void {
    this._pending.splice(0);
  }

  /** Closes the socket; datagrams still queued are dropped. */
  override async server_close(): Promise<void> {
    this._pending.splice(0);
    await super.server_close();
    try {
      this.socket?.dgram.close();
    } catch {
      // already closed
    }
  }
}

/** A `UDPServer` that handles each datagram as soon as it arrives. */
export class ThreadingUDPServer extends ThreadingMixIn(UDPServer) {}

/**
 * `UnixDatagramServer` and `ThreadingUnixDatagramServer`: not available on Node.js. Constructing
 * one throws a `TypeError` that names the alternatives.
 */
export class UnixDatagramServer {
  constructor(..._args: unknown[]) {
    throw new TypeError(
      "UnixDatagramServer is not available: Node.js has no Unix-domain datagram sockets (node:dgram is UDP only). " +
        "Use UnixStreamServer (a Unix stream socket), or UDPServer on a loopback address such as [\"127.0.0.1\", port].",
    );
  }
}

export class ThreadingUnixDatagramServer extends UnixDatagramServer {}
