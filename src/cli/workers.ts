/**
 * `--workers N`: N processes serve one port (`node:cluster`). The primary forks the workers, each
 * a whole server, and the cluster module shares one listening socket among them; the primary
 * prints the banner once all listen, opens the browser for `--open`, replaces a worker that dies,
 * and on Ctrl-C or SIGTERM stops them all and exits 0 (Python's message once, for Ctrl-C).
 *
 * Each worker re-reads the same command line. Its request log goes straight to the shared stderr,
 * one write per line; what would be said once (the banner, a startup error, Python's
 * `DeprecationWarning` for `--cgi`) goes to the primary, which says it.
 */
import cluster, { type Worker } from "node:cluster";
import { PROG, type CommandLine } from "./options.js";
import { StartupError, bannerText, bindHosts, checkDirectory, listen, serveUntilSignal } from "./serve.js";
import { chooseServer } from "./server.js";
import { browserUrl, openBrowser } from "./open.js";
import type { Address } from "../socketserver/address.js";

/** Set in a worker's environment by the primary, so that only its workers run as workers. */
const WORKER_ENV = "SIMPLEHTTP_WORKER";
/** How long a worker has to exit after SIGTERM before it is killed. */
const STOP_GRACE_MS = 5000;

/** What a worker tells the primary. */
type WorkerMessage =
  | { simplehttp: "listening"; scheme: "HTTP" | "HTTPS"; address: Address }
  | { simplehttp: "error"; message: string }
  | { simplehttp: "warning"; text: string };

/** True in a process forked by `runPrimary`. */
export function isWorkerProcess(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] === "1";
}

// ---------------------------------------------------------------------------------------------
// The worker

/**
 * A worker: serves on the shared socket until SIGINT, SIGTERM or the primary's going away; prints
 * nothing on stdout. Returns the exit status.
 */
export async function runWorker(command: CommandLine): Promise<number> {
  process.removeAllListeners("warning");
  process.on("warning", (warning) => void tell({ simplehttp: "warning", text: `${warning.name}: ${warning.message}` }));
  let choice;
  let httpd;
  try {
    choice = chooseServer(command, { shared_listen: true, print_warnings: false });
    httpd = await listen({ choice, ...command });
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    await tell({ simplehttp: "error", message: error.message });
    return 1;
  }
  try {
    await tell({ simplehttp: "listening", scheme: choice.scheme, address: httpd.server_address });
    choice.livereload?.start();
    const orphaned = new Promise<void>((resolve) => process.once("disconnect", resolve));
    await serveUntilSignal(httpd, orphaned);
  } finally {
    choice.livereload?.close();
    await httpd.server_close();
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
  chooseServer(command, { print_warnings: false }); // a TLS file that cannot be used fails here, once
  const primary = new Primary(command);
  try {
    const { scheme, address } = await primary.start();
    process.stdout.write(bannerText(scheme, address));
    if (command.open) openBrowser(browserUrl(scheme, address));
    const signal = await Promise.race([primary.signal(), primary.failed]);
    if (signal === "SIGINT") process.stdout.write("\nKeyboard interrupt received, exiting.\n");
  } finally {
    await primary.stop();
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
    const worker = cluster.fork({ [WORKER_ENV]: "1" });
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

  /** Resolves with the first SIGINT or SIGTERM. */
  signal(): Promise<"SIGINT" | "SIGTERM"> {
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

  /** Stops every worker (SIGTERM, then SIGKILL after `STOP_GRACE_MS`) and waits for them to exit. */
  async stop(): Promise<void> {
    this.stopping = true;
    // A second Ctrl-C while the workers stop must not print anything or kill the primary early.
    const ignore = () => {};
    process.on("SIGINT", ignore);
    process.on("SIGTERM", ignore);
    try {
      await Promise.all([...this.workers].map((worker) => stopWorker(worker)));
    } finally {
      process.off("SIGINT", ignore);
      process.off("SIGTERM", ignore);
    }
  }
}

function stopWorker(worker: Worker): Promise<void> {
  return new Promise((resolve) => {
    if (worker.process.exitCode !== null || worker.process.signalCode !== null) return resolve();
    const timer = setTimeout(() => worker.process.kill("SIGKILL"), STOP_GRACE_MS);
    worker.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    worker.process.kill("SIGTERM");
  });
}
