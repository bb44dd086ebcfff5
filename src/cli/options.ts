/** The `simplehttp` command line's arguments: the table, the help text, and the checks after parsing. */
import { readFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { ArgumentError, ArgumentParser, type OptionSpec } from "./argparse.js";
import { pyRepr } from "../py/format.js";
import { strip } from "../py/text.js";

export const PROG = "simplehttp";
export const DEFAULT_PORT = 8000;
export const DEFAULT_PROTOCOL = "HTTP/1.0";

/** What the command line asked for. */
export interface CommandLine {
  cgi: boolean;
  /** The address to bind; `null` means every interface (one dual-stack socket). */
  bind: string | null;
  directory: string;
  protocol: string;
  port: number;
  tls_cert: string | null;
  tls_key: string | null;
  tls_password_file: string | null;
  /** The password read from `--tls-password-file` (stripped), or null. */
  tls_password: string | null;
}

/** A usage error: printed after the usage, exit status 2. */
export class UsageError extends Error {}

const OPTIONS: readonly OptionSpec[] = [
  { flags: ["-h", "--help"], dest: "help", kind: "help", help: "show this help message and exit" },
  { flags: ["--cgi"], dest: "cgi", kind: "switch", help: "run as CGI server" },
  {
    flags: ["-b", "--bind"],
    dest: "bind",
    kind: "value",
    metavar: "ADDRESS",
    help: "bind to this address (default: all interfaces)",
  },
  {
    flags: ["-d", "--directory"],
    dest: "directory",
    kind: "value",
    help: "serve this directory (default: current directory)",
  },
  {
    flags: ["-p", "--protocol"],
    dest: "protocol",
    kind: "value",
    metavar: "VERSION",
    help: `conform to this HTTP version (default: ${DEFAULT_PROTOCOL})`,
  },
  {
    flags: ["--tls-cert"],
    dest: "tls_cert",
    kind: "value",
    metavar: "PATH",
    help: "path to the TLS certificate chain file",
  },
  { flags: ["--tls-key"], dest: "tls_key", kind: "value", metavar: "PATH", help: "path to the TLS key file" },
  {
    flags: ["--tls-password-file"],
    dest: "tls_password_file",
    kind: "value",
    metavar: "PATH",
    help: "path to the password file for the TLS key",
  },
];

/** Python's `int()` of a string: optional sign, digits with single `_` between, blanks around. */
const PY_INT = /^\s*([+-]?\d+(?:_\d+)*)\s*$/;

/**
 * The port argument: what Python's `int()` accepts, else a `TypeError` (argparse's
 * `invalid int value`). Python would hand any integer to getaddrinfo, which wraps 70000 to 4464;
 * we refuse a number outside 0–65535 instead.
 */
export function portNumber(text: string): number {
  const match = PY_INT.exec(text);
  if (!match) throw new TypeError("int");
  const value = BigInt(match[1]!.replaceAll("_", ""));
  if (value < 0n || value > 65535n) throw new RangeError(`${value} is not a port number (0 to 65535)`);
  return Number(value);
}

export const parser = new ArgumentParser(PROG, OPTIONS, [
  { dest: "port", help: `bind to this port (default: ${DEFAULT_PORT})`, convert: portNumber },
]);

/** `usage: …` then `simplehttp: error: <message>`, as argparse's `parser.error()` prints them. */
export function usageErrorText(message: string): string {
  return `${parser.formatUsage()}\n${PROG}: error: ${message}\n`;
}

/**
 * Reads the arguments (`argv` without `node` and the script). Returns `"help"` for `-h`;
 * throws `UsageError` with argparse's message for anything it would refuse.
 */
export function parseCommandLine(argv: readonly string[], cwd = process.cwd()): CommandLine | "help" {
  let result;
  try {
    result = parser.parse(argv);
  } catch (error) {
    if (error instanceof ArgumentError) throw new UsageError(error.message);
    throw error;
  }
  if (result.help) return "help";
  const { values, positionals } = result;
  const text = (name: string) => (values[name] as string | undefined) ?? null;
  const options: CommandLine = {
    cgi: values["cgi"] === true,
    bind: text("bind"),
    directory: text("directory") ?? cwd,
    protocol: text("protocol") ?? DEFAULT_PROTOCOL,
    port: (positionals["port"] as number | undefined) ?? DEFAULT_PORT,
    tls_cert: text("tls_cert"),
    tls_key: text("tls_key"),
    tls_password_file: text("tls_password_file"),
    tls_password: null,
  };
  validate(options);
  if (options.tls_password_file) options.tls_password = readPassword(options.tls_password_file);
  return options;
}

/** Python's `open(path, encoding="utf-8").read().strip()`, with its OSError text on failure. */
function readPassword(path: string): string {
  try {
    return strip(readFileSync(path, "utf8"));
  } catch (error) {
    throw new UsageError(`Failed to read TLS password file: ${osErrorText(error as NodeJS.ErrnoException, path)}`);
  }
}

/** Python's `str(OSError)`: `[Errno 2] No such file or directory: '/nonexistent'`. */
function osErrorText(error: NodeJS.ErrnoException, path: string): string {
  const code = error.code ?? "";
  const errno = (osConstants.errno as Record<string, number>)[code];
  const text = STRERROR[code];
  return errno !== undefined && text ? `[Errno ${errno}] ${text}: ${pyRepr(path)}` : error.message;
}

const STRERROR: Record<string, string> = {
  ENOENT: "No such file or directory",
  EACCES: "Permission denied",
  EISDIR: "Is a directory",
  ENOTDIR: "Not a directory",
  ELOOP: "Too many levels of symbolic links",
};

/** The checks Python makes after parsing. */
function validate(options: CommandLine): void {
  if (!options.tls_cert && options.tls_key) throw new UsageError("--tls-key requires --tls-cert to be set");
  if (!options.tls_cert && options.tls_password_file) {
    throw new UsageError("--tls-password-file requires --tls-cert to be set");
  }
}
