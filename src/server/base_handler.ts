/**
 * `http.server.BaseHTTPRequestHandler`: parses HTTP/0.9–1.1 requests from `rfile`, dispatches
 * them to `do_<COMMAND>` methods, and writes responses to `wfile` — byte for byte as CPython 3.14
 * does, plus gh-54930 (a status line on errors for malformed request lines).
 *
 * A request is a request line (`<command> <path> <version>`), header lines, a blank line and an
 * optional body the handler reads itself. A two-word request line (`GET /path`) is HTTP/0.9:
 * no headers are read, and the reply is the body alone.
 *
 * Beyond Python, for a server that hostile clients cannot hold or confuse (docs/SECURITY.md):
 * timeouts for reading a request, for an idle keep-alive connection and for a client that stops
 * reading; requests with ambiguous body framing refused with 400; a body the handler leaves
 * unread skipped (or the connection closed) rather than parsed as the next request; a client that
 * resets the connection logged in one line.
 */
import type { Socket } from "node:net";
import { writeLogLine } from "../socketserver/log_writer.js";
import { StreamRequestHandler, isTimeoutError, type BinaryWriter } from "../socketserver/handlers.js";
import type { Address } from "../socketserver/address.js";
import type { BaseServer } from "../socketserver/servers.js";
import { SocketTimeoutError } from "../socketserver/reader.js";
import { expectNothingMore } from "../socketserver/deadlines.js";
import { ConnectionClosedError, SocketWriter, WRITTEN } from "../socketserver/writer.js";
import {
  BadHeaderLine,
  HTTPMessage,
  HTTPException,
  HeadersTooLarge,
  LineTooLong,
  parseHeadersSoon,
  type HeaderRules,
  type MessageFactory,
} from "../http/message.js";
import { FramingError, NO_BODY, requestFraming } from "../http/framing.js";
import { ChunkedEncodingError } from "../http/chunked.js";
import { RequestBody, RequestBodyError, type BodyOptions } from "./request_body.js";
import type { FormOptions, FormPart } from "./forms.js";
import { responses as statusResponses, type Responses } from "../http/status.js";
import { formatHttpDate, httpDateNow, logDateNow, WEEKDAY_NAMES, MONTH_NAMES } from "../http/dates.js";
import { percentFormat, pyRepr } from "../py/format.js";
import { htmlEscape, isLatin1, rstrip, scrubControlCharacters, splitWhitespace, lstrip } from "../py/text.js";

export const __version__ = "0.6";

/** The error page template of 3.14 (`%(code)d`, `%(message)s`, `%(explain)s`). */
export const DEFAULT_ERROR_MESSAGE = `<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <style type="text/css">
            :root {
                color-scheme: light dark;
            }
        </style>
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: %(code)d</p>
        <p>Message: %(message)s.</p>
        <p>Error code explanation: %(code)s - %(explain)s.</p>
    </body>
</html>
`;

export const DEFAULT_ERROR_CONTENT_TYPE = "text/html;charset=utf-8";

/** The longest request line, in bytes, terminator included; one byte more gives 414. */
const MAX_REQUEST_LINE = 65536;

/**
 * A request head up to this size is never refused for the server's `max_header_memory`: a
 * well-behaved client is not turned away because others hold the budget.
 */
const HEAD_SHARE_FLOOR = 64 * 1024;

/** Status codes whose responses carry no body (`send_error` sends no page for them). */
const BODILESS = new Set([204, 205, 304]);

/** What a connection is waiting for, and so which timeout applies. */
const enum Phase {
  /** The handler is at work: only `write_timeout` applies. */
  Handling,
  /** The request line and headers: `header_timeout`, from the connection's or request's start. */
  Headers,
  /** The first byte of the next request on a kept-alive connection: `keepalive_timeout`. */
  Idle,
  /** The rest of a body the handler left unread: `header_timeout` again. */
  Draining,
}

/** The errors by which a peer that went away shows itself, on a read or a write. */
const CONNECTION_LOST = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ETIMEDOUT"]);

/** A connection closed by one of our timeouts (already logged); a `TimeoutError` to its handler. */
class ConnectionExpired extends SocketTimeoutError {}

type HandlerClass = typeof BaseHTTPRequestHandler;

export class BaseHTTPRequestHandler<S extends BaseServer<any> = BaseServer> extends StreamRequestHandler<S> {
  // Class attributes. Each is mirrored by an instance field, so a subclass may override either
  // (`protocol_version = "HTTP/1.1"` or `static protocol_version = …`), and setting one on a
  // class (`Handler.protocol_version = "HTTP/1.1"`) applies to every later connection.
  static server_version = "BaseHTTP/" + __version__;
  static sys_version = "Node.js/" + process.versions.node;
  static error_message_format = DEFAULT_ERROR_MESSAGE;
  static error_content_type = DEFAULT_ERROR_CONTENT_TYPE;
  static default_request_version = "HTTP/0.9";
  static protocol_version = "HTTP/1.0";
  /**
   * `TCP_NODELAY` on every connection. Python leaves Nagle's algorithm on; we turn it off, as
   * Node's own http server does: a response leaves in one write anyway, and Nagle would only hold
   * back the last segment of a file until the client's delayed ACK (up to 40 ms). No byte changes.
   * @default true
   */
  static override disable_nagle_algorithm = true;
  static MessageClass: MessageFactory = HTTPMessage;
  static responses: Responses = statusResponses;
  static weekdayname: readonly string[] = WEEKDAY_NAMES;
  static monthname: readonly (string | null)[] = MONTH_NAMES;
  /**
   * Seconds a client has to send the request line and headers, in all — counted from the
   * connection's start, or on a kept-alive connection from the first byte of the request — so a
   * client trickling bytes (slowloris) is cut off. `null`: no limit (Python's behaviour).
   * @default 30
   */
  static header_timeout: number | null = 30;
  /** Seconds a kept-alive connection may sit idle between requests. `null`: no limit. @default 5 */
  static keepalive_timeout: number | null = 5;
  /**
   * Seconds a response may wait on a client that has stopped reading (one write, not the whole
   * response). `null`: no limit.
   * @default 60
   */
  static write_timeout: number | null = 60;
  /**
   * Seconds a read of the request body (`rfile.read()`, `read_body()`, a CGI script's stdin) may
   * wait between two bytes from the client; past it the connection is closed, logged once, and
   * the read rejects with a `TimeoutError`. `null`: no limit (Python's behaviour).
   * @default 60
   */
  static body_timeout: number | null = 60;
  /**
   * Bytes of request body the handler left unread that are read and dropped so the connection
   * can carry another request; a longer rest closes the connection instead.
   * @default 1048576 (1 MiB)
   */
  static drain_limit = 1 << 20;
  /**
   * Bytes a request's line and headers may take in all; a longer head gets 431. Python's own
   * limits (65,536 bytes a line, 100 lines) apply first and allow heads of up to 6.5 MB. While
   * heads arrive, the bytes they hold also count against the server's `max_header_memory`.
   * @default 1048576 (1 MiB)
   */
  static max_header_size = 1 << 20;

  server_version: string = (this.constructor as HandlerClass).server_version;
  sys_version: string = (this.constructor as HandlerClass).sys_version;
  error_message_format: string = (this.constructor as HandlerClass).error_message_format;
  error_content_type: string = (this.constructor as HandlerClass).error_content_type;
  default_request_version: string = (this.constructor as HandlerClass).default_request_version;
  protocol_version: string = (this.constructor as HandlerClass).protocol_version;
  MessageClass: MessageFactory = (this.constructor as HandlerClass).MessageClass;
  responses: Responses = (this.constructor as HandlerClass).responses;
  weekdayname: readonly string[] = (this.constructor as HandlerClass).weekdayname;
  monthname: readonly (string | null)[] = (this.constructor as HandlerClass).monthname;
  header_timeout: number | null = (this.constructor as HandlerClass).header_timeout;
  keepalive_timeout: number | null = (this.constructor as HandlerClass).keepalive_timeout;
  write_timeout: number | null = (this.constructor as HandlerClass).write_timeout;
  body_timeout: number | null = (this.constructor as HandlerClass).body_timeout;
  drain_limit: number = (this.constructor as HandlerClass).drain_limit;
  max_header_size: number = (this.constructor as HandlerClass).max_header_size;

  // Per-request state, as Python names it.
  raw_requestline: Buffer = EMPTY;
  requestline = "";
  command: string | null = null;
  path = "";
  request_version = "";
  headers: HTTPMessage = new HTTPMessage();
  close_connection = true;
  /**
   * Python's: the status line and headers that `send_response()`/`send_header()` buffer until
   * `flush_headers()` writes them, one Latin-1 string a line. Kept public, as Python's tests and
   * subclasses read it.
   */
  _headers_buffer: string[] = [];

  /** True while waiting for the first byte of a request on a kept-alive connection. */
  private idle = false;
  private closing = false;

  // Deadlines, checked by the server's sweep (`checkDeadline`): no timer per request.
  /** Whether the server's sweep watches this connection (not when Python's `timeout` is set). */
  private watched = false;
  private phase = Phase.Handling;
  /** When (`Date.now()`) the current phase expires; 0: never. */
  private deadline = 0;
  /** `rfile.received` when the connection went idle: a change means the next request began. */
  private idleMark = 0;
  /** Handled after its header deadline had passed: cut off after one turn of the event loop. */
  private overdue = false;
  /** While the handler waits to read: `rfile.received` when a sweep last saw bytes come, and then. */
  private readMark = 0;
  private readSince = 0;

  /** `rfile.consumed` where the current request began. */
  private headStart = 0;
  /** Bytes this request's unfinished head counts against the server's `max_header_memory`. */
  private headHeld = 0;
  /** Headers are read strictly, and metered while they arrive piece by piece. */
  private readonly headerRules: HeaderRules = { strict: true, waiting: () => this.meterHead() };

  /** The current request's body; null when it has none. */
  private requestBody: RequestBody | null = null;
  /** Whether a final response to this request has been started (`send_response`). */
  private responded = false;
  /** Whether the current request's line and headers were parsed (`parse_request` returned true). */
  private headParsed = false;

  constructor(request: Socket, client_address: Address, server: S) {
    super(request, client_address, server);
  }

  /**
   * Also starts the deadlines, unless Python's `timeout` is set (it then governs alone). The
   * header deadline runs from when the connection was accepted (queued), so waiting for a free
   * slot counts: a burst of silent connections beyond `max_connections` cannot hold back those
   * behind it for longer than one header timeout.
   */
  override setup(): void {
    super.setup();
    const sweeper = this.server?._sweeper;
    const shortest = shortestTimeout(this.header_timeout, this.keepalive_timeout, this.write_timeout, this.body_timeout);
    if (this.timeout === null && sweeper && shortest !== null) {
      sweeper.watch(this, shortest * 1000);
      this.watched = true;
    }
    const now = Date.now();
    this.arm(Phase.Headers, this.server?._queuedAt?.(this.request) ?? now);
    if (this.deadline !== 0 && this.deadline <= now) this.lastChance();
  }

  /**
   * A connection handled only after its header deadline passed (it waited in the accept queue):
   * what it sent meanwhile waits in the kernel, and is read in the next turn of the event loop.
   * Once that turn is over (after the poll phase that reads it), it is cut off unless its request
   * line and headers were complete. The sweep leaves it alone until then.
   */
  private lastChance(): void {
    this.deadline = 0;
    this.overdue = true;
    setImmediate(() =>
      setImmediate(() => {
        if (this.overdue && this.phase === Phase.Headers) this.expire(headerTimeoutMessage(this.header_timeout!));
      }),
    );
  }

  /**
   * Also tells the server when the client has nothing more to send — its last request was read
   * whole and nothing after it arrived — so the connection closes without lingering.
   */
  override finish(): void {
    this.overdue = false;
    if (this.watched) this.server._sweeper.unwatch(this);
    this.watched = false;
    if (this.headParsed && this.rfile.pending === 0 && this.request && !announcesBody(this.headers)) expectNothingMore(this.request);
    super.finish();
  }

  /** Handles requests until the connection is to close. */
  override async handle(): Promise<void> {
    this.close_connection = true;
    await this.handle_one_request();
    while (!this.close_connection && !this.closing) await this.handle_one_request();
  }

  /** Reads, parses and answers one request. */
  async handle_one_request(): Promise<void> {
    try {
      this.idle = this.rfile.pending === 0;
      // The first request's header deadline runs from the connection's start (see setup()).
      if (this.phase === Phase.Handling) this.arm(this.idle ? Phase.Idle : Phase.Headers);
      this.responded = false;
      this.headParsed = false;
      this.headStart = this.rfile.consumed ?? 0;
      const next = this.readRequestLine();
      const line = next instanceof Promise ? await next : next;
      this.idle = false;
      this.raw_requestline = line;
      if (line.length > MAX_REQUEST_LINE) {
        this.disarm();
        this.requestline = "";
        this.request_version = "";
        this.command = "";
        this.send_error(414);
        return;
      }
      if (line.length === 0) {
        this.close_connection = true;
        return;
      }
      const parsed = await this.parse_request();
      this.disarm();
      if (!parsed) return;
      this.headParsed = true;
      const method = (this as unknown as Record<string, unknown>)[methodName(this.command!)];
      if (typeof method !== "function") {
        this.send_error(501, `Unsupported method (${pyRepr(this.command)})`);
        return;
      }
      await method.call(this);
      if (this.wfile.needsDrain || this.wfile.broken) await this.wfile.flush();
      if (this.requestBody && !this.close_connection) await this.skipUnreadBody(this.requestBody);
    } catch (error) {
      if (!this.handleConnectionError(error)) throw error;
    }
  }

  /**
   * The request line, `detached()` from the buffer it came in. Not read in `handle_one_request`
   * itself: a value an async function once held can stay in its suspended frame, and the slice
   * would keep its whole socket read alive for the whole request.
   */
  private readRequestLine(): Buffer | Promise<Buffer> {
    // A Python-style rfile (a BytesIO in a test) has only readline().
    const line = this.rfile.readlineIfBuffered?.(MAX_REQUEST_LINE + 1);
    return line ? detached(line) : Promise.resolve(this.rfile.readline(MAX_REQUEST_LINE + 1)).then(detached);
  }

  /**
   * The failures that end a connection without being a fault of the handler, each logged in one
   * line: one of our timeouts (logged when it expired), Python's `timeout`, a peer that went away,
   * a malformed chunked body. Returns false for anything else (a real exception).
   */
  private handleConnectionError(error: unknown): boolean {
    this.close_connection = true;
    const reading = this.phase === Phase.Headers || this.phase === Phase.Idle;
    this.disarm();
    if (error instanceof ConnectionExpired) return true; // logged when it expired
    if (isTimeoutError(error)) {
      this.log_error("Request timed out: %r", error);
      return true;
    }
    if (error instanceof ChunkedEncodingError) {
      this.log_error("Bad chunked request body (%s)", error.message);
      if (!this.responded) void this.send_error(400, "Bad chunked request body");
      return true;
    }
    if (error instanceof RequestBodyError) {
      // The error page says why (`code 413, message …` in the log); answered already, a line alone.
      if (this.responded) this.log_error("%s", error.message);
      else void this.send_error(error.status, error.message).catch(() => {});
      return true;
    }
    const code = (error as NodeJS.ErrnoException | null)?.code;
    if (typeof code !== "string" || !CONNECTION_LOST.has(code)) return false;
    // A client leaving between requests is not worth a line; one leaving mid-request is.
    if (reading && this.idle && this.rfile.pending === 0) return true;
    const what = code === "ECONNRESET" ? "Connection reset by peer" : code === "EPIPE" ? "Broken pipe" : `Connection lost (${code})`;
    if (reading) this.log_error("%s while reading a request", what);
    else this.log_error('%s while %s "%s"', what, error instanceof ConnectionClosedError ? "sending" : "receiving", this.requestline);
    return true;
  }

  /**
   * Reads the request body as the client framed it — `Content-Length` bytes, or the chunks of a
   * `Transfer-Encoding: chunked` body, decoded — up to `n` bytes (all that is left when `n` is
   * negative); an empty buffer at its end, or when there is no body. `rfile` stays the raw
   * stream, as in Python: read the body one way or the other, not both.
   * @throws ChunkedEncodingError for a malformed chunked body (the connection then closes)
   */
  read_body(n = -1): Promise<Buffer> {
    return this.requestBody ? this.requestBody.read(n) : Promise.resolve(EMPTY);
  }

  /**
   * The request body's pieces as they arrive — `Content-Length` bytes or the decoded chunks of a
   * chunked body — each at most 64 KiB, so memory stays flat however large the body:
   * `for await (const chunk of this.body({ limit: 10 << 20 })) …`. Nothing when there is no body.
   * Past `limit` (or a `Content-Length` above it, before anything is read) it throws a
   * `RequestBodyError` with status 413, which — left uncaught — answers `413` and closes the
   * connection; a client that stops sending halfway is a 400 (`RequestBodyError`).
   */
  body(options: BodyOptions = {}): AsyncGenerator<Buffer, void, undefined> {
    return this.requestBody ? this.requestBody.chunks(options.limit) : noChunks();
  }

  /**
   * The whole request body in one Buffer, at most `limit` bytes (default 1 MiB; more is a
   * `RequestBodyError` 413, as with `body()`); empty when there is none.
   */
  body_bytes(options: BodyOptions = {}): Promise<Buffer> {
    return this.requestBody ? this.requestBody.bytes(options.limit) : Promise.resolve(EMPTY);
  }

  /**
   * The fields and files of a `multipart/form-data` or `application/x-www-form-urlencoded` body,
   * parsed as it streams in (busboy): `for await (const part of this.form()) …`, each a field
   * (`part.value`, a string) or a file (`part.stream`, to read before asking for the next part).
   * Limits and their errors: see `FormOptions` (src/server/forms.ts).
   */
  form(options: FormOptions = {}): AsyncGenerator<FormPart, void, undefined> {
    return parsedForm(this.headers, this.body({ limit: options.limit ?? Infinity }), options);
  }

  /**
   * After the handler, on a connection to keep: reads and drops the body it left unread, so those
   * bytes are not taken for the next request (Python would parse them as one). A rest longer than
   * `drain_limit`, or a chunked body read around `read_body()`, closes the connection instead.
   */
  private async skipUnreadBody(body: RequestBody): Promise<void> {
    this.arm(Phase.Draining);
    const complete = await body.skip(this.drain_limit);
    this.disarm();
    if (!complete) this.close_connection = true;
  }

  /** Enters `phase` and starts its deadline (if the sweep watches this connection). */
  private arm(phase: Phase, now?: number): void {
    this.phase = phase;
    this.overdue = false;
    if (phase === Phase.Idle) this.idleMark = this.rfile.received;
    if (!this.watched) return;
    const seconds = phase === Phase.Idle ? this.keepalive_timeout : this.header_timeout;
    this.deadline = seconds === null ? 0 : (now ?? Date.now()) + seconds * 1000;
  }

  private disarm(): void {
    this.phase = Phase.Handling;
    this.overdue = false;
    this.deadline = 0;
  }

  /**
   * Called by the server's sweep: closes the connection when the current phase's deadline has
   * passed, or when a write has waited `write_timeout` seconds for a client that does not read.
   */
  checkDeadline(now: number): void {
    const stalled = this.wfile.waitingSince;
    if (stalled !== 0 && this.write_timeout !== null && now - stalled >= this.write_timeout * 1000) {
      this.expire(`Request timed out: the client stopped reading for ${seconds(this.write_timeout)} while sending "${this.requestline}"`);
      return;
    }
    if (this.phase === Phase.Handling && this.body_timeout !== null && this.readStalled(now)) {
      this.expire(`Request timed out: the client stopped sending for ${seconds(this.body_timeout)} while receiving "${this.requestline}"`);
      return;
    }
    if (this.phase === Phase.Idle && this.rfile.received !== this.idleMark) {
      this.arm(Phase.Headers, now); // the next request has begun
      return;
    }
    if (this.deadline === 0 || now < this.deadline) return;
    if (this.phase === Phase.Idle) {
      this.expire(null); // the normal end of an idle keep-alive connection: not worth a line
    } else if (this.phase === Phase.Headers) {
      this.expire(headerTimeoutMessage(this.header_timeout!));
    } else {
      this.expire(`Request timed out: the unread request body took more than ${seconds(this.header_timeout!)}`);
    }
  }

  /**
   * Whether the handler has been waiting to read for `body_timeout` with no byte arriving: from
   * the first sweep that sees it wait (or a byte arrive), so never early, and late by at most two
   * sweep periods. Costs nothing on the read path.
   */
  private readStalled(now: number): boolean {
    const rfile = this.rfile;
    if (!rfile.waiting) {
      this.readSince = 0;
      return false;
    }
    if (this.readSince === 0 || rfile.received !== this.readMark) {
      this.readMark = rfile.received;
      this.readSince = now;
      return false;
    }
    return now - this.readSince >= this.body_timeout! * 1000;
  }

  /** Logs `message` (unless null), then closes the connection; whatever the handler awaits fails. */
  private expire(message: string | null): void {
    this.server._sweeper.unwatch(this); // expired once, logged once
    this.watched = false;
    this.disarm();
    this.close_connection = true;
    if (message !== null) this.log_error("%s", message);
    const error = new ConnectionExpired();
    this.rfile.fail(error);
    this.wfile.fail(error);
    this.connection.destroy();
  }

  /**
   * Parses `raw_requestline` and the headers into `command`, `path`, `request_version` and
   * `headers`. Returns false, having sent the error response if any, when the request is bad.
   */
  async parse_request(): Promise<boolean> {
    this.command = null;
    this.requestBody = null;
    let version = this.default_request_version;
    this.request_version = version;
    this.close_connection = true;
    const requestline = rstrip(this.raw_requestline.toString("latin1"), "\r\n");
    this.requestline = requestline;
    const words = splitWhitespace(requestline);
    if (words.length === 0) return false;

    if (words.length >= 3) {
      version = words[words.length - 1]!;
      const number = parseVersion(version);
      if (!number) {
        this.request_version = ""; // gh-54930: answer with a status line
        this.send_error(400, `Bad request version (${pyRepr(version)})`);
        return false;
      }
      this.request_version = version;
      const [major, minor] = number;
      if ((major > 1 || (major === 1 && minor >= 1)) && this.protocol_version >= "HTTP/1.1") {
        this.close_connection = false;
      }
      if (major >= 2) {
        this.send_error(505, `Invalid HTTP version (${version.slice(version.indexOf("/") + 1)})`);
        return false;
      }
    }

    if (words.length < 2 || words.length > 3) {
      this.request_version = "";
      this.send_error(400, `Bad request syntax (${pyRepr(requestline)})`);
      return false;
    }
    const [command, path] = words as [string, string];
    if (words.length === 2) {
      this.close_connection = true;
      if (command !== "GET") {
        this.request_version = "";
        this.send_error(400, `Bad HTTP/0.9 request type (${pyRepr(command)})`);
        return false;
      }
    }
    this.command = command;
    // gh-87389: `//host/x` would read as a scheme-relative URL in a redirect; keep one slash.
    this.path = path.startsWith("//") ? "/" + lstrip(path, "/") : path;

    if (words.length === 2) {
      // HTTP/0.9 has no headers (3.14): nothing more is read.
      this.headers = new this.MessageClass();
      return true;
    }
    try {
      const headers = parseHeadersSoon(this.rfile, this.MessageClass, this.headerRules);
      this.headers = headers instanceof Promise ? await headers : headers;
      if (this.rfile.consumed - this.headStart > this.max_header_size) throw this.headTooLarge();
    } catch (error) {
      if (error instanceof BadHeaderLine) {
        // Not in Python, which reads on (see checkFieldLines): refused, and the connection closes.
        this.send_error(400, `Bad header line (${pyRepr(error.line)})`);
        return false;
      }
      if (error instanceof HeadersTooLarge) {
        this.send_error(431, null, error.message);
        return false;
      }
      if (error instanceof LineTooLong) {
        this.send_error(431, "Line too long", error.message);
        return false;
      }
      if (error instanceof HTTPException) {
        this.send_error(431, "Too many headers", error.message);
        return false;
      }
      throw error;
    } finally {
      if (this.headHeld !== 0) this.releaseHead();
    }
    if (!this.frameBody()) return false;

    const conntype = this.headers.get("Connection", "").toLowerCase();
    if (conntype === "close") {
      this.close_connection = true;
    } else if (conntype === "keep-alive" && this.protocol_version >= "HTTP/1.1") {
      this.close_connection = false;
    }
    // A chunked HTTP/1.0 request cannot be trusted to end where it says (RFC 9112 §6.1).
    if (this.request_version < "HTTP/1.1" && this.headers.has("Transfer-Encoding")) this.close_connection = true;
    const expect = this.headers.get("Expect", "").toLowerCase();
    if (expect === "100-continue" && this.protocol_version >= "HTTP/1.1" && this.request_version >= "HTTP/1.1") {
      if (!(await this.handle_expect_100())) return false;
    }
    return true;
  }

  /**
   * While a head arrives piece by piece (before each wait for a header line): counts the bytes it
   * holds against the server's `max_header_memory`, and stops it — `HeadersTooLarge`, a 431 —
   * once it is over `max_header_size`, or over 64 KiB while the server is over its budget.
   */
  private meterHead(): void {
    const held = this.rfile.received - this.headStart;
    if (held > this.max_header_size) throw this.headTooLarge();
    const server = this.server;
    if (!server) return;
    server._headerBytes += held - this.headHeld;
    this.headHeld = held;
    if (held > HEAD_SHARE_FLOOR && server._headerBytes > server.max_header_memory) {
      throw new HeadersTooLarge(
        `got more than ${HEAD_SHARE_FLOOR} bytes when reading the request line and headers, while unfinished requests hold more than ${server.max_header_memory} bytes`,
      );
    }
  }

  private headTooLarge(): HeadersTooLarge {
    return new HeadersTooLarge(`got more than ${this.max_header_size} bytes when reading the request line and headers`);
  }

  /** The head is complete (or failed): its bytes no longer count against the server's budget. */
  private releaseHead(): void {
    if (this.server) this.server._headerBytes -= this.headHeld;
    this.headHeld = 0;
  }

  /**
   * Notes where the body starts and how it is framed; a request whose framing is ambiguous
   * (request smuggling) gets 400 and the connection closes. Not in Python.
   */
  private frameBody(): boolean {
    let framing: number;
    try {
      framing = requestFraming(this.headers);
    } catch (error) {
      if (!(error instanceof FramingError)) throw error;
      this.send_error(400, error.message);
      return false;
    }
    if (framing !== NO_BODY && framing !== 0) this.requestBody = new RequestBody(this.rfile, framing);
    return true;
  }

  /**
   * Answers `Expect: 100-continue` with `100 Continue` (written at once, not logged) and returns
   * true. Override it to refuse: send an error and return false.
   */
  handle_expect_100(): boolean | Promise<boolean> {
    this.send_response_only(100);
    this.end_headers();
    return true;
  }

  /**
   * Sends an error response: status line, `Server`, `Date`, `Connection: close` and, except for
   * 1xx/204/205/304, an HTML page built from `error_message_format` (not sent for HEAD).
   */
  send_error(code: number, message?: string | null, explain?: string | null): Promise<void> {
    const [shortMessage, longMessage] = this.responses[code] ?? ["???", "???"];
    message ??= shortMessage;
    explain ??= longMessage;
    this.log_error("code %d, message %s", code, message);
    this.send_response(code, message);
    this.send_header("Connection", "close");

    let body: Buffer | null = null;
    if (code >= 200 && !BODILESS.has(code)) {
      body = errorPage(this.error_message_format, code, message, explain);
      this.send_header("Content-Type", this.error_content_type);
      this.send_header("Content-Length", String(body.length));
    }
    const headers = this.end_headers();
    if (this.command !== "HEAD" && body) return written(this.wfile.write(body));
    return headers;
  }

  /** Logs the request, then buffers the status line, `Server` and `Date`. */
  send_response(code: number, message?: string | null): void {
    this.responded = true;
    this.log_request(code);
    this.send_response_only(code, message);
    this.send_header("Server", this.version_string());
    this.send_header("Date", this.date_time_string());
  }

  /** Buffers the status line alone (`HTTP/1.0 200 OK`); nothing for HTTP/0.9. */
  send_response_only(code: number, message?: string | null): void {
    if (this.request_version === "HTTP/0.9") return;
    message ??= this.responses[code]?.[0] ?? "";
    this._headers_buffer.push(latin1(`${this.protocol_version} ${Math.trunc(code)} ${message}\r\n`));
  }

  /**
   * Buffers a header line. `Connection: close` / `keep-alive` also decide whether the connection
   * stays open. Like Python's, it does not reject CR or LF in names or values.
   */
  send_header(keyword: string, value: string | number): void {
    if (this.request_version !== "HTTP/0.9") {
      this._headers_buffer.push(headerLine(keyword, value));
    }
    if (keyword.length === 10 && keyword.toLowerCase() === "connection") {
      const lower = String(value).toLowerCase();
      if (lower === "close") this.close_connection = true;
      else if (lower === "keep-alive") this.close_connection = false;
    }
  }

  /**
   * Adds the blank line that ends the headers and sends them. With nothing buffered (no
   * `send_response()` or `send_header()` since the last flush) it throws, as Python's raises
   * (`AttributeError: _headers_buffer`), rather than write a bare blank line.
   */
  end_headers(): Promise<void> {
    if (this.request_version !== "HTTP/0.9") {
      if (this._headers_buffer.length === 0) {
        throw new Error("end_headers() with no status line or header buffered: call send_response(code) first");
      }
      this._headers_buffer.push("\r\n");
    }
    return this.flush_headers();
  }

  /**
   * Sends the buffered status line and headers in one write: to our own `wfile` as a Latin-1
   * string (encoded straight into the socket's write), to any other — a Python-style file that
   * takes bytes, a `BytesIO` in a test — as a Buffer.
   */
  flush_headers(): Promise<void> {
    if (this._headers_buffer.length === 0) return written(this.wfile.write(EMPTY));
    const block = this._headers_buffer.join("");
    this._headers_buffer = [];
    const wfile: SocketWriter | BinaryWriter = this.wfile;
    if (wfile instanceof SocketWriter) return wfile.write(block, "latin1");
    return written(wfile.write(Buffer.from(block, "latin1")));
  }

  /** Logs an accepted request: `"GET / HTTP/1.0" 200 -`. */
  log_request(code: number | string = "-", size: number | string = "-"): void {
    this.log_message('"%s" %s %s', this.requestline, String(code), String(size));
  }

  /** Logs an error; by default the same as `log_message`. */
  log_error(format: string, ...args: unknown[]): void {
    this.log_message(format, ...args);
  }

  /**
   * Writes `<address> - - [<date>] <message>` to stderr. The message is `format % args`
   * (printf-style), with control characters escaped.
   */
  log_message(format: string, ...args: unknown[]): void {
    const message = scrubControlCharacters(percentFormat(format, args));
    writeLogLine(`${this.address_string()} - - [${this.log_date_time_string()}] ${message}\n`);
  }

  /** `server_version sys_version`, for the `Server` header. */
  version_string(): string {
    // Built once for the pair of values in force (a new string per request would also be
    // re-scanned as Latin-1 by `send_header`); the attributes may still change at any time.
    if (this.server_version !== versionCache.server || this.sys_version !== versionCache.sys) {
      versionCache = { server: this.server_version, sys: this.sys_version, text: this.server_version + " " + this.sys_version };
    }
    return versionCache.text;
  }

  /** An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) for `timestamp` (seconds), or now. */
  date_time_string(timestamp?: number | null): string {
    return timestamp == null ? httpDateNow() : formatHttpDate(timestamp);
  }

  /** The current local time, for logs: `21/Nov/2026 22:23:50`. */
  log_date_time_string(): string {
    return logDateNow();
  }

  /**
   * The client's address as logged: its host, with no DNS lookup. A Unix-socket peer has no host
   * (Python's `client_address` is then a string, and its `address_string()` raises IndexError):
   * its socket path if it bound one, else `unix:`, as nginx logs such peers.
   */
  address_string(): string {
    const address = this.client_address as Address | string;
    if (typeof address === "string") return address || "unix:";
    return address[0];
  }

  /** On `server_close()`: an idle keep-alive connection closes now, a busy one after its reply. */
  override server_closing(): void {
    this.closing = true;
    if (this.idle && this.rfile.pending === 0) this.connection.destroy();
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Error pages already made, by format, then by code, message and explanation: most errors are the
 * same few (`404 File not found`), and each page is a pure function of those four. A message or
 * explanation longer than `ERROR_PAGE_KEY_LIMIT` (a request line echoed back) is formatted each
 * time; each table is emptied when full, so memory stays bounded whatever clients send.
 */
const errorPages = new Map<string, Map<string, Buffer>>();
const ERROR_PAGE_FORMATS = 16;
const ERROR_PAGES_PER_FORMAT = 256;
const ERROR_PAGE_KEY_LIMIT = 512;

/** The bytes of `format` filled in for one error (Python's `%(code)d`, `%(message)s`, `%(explain)s`). */
function errorPage(format: string, code: number, message: string, explain: string): Buffer {
  const make = () => Buffer.from(percentFormat(format, { code, message: htmlEscape(message, false), explain: htmlEscape(explain, false) }), "utf8");
  if (message.length + explain.length > ERROR_PAGE_KEY_LIMIT) return make();
  let pages = errorPages.get(format);
  if (!pages) {
    if (errorPages.size >= ERROR_PAGE_FORMATS) errorPages.clear();
    errorPages.set(format, (pages = new Map()));
  }
  // The message's length first: no two (message, explanation) pairs make the same key.
  const key = `${code} ${message.length} ${message}${explain}`;
  let page = pages.get(key);
  if (page === undefined) {
    page = make();
    if (pages.size >= ERROR_PAGES_PER_FORMAT) pages.clear();
    pages.set(key, page);
  }
  return page;
}

/** A write's result as a Promise: a Python-style `wfile.write()` returns a count, not a Promise. */
function written(result: unknown): Promise<void> {
  return result instanceof Promise ? result : WRITTEN;
}

async function* noChunks(): AsyncGenerator<Buffer, void, undefined> {}

/**
 * `parseForm` (forms.ts), whose module is loaded by the first form parsed: a server that never
 * reads a form never compiles it.
 */
async function* parsedForm(headers: HTTPMessage, body: AsyncIterable<Buffer>, options: FormOptions): AsyncGenerator<FormPart, void, undefined> {
  const { parseForm } = await import("./forms.js");
  yield* parseForm(headers, body, options);
}

let versionCache = { server: "", sys: "", text: " " };
const HTTP_11: [number, number] = [1, 1];
const HTTP_10: [number, number] = [1, 0];

/** `"do_" + command`, kept for the commands seen (a bounded few): no new string per request. */
const methodNames = new Map<string, string>();

function methodName(command: string): string {
  let name = methodNames.get(command);
  if (name === undefined) {
    name = "do_" + command;
    if (command.length <= 32 && methodNames.size < 64) methodNames.set(command, name);
  }
  return name;
}

/**
 * `line` itself, or a copy when it is a small part of a large buffer (a socket read of 64 KiB
 * that goes on with the headers): kept for the whole request, the slice would keep all of it.
 */
function detached(line: Buffer): Buffer {
  const size = line.buffer.byteLength;
  return size > 8192 && line.length * 2 < size ? Buffer.from(line) : line;
}

/** The smallest of the timeouts that are set, or null when none is. */
function shortestTimeout(...timeouts: (number | null)[]): number | null {
  let shortest: number | null = null;
  for (const t of timeouts) if (t !== null && (shortest === null || t < shortest)) shortest = t;
  return shortest;
}

/** The line logged when a request line and headers did not arrive within `timeout` seconds. */
function headerTimeoutMessage(timeout: number): string {
  return `Request timed out: no complete request line and headers within ${seconds(timeout)}`;
}

/** `30 seconds`, `1 second`, `0.5 seconds`. */
function seconds(value: number): string {
  return value === 1 ? "1 second" : `${value} seconds`;
}

/** `Name: value\r\n`, checked as Latin-1 by its parts (testing the joined line would copy it). */
function headerLine(keyword: string, value: string | number): string {
  if (typeof value === "number" ? isLatin1(keyword) : isLatin1(keyword) && isLatin1(value)) return `${keyword}: ${value}\r\n`;
  return latin1(`${keyword}: ${value}\r\n`);
}

/** Python encodes header lines as Latin-1, strictly: other characters raise. */
function latin1(line: string): string {
  if (!isLatin1(line)) {
    throw new TypeError(`UnicodeEncodeError: 'latin-1' codec can't encode characters in ${pyRepr(line)}`);
  }
  return line;
}

/**
 * `HTTP/<major>.<minor>` with each number 1–10 ASCII digits, as Python's checks accept it
 * (`str.isdigit` admits superscripts, which `int()` then refuses: both mean 400).
 */
function parseVersion(version: string): [number, number] | null {
  if (version === "HTTP/1.1") return HTTP_11;
  if (version === "HTTP/1.0") return HTTP_10;
  if (!version.startsWith("HTTP/")) return null;
  const parts = version.slice(5).split(".");
  if (parts.length !== 2) return null;
  const numbers: number[] = [];
  for (const part of parts) {
    if (part.length === 0 || part.length > 10) return null;
    for (let i = 0; i < part.length; i++) {
      const code = part.charCodeAt(i);
      if (code < 0x30 || code > 0x39) return null;
    }
    numbers.push(Number(part));
  }
  return numbers as [number, number];
}

/** Whether a request's headers announce a body (`Content-Length` or `Transfer-Encoding`). */
function announcesBody(headers: HTTPMessage): boolean {
  return headers.has("Content-Length") || headers.has("Transfer-Encoding");
}
