/**
 * `socketserver.UnixStreamServer` and `ThreadingUnixStreamServer`: a `TCPServer` on a Unix-domain
 * stream socket, whose `server_address` is a file system path. Behind a reverse proxy this is how
 * an HTTP server is usually reached: `new ThreadingUnixStreamServer("/run/app.sock", Handler)`
 * with a `BaseHTTPRequestHandler` subclass serves HTTP on the socket.
 *
 * As in Python, a peer's `client_address` is a string: `""` for a client that did not bind its
 * socket (the usual case). `BaseHTTPRequestHandler.address_string()` logs such a peer as `unix:`
 * (Python's raises IndexError there). Unlike Python, `server_close()` removes the socket file
 * (Node does), so the next start can bind the path again.
 */
import type { Socket } from "node:net";
import { AF_UNIX, type Address, type AddressFamily, describeValue } from "./address.js";
import { TCPServer, ThreadingMixIn } from "./servers.js";
import { bindError } from "./errors.js";

/** `AF_UNIX` paths are at most 107 bytes on Linux (`sun_path` is 108, with its NUL). */
const MAX_PATH_BYTES = 107;

export class UnixStreamServer extends TCPServer<string> {
  static override address_family: AddressFamily | null = AF_UNIX;

  /**
   * A Unix socket's address is a non-empty path (a leading NUL names a Linux abstract socket).
   * @throws TypeError for anything else, RangeError for a path longer than the system allows
   */
  static override check_address(server_address: unknown): string {
    if (typeof server_address !== "string" || server_address === "") {
      throw new TypeError(`server_address of a Unix socket server must be a path such as "/run/app.sock"; got ${describeValue(server_address)}`);
    }
    if (Buffer.byteLength(server_address) > MAX_PATH_BYTES) {
      throw new RangeError(`server_address ${JSON.stringify(server_address)} is longer than a Unix socket path may be (${MAX_PATH_BYTES} bytes)`);
    }
    return server_address;
  }

  /** Binds and listens on the path; an existing file there is `EADDRINUSE`, as in Python. */
  override server_bind(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this._closed) return resolve();
      const onError = (error: Error) => reject(bindError(error, this.server_address, null));
      this.socket.once("error", onError);
      this.socket.listen({ path: this.server_address, backlog: this.request_queue_size, exclusive: true }, () => {
        this.socket.off("error", onError);
        if (this._closed) this.socket.close(); // server_close() came during the bind
        resolve();
      });
    });
  }

  /** A Unix peer has no host and port: its `client_address` is its socket's path, `""` if unbound. */
  protected override accept(socket: Socket): void {
    socket.on("error", () => {});
    this._enqueue(socket, "" as unknown as Address);
  }
}

/** A `UnixStreamServer` that handles connections concurrently. */
export class ThreadingUnixStreamServer extends ThreadingMixIn(UnixStreamServer) {}
