/**
 * The servers the command line runs — Python's `HTTPDualStackServer` and `HTTPSDualStackServer` —
 * and the choice of handler and server class for the options given.
 */
import type { Socket } from "node:net";
import { ThreadingHTTPServer } from "../server/http_server.js";
import type { ThreadingHTTPSServer, HTTPSOptions } from "../server/https_server.js";
import { SimpleHTTPRequestHandler } from "../server/simple_handler.js";
import { loadFeature, loadFeaturesFor, loaded, type FeatureModules } from "../server/feature_modules.js";
import { AF_INET6, type Address } from "../socketserver/address.js";
import type { BaseRequestHandler } from "../socketserver/handlers.js";
import type { TCPServer } from "../socketserver/servers.js";
import type { LiveReloadHub } from "../features/livereload.js";
import type { CommandLine } from "./options.js";
import { StartupError } from "./serve.js";

/**
 * What only some flags use — `--tls-cert`, `--cgi`, `--watch` — imported by `loadCommandModules`
 * before the server is chosen, so that a plain `simplehttp` never loads them (docs/ARCHITECTURE.md,
 * Performance: idle memory). The handler's feature modules the command line uses too (`--upload`'s
 * atomic_write, `--qr`'s banner) come from server/feature_modules.ts, loaded once for both.
 */
const LOADERS = {
  https: () => import("../server/https_server.js"),
  cgi: () => import("../server/cgi_handler.js"),
  livereload: () => import("../features/livereload.js"),
};
type OwnModules = { [K in keyof typeof LOADERS]: Awaited<ReturnType<(typeof LOADERS)[K]>> };
type CommandModules = OwnModules & Pick<FeatureModules, "atomic_write" | "qr">;
const modules: Partial<OwnModules> = {};

/** Which of `LOADERS` a command line needs. */
function modulesFor(command: CommandLine): (keyof OwnModules)[] {
  const names: (keyof OwnModules)[] = [];
  if (command.tls_cert) names.push("https");
  if (command.cgi) names.push("cgi");
  if (command.watch) names.push("livereload");
  return names;
}

/** A module `loadCommandModules` loaded; a program that skipped it is told so. */
export function loadedModule<K extends keyof CommandModules>(name: K): CommandModules[K] {
  const module = (modules as Partial<CommandModules>)[name] ?? (loaded as Partial<CommandModules>)[name];
  if (module === undefined) throw new Error(`${name} is not loaded: await loadCommandModules(command) first`);
  return module;
}

/**
 * Loads what `command`'s flags need beyond a plain server — the HTTPS server, the CGI handler,
 * live reload, and the handler's feature modules (uploads, WebDAV, the rich listing …) — before
 * `chooseServer` and `handlerClassFor`, which then build the server synchronously.
 */
export async function loadCommandModules(command: CommandLine): Promise<void> {
  await Promise.all([
    ...modulesFor(command).map(async (name) => {
      (modules as Record<string, unknown>)[name] ??= await LOADERS[name]();
    }),
    ...(command.qr ? [loadFeature("qr")] : []),
  ]);
  // --upload's atomic_write is among these (the handler needs it too).
  await loadFeaturesFor(handlerClassFor(command));
}

/** A handler class that takes the directory to serve, as `SimpleHTTPRequestHandler` does. */
export type DirectoryHandlerClass = new (
  request: Socket,
  client_address: Address,
  server: any,
  options?: { directory?: string | URL },
) => BaseRequestHandler<any>;

type ServerConstructor = abstract new (...args: any[]) => TCPServer;
/** What the mixin adds, spelled out so declarations need not expose TCPServer's internals. */
type WithDirectory = abstract new (...args: any[]) => { directory: string | undefined; shared_listen: boolean };

/**
 * Python's `DualStackServerMixin`: an IPv6 socket that also accepts IPv4 (bound to `::`, it serves
 * both stacks, IPv4 peers showing as `::ffff:127.0.0.1`), and a `directory` handed to each handler.
 */
export function DualStackServerMixin<T extends ServerConstructor>(Base: T): T & WithDirectory {
  abstract class DualStackServer extends Base {
    /** The directory every handler serves; `undefined`: the handler's own default (the cwd). */
    directory: string | undefined = undefined;
    /**
     * In a `--workers` process: listen through the cluster's primary, which shares one socket
     * among the workers (`exclusive: false`), instead of binding a socket of this process's own.
     */
    shared_listen = false;

    protected override listenOptions(): { ipv6Only?: boolean; exclusive?: boolean } {
      return {
        ...(this.address_family === AF_INET6 ? { ipv6Only: false } : {}),
        ...(this.shared_listen ? { exclusive: false } : {}),
      };
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

/** `HTTPDualStackServer` over TLS: a class made once `--tls-cert` has loaded the HTTPS server. */
type HTTPSDualStackServer = ThreadingHTTPSServer & InstanceType<WithDirectory>;
type HTTPSDualStackServerClass = new (address: Address, Handler: DirectoryHandlerClass, bind: boolean, tls: HTTPSOptions) => HTTPSDualStackServer;
let HTTPSDualStack: HTTPSDualStackServerClass | null = null;

function httpsDualStackServer(): HTTPSDualStackServerClass {
  return (HTTPSDualStack ??= class HTTPSDualStackServer extends DualStackServerMixin(loadedModule("https").ThreadingHTTPSServer) {} as unknown as HTTPSDualStackServerClass);
}

export type DualStackServer = HTTPDualStackServer | HTTPSDualStackServer;

/** What `serve()` runs: the handler class, how to make the server, and the banner's scheme. */
export interface ServerChoice {
  HandlerClass: DirectoryHandlerClass & { protocol_version: string };
  scheme: "HTTP" | "HTTPS";
  /** Constructs (and starts binding) the server for one address. */
  createServer(address: Address): DualStackServer;
  /** `--watch`: the watcher and event streams the handler class uses (started by `serve()`). */
  livereload: LiveReloadHub | null;
}

/** The options of `chooseServer` that depend on how the process runs, not on the command line. */
export interface ChooseOptions {
  /** A `--workers` process: listen on the socket the cluster's primary shares. */
  shared_listen?: boolean;
  /** Print Python's `DeprecationWarning` line for `--cgi` (a worker sends it to the primary instead). @default true */
  print_warnings?: boolean;
}

/**
 * Python's choice: `CGIHTTPRequestHandler` with `--cgi`, else `SimpleHTTPRequestHandler`; the
 * HTTPS dual-stack server with `--tls-cert`, else the HTTP one. A certificate, key or password
 * that cannot be used is a `StartupError` (one line, exit status 1) before anything is bound.
 *
 * The handler class is a fresh subclass carrying the command line's settings as class attributes,
 * so the library's own classes are never changed (see `handlerClassFor`).
 */
export function chooseServer(command: CommandLine, options: ChooseOptions = {}): ServerChoice {
  // An upload's temporary file changes nothing a page shows; its rename into place does.
  const livereload = command.watch
    ? new (loadedModule("livereload").LiveReloadHub)(command.directory, command.upload ? { ignore: loadedModule("atomic_write").isUploadTemp } : {})
    : null;
  const HandlerClass = handlerClassFor(command, livereload);
  if (command.cgi && options.print_warnings !== false) printWarningsAsPython();
  const withDirectory = <S extends DualStackServer>(server: S): S => {
    server.directory = command.directory;
    server.shared_listen = options.shared_listen ?? false;
    // Read when connections come and at shutdown, so setting them on the new server is enough.
    if (command.max_connections !== undefined) server.max_connections = command.max_connections;
    if (command.shutdown_grace !== undefined) server.shutdown_grace = command.shutdown_grace;
    // The budget is the whole run's: the --workers processes share it.
    const headerMemory = command.max_header_memory ?? server.max_header_memory;
    if (options.shared_listen && command.workers > 1) server.max_header_memory = Math.floor(headerMemory / command.workers);
    else if (command.max_header_memory !== undefined) server.max_header_memory = headerMemory;
    return server;
  };
  if (!command.tls_cert) {
    return {
      HandlerClass,
      scheme: "HTTP",
      createServer: (address) => withDirectory(new HTTPDualStackServer(address, HandlerClass)),
      livereload,
    };
  }
  const tls: HTTPSOptions = { certfile: command.tls_cert, keyfile: command.tls_key, password: command.tls_password };
  const { createTLSContext, describeTLSError } = loadedModule("https");
  try {
    createTLSContext(tls);
  } catch (error) {
    throw new StartupError(describeTLSError(error as NodeJS.ErrnoException));
  }
  const HTTPSDualStackServer = httpsDualStackServer();
  return {
    HandlerClass,
    scheme: "HTTPS",
    createServer: (address) => withDirectory(new HTTPSDualStackServer(address, HandlerClass, true, tls)),
    livereload,
  };
}

type CommandLineHandler = typeof SimpleHTTPRequestHandler & DirectoryHandlerClass;

/**
 * A new subclass of `CGIHTTPRequestHandler` (`--cgi`) or `SimpleHTTPRequestHandler`, with the
 * options of the command line set as its class attributes (`etag`, `cors`, `extra_headers`,
 * `cache_control`, `compress`, `precompressed`, `spa`, `listing`, `charset`, `dotfiles`, `upload`,
 * `upload_overwrite`, `upload_mkdir`, `auth`, `auth_scope`, `allow_delete`, `allow_mkdir`,
 * `allow_move`, `webdav`, and when given `upload_max`,
 * `header_timeout`, `keepalive_timeout`, `write_timeout`, `body_timeout`, `max_header_size`,
 * `follow_symlinks`; `serve()` sets `protocol_version`), with no request log for `--quiet`, and
 * live reload for `--watch`. A class per run: programs that
 * import the library and run the command line keep their classes as they were.
 */
export function handlerClassFor(command: CommandLine, livereload: LiveReloadHub | null = null): CommandLineHandler {
  type Configurable = typeof SimpleHTTPRequestHandler;
  const Base = (command.cgi ? loadedModule("cgi").CGIHTTPRequestHandler : SimpleHTTPRequestHandler) as unknown as Configurable;
  let Handler = class extends Base {} as unknown as Configurable;
  if (command.quiet) {
    Handler = class extends Handler {
      /** `--quiet`: nothing is logged per request, neither the request lines nor their errors. */
      override log_message(): void {}
    } as unknown as Configurable;
  }
  if (livereload) Handler = loadedModule("livereload").withLiveReload(Handler, livereload);
  Object.defineProperty(Handler, "name", { value: Base.name });
  Handler.etag = command.etag;
  Handler.cors = command.cors;
  Handler.extra_headers = command.headers;
  Handler.cache_control = command.cache_control;
  Handler.compress = command.compress;
  Handler.precompressed = command.precompressed;
  Handler.spa = command.spa;
  Handler.listing = command.listing;
  Handler.charset = command.charset;
  Handler.dotfiles = command.dotfiles;
  Handler.upload = command.upload;
  Handler.upload_overwrite = command.upload_overwrite;
  Handler.upload_mkdir = command.upload_mkdir;
  if (command.upload_max !== undefined) Handler.upload_max = command.upload_max;
  Handler.auth = command.auth;
  Handler.auth_scope = command.auth_scope;
  Handler.allow_delete = command.allow_delete;
  Handler.allow_mkdir = command.allow_mkdir;
  Handler.allow_move = command.allow_move;
  Handler.webdav = command.webdav !== null;
  // The reliability flags, when given; otherwise the library's defaults stay.
  if (command.header_timeout !== undefined) Handler.header_timeout = command.header_timeout;
  if (command.keepalive_timeout !== undefined) Handler.keepalive_timeout = command.keepalive_timeout;
  if (command.write_timeout !== undefined) Handler.write_timeout = command.write_timeout;
  if (command.body_timeout !== undefined) Handler.body_timeout = command.body_timeout;
  if (command.max_header_size !== undefined) Handler.max_header_size = command.max_header_size;
  if (command.follow_symlinks !== undefined) Handler.follow_symlinks = command.follow_symlinks;
  // Sharing a folder, when given.
  if (command.archive) Handler.archive = true;
  if (command.qr) Handler.qr = true;
  if (command.search) Handler.search = true;
  if (command.search_max_entries !== undefined) Handler.search_max_entries = command.search_max_entries;
  if (command.search_timeout !== undefined) Handler.search_timeout = command.search_timeout;
  if (command.readme) Handler.readme = true;
  return Handler as unknown as CommandLineHandler;
}

/**
 * Python prints a warning as `<file>:<line>: DeprecationWarning: <text>`; Node adds its pid and a
 * hint. The command line prints the category and text alone, once, as Python's CLI shows them.
 */
function printWarningsAsPython(): void {
  process.removeAllListeners("warning");
  process.on("warning", (warning) => process.stderr.write(`${warning.name}: ${warning.message}\n`));
}
