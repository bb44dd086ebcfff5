/**
 * The server the command line runs: `HTTPDualStackServer`, and the choice of handler and server
 * class for the options given (where `--cgi` and `--tls-cert` will plug in).
 */
import type { Socket } from "node:net";
import { ThreadingHTTPServer } from "../server/http_server.js";
import { SimpleHTTPRequestHandler } from "../server/simple_handler.js";
import { AF_INET6, type Address } from "../socketserver/address.js";
import type { BaseRequestHandler } from "../socketserver/handlers.js";
import type { RequestHandlerClass } from "../socketserver/servers.js";
import type { CommandLine } from "./options.js";

/** A handler class that takes the directory to serve, as `SimpleHTTPRequestHandler` does. */
export type DirectoryHandlerClass = new (
  request: Socket,
  client_address: Address,
  server: any,
  options?: { directory?: string | URL },
) => BaseRequestHandler<any>;

export interface DualStackOptions {
  /** The directory every handler serves; by default the handler's own default (the cwd). */
  directory?: string;
}

/**
 * Python's `HTTPDualStackServer`: a `ThreadingHTTPServer` whose IPv6 socket also accepts IPv4
 * (bound to `::`, it serves both stacks, IPv4 peers showing as `::ffff:127.0.0.1`), and which
 * hands `directory` to each handler it constructs.
 */
export class HTTPDualStackServer extends ThreadingHTTPServer {
  directory: string | undefined;

  constructor(
    server_address: Address,
    RequestHandlerClass: RequestHandlerClass | DirectoryHandlerClass,
    bind_and_activate = true,
    options: DualStackOptions = {},
  ) {
    super(server_address, RequestHandlerClass as RequestHandlerClass, bind_and_activate);
    this.directory = options.directory;
  }

  protected override listenOptions(): { ipv6Only?: boolean } {
    return this.address_family === AF_INET6 ? { ipv6Only: false } : {};
  }

  override async finish_request(request: Socket, client_address: Address): Promise<void> {
    const Handler = this.RequestHandlerClass as unknown as DirectoryHandlerClass;
    const options = this.directory === undefined ? {} : { directory: this.directory };
    await this._runHandler(new Handler(request, client_address, this, options));
  }
}

/** An option that is parsed but not wired to a server yet: one error line, exit status 2. */
export class UnavailableError extends Error {}

/** What `serve()` runs: the handler class, how to make the server, and the banner's scheme. */
export interface ServerChoice {
  HandlerClass: DirectoryHandlerClass & { protocol_version: string };
  scheme: "HTTP" | "HTTPS";
  /** Constructs (and starts binding) the server for one address. */
  createServer(address: Address): HTTPDualStackServer;
}

/**
 * Python's choice: `CGIHTTPRequestHandler` with `--cgi`, else `SimpleHTTPRequestHandler`; the
 * HTTPS dual-stack server with `--tls-cert`, else the HTTP one.
 */
export function chooseServer(command: CommandLine): ServerChoice {
  if (command.cgi) throw new UnavailableError("--cgi is not available yet");
  if (command.tls_cert) throw new UnavailableError("--tls-cert is not available yet");
  const HandlerClass = SimpleHTTPRequestHandler;
  return {
    HandlerClass,
    scheme: "HTTP",
    createServer: (address) => new HTTPDualStackServer(address, HandlerClass, true, { directory: command.directory }),
  };
}
