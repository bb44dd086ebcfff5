/** The `simplehttp` command line's arguments: the table, the help text, and the checks after parsing. */
import { readFileSync } from "node:fs";
import { availableParallelism, constants as osConstants } from "node:os";
import { ArgumentError, ArgumentParser, type OptionSpec } from "./argparse.js";
import { maxAge, parseHeaderOption, type HeaderField } from "../features/headers.js";
import { checkCharset } from "../features/charset.js";
import type { ListingStyle } from "../features/rich_listing.js";
import { describeSize, parseSize, DEFAULT_UPLOAD_MAX } from "../features/limits.js";
import { InvalidCredentialError, checkCredential, readAuthFile, type AuthScope } from "../features/auth.js";
import { pyRepr } from "../py/format.js";
import { strip } from "../py/text.js";

export const PROG = "simplehttp";
export const DEFAULT_PORT = 8000;
export const DEFAULT_PROTOCOL = "HTTP/1.0";
/** The file `--spa` serves when it names none. */
export const DEFAULT_SPA = "index.html";
/** The address `--dev` binds when no `-b` is given. */
export const DEV_BIND = "localhost";
/** The listing and charset `--dev` uses when no `--listing` or `--charset` is given. */
export const DEV_LISTING: ListingStyle = "rich";
export const DEV_CHARSET = "utf-8";
/** The styles `--listing` takes. */
export const LISTING_STYLES: readonly ListingStyle[] = ["python", "rich"];
/** The protocol `--webdav` answers in when no `-p` is given. */
export const WEBDAV_PROTOCOL = "HTTP/1.1";
/** What `--webdav` takes: read-only (the default), or read-write. */
export type WebdavMode = "ro" | "rw";
export const WEBDAV_MODES: readonly WebdavMode[] = ["ro", "rw"];
/** The scopes `--auth-scope` takes. */
export const AUTH_SCOPES: readonly AuthScope[] = ["all", "uploads"];
/** The title of the help section listing the options Python does not have. */
export const BEYOND_PYTHON = "beyond python -m http.server";

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

  // Beyond `python -m http.server` (README "Beyond python -m http.server", docs/FEATURES.md).
  /** `--etag`: the handler's `etag`. */
  etag: boolean;
  /** `--cors` (or `--dev`): the handler's `cors`. */
  cors: boolean;
  /** `-H "Name: value"`, in order: the handler's `extra_headers`. */
  headers: HeaderField[];
  /** `--cache SECONDS` (`max-age=N`) or `--no-cache` (`no-cache`, also `--watch`): the handler's `cache_control`. */
  cache_control: string | null;
  /** `--compress`: the handler's `compress`. */
  compress: boolean;
  /** `--precompressed`: the handler's `precompressed`. */
  precompressed: boolean;
  /** `--spa [FILE]`: the handler's `spa` (`index.html` when no file is named). */
  spa: string | null;
  /** `--watch` (or `--dev`): live reload; it implies `no-cache` unless `--cache` is given. */
  watch: boolean;
  /** `--open`: open the served URL in a browser once listening. */
  open: boolean;
  /** `--quiet`: no request log. */
  quiet: boolean;
  /** `--workers N|auto`: how many processes serve (1: this one alone). */
  workers: number;
  /** `--listing python|rich` (`rich` under `--dev`): the handler's `listing`. */
  listing: ListingStyle;
  /** `--charset CHARSET` (`utf-8` under `--dev`): the handler's `charset`. */
  charset: string | null;
  /** `--no-dotfiles`: the handler's `dotfiles` (false). */
  dotfiles: boolean;
  /**
   * `--dev`: the preset, `-b localhost --watch --no-cache --cors --listing rich --charset utf-8`,
   * each part overridden by the flag given with it.
   */
  dev: boolean;
  /** `--upload`: the handler's `upload`. */
  upload: boolean;
  /** `--upload-overwrite`: the handler's `upload_overwrite`. */
  upload_overwrite: boolean;
  /** `--upload-mkdir`: the handler's `upload_mkdir`. */
  upload_mkdir: boolean;
  /** `--upload-max SIZE` when given (`null` for 0, no limit): the handler's `upload_max`. */
  upload_max?: number | null;
  /** `--auth USER:PASSWORD` (repeatable) and the lines of `--auth-file`: the handler's `auth`; null without either. */
  auth: string[] | null;
  /** `--auth-scope all|uploads`: the handler's `auth_scope`. */
  auth_scope: AuthScope;
  /** `--allow-delete` (or `--webdav rw`): the handler's `allow_delete`. */
  allow_delete: boolean;
  /** `--allow-mkdir` (or `--webdav rw`): the handler's `allow_mkdir`. */
  allow_mkdir: boolean;
  /** `--allow-move` (or `--webdav rw`): the handler's `allow_move`. */
  allow_move: boolean;
  /**
   * `--webdav` (`ro`) or `--webdav rw`: the handler's `webdav`; `rw` also turns on `--upload`,
   * `--upload-overwrite`, `--allow-delete`, `--allow-mkdir` and `--allow-move`. Null without it.
   */
  webdav: WebdavMode | null;
  /** Whether any flag beyond Python's was given: then the terminal says more than the banner. */
  additions: boolean;

  // Sharing a folder (README "Sharing a folder"): each the handler's attribute of the same name.
  /** `--archive`: folders as zip, tar or tar.gz downloads (`?download=`). */
  archive?: boolean;
  /** `--qr`: a QR code of the network URL after the banner and on the rich listing. */
  qr?: boolean;
  /** `--search`: `?q=` and a search box on the rich listing. */
  search?: boolean;
  /** `--search-max N`: the handler's `search_max_entries`. */
  search_max_entries?: number;
  /** `--search-time SECONDS`: the handler's `search_timeout`. */
  search_timeout?: number;
  /** `--readme`: the folder's README under the rich listing. */
  readme?: boolean;

  // Reliability (docs/SECURITY.md). Each is present only when given: absent, the library's default
  // stays in force. A timeout of 0 is `null`, no limit (as 0 disables Node's own HTTP timeouts).
  /** `--header-timeout SECONDS`: the handler's `header_timeout`. */
  header_timeout?: number | null;
  /** `--keepalive-timeout SECONDS`: the handler's `keepalive_timeout`. */
  keepalive_timeout?: number | null;
  /** `--write-timeout SECONDS`: the handler's `write_timeout`. */
  write_timeout?: number | null;
  /** `--body-timeout SECONDS`: the handler's `body_timeout`. */
  body_timeout?: number | null;
  /** `--max-header-size BYTES`: the handler's `max_header_size`. */
  max_header_size?: number;
  /** `--max-header-memory BYTES`: the server's `max_header_memory`. */
  max_header_memory?: number;
  /** `--max-connections N`: the server's `max_connections` (which the server fits to the open-files limit). */
  max_connections?: number;
  /** `--shutdown-grace SECONDS`: the server's `shutdown_grace`, for Ctrl-C and SIGTERM. */
  shutdown_grace?: number;
  /** `--no-follow-symlinks`: the handler's `follow_symlinks`. */
  follow_symlinks?: false;
}

/** A usage error: printed after the usage, exit status 2. */
export class UsageError extends Error {}

/** Sharing a folder (features/archive.ts, qr.ts, search.ts, readme.ts). */
const SHARING_OPTIONS: readonly OptionSpec[] = [
  {
    flags: ["--archive"],
    dest: "archive",
    kind: "switch",
    help: "let every folder be downloaded as one zip, tar or tar.gz file (?download=zip), streamed",
  },
  { flags: ["--qr"], dest: "qr", kind: "switch", help: "print a QR code of the network URL, and show one on the rich listing" },
  {
    flags: ["--search"],
    dest: "search",
    kind: "switch",
    help: "find names below a folder (?q=TEXT), with a search box on the rich listing (implies --listing rich)",
  },
  {
    flags: ["--search-max"],
    dest: "search_max_entries",
    kind: "value",
    metavar: "N",
    convert: searchEntries,
    help: "stop a search after visiting N entries, with partial results (default: 100000)",
  },
  {
    flags: ["--search-time"],
    dest: "search_timeout",
    kind: "value",
    metavar: "SECONDS",
    convert: searchSeconds,
    help: "stop a search after SECONDS, with partial results (default: 5)",
  },
  {
    flags: ["--readme"],
    dest: "readme",
    kind: "switch",
    help: "show a folder's README.md (or readme.md, README.txt) below the rich listing (implies --listing rich)",
  },
];

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
    convert: protocolVersion,
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
  ...beyondPython([
    { flags: ["--etag"], dest: "etag", kind: "switch", help: "send weak ETags, and answer If-None-Match with 304" },
    {
      flags: ["--cors"],
      dest: "cors",
      kind: "switch",
      help: "send Access-Control-Allow-Origin: * and answer CORS preflights",
    },
    {
      flags: ["-H", "--header"],
      dest: "header",
      kind: "value",
      metavar: "HEADER",
      append: true,
      convert: parseHeaderOption,
      help: 'add HEADER ("Name: value") to every response; repeatable',
    },
    {
      flags: ["--cache"],
      dest: "cache",
      kind: "value",
      metavar: "SECONDS",
      exclusive: "cache",
      convert: cacheSeconds,
      help: "let clients cache files for SECONDS (Cache-Control: max-age)",
    },
    {
      flags: ["--no-cache"],
      dest: "no_cache",
      kind: "switch",
      exclusive: "cache",
      help: "make clients revalidate files (Cache-Control: no-cache)",
    },
    { flags: ["--compress"], dest: "compress", kind: "switch", help: "compress text files on the fly (brotli or gzip)" },
    {
      flags: ["--precompressed"],
      dest: "precompressed",
      kind: "switch",
      help: "serve x.br or x.gz for x when the client accepts it",
    },
    {
      flags: ["--spa"],
      dest: "spa",
      kind: "optional",
      metavar: "FILE",
      const: DEFAULT_SPA,
      convert: spaFile,
      help: `serve FILE (default: ${DEFAULT_SPA}) for missing paths without an extension`,
    },
    { flags: ["--watch"], dest: "watch", kind: "switch", help: "reload open pages when a file in the directory changes (implies --no-cache)" },
    { flags: ["--open"], dest: "open", kind: "switch", help: "open the served URL in a web browser" },
    { flags: ["--quiet"], dest: "quiet", kind: "switch", help: "do not log requests" },
    {
      flags: ["--workers"],
      dest: "workers",
      kind: "value",
      metavar: "N",
      convert: workerCount,
      help: "serve with N processes (auto: one per CPU)",
    },
    {
      flags: ["--listing"],
      dest: "listing",
      kind: "value",
      metavar: "STYLE",
      convert: listingStyle,
      help: "list directories as python (default) or rich: sizes, dates, sorting, a filter, JSON",
    },
    {
      flags: ["--charset"],
      dest: "charset",
      kind: "value",
      metavar: "CHARSET",
      convert: charsetName,
      help: "add ; charset=CHARSET to text, JavaScript, JSON, XML and SVG files that name none",
    },
    {
      flags: ["--no-dotfiles"],
      dest: "no_dotfiles",
      kind: "switch",
      help: "answer 404 for names starting with a dot, and leave them out of listings (but /.well-known/)",
    },
    {
      flags: ["--dev"],
      dest: "dev",
      kind: "switch",
      help: `for working on a site: -b ${DEV_BIND} --watch --no-cache --cors --listing ${DEV_LISTING} --charset ${DEV_CHARSET} (flags given with it win)`,
    },
    {
      flags: ["--header-timeout"],
      dest: "header_timeout",
      kind: "value",
      metavar: "SECONDS",
      convert: timeoutSeconds,
      help: "cut off a client that takes over SECONDS to send its request line and headers (default: 30; 0: no limit)",
    },
    {
      flags: ["--keepalive-timeout"],
      dest: "keepalive_timeout",
      kind: "value",
      metavar: "SECONDS",
      convert: timeoutSeconds,
      help: "close a kept-alive connection after SECONDS idle between requests (default: 5; 0: no limit)",
    },
    {
      flags: ["--write-timeout"],
      dest: "write_timeout",
      kind: "value",
      metavar: "SECONDS",
      convert: timeoutSeconds,
      help: "drop a client that stops reading a response for SECONDS (default: 60; 0: no limit)",
    },
    {
      flags: ["--body-timeout"],
      dest: "body_timeout",
      kind: "value",
      metavar: "SECONDS",
      convert: timeoutSeconds,
      help: "cut off a client that sends no byte of a request body being read for SECONDS (default: 60; 0: no limit)",
    },
    {
      flags: ["--max-connections"],
      dest: "max_connections",
      kind: "value",
      metavar: "N",
      convert: connectionCount,
      help: "handle at most N connections at once; more wait (default: 10000, fewer if ulimit -n is low)",
    },
    {
      flags: ["--max-header-size"],
      dest: "max_header_size",
      kind: "value",
      metavar: "BYTES",
      convert: byteCount,
      help: "answer 431 to a request line and headers over BYTES in all (default: 1048576)",
    },
    {
      flags: ["--max-header-memory"],
      dest: "max_header_memory",
      kind: "value",
      metavar: "BYTES",
      convert: byteCount,
      help: "hold at most BYTES for requests still arriving, in all; past it, larger ones get 431 (default: 134217728)",
    },
    {
      flags: ["--shutdown-grace"],
      dest: "shutdown_grace",
      kind: "value",
      metavar: "SECONDS",
      convert: graceSeconds,
      help: "on Ctrl-C or SIGTERM, let requests in flight finish for up to SECONDS (default: 10)",
    },
    {
      flags: ["--no-follow-symlinks"],
      dest: "no_follow_symlinks",
      kind: "switch",
      help: "answer 404 for a symbolic link that leads outside the directory",
    },
    {
      flags: ["--upload"],
      dest: "upload",
      kind: "switch",
      help: "receive files: PUT /dir/NAME, and an upload form on listings (multipart POST)",
    },
    {
      flags: ["--upload-overwrite"],
      dest: "upload_overwrite",
      kind: "switch",
      help: "let an upload replace an existing file (default: 409 Conflict)",
    },
    {
      flags: ["--upload-mkdir"],
      dest: "upload_mkdir",
      kind: "switch",
      help: "let an upload create the directories its path names (default: 409 Conflict)",
    },
    {
      flags: ["--upload-max"],
      dest: "upload_max",
      kind: "value",
      metavar: "SIZE",
      convert: uploadSize,
      help: `refuse uploads larger than SIZE bytes, or with K, M, G (default: ${describeSize(DEFAULT_UPLOAD_MAX).replace(" GiB", "G")}; 0: no limit)`,
    },
    {
      flags: ["--auth"],
      dest: "auth",
      kind: "value",
      metavar: "USER:PASSWORD",
      append: true,
      convert: credential,
      help: "ask for this user name and password (HTTP Basic); repeatable",
    },
    {
      flags: ["--auth-file"],
      dest: "auth_file",
      kind: "value",
      metavar: "FILE",
      help: "read USER:PASSWORD lines from FILE (kept out of ps and the shell's history)",
    },
    {
      flags: ["--auth-scope"],
      dest: "auth_scope",
      kind: "value",
      metavar: "SCOPE",
      convert: authScope,
      help: "what --auth guards: all (default) requests, or uploads only (and every other write)",
    },
    {
      flags: ["--allow-delete"],
      dest: "allow_delete",
      kind: "switch",
      help: "let DELETE remove files, and folders with ?recursive=1 (buttons on the rich listing)",
    },
    { flags: ["--allow-mkdir"], dest: "allow_mkdir", kind: "switch", help: "let MKCOL make folders (a button on the rich listing)" },
    {
      flags: ["--allow-move"],
      dest: "allow_move",
      kind: "switch",
      help: "let MOVE with a Destination header rename and move (a button on the rich listing)",
    },
    {
      flags: ["--webdav"],
      dest: "webdav",
      kind: "optional",
      metavar: "MODE",
      const: "ro",
      convert: webdavMode,
      help: "serve WebDAV, to mount the folder as a drive: ro (default) read-only, rw read-write (--upload --upload-overwrite --allow-delete --allow-mkdir --allow-move)",
    },
    ...SHARING_OPTIONS,
    { flags: ["--version"], dest: "version", kind: "version", help: "show the version and exit" },
  ]),
];


/** `--search-max N`: a count from 1. */
function searchEntries(text: string): number {
  const count = pyInt(text);
  if (count < 1n) throw new RangeError(`${count} is not a number of entries (1 or more)`);
  return count > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(count);
}

/** `--search-time SECONDS`: more than 0. */
function searchSeconds(text: string): number {
  const seconds = graceSeconds(text);
  if (seconds === 0) throw new RangeError("0 is not a number of seconds (more than 0)");
  return seconds;
}

/** Puts options in the help section of the additions (which keeps them out of the usage line). */
function beyondPython(options: OptionSpec[]): OptionSpec[] {
  return options.map((spec) => ({ ...spec, group: BEYOND_PYTHON }));
}

/** Python's `int()` of a string: optional sign, digits with single `_` between, blanks around. */
const PY_INT = /^\s*([+-]?\d+(?:_\d+)*)\s*$/;

/**
 * The port argument: what Python's `int()` accepts, else a `TypeError` (argparse's
 * `invalid int value`). Python would hand any integer to getaddrinfo, which wraps 70000 to 4464;
 * we refuse a number outside 0–65535 instead.
 */
export function portNumber(text: string): number {
  const value = pyInt(text);
  if (value < 0n || value > 65535n) throw new RangeError(`${value} is not a port number (0 to 65535)`);
  return Number(value);
}

/** `--cache SECONDS`: what Python's `int()` accepts, from 0. */
export function cacheSeconds(text: string): string {
  const seconds = pyInt(text);
  if (seconds < 0n) throw new RangeError(`${seconds} is not a number of seconds (0 or more)`);
  if (seconds > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${seconds} seconds is too long`);
  return maxAge(Number(seconds));
}

/** `--workers N|auto`: a number of processes from 1, or `auto` (`os.availableParallelism()`). */
export function workerCount(text: string): number {
  if (text.trim() === "auto") return availableParallelism();
  let count: bigint;
  try {
    count = pyInt(text);
  } catch {
    throw new TypeError("workers");
  }
  if (count < 1n || count > MAX_WORKERS) {
    throw new RangeError(`${count} is not a number of processes (1 to ${MAX_WORKERS}, or auto)`);
  }
  return Number(count);
}

/**
 * The longest time a flag takes, in seconds: what `setTimeout` can wait (2^31 - 1 ms, about 24.8
 * days). More is surely a typing mistake.
 */
export const MAX_SECONDS = 2_147_483;

/** `--header-timeout`, `--keepalive-timeout`, `--write-timeout`: seconds from 0; 0 (no limit) is `null`. */
export function timeoutSeconds(text: string): number | null {
  const seconds = graceSeconds(text);
  return seconds === 0 ? null : seconds;
}

/** `--shutdown-grace`: what Python's `float()` accepts, from 0 to `MAX_SECONDS`. */
export function graceSeconds(text: string): number {
  const seconds = pyFloat(text);
  const shown = strip(text);
  if (Number.isNaN(seconds)) throw new RangeError(`${shown} is not a number of seconds`);
  if (seconds < 0) throw new RangeError(`${shown} is not a number of seconds (0 or more)`);
  if (seconds > MAX_SECONDS) throw new RangeError(`${shown} seconds is too long (at most ${MAX_SECONDS})`);
  return seconds;
}

/** `--max-connections N`: what Python's `int()` accepts, from 1. */
export function connectionCount(text: string): number {
  const count = pyInt(text);
  if (count < 1n) throw new RangeError(`${count} is not a number of connections (1 or more)`);
  return count > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(count);
}

/** `--max-header-size`, `--max-header-memory`: what Python's `int()` accepts, from 1. */
export function byteCount(text: string): number {
  const count = pyInt(text);
  if (count < 1n) throw new RangeError(`${count} is not a number of bytes (1 or more)`);
  return count > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(count);
}

/** More processes than this is surely a typing mistake. */
const MAX_WORKERS = 1024n;

/**
 * `-p VERSION`: `HTTP/<digit>.<digit>`. Python takes any text, so `-p 8080` (meant as a port)
 * starts on port 8000 and answers every request with the status line `8080 200 OK`.
 */
export function protocolVersion(text: string): string {
  if (!/^HTTP\/\d\.\d$/.test(text)) {
    throw new RangeError(`invalid protocol ${pyRepr(text)} (expected HTTP/1.0 or HTTP/1.1; the port is the positional argument)`);
  }
  return text;
}

/** `--listing STYLE`: one of `LISTING_STYLES`, in argparse's words for a bad choice. */
export function listingStyle(text: string): ListingStyle {
  if (!(LISTING_STYLES as readonly string[]).includes(text)) {
    throw new RangeError(`invalid choice: ${pyRepr(text)} (choose from ${LISTING_STYLES.join(", ")})`);
  }
  return text as ListingStyle;
}

/** `--charset CHARSET`: a name that can go into a header (`utf-8`, `iso-8859-1`). */
export function charsetName(text: string): string {
  try {
    return checkCharset(text)!;
  } catch {
    throw new RangeError(`invalid charset ${pyRepr(text)} (expected a name such as utf-8)`);
  }
}

/** `--upload-max SIZE`: bytes, or a number with K, M, G or T; 0 (no limit) is `null`. */
export function uploadSize(text: string): number | null {
  return parseSize(text);
}

/** `--auth USER:PASSWORD`, checked (the error never repeats the value: it holds a password). */
function credential(text: string): string {
  try {
    return checkCredential(text);
  } catch (error) {
    throw new RangeError(`invalid credentials (${(error as Error).message})`);
  }
}

/** `--auth-scope SCOPE`: one of `AUTH_SCOPES`. */
export function authScope(text: string): AuthScope {
  if (!(AUTH_SCOPES as readonly string[]).includes(text)) {
    throw new RangeError(`invalid choice: ${pyRepr(text)} (choose from ${AUTH_SCOPES.join(", ")})`);
  }
  return text as AuthScope;
}

/** `--webdav MODE`: one of `WEBDAV_MODES`. */
export function webdavMode(text: string): WebdavMode {
  if (!(WEBDAV_MODES as readonly string[]).includes(text)) {
    throw new RangeError(`invalid choice: ${pyRepr(text)} (choose from ${WEBDAV_MODES.join(", ")})`);
  }
  return text as WebdavMode;
}

/** `--spa FILE`: any file name but an empty one. */
function spaFile(text: string): string {
  if (text === "") throw new RangeError("expected a file name");
  return text;
}

/**
 * Python's `float()` of a string: blanks around, an optional sign, then digits (single `_`
 * between) with an optional point and exponent, or `inf`, `infinity`, `nan` in any case.
 */
const PY_FLOAT = /^[+-]?(?:(?:\d(?:_?\d)*)?\.\d(?:_?\d)*|\d(?:_?\d)*\.?)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const PY_FLOAT_WORD = /^([+-]?)(inf|infinity|nan)$/i;

/** Python's `float(text)`, or a `TypeError` (argparse's `invalid float value`). */
function pyFloat(text: string): number {
  const stripped = strip(text);
  const word = PY_FLOAT_WORD.exec(stripped);
  if (word) return word[2]!.toLowerCase() === "nan" ? NaN : word[1] === "-" ? -Infinity : Infinity;
  if (!PY_FLOAT.test(stripped)) throw new TypeError("float");
  return Number(stripped.replaceAll("_", ""));
}

/** Python's `int(text)`, or a `TypeError` (argparse's `invalid int value`). */
function pyInt(text: string): bigint {
  const match = PY_INT.exec(text);
  if (!match) throw new TypeError("int");
  return BigInt(match[1]!.replaceAll("_", ""));
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
export function parseCommandLine(argv: readonly string[], cwd = process.cwd()): CommandLine | "help" | "version" {
  let result;
  try {
    result = parser.parse(argv);
  } catch (error) {
    if (error instanceof ArgumentError) throw new UsageError(error.message);
    throw error;
  }
  if (result.help) return result.version ? "version" : "help";
  const { values, positionals } = result;
  const text = (name: string) => (values[name] as string | undefined) ?? null;
  const dev = values["dev"] === true;
  const watch = values["watch"] === true || dev;
  const options: CommandLine = {
    cgi: values["cgi"] === true,
    bind: text("bind") ?? (dev ? DEV_BIND : null),
    directory: text("directory") ?? cwd,
    // WebDAV clients want kept-alive connections and `100 Continue` (Finder's chunked PUTs, litmus).
    protocol: text("protocol") ?? (values["webdav"] !== undefined ? WEBDAV_PROTOCOL : DEFAULT_PROTOCOL),
    port: (positionals["port"] as number | undefined) ?? DEFAULT_PORT,
    tls_cert: text("tls_cert"),
    tls_key: text("tls_key"),
    tls_password_file: text("tls_password_file"),
    tls_password: null,
    etag: values["etag"] === true,
    cors: values["cors"] === true || dev,
    headers: (values["header"] as HeaderField[] | undefined) ?? [],
    // A reloaded page must revalidate what it loads: --watch implies no-cache, unless --cache is given.
    cache_control: text("cache") ?? (values["no_cache"] === true || watch ? "no-cache" : null),
    compress: values["compress"] === true,
    precompressed: values["precompressed"] === true,
    spa: text("spa"),
    watch,
    open: values["open"] === true,
    quiet: values["quiet"] === true,
    workers: (values["workers"] as number | undefined) ?? 1,
    listing: (values["listing"] as ListingStyle | undefined) ?? (dev ? DEV_LISTING : "python"),
    charset: text("charset") ?? (dev ? DEV_CHARSET : null),
    dotfiles: values["no_dotfiles"] !== true,
    upload: values["upload"] === true,
    upload_overwrite: values["upload_overwrite"] === true,
    upload_mkdir: values["upload_mkdir"] === true,
    auth: (values["auth"] as string[] | undefined) ?? null,
    auth_scope: (values["auth_scope"] as AuthScope | undefined) ?? "all",
    allow_delete: values["allow_delete"] === true,
    allow_mkdir: values["allow_mkdir"] === true,
    allow_move: values["allow_move"] === true,
    webdav: (values["webdav"] as WebdavMode | undefined) ?? null,
    dev,
    additions: parser.options.some((spec) => spec.group === BEYOND_PYTHON && values[spec.dest] !== undefined),
  };
  // The reliability flags, only when given (see `CommandLine`).
  for (const name of [
    "header_timeout",
    "keepalive_timeout",
    "write_timeout",
    "body_timeout",
    "max_connections",
    "max_header_size",
    "max_header_memory",
    "shutdown_grace",
  ] as const) {
    if (values[name] !== undefined) (options as unknown as Record<string, unknown>)[name] = values[name];
  }
  if (values["no_follow_symlinks"] === true) options.follow_symlinks = false;
  readSharingOptions(options, values);
  if (values["upload_max"] !== undefined) options.upload_max = values["upload_max"] as number | null;
  // WebDAV clients compare entity tags (If: [etag], getetag): files are sent with theirs.
  if (options.webdav !== null) options.etag = true;
  if (options.webdav === "rw") {
    // One flag for a drive that can be written to: every permission the WebDAV methods use.
    options.upload = options.upload_overwrite = options.allow_delete = options.allow_mkdir = options.allow_move = true;
  }
  validate(options, values);
  if (options.tls_password_file) options.tls_password = readPassword(options.tls_password_file);
  const authFile = text("auth_file");
  if (authFile !== null) options.auth = [...(options.auth ?? []), ...readCredentials(authFile)];
  return options;
}

/**
 * The sharing flags, each set only when given. `--search` and `--readme` are parts of the rich
 * listing: they turn it on, and refuse `--listing python`.
 */
function readSharingOptions(options: CommandLine, values: Record<string, unknown>): void {
  for (const name of ["archive", "qr", "search", "readme", "search_max_entries", "search_timeout"] as const) {
    if (values[name] !== undefined) (options as unknown as Record<string, unknown>)[name] = values[name];
  }
  for (const flag of ["search", "readme"] as const) {
    if (!options[flag]) continue;
    if (values["listing"] === "python") throw new UsageError(`--${flag} requires the rich listing (--listing rich)`);
    options.listing = "rich";
  }
  if ((options.search_max_entries !== undefined || options.search_timeout !== undefined) && !options.search) {
    throw new UsageError(`${options.search_max_entries !== undefined ? "--search-max" : "--search-time"} requires --search to be set`);
  }
}

/** Python's `open(path, encoding="utf-8").read().strip()`, with its OSError text on failure. */
function readPassword(path: string): string {
  try {
    return strip(readFileSync(path, "utf8"));
  } catch (error) {
    throw new UsageError(`Failed to read TLS password file: ${osErrorText(error as NodeJS.ErrnoException, path)}`);
  }
}

/** The pairs of an `--auth-file`; a file that cannot be read or used is a usage error. */
function readCredentials(path: string): string[] {
  try {
    return readAuthFile(path);
  } catch (error) {
    if (error instanceof InvalidCredentialError) throw new UsageError(`argument --auth-file: ${path}: ${error.message}`);
    throw new UsageError(`argument --auth-file: cannot read ${osErrorText(error as NodeJS.ErrnoException, path)}`);
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

/** The checks Python makes after parsing, and ours in the same words. */
function validate(options: CommandLine, values: Record<string, unknown>): void {
  if (!options.tls_cert && options.tls_key) throw new UsageError("--tls-key requires --tls-cert to be set");
  if (!options.tls_cert && options.tls_password_file) {
    throw new UsageError("--tls-password-file requires --tls-cert to be set");
  }
  for (const [dest, flag] of [["upload_overwrite", "--upload-overwrite"], ["upload_max", "--upload-max"], ["upload_mkdir", "--upload-mkdir"]]) {
    if (values[dest!] !== undefined && !options.upload) throw new UsageError(`${flag} requires --upload to be set`);
  }
  const davWrites = options.webdav !== null && (options.upload || options.allow_delete || options.allow_mkdir || options.allow_move);
  if (davWrites && options.workers > 1) {
    throw new UsageError("--webdav with writing keeps its locks in one process: it cannot be used with --workers");
  }
  if (values["auth_scope"] !== undefined && options.auth === null && values["auth_file"] === undefined) {
    throw new UsageError("--auth-scope requires --auth or --auth-file to be set");
  }
}
