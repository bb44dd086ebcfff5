/**
 * Python's `test()`: bind, print the banner, serve until Ctrl-C (or SIGTERM). Unlike Python, a
 * server that cannot start says why in one line (`StartupError`) instead of a traceback, and
 * stopping lets the requests in flight finish (`closeGracefully`).
 */
import { statSync } from "node:fs";
import { isIPv4 } from "node:net";
import { constants as osConstants } from "node:os";
import type { Address } from "../socketserver/address.js";
import type { HTTPDualStackServer, ServerChoice } from "./server.js";
import { browserUrl, openBrowser } from "./open.js";
import { describeOSError } from "../socketserver/errors.js";
import { resumeOptimizer } from "./optimizer.js";

/** The server could not start: one line on stderr, exit status 1. */
export class StartupError extends Error {}

export interface ServeOptions {
  choice: ServerChoice;
  protocol: string;
  port: number;
  /** `null` (or `""`): every interface, on one dual-stack socket. */
  bind: string | null;
  directory: string;
  /** `--open`: open the served URL in a browser once listening. @default false */
  open?: boolean;
  /** What to print after the banner for the address bound (startup.ts); nothing by default. */
  announce?: (address: Address) => string;
  /** Warnings to print on stderr once listening (startup.ts). */
  warnings?: string;
}

/** The wildcard addresses tried in order when no `-b` is given; the second if the host has no IPv6. */
const ALL_INTERFACES = ["::", "0.0.0.0"] as const;
/** Errors from binding `::` that mean "this host has no IPv6" rather than a real failure. */
const NO_IPV6 = new Set(["EAFNOSUPPORT", "EADDRNOTAVAIL", "EPROTONOSUPPORT"]);

/** Readable words for the errors binding and resolving give (shared with the library's errors). */
const reason = describeOSError;

/** Refuses a `-d` that is not a directory (Python would start and answer 404 to everything). */
export function checkDirectory(directory: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(directory).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" || code === "ENOTDIR" ? "no such directory" : reason(error);
    throw new StartupError(`cannot serve ${directory}: ${why}`);
  }
  if (!isDirectory) throw new StartupError(`cannot serve ${directory}: not a directory`);
}

/** The hosts to try binding, in order: the first `getaddrinfo` result for `-b`, or the wildcards. */
export async function bindHosts(bind: string | null): Promise<readonly string[]> {
  if (!bind) return ALL_INTERFACES;
  // A dotted quad is its own first result; node:dns is loaded for names (and IPv6 forms) only.
  if (isIPv4(bind)) return [bind];
  try {
    return [(await process.getBuiltinModule("node:dns/promises").lookup(bind)).address];
  } catch (error) {
    throw new StartupError(`cannot resolve ${bind}: ${reason(error)}`);
  }
}

/** Binds the first host that works; falls back from `::` only when the host lacks IPv6. */
export async function openServer(choice: ServerChoice, hosts: readonly string[], port: number): Promise<HTTPDualStackServer> {
  for (const [index, host] of hosts.entries()) {
    const server = choice.createServer([host, port]);
    try {
      await server.ready;
      return server;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "";
      if (index + 1 < hosts.length && NO_IPV6.has(code)) continue;
      throw new StartupError(`cannot bind ${host} port ${port}: ${reason(error)}`);
    }
  }
  throw new StartupError("no address to bind");
}

/** `Serving HTTP on :: port 8000 (http://[::]:8000/) ...` */
export function bannerText(scheme: string, [host, port]: Address): string {
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return `Serving ${scheme} on ${host} port ${port} (${scheme.toLowerCase()}://${urlHost}:${port}/) ...\n`;
}

/** Checks the directory, sets the protocol and binds: the server, listening, not yet serving. */
export async function listen({ choice, protocol, port, bind, directory }: ServeOptions): Promise<HTTPDualStackServer> {
  checkDirectory(directory);
  choice.HandlerClass.protocol_version = protocol;
  const server = await openServer(choice, await bindHosts(bind), port);
  resumeOptimizer(); // started paused by main.ts: optimized from the first connection on
  return server;
}

/**
 * Serves until SIGINT or SIGTERM, then closes the server gracefully (`closeGracefully`) and
 * resolves with the exit status (0). SIGINT prints Python's `Keyboard interrupt received,
 * exiting.` at once, before the requests in flight finish; SIGTERM stops silently.
 */
export async function serve(options: ServeOptions): Promise<number> {
  const { choice } = options;
  const httpd = await listen(options);
  try {
    // Listening for Ctrl-C before the banner: whoever reads the banner may interrupt at once.
    const signalled = nextSignal();
    process.stdout.write(bannerText(choice.scheme, httpd.server_address) + (options.announce?.(httpd.server_address) ?? ""));
    if (options.warnings) process.stderr.write(options.warnings);
    choice.livereload?.start();
    if (options.open) openBrowser(browserUrl(choice.scheme, httpd.server_address));
    const signal = await serveUntilSignal(httpd, undefined, signalled);
    if (signal === "SIGINT") process.stdout.write("\nKeyboard interrupt received, exiting.\n");
  } finally {
    choice.livereload?.close();
    await closeGracefully(httpd);
  }
  return 0;
}

/**
 * Runs `serve_forever()` until SIGINT, SIGTERM or `stop` (a worker told to stop) and resolves with
 * what stopped it, the server still open: the caller closes it (`closeGracefully`).
 */
export async function serveUntilSignal(
  httpd: HTTPDualStackServer,
  stop: Promise<void> = new Promise(() => {}),
  signalled: Promise<"SIGINT" | "SIGTERM"> = nextSignal(),
): Promise<"SIGINT" | "SIGTERM" | null> {
  const serving = httpd.serve_forever();
  return Promise.race([signalled, serving.then(() => null), stop.then(() => null)]);
}

/**
 * `graceful_close()`: stops accepting, closes idle keep-alive connections at once, and lets the
 * requests in flight finish for up to `shutdown_grace` seconds. Meanwhile the `signals`-th SIGINT
 * or SIGTERM ends the process at once (`forceExit`): by default the first one after the signal
 * that began the shutdown — a second Ctrl-C.
 */
export async function closeGracefully(httpd: HTTPDualStackServer, signals = 1): Promise<void> {
  let seen = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++seen >= signals) forceExit(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await httpd.graceful_close();
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/**
 * Exits now with the status a shell shows for death by `signal` (130 for SIGINT, 143 for
 * SIGTERM), running the process's `exit` hooks (the log still queued is written, CGI scripts are
 * ended) that death by the signal itself would skip.
 */
export function forceExit(signal: NodeJS.Signals): never {
  process.exit(128 + (osConstants.signals[signal] ?? 0));
}

/** Resolves with the first SIGINT or SIGTERM (and stops listening for them). */
export function nextSignal(): Promise<"SIGINT" | "SIGTERM"> {
  return new Promise((resolve) => {
    const onInt = () => done("SIGINT");
    const onTerm = () => done("SIGTERM");
    const done = (signal: "SIGINT" | "SIGTERM") => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      resolve(signal);
    };
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
  });
}
