/**
 * `simplehttp`'s whole run: read the arguments, pick the classes, serve; returns the exit status.
 * 0: served until Ctrl-C/SIGTERM, or `--help`; 1: could not start; 2: a usage error.
 */
import { readFileSync, realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { PROG, UsageError, parseCommandLine, parser, usageErrorText } from "./options.js";
import { StartupError, serve } from "./serve.js";
import { chooseServer, loadCommandModules } from "./server.js";
import type { Address } from "../socketserver/address.js";

export async function main(argv: readonly string[]): Promise<number> {
  let command;
  try {
    command = parseCommandLine(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(usageErrorText(error.message));
    return 2;
  }
  if (command === "help") {
    process.stdout.write(parser.formatHelp());
    return 0;
  }
  if (command === "version") {
    process.stdout.write(`${PROG} ${packageVersion()}\n`);
    return 0;
  }

  try {
    if (command.workers > 1) {
      // The primary, or a worker it forked (with the same arguments): workers.ts, loaded only here.
      const { isWorkerProcess, runPrimary, runWorker } = await import("./workers.js");
      if (isWorkerProcess()) return await runWorker(command);
      void (await import("./startup.js")).removeLeftoverUploads(command); // once, in the primary
      return await runPrimary(command);
    }
    // What our flags add after the banner (URLs, features, warnings, the upload sweep): nothing
    // without them, so startup.ts is loaded only with them.
    const startup = command.additions ? await import("./startup.js") : null;
    void startup?.removeLeftoverUploads(command);
    await loadCommandModules(command);
    const choice = chooseServer(command);
    const announce = startup ? (address: Address) => startup.startupText(command, choice.scheme, address) : undefined;
    return await serve({ choice, ...command, announce, warnings: startup?.startupWarnings(command) ?? "" });
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    process.stderr.write(`${PROG}: error: ${error.message}\n`);
    return 1;
  }
}

/** The version in the package's `package.json` (beside `dist/`). */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return manifest.version;
}

/** True when the module at `moduleUrl` is the script Node was started with (through any symlink). */
export function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === moduleUrl;
  } catch {
    return false;
  }
}

/**
 * Exits with `status` once stdout and stderr have written everything. Exiting at once matters:
 * like Python's daemon threads, connections still being served must not keep the process alive.
 */
export function exitAfterFlush(status: number): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(status);
  };
  process.stdout.write("", done);
  process.stderr.write("", done);
}
