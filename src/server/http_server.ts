/**
 * `HTTPServer` and `ThreadingHTTPServer`: TCP servers that record their host's name and port
 * (`server_name`, `server_port`) for handlers such as CGI.
 */
import { TCPServer, ThreadingMixIn } from "../socketserver/servers.js";
import { getfqdn } from "../socketserver/address.js";

export class HTTPServer extends TCPServer {
  override allow_reuse_address = true;
  override allow_reuse_port = false;
  /**
   * The listen backlog and accept queue: Python's is 5, which a browser opening a page's
   * connections at once, or a benchmark, overflows. 1024 (Linux caps it at `somaxconn`).
   */
  override request_queue_size = 1024;
  /** The fully qualified name of the bound host (`socket.getfqdn`). */
  server_name = "";
  /** The bound port. */
  server_port = 0;

  override async server_bind(): Promise<void> {
    await super.server_bind();
    const [host, port] = this.server_address;
    this.server_name = await getfqdn(host);
    this.server_port = port;
  }
}

/** An `HTTPServer` that serves each connection concurrently; `server_close()` does not wait for them. */
export class ThreadingHTTPServer extends ThreadingMixIn(HTTPServer) {
  override daemon_threads = true;
}
