/**
 * `HTTPSServer` and `ThreadingHTTPSServer` (new in Python 3.14), on `node:tls`.
 *
 * Better than Python's: the TLS handshake runs beside the serving loop, never inside it, so a
 * client that connects and stays silent holds only its own connection (and is dropped after
 * `handshake_timeout` seconds); a failed handshake — a plain-HTTP request on the TLS port, say —
 * is logged as one line and costs nothing else. Connections enter the accept queue only once they
 * are secure, so every handler works unchanged over TLS. TLS renegotiation is refused.
 */
import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import type { SecureContext, TLSSocket } from "node:tls";
import { HTTPServer } from "./http_server.js";
import { ThreadingMixIn, type RequestHandlerClass } from "../socketserver/servers.js";
import type { Address } from "../socketserver/address.js";
import { ServerStartError } from "../socketserver/errors.js";
import type { DeadlineSweeper, Expiring } from "../socketserver/deadlines.js";

export interface HTTPSOptions {
  /** PEM file with the certificate chain (and the key, when `keyfile` is not given). */
  certfile: string;
  /** PEM file with the private key. */
  keyfile?: string | null;
  /** The key's password, or a function returning it (as Python's `load_cert_chain` accepts). */
  password?: string | Buffer | (() => string | Buffer) | null;
  /** ALPN protocols offered; default `["http/1.1"]`. */
  alpn_protocols?: string[] | null;
}

/** node:tls (with OpenSSL's state, 3 MB), loaded by the first HTTPS server rather than by every import. */
function tls(): typeof import("node:tls") {
  return process.getBuiltinModule("node:tls");
}

/** Loads a certificate chain and key as Python's `SSLContext.load_cert_chain` does (TLS ≥ 1.2). */
export function createTLSContext({ certfile, keyfile, password }: HTTPSOptions): SecureContext {
  if (!certfile) throw new TypeError("HTTPSServer needs a certfile");
  const cert = readFileSync(certfile);
  const key = keyfile ? readFileSync(keyfile) : cert;
  const secret = typeof password === "function" ? password() : password;
  return tls().createSecureContext({
    cert,
    key,
    ...(secret != null ? { passphrase: secret.toString() } : {}),
    minVersion: "TLSv1.2",
  });
}

/** Why a certificate or key could not be loaded, in words an operator can act on. */
export function describeTLSError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case "ERR_OSSL_BAD_DECRYPT":
      return "cannot decrypt the TLS key (wrong or missing password)";
    case "ERR_OSSL_X509_KEY_VALUES_MISMATCH":
      return "the TLS key does not match the certificate";
    case "ERR_OSSL_UNSUPPORTED":
      return "the TLS key file holds no private key OpenSSL can read";
    case "ERR_OSSL_PEM_NO_START_LINE":
      return "the TLS certificate file holds no PEM certificate";
    case "ENOENT":
      return `no such file: ${error.path}`;
    case "EACCES":
      return `permission denied: ${error.path}`;
    default:
      return `cannot load the TLS certificate or key: ${error.message}`;
  }
}

/** Why a handshake failed, in words an operator can act on. */
function handshakeFailure(error: NodeJS.ErrnoException): string {
  if (error.code === "ERR_SSL_HTTP_REQUEST") return "plain HTTP request on the HTTPS port";
  if (error.code === "ECONNRESET") return "connection reset by the client";
  return error.message;
}

/** What Node reports for a renegotiation attempt: refused, or past `tls.CLIENT_RENEG_LIMIT`. */
const RENEGOTIATION_ERRORS = new Set(["ERR_TLS_RENEGOTIATION_DISABLED", "ERR_TLS_SESSION_ATTACK"]);

export class HTTPSServer extends HTTPServer {
  /** Seconds a client may take to complete the TLS handshake. */
  static handshake_timeout = 10;

  certfile: string;
  keyfile: string | null;
  password: HTTPSOptions["password"];
  alpn_protocols: string[];
  handshake_timeout: number = (this.constructor as typeof HTTPSServer).handshake_timeout;
  /** The TLS context, made by `server_activate()`. */
  context: SecureContext | null = null;
  /** Connections still in their handshake (closed by `server_close()`). @internal */
  readonly _handshaking = new Set<TLSSocket>();

  constructor(
    server_address: Address,
    RequestHandlerClass: RequestHandlerClass,
    bind_and_activate = true,
    options: HTTPSOptions,
  ) {
    super(server_address, RequestHandlerClass, bind_and_activate);
    this.certfile = options?.certfile;
    this.keyfile = options.keyfile ?? null;
    this.password = options.password ?? null;
    this.alpn_protocols = options.alpn_protocols ?? ["http/1.1"];
  }

  /**
   * Loads the certificate chain and key; an error here rejects `ready` (and `serve_forever()`)
   * with the command line's one-line words (`cannot decrypt the TLS key (wrong or missing
   * password)`), the OpenSSL error as its `cause`, and closes the server.
   */
  override server_activate(): void {
    super.server_activate();
    try {
      this.context = this._create_context();
    } catch (error) {
      throw new ServerStartError(describeTLSError(error as NodeJS.ErrnoException), error);
    }
  }

  /** `load_cert_chain(certfile, keyfile, password)`: throws on a bad file, key or password. */
  _create_context(): SecureContext {
    return createTLSContext({ certfile: this.certfile, keyfile: this.keyfile, password: this.password });
  }

  /** Starts the handshake; the connection is queued for handling once it is secure. */
  protected override accept(raw: Socket): void {
    raw.on("error", () => {});
    const client_address: Address = [raw.remoteAddress ?? "", raw.remotePort ?? 0];
    if (!this.context) {
      raw.destroy();
      return;
    }
    const socket = new (tls().TLSSocket)(raw, {
      isServer: true,
      secureContext: this.context,
      ALPNProtocols: this.alpn_protocols,
    });
    const deadline = new HandshakeDeadline(socket, this.handshake_timeout * 1000, this._sweeper, () =>
      this.log_tls_error(client_address, "TLS handshake timed out"),
    );
    const onError = (error: NodeJS.ErrnoException) => {
      deadline.cancel();
      this.log_tls_error(client_address, `TLS handshake failed: ${handshakeFailure(error)}`);
      socket.destroy();
    };
    socket.once("error", onError);
    this._handshaking.add(socket);
    socket.once("close", () => {
      deadline.cancel();
      this._handshaking.delete(socket);
    });
    socket.once("secure", () => {
      deadline.cancel();
      this._handshaking.delete(socket);
      socket.off("error", onError);
      socket.on("error", () => {});
      this.refuseRenegotiation(socket, client_address);
      socket.pause();
      this._enqueue(socket, client_address);
    });
    raw.resume();
  }

  /**
   * Refuses TLS renegotiation (TLS 1.2 and older; TLS 1.3 has none): the first attempt closes the
   * connection, with one log line. A client may otherwise renegotiate without end on one
   * connection, each handshake costing the server its public-key work; Node's own `tls.Server`
   * allows 3 per 10 minutes (`tls.CLIENT_RENEG_LIMIT`), and an HTTP server needs none.
   *
   * Node reports the attempt when the new handshake starts (`disableRenegotiation()`), but only as
   * the socket's internal `_tlsError` event (its public `error` needs a `tls.Server` to have
   * released the socket); other TLS errors there end the connection too, without a line. A
   * renegotiation that completes all the same emits `secure` again: refused then.
   */
  private refuseRenegotiation(socket: TLSSocket, client_address: Address): void {
    let refused = false;
    const refuse = () => {
      if (refused) return;
      refused = true;
      this.log_tls_error(client_address, "TLS renegotiation refused: connection closed");
      socket.destroy();
    };
    socket.disableRenegotiation();
    socket.on("_tlsError", (error: NodeJS.ErrnoException) => {
      if (RENEGOTIATION_ERRORS.has(error.code ?? "")) refuse();
      else socket.destroy();
    });
    socket.on("secure", refuse);
  }

  override async server_close(): Promise<void> {
    for (const socket of this._handshaking) socket.destroy();
    await super.server_close();
  }

  /** One log line, in the handlers' format, for a connection that never became a request. */
  log_tls_error(client_address: Address, message: string): void {
    this.log_connection_error(client_address, message);
  }
}

/** `handshake_timeout` for one connection, checked by the server's sweep (no timer of its own). */
class HandshakeDeadline implements Expiring {
  private readonly deadline: number;

  constructor(
    private readonly socket: TLSSocket,
    timeoutMs: number,
    private readonly sweeper: DeadlineSweeper,
    private readonly onExpire: () => void,
  ) {
    this.deadline = Date.now() + timeoutMs;
    sweeper.watch(this, timeoutMs);
  }

  checkDeadline(now: number): void {
    if (now < this.deadline) return;
    this.cancel();
    this.onExpire();
    this.socket.destroy();
  }

  cancel(): void {
    this.sweeper.unwatch(this);
  }
}

/** An `HTTPSServer` that serves each connection concurrently. */
export class ThreadingHTTPSServer extends ThreadingMixIn(HTTPSServer) {
  override daemon_threads = true;
}
