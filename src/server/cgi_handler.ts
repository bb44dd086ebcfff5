/**
 * `http.server.CGIHTTPRequestHandler`: a `SimpleHTTPRequestHandler` that runs the files under
 * `cgi_directories` as CGI/1.1 scripts (deprecated in Python 3.13, removed in 3.15).
 *
 * A CGI script gets the request in its environment (`REQUEST_METHOD`, `QUERY_STRING`,
 * `PATH_INFO` …) and the request body on stdin, and prints its own response headers, a blank line
 * and the body. The server sends only the status line (`200 Script output follows`), `Server` and
 * `Date` before it: the script cannot change the status.
 */
import type { ChildProcess, SpawnOptions } from "node:child_process";
import { accessSync, constants as fsConstants, readFileSync, type Stats } from "node:fs";
import { stat } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { extname, resolve as resolvePath } from "node:path";
import type { Readable, Writable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { receiveFiles } from "../features/upload.js";
import { SimpleHTTPRequestHandler } from "./simple_handler.js";
import { Deadline, Termination, describe, spawnScript, writable } from "./cgi_process.js";
import { quote, unquote } from "../py/urllib.js";
import { fsencode } from "../py/codecs.js";
import { pyRepr } from "../py/format.js";
import { splitWhitespace } from "../py/text.js";

/** The text of the `DeprecationWarning` the first handler emits (the CLI shows it once on stderr). */
export const CGI_DEPRECATION_MESSAGE =
  "'http.server.CGIHTTPRequestHandler' is deprecated and slated for removal in Python 3.15";

/** Python's `IndexError`, thrown by `_url_collapse_path` for a path with too many `..` parts. */
export class IndexError extends RangeError {
  override name = "IndexError";
  constructor(message = "pop from empty list") {
    super(message);
  }
}

/**
 * Collapses a URL path as `is_cgi()` sees it: the query is set aside, the path percent-decoded
 * (so `%2f` is a separator), empty and `.` parts dropped and `..` resolved. The result always
 * starts with `/` and always holds a `/` before its last part: `'/a/b/c/../d'` → `'/a/b/d'`,
 * `''` → `'//'`, `'a'` → `'//a'`.
 *
 * @throws IndexError when a `..` would climb above the root (`'/..'`, `'/.//..'`).
 */
export function _url_collapse_path(path: string): string {
  const mark = path.indexOf("?");
  const query = mark < 0 ? "" : path.slice(mark + 1);
  const parts = unquote(mark < 0 ? path : path.slice(0, mark)).split("/");
  const head: string[] = [];
  const up = () => {
    if (head.length === 0) throw new IndexError();
    head.pop();
  };
  for (const part of parts.slice(0, -1)) {
    if (part === "..") up();
    else if (part && part !== ".") head.push(part);
  }
  let tail = parts[parts.length - 1]!;
  if (tail === "..") {
    up();
    tail = "";
  } else if (tail === ".") {
    tail = "";
  }
  if (query) tail += "?" + query;
  return "/" + head.join("/") + "/" + tail;
}

interface Account {
  uid: number;
  gid: number;
}

let nobodyAccount: Account | null = null;

/**
 * The `nobody` account from `/etc/passwd`; without one, an unused uid (1 + the largest) with the
 * same number as its gid; `{ -1, -1 }` when the file cannot be read (no such accounts here).
 */
function nobodyIds(): Account {
  if (nobodyAccount) return nobodyAccount;
  let text: string;
  try {
    text = readFileSync("/etc/passwd", "utf8");
  } catch {
    return { uid: -1, gid: -1 };
  }
  let largest = -1;
  for (const line of text.split("\n")) {
    const fields = line.split(":");
    if (fields.length < 4) continue;
    const uid = Number(fields[2]);
    const gid = Number(fields[3]);
    if (!Number.isInteger(uid)) continue;
    if (fields[0] === "nobody") return (nobodyAccount = { uid, gid: Number.isInteger(gid) ? gid : uid });
    largest = Math.max(largest, uid);
  }
  return (nobodyAccount = { uid: largest + 1, gid: largest + 1 });
}

/** `nobody`'s uid (`pwd.getpwnam('nobody')[2]`), else 1 + the largest uid, else -1. */
export function nobody_uid(): number {
  return nobodyIds().uid;
}

/** True when the current user may execute `path` (`os.access(path, os.X_OK)`). */
export function executable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

let deprecationWarned = false;

const EMPTY = Buffer.alloc(0);

/** Bytes of the request body passed to the script per write. */
const BODY_CHUNK = 64 * 1024;
/** After SIGTERM, how long a timed-out script has before SIGKILL. */
/** After SIGKILL, how long to wait for the script's pipes to close before abandoning them. */
/** A stderr line longer than this is logged in pieces. */
const MAX_LOG_LINE = 16 * 1024;
/** An HTTP/0.9 reply drops the script's header block; a longer block is sent as it is. */
const MAX_HEADER_BLOCK = 64 * 1024;
/** The interpreter for Python scripts when `have_fork` is false (Python's non-fork path). */
const PYTHON = process.platform === "win32" ? "python" : "python3";

type Handler = typeof CGIHTTPRequestHandler;

export class CGIHTTPRequestHandler extends SimpleHTTPRequestHandler {
  /** URL directories whose files are scripts; a path matches at a `/` boundary. */
  static cgi_directories: string[] = ["/cgi-bin", "/htbin"];
  /** Whether scripts run Python's fork way (POSIX): executable check, argv rule, run as `nobody`. */
  static have_fork: boolean = process.platform !== "win32";
  /** Python reads the request unbuffered so the script can take the body from the socket. */
  static override rbufsize = 0;
  /**
   * Seconds a script may run (counting the request body it is sent) before it is killed: SIGTERM
   * to its process group, SIGKILL after a short grace. `null` lets scripts run forever, as Python.
   * @default 60
   */
  static cgi_timeout: number | null = 60;

  cgi_directories: string[] = (this.constructor as Handler).cgi_directories;
  have_fork: boolean = (this.constructor as Handler).have_fork;
  cgi_timeout: number | null = (this.constructor as Handler).cgi_timeout;
  /** `[dir, rest]` of the last path `is_cgi()` accepted: `['/cgi-bin', 'x.py/info?q']`. */
  cgi_info: [string, string] = ["", ""];

  constructor(...args: ConstructorParameters<typeof SimpleHTTPRequestHandler>) {
    super(...args);
    if (!deprecationWarned) {
      deprecationWarned = true;
      process.emitWarning(CGI_DEPRECATION_MESSAGE, "DeprecationWarning");
    }
  }

  /** POST runs a script; anywhere else it is `501 Can only POST to CGI scripts`. */
  async do_POST(): Promise<void> {
    const cgi = await this.checkCgi();
    if (cgi === null) return;
    if (cgi) return this.run_cgi();
    if (this.upload) return receiveFiles(this); // a form of files (features/upload.ts)
    return this.send_error(501, "Can only POST to CGI scripts");
  }

  /** GET and HEAD run a script (both send its whole output); other paths are served as files. */
  override async send_head(): ReturnType<SimpleHTTPRequestHandler["send_head"]> {
    const cgi = await this.checkCgi();
    if (cgi === null) return null;
    if (cgi) {
      await this.run_cgi();
      return null;
    }
    return super.send_head();
  }

  /**
   * `is_cgi()`, answering a path that climbs above the root (`/..`, where Python's handler throws
   * and drops the connection) with `400 Bad request path`. Null means that error was sent.
   */
  private async checkCgi(): Promise<boolean | null> {
    try {
      return this.is_cgi();
    } catch (error) {
      if (!(error instanceof IndexError)) throw error;
      await this.send_error(400, `Bad request path (${pyRepr(this.path)})`);
      return null;
    }
  }

  /**
   * True when the collapsed path starts with one of `cgi_directories` followed by `/`; it then
   * sets `cgi_info` to `[directory, rest]`. `/cgi-bin/x` is CGI, `/cgi-bin` is not (it is
   * redirected to `/cgi-bin/` like any directory).
   *
   * `cgi_info` is decoded once, and `run_cgi()` finds the script from it without decoding it
   * again, so what is judged here is what runs (Python decodes twice: `%252e%252e` passes this
   * check as a name and becomes `..` when the script is looked up). A raw `#` before the query
   * ends the path here, as it does for `translate_path`, so both read the same path.
   *
   * @throws IndexError for a path above the root (see `_url_collapse_path`).
   */
  is_cgi(): boolean {
    const collapsed = _url_collapse_path(withoutFragment(this.path));
    let sep = collapsed.indexOf("/", 1);
    while (sep > 0 && !this.cgi_directories.includes(collapsed.slice(0, sep))) {
      sep = collapsed.indexOf("/", sep + 1);
    }
    if (sep <= 0) return false;
    this.cgi_info = [collapsed.slice(0, sep), collapsed.slice(sep + 1)];
    return true;
  }

  /** Whether the current user may execute `path`. */
  is_executable(path: string): boolean {
    return executable(path);
  }

  /** Whether `path` names a Python script (`.py` or `.pyw`, any case). */
  is_python(path: string): boolean {
    const ext = extname(path).toLowerCase();
    return ext === ".py" || ext === ".pyw";
  }

  /**
   * Runs the script `cgi_info` names and streams its output to the client, then closes the
   * connection (the output has no `Content-Length` to frame it by).
   *
   * `/cgi-bin/sub/x.py/more/path?q` runs `<root>/cgi-bin/sub/x.py` (the longest existing
   * directory prefix is descended) with `PATH_INFO=/more/path` and `QUERY_STRING=q`.
   */
  async run_cgi(): Promise<void> {
    let [dir, rest] = this.cgi_info;
    const path = dir + "/" + rest;
    let sep = path.indexOf("/", dir.length + 1);
    while (sep >= 0) {
      const nextdir = path.slice(0, sep);
      if (!(await isDirectory(this.translateDecoded(nextdir)))) break;
      dir = nextdir;
      rest = path.slice(sep + 1);
      sep = path.indexOf("/", dir.length + 1);
    }

    const mark = rest.indexOf("?");
    const query = mark < 0 ? "" : rest.slice(mark + 1);
    if (mark >= 0) rest = rest.slice(0, mark);
    const slash = rest.indexOf("/");
    const script = slash < 0 ? rest : rest.slice(0, slash);
    rest = slash < 0 ? "" : rest.slice(slash);

    const scriptname = dir + "/" + script;
    const scriptfile = this.translateDecoded(scriptname);
    const info = await statOrNull(scriptfile);
    if (!info) return this.send_error(404, `No such CGI script (${pyRepr(scriptname)})`);
    if (!info.isFile()) return this.send_error(403, `CGI script is not a plain file (${pyRepr(scriptname)})`);
    if ((this.have_fork || !this.is_python(scriptname)) && !this.is_executable(scriptfile)) {
      return this.send_error(403, `CGI script is not executable (${pyRepr(scriptname)})`);
    }

    const env = this.cgiEnvironment(scriptname, rest, query);
    this.send_response(200, "Script output follows");
    await this.flush_headers();
    // No Content-Length frames the output: the connection's close ends it.
    this.close_connection = true;

    let command = resolvePath(scriptfile);
    const args: string[] = [];
    if (this.have_fork) {
      const decoded = query.replace(/\+/g, " ");
      if (!decoded.includes("=")) args.push(decoded);
    } else {
      if (this.is_python(scriptfile)) {
        args.push("-u", command);
        command = PYTHON;
      }
      if (!query.includes("=")) args.push(query);
      this.log_message("command: %s", [command, ...args].map(quoteArgument).join(" "));
    }
    await this.runScript(command, args, script, env);
  }

  /**
   * `translate_path()` of a path `is_cgi()` has already decoded: quoted first, so that its one
   * decoding gives the same name back (`%2e%2e` stays a name, `%3F` and `%23` stay in it). A
   * subclass's `translate_path` still decides where names lead.
   */
  private translateDecoded(decoded: string): string {
    return this.translate_path(quote(decoded, { errors: "surrogatepass" }));
  }

  /** The script's environment: the server's own, plus the CGI/1.1 variables for this request. */
  private cgiEnvironment(scriptname: string, pathInfo: string, query: string): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
    const server = this.server as unknown as { server_name?: string; server_port?: number };
    const headers = this.headers;
    env.SERVER_SOFTWARE = this.version_string();
    env.SERVER_NAME = String(server.server_name ?? "");
    env.GATEWAY_INTERFACE = "CGI/1.1";
    env.SERVER_PROTOCOL = this.protocol_version;
    env.SERVER_PORT = String(server.server_port ?? "");
    env.REQUEST_METHOD = this.command ?? "";
    const decodedInfo = unquote(pathInfo);
    env.PATH_INFO = decodedInfo;
    env.PATH_TRANSLATED = this.translate_path(decodedInfo);
    env.SCRIPT_NAME = scriptname;
    env.QUERY_STRING = query;
    env.REMOTE_ADDR = this.client_address[0];
    const authorization = headers.get("authorization");
    if (authorization) {
      const words = splitWhitespace(authorization);
      if (words.length === 2) {
        env.AUTH_TYPE = words[0]!;
        if (words[0]!.toLowerCase() === "basic") {
          const credentials = decodeBasicCredentials(words[1]!);
          const parts = credentials?.split(":");
          if (parts?.length === 2) env.REMOTE_USER = parts[0]!;
        }
      }
    }
    const contentType = headers.get("content-type");
    env.CONTENT_TYPE = contentType === undefined ? headers.get_content_type() : contentType;
    const length = headers.get("content-length");
    if (length) env.CONTENT_LENGTH = length;
    const referer = headers.get("referer");
    if (referer) env.HTTP_REFERER = referer;
    env.HTTP_ACCEPT = headers.get_all("accept", []).join(",");
    const agent = headers.get("user-agent");
    if (agent) env.HTTP_USER_AGENT = agent;
    const cookies = headers.get_all("cookie", []).filter(Boolean).join(", ");
    if (cookies) env.HTTP_COOKIE = cookies;
    // Inherited values are kept (Python's setdefault): only missing ones become empty.
    for (const key of ["QUERY_STRING", "REMOTE_HOST", "CONTENT_LENGTH", "HTTP_USER_AGENT", "HTTP_COOKIE", "HTTP_REFERER"]) {
      env[key] ??= "";
    }
    return env;
  }

  /**
   * Spawns the script and waits for it, passing the request body to its stdin, its stdout to the
   * client and its stderr lines to the log, each with backpressure, all at once (a script may
   * answer before it has read its input). Ends by logging a failure, a signal or a timeout.
   */
  private async runScript(command: string, args: string[], argv0: string, env: Record<string, string>): Promise<void> {
    const options: SpawnOptions = { env, argv0, stdio: ["pipe", "pipe", "pipe"] };
    if (this.have_fork) {
      // Its own process group, so a timeout also ends what the script started (`sleep` …).
      options.detached = true;
      if (process.geteuid?.() === 0) {
        // Python sets only the uid (the script keeps gid 0); we take nobody's group as well.
        const { uid, gid } = nobodyIds();
        if (uid >= 0) Object.assign(options, { uid, gid });
      }
    }
    const length = contentLength(this.headers.get("content-length"));
    let termination: Termination | null = null;
    let finished = false; // exited, and its output pipes closed
    let bodyLost = false; // the request body stopped arriving: the script was ended for it
    const deadline = new Deadline(this.cgi_timeout, () => finished || termination?.start());
    try {
      let child: ChildProcess;
      try {
        child = await spawnScript(command, args, options);
      } catch (error) {
        this.log_error(`CGI script exit code 127 (could not execute: ${describe(error)})`);
        await this.pipeBody(length, null, deadline.expired);
        return;
      }
      termination = new Termination(child, this.have_fork);
      const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve([child.exitCode, child.signalCode]);
        else child.once("exit", (code, signal) => resolve([code, signal]));
      });
      // A body cut off (the client timed out or went away) is never handed over as if whole: the
      // script is ended, so it cannot act on part of an upload.
      const body = this.pipeBody(length, child.stdin!, deadline.expired).then((whole) => {
        if (whole) return;
        if (!finished && child.exitCode === null && child.signalCode === null) {
          bodyLost = true;
          termination!.start(); // signalled before its stdin closes: it never reads an early end
        }
        child.stdin!.destroy();
      });
      // The output ends when every process holding the pipes has closed them: a background
      // child the script left running keeps the reply open, until the timeout ends it too.
      await Promise.all([this.forwardOutput(child.stdout!), this.logErrors(child.stderr!)]);
      const [code, signal] = await exited;
      finished = true;
      await body;
      if (termination.signal && bodyLost) {
        this.log_error(`CGI script ended with ${termination.signal}: its request body was cut off`);
      } else if (termination.signal) {
        const unit = this.cgi_timeout === 1 ? "second" : "seconds";
        this.log_error(`CGI script timed out after ${this.cgi_timeout} ${unit} and was killed with ${termination.signal}`);
      } else if (signal) {
        this.log_error(`CGI script exit code ${-(osConstants.signals[signal] ?? 0)} (killed by ${signal})`);
      } else if (code) {
        this.log_error(`CGI script exit code ${code}`);
      }
    } finally {
      deadline.cancel();
      termination?.cancel();
    }
  }

  /**
   * Reads exactly `length` bytes of request body (fewer if the connection ends) and writes them to
   * the script's stdin, then closes it. Once the script stops reading, the rest is still read and
   * dropped, so a client still sending is never left blocked. Gives up when `stop` settles.
   * Resolves false when reading failed (a body timeout, a reset), leaving stdin open for the
   * caller to end the script first.
   */
  private async pipeBody(length: number, stdin: Writable | null, stop: Promise<null>): Promise<boolean> {
    let sink = stdin;
    stdin?.on("error", () => (sink = null)); // EPIPE: the script closed its stdin or exited
    let remaining = length;
    try {
      while (remaining > 0) {
        const chunk = await Promise.race([this.rfile.read1(Math.min(remaining, BODY_CHUNK)), stop]);
        if (!chunk || chunk.length === 0) break;
        remaining -= chunk.length;
        if (sink && !sink.write(chunk)) await Promise.race([writable(sink), stop]);
      }
    } catch {
      return false; // the connection failed: nothing more will arrive
    }
    if (sink && !sink.destroyed) sink.end();
    return true;
  }

  /** Copies the script's stdout to the client, each write awaited. HTTP/0.9 gets the body only. */
  private async forwardOutput(stdout: Readable): Promise<void> {
    const strip = this.request_version === "HTTP/0.9" ? headerBlockStripper() : null;
    try {
      for await (const chunk of stdout as AsyncIterable<Buffer>) {
        const data = strip ? strip(chunk) : chunk;
        if (data.length === 0) continue;
        try {
          await this.wfile.write(data);
        } catch {
          // The client is gone. Closing the pipe ends the script on its next write (SIGPIPE),
          // as writing to the closed socket would under Python.
          stdout.destroy();
          return;
        }
      }
    } catch {
      // The pipe was destroyed (a timed-out script's descendants still held it).
    }
  }

  /** Logs each line the script writes to stderr with `log_error`. */
  private async logErrors(stderr: Readable): Promise<void> {
    const decoder = new StringDecoder("utf8");
    let pending = "";
    const emit = (line: string) => this.log_error("%s", line.endsWith("\r") ? line.slice(0, -1) : line);
    try {
      for await (const chunk of stderr as AsyncIterable<Buffer>) {
        pending += decoder.write(chunk);
        let newline: number;
        while ((newline = pending.indexOf("\n")) >= 0) {
          emit(pending.slice(0, newline));
          pending = pending.slice(newline + 1);
        }
        while (pending.length > MAX_LOG_LINE) {
          emit(pending.slice(0, MAX_LOG_LINE));
          pending = pending.slice(MAX_LOG_LINE);
        }
      }
    } catch {
      // Destroyed after a timeout.
    }
    pending += decoder.end();
    if (pending) emit(pending);
  }
}

/**
 * `path` without a raw fragment: `translate_path` drops everything from the first `#`, so
 * `is_cgi()` must not judge what follows it either (`/cgi-bin/x.sh#/../..` is `x.sh` to both; to
 * Python's `is_cgi()` it is `/`, and the script's source is served). A `#` inside the query stays
 * in `QUERY_STRING`, as in Python.
 */
function withoutFragment(path: string): string {
  const hash = path.indexOf("#");
  if (hash < 0) return path;
  const mark = path.indexOf("?");
  return mark >= 0 && mark < hash ? path : path.slice(0, hash);
}

/** `Content-Length` as a byte count; absent, negative or malformed means no body. */
function contentLength(value: string | undefined): number {
  if (!value) return 0;
  const trimmed = value.trim();
  if (!/^\+?\d+$/.test(trimmed)) return 0;
  const n = Number(trimmed);
  return Number.isSafeInteger(n) ? n : 0;
}

/** `os.stat(path)`, or null where Python's `os.path.exists` would say False. */
async function statOrNull(path: string): Promise<Stats | null> {
  try {
    return await stat(fsencode(path));
  } catch {
    return null;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return (await statOrNull(path))?.isDirectory() ?? false;
}

/** `Basic` credentials as Python decodes them (lenient base64, then ASCII), or null. */
function decodeBasicCredentials(token: string): string | null {
  for (let i = 0; i < token.length; i++) if (token.charCodeAt(i) > 0x7f) return null;
  const bytes = a2bBase64(token);
  if (!bytes) return null;
  for (const byte of bytes) if (byte > 0x7f) return null;
  return Buffer.from(bytes).toString("latin1");
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * `binascii.a2b_base64` (non-strict, as `base64.decodebytes` uses it): characters outside the
 * alphabet are skipped, a complete pad ends the input, and a dangling partial quad is an error (null).
 */
function a2bBase64(text: string): number[] | null {
  const out: number[] = [];
  let quad = 0;
  let left = 0;
  let pads = 0;
  for (const char of text) {
    if (char === "=") {
      if (quad >= 2 && quad + ++pads >= 4) return out;
      continue;
    }
    const value = BASE64.indexOf(char);
    if (value < 0) continue;
    pads = 0;
    switch (quad) {
      case 0:
        left = value;
        quad = 1;
        break;
      case 1:
        out.push(((left << 2) | (value >> 4)) & 0xff);
        left = value & 0x0f;
        quad = 2;
        break;
      case 2:
        out.push(((left << 4) | (value >> 2)) & 0xff);
        left = value & 0x03;
        quad = 3;
        break;
      default:
        out.push(((left << 6) | value) & 0xff);
        quad = 0;
    }
  }
  return quad === 0 ? out : null;
}

/**
 * For HTTP/0.9 replies: drops everything up to and including the first blank line (`\n\n` or
 * `\n\r\n`) of the script's output. A block longer than `MAX_HEADER_BLOCK` is sent unchanged.
 */
function headerBlockStripper(): (chunk: Buffer) => Buffer {
  // The leading newline lets output that starts with a blank line (no headers) match too.
  let head: Buffer | null = Buffer.from("\n");
  return (chunk) => {
    if (!head) return chunk;
    const all = Buffer.concat([head, chunk]);
    const end = blankLineEnd(all);
    if (end < 0 && all.length <= MAX_HEADER_BLOCK) {
      head = all;
      return EMPTY;
    }
    head = null;
    return all.subarray(end < 0 ? 1 : end);
  };
}

/** The offset just after the first `\n\n` or `\n\r\n` in `bytes`, or -1. */
function blankLineEnd(bytes: Buffer): number {
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) {
    if (bytes[i + 1] === 0x0a) return i + 2;
    if (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}

/** Quotes a command-line word for the `command:` log line when it needs it. */
function quoteArgument(word: string): string {
  return word === "" || /[\s"]/.test(word) ? `"${word.replace(/"/g, '\\"')}"` : word;
}
