/**
 * `--workers N`: N processes serve one port (`node:cluster`). The primary forks the workers, each
 * a whole server, and the cluster module shares one listening socket among them; the primary
 * prints the banner once all listen, opens the browser for `--open`, replaces a worker that dies,
 * and on Ctrl-C or SIGTERM stops them all and exits 0 (Python's message once, for Ctrl-C).
 *
 * Stopping is graceful: the primary tells each worker to stop (a message, not a signal), and each
 * closes as the single process does (`closeGracefully`), its requests in flight given up to
 * `--shutdown-grace` seconds. A Ctrl-C in a terminal reaches the workers too (they share the
 * primary's process group), so a worker counts the primary's message and one signal as the same
 * request to stop; a second Ctrl-C ends every process at once.
 *
 * The workers accept connections themselves (`SCHED_NONE`: the kernel hands each new connection
 * to whichever worker accepts first), not through the primary, which by default on Linux accepts
 * every connection and passes it on: that hand-off cost more than serving the request, so on
 * 2 CPUs `--workers 2` answered 6.7k new connections a second, one process 11k, and the kernel's
 * distribution 15.7k, the two workers evenly loaded. `NODE_CLUSTER_SCHED_POLICY` still decides
 * when set.
 *
 * Each worker re-reads the same command line. Its request log goes straight to the shared stderr,
 * in writes of whole lines of at most `PIPE_BUF` bytes (log_writer.ts); what would be said once (the banner, a startup error, Python's
 * `DeprecationWarning` for `--cgi`) goes to the primary, which says it.
 */
import type { Worker } from "node:cluster";
import { limitLogWrites } from "../socketserver/log_writer.js";
import { PROG, type CommandLine } from "./options.js";
import {
  StartupError,
  bannerText,
  bindHosts,
  checkDirectory,
  closeGracefully,
  forceExit,
  listen,
  nextSignal,
  serveUntilSignal,
} from "./serve.js";
import { HTTPDualStackServer, chooseServer, loadCommandModules } from "./server.js";
import { browserUrl, openBrowser } from "./open.js";
import { startupText, startupWarnings } from "./startup.js";
import type { Address } from "../socketserver/address.js";
import { settleWithin } from "../socketserver/servers.js";
import { resumeOptimizer } from "./optimizer.js";

/** Set in a worker's environment by the primary, so that only its workers run as workers. */
const WORKER_ENV = "SIMPLEHTTP_WORKER";
/** How long a worker has, beyond its `shutdown_grace`, to exit once told to stop before it is killed. */
const STOP_SLACK_MS = 5000;
/** After a second Ctrl-C kills the workers, how long the primary waits to see them gone. */
const KILL_WAIT_MS = 2000;

/** What a worker tells the primary. */
type WorkerMessage =
  | { simplehttp: "listening"; scheme: "HTTP" | "HTTPS"; address: Address }
  | { simplehttp: "error"; message: string }
  | { simplehttp: "warning"; text: string };

/** What the primary tells a worker: stop, gracefully. */
type PrimaryMessage = { simplehttp: "stop" };

/** The most bytes a write to a pipe is sure to make at once (POSIX's minimum, Linux's value). */
const PIPE_BUF = 4096;

/** node:cluster, loaded only with `--workers` (a single process never needs its 1.6 MB). */
function cluster(): typeof import("node:cluster").default {
  return process.getBuiltinModule("node:cluster") as unknown as typeof import("node:cluster").default;
}

/** True in a process forked by `runPrimary`. */
export function isWorkerProcess(): boolean {
  return process.env[WORKER_ENV] === "1" && cluster().isWorker;
}

// ---------------------------------------------------------------------------------------------
// The worker

/**
 * A worker: serves on the shared socket until SIGINT, SIGTERM or the primary's going away; prints
 * nothing on stdout. Returns the exit status.
 */
export async function runWorker(command: CommandLine): Promise<number> {
  limitLogWrites(PIPE_BUF); // the workers share stderr: no write may cut another's lines
  process.removeAllListeners("warning");
  process.on("warning", (warning) => void tell({ simplehttp: "warning", text: `${warning.name}: ${warning.message}` }));
  let choice;
  let httpd;
  try {
    await loadCommandModules(command);
    choice = chooseServer(command, { shared_listen: true, print_warnings: false });
    httpd = await listen({ choice, ...command });
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    await tell({ simplehttp: "error", message: error.message });
    return 1;
  }
  // Told to stop by the primary, or orphaned by its going away. Listening for it before saying
  // "listening" means the primary's message cannot come too early (it stops a worker that has
  // not said so yet with a signal).
  const stop = new Promise<void>((resolve) => {
    process.once("disconnect", resolve);
    process.on("message", (message: PrimaryMessage) => {
      if (message?.simplehttp === "stop") resolve();
    });
  });
  let signal: "SIGINT" | "SIGTERM" | null = null;
  try {
    const signalled = nextSignal(); // before the primary prints the banner
    await tell({ simplehttp: "listening", scheme: choice.scheme, address: httpd.server_address });
    choice.livereload?.start();
    signal = await serveUntilSignal(httpd, stop, signalled);
  } finally {
    choice.livereload?.close();
    // Stopped by a signal: the next one forces the exit. Stopped by the primary: the terminal's
    // Ctrl-C that made the primary say so may still be on its way here; the one after forces it.
    await closeGracefully(httpd, signal === null ? 2 : 1);
  }
  return 0;
}

/** Sends a message to the primary; resolves once it is sent (or cannot be). */
function tell(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

// ---------------------------------------------------------------------------------------------
// The primary

/**
 * The primary: checks what it can before forking (the directory, the address, the TLS files),
 * forks `command.workers` workers, prints the banner once all listen, and serves until a signal.
 * Returns the exit status; throws `StartupError` when the server cannot start.
 */
export async function runPrimary(command: CommandLine): Promise<number> {
  checkDirectory(command.directory);
  await bindHosts(command.bind);
  await loadCommandModules(command);
  chooseServer(command, { print_warnings: false }); // a TLS file that cannot be used fails here, once
  if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster().schedulingPolicy = cluster().SCHED_NONE;
  const primary = new Primary(command);
  try {
    const { scheme, address } = await primary.start();
    resumeOptimizer(); // the workers listen: the primary relays their logs from now on
    const signalled = nextSignal(); // before the banner: whoever reads it may interrupt at once
    process.stdout.write(bannerText(scheme, address) + startupText(command, scheme, address));
    process.stderr.write(startupWarnings(command));
    if (command.open) openBrowser(browserUrl(scheme, address));
    const signal = await Promise.race([signalled, primary.failed]);
    if (signal === "SIGINT") process.stdout.write("\nKeyboard interrupt received, exiting.\n");
  } finally {
    await primary.stop(command.shutdown_grace ?? HTTPDualStackServer.shutdown_grace);
  }
  return 0;
}

class Primary {
  private readonly workers = new Set<Worker>();
  /** Workers that have said they listen. */
  private readonly listening = new Set<Worker>();
  private readonly warned = new Set<string>();
  private stopping = false;
  private started = false;
  private fail: (error: Error) => void = () => {};
  /** Rejects when serving cannot go on (a replacement worker could not start either). */
  readonly failed: Promise<never>;

  constructor(private readonly command: CommandLine) {
    this.failed = new Promise((_, reject) => (this.fail = reject));
    this.failed.catch(() => {});
  }

  /** Forks the workers; resolves with the address once every one listens. */
  start(): Promise<{ scheme: "HTTP" | "HTTPS"; address: Address }> {
    return new Promise((resolve, reject) => {
      let first: { scheme: "HTTP" | "HTTPS"; address: Address } | null = null;
      const onListening = (scheme: "HTTP" | "HTTPS", address: Address) => {
        first ??= { scheme, address };
        if (this.listening.size === this.command.workers) {
          this.started = true;
          resolve(first);
        }
      };
      const onStartFailure = (message: string) => {
        if (!this.started) reject(new StartupError(message));
      };
      for (let i = 0; i < this.command.workers; i++) this.fork(onListening, onStartFailure);
    });
  }

  private fork(onListening: (scheme: "HTTP" | "HTTPS", address: Address) => void, onStartFailure: (message: string) => void): void {
    const worker = cluster().fork({ [WORKER_ENV]: "1" });
    this.workers.add(worker);
    worker.on("message", (message: WorkerMessage) => {
      if (message?.simplehttp === "listening") {
        this.listening.add(worker);
        onListening(message.scheme, message.address);
      } else if (message?.simplehttp === "error") {
        onStartFailure(message.message);
      } else if (message?.simplehttp === "warning" && !this.warned.has(message.text)) {
        this.warned.add(message.text);
        process.stderr.write(`${message.text}\n`);
      }
    });
    worker.on("exit", (code, signal) => {
      this.workers.delete(worker);
      const wasListening = this.listening.delete(worker);
      if (this.stopping) return;
      const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
      if (!this.started) return onStartFailure(`a worker ${how} before it could serve`);
      if (!wasListening) {
        this.fail(new StartupError(`a new worker ${how} before it could serve`));
        return;
      }
      process.stderr.write(`${PROG}: worker ${worker.process.pid} ${how}; starting another\n`);
      this.fork(
        () => {},
        (message) => this.fail(new StartupError(message)),
      );
    });
  }

  /**
   * Tells every worker to stop and waits for them to exit: each has its `grace` seconds for the
   * requests in flight, then `STOP_SLACK_MS` more before it is killed. A second SIGINT or SIGTERM
   * meanwhile kills them all and exits at once (`forceExit`).
   */
  async stop(grace: number): Promise<void> {
    this.stopping = true;
    const workers = [...this.workers];
    const limitMs = grace * 1000 + STOP_SLACK_MS;
    const exited = Promise.all(workers.map((worker) => stopWorker(worker, this.listening.has(worker), limitMs)));
    const onSignal = (signal: NodeJS.Signals) => {
      for (const worker of workers) worker.process.kill("SIGKILL");
      // Wait (briefly) to see them gone, so that none outlives the primary.
      void settleWithin(exited, KILL_WAIT_MS).then(() => forceExit(signal));
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      await exited;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  }
}

/**
 * Tells `worker` to stop — by a message once it has said it listens (it then hears it), else by
 * SIGTERM (it is still starting: nothing is in flight) — and kills it after `limitMs`; resolves
 * once it has exited.
 */
function stopWorker(worker: Worker, listening: boolean, limitMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (worker.process.exitCode !== null || worker.process.signalCode !== null) return resolve();
    const timer = setTimeout(() => worker.process.kill("SIGKILL"), limitMs);
    worker.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    const stop: PrimaryMessage = { simplehttp: "stop" };
    const terminate = () => worker.process.kill("SIGTERM");
    if (!listening || !worker.isConnected()) return terminate();
    try {
      worker.send(stop, undefined, (error) => error && terminate());
    } catch {
      terminate();
    }
  });
}
