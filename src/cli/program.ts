/**
 * `simplehttp`'s whole run: read the arguments, pick the classes, serve; returns the exit status.
 * 0: served until Ctrl-C/SIGTERM, or `--help`; 1: could not start; 2: a usage error.
 */
import { readFileSync, realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { PROG, UsageError, parseCommandLine, parser, usageErrorText } from "./options.js";
import { StartupError, serve } from "./serve.js";
import { chooseServer } from "./server.js";
import { removeLeftoverUploads, startupText, startupWarnings } from "./startup.js";
import { isWorkerProcess, runPrimary, runWorker } from "./workers.js";
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
    if (isWorkerProcess()) return await runWorker(command);
    void removeLeftoverUploads(command); // once, in the primary with --workers
    if (command.workers > 1) return await runPrimary(command);
    const choice = chooseServer(command);
    const announce = (address: Address) => startupText(command, choice.scheme, address);
    return await serve({ choice, ...command, announce, warnings: startupWarnings(command) });
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
