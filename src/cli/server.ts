/**
 * The servers the command line runs — Python's `HTTPDualStackServer` and `HTTPSDualStackServer` —
 * and the choice of handler and server class for the options given.
 */
import type { Socket } from "node:net";
import { ThreadingHTTPServer } from "../server/http_server.js";
import { ThreadingHTTPSServer, createTLSContext, describeTLSError, type HTTPSOptions } from "../server/https_server.js";
import { SimpleHTTPRequestHandler } from "../server/simple_handler.js";
import { CGIHTTPRequestHandler } from "../server/cgi_handler.js";
import { AF_INET6, type Address } from "../socketserver/address.js";
import type { BaseRequestHandler } from "../socketserver/handlers.js";
import type { TCPServer } from "../socketserver/servers.js";
import type { CommandLine } from "./options.js";
import { StartupError } from "./serve.js";

/** A handler class that takes the directory to serve, as `SimpleHTTPRequestHandler` does. */
export type DirectoryHandlerClass = new (
  request: Socket,
  client_address: Address,
  server: any,
  options?: { directory?: string | URL },
) => BaseRequestHandler<any>;

type ServerConstructor = abstract new (...args: any[]) => TCPServer;
/** What the mixin adds, spelled out so declarations need not expose TCPServer's internals. */
type WithDirectory = abstract new (...args: any[]) => { directory: string | undefined };

/**
 * Python's `DualStackServerMixin`: an IPv6 socket that also accepts IPv4 (bound to `::`, it serves
 * both stacks, IPv4 peers showing as `::ffff:127.0.0.1`), and a `directory` handed to each handler.
 */
export function DualStackServerMixin<T extends ServerConstructor>(Base: T): T & WithDirectory {
  abstract class DualStackServer extends Base {
    /** The directory every handler serves; `undefined`: the handler's own default (the cwd). */
    directory: string | undefined = undefined;

    protected override listenOptions(): { ipv6Only?: boolean } {
      return this.address_family === AF_INET6 ? { ipv6Only: false } : {};
    }

    override async finish_request(request: Socket, client_address: Address): Promise<void> {
      const Handler = this.RequestHandlerClass as unknown as DirectoryHandlerClass;
      const options = this.directory === undefined ? {} : { directory: this.directory };
      await this._runHandler(new Handler(request, client_address, this, options));
    }
  }
  return DualStackServer;
}

export class HTTPDualStackServer extends DualStackServerMixin(ThreadingHTTPServer) {}
export class HTTPSDualStackServer extends DualStackServerMixin(ThreadingHTTPSServer) {}

export type DualStackServer = HTTPDualStackServer | HTTPSDualStackServer;

/** What `serve()` runs: the handler class, how to make the server, and the banner's scheme. */
export interface ServerChoice {
  HandlerClass: DirectoryHandlerClass & { protocol_version: string };
  scheme: "HTTP" | "HTTPS";
  /** Constructs (and starts binding) the server for one address. */
  createServer(address: Address): DualStackServer;
}

/**
 * Python's choice: `CGIHTTPRequestHandler` with `--cgi`, else `SimpleHTTPRequestHandler`; the
 * HTTPS dual-stack server with `--tls-cert`, else the HTTP one. A certificate, key or password
 * that cannot be used is a `StartupError` (one line, exit status 1) before anything is bound.
 */
export function chooseServer(command: CommandLine): ServerChoice {
  const HandlerClass = command.cgi ? CGIHTTPRequestHandler : SimpleHTTPRequestHandler;
  if (command.cgi) printWarningsAsPython();
  const withDirectory = <S extends DualStackServer>(server: S): S => {
    server.directory = command.directory;
    return server;
  };
  if (!command.tls_cert) {
    return {
      HandlerClass,
      scheme: "HTTP",
      createServer: (address) => withDirectory(new HTTPDualStackServer(address, HandlerClass)),
    };
  }
  const tls: HTTPSOptions = { certfile: command.tls_cert, keyfile: command.tls_key, password: command.tls_password };
  try {
    createTLSContext(tls);
  } catch (error) {
    throw new StartupError(describeTLSError(error as NodeJS.ErrnoException));
  }
  return {
    HandlerClass,
    scheme: "HTTPS",
    createServer: (address) => withDirectory(new HTTPSDualStackServer(address, HandlerClass, true, tls)),
  };
}

/**
 * Python prints a warning as `<file>:<line>: DeprecationWarning: <text>`; Node adds its pid and a
 * hint. The command line prints the category and text alone, once, as Python's CLI shows them.
 */
function printWarningsAsPython(): void {
  process.removeAllListeners("warning");
  process.on("warning", (warning) => process.stderr.write(`${warning.name}: ${warning.message}\n`));
}
