/**
 * `http.server.BaseHTTPRequestHandler`: parses HTTP/0.9–1.1 requests from `rfile`, dispatches
 * them to `do_<COMMAND>` methods, and writes responses to `wfile` — byte for byte as CPython 3.14
 * does, plus gh-54930 (a status line on errors for malformed request lines).
 *
 * A request is a request line (`<command> <path> <version>`), header lines, a blank line and an
 * optional body the handler reads itself. A two-word request line (`GET /path`) is HTTP/0.9:
 * no headers are read, and the reply is the body alone.
 */
import type { Socket } from "node:net";
import { StreamRequestHandler, isTimeoutError } from "../socketserver/handlers.js";
import type { Address } from "../socketserver/address.js";
import type { BaseServer } from "../socketserver/servers.js";
import { HTTPMessage, HTTPException, LineTooLong, parse_headers, type MessageFactory } from "../http/message.js";
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

/** Status codes whose responses carry no body (`send_error` sends no page for them). */
const BODILESS = new Set([204, 205, 304]);

type HandlerClass = typeof BaseHTTPRequestHandler;

export class BaseHTTPRequestHandler<S extends BaseServer = BaseServer> extends StreamRequestHandler<S> {
  // Class attributes. Each is mirrored by an instance field, so a subclass may override either
  // (`protocol_version = "HTTP/1.1"` or `static protocol_version = …`), and setting one on a
  // class (`Handler.protocol_version = "HTTP/1.1"`) applies to every later connection.
  static server_version = "BaseHTTP/" + __version__;
  static sys_version = "Node.js/" + process.versions.node;
  static error_message_format = DEFAULT_ERROR_MESSAGE;
  static error_content_type = DEFAULT_ERROR_CONTENT_TYPE;
  static default_request_version = "HTTP/0.9";
  static protocol_version = "HTTP/1.0";
  static MessageClass: MessageFactory = HTTPMessage;
  static responses: Responses = statusResponses;
  static weekdayname: readonly string[] = WEEKDAY_NAMES;
  static monthname: readonly (string | null)[] = MONTH_NAMES;

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

  // Per-request state, as Python names it.
  raw_requestline: Buffer = Buffer.alloc(0);
  requestline = "";
  command: string | null = null;
  path = "";
  request_version = "";
  headers: HTTPMessage = new HTTPMessage();
  close_connection = true;
  _headers_buffer: string[] = [];

  /** True while waiting for the first byte of a request on a kept-alive connection. */
  private idle = false;
  private closing = false;

  constructor(request: Socket, client_address: Address, server: S) {
    super(request, client_address, server);
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
      const line = this.rfile.readlineIfBuffered(MAX_REQUEST_LINE + 1) ?? (await this.rfile.readline(MAX_REQUEST_LINE + 1));
      this.idle = false;
      this.raw_requestline = line;
      if (line.length > MAX_REQUEST_LINE) {
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
      if (!(await this.parse_request())) return;
      const method = (this as unknown as Record<string, unknown>)["do_" + this.command];
      if (typeof method !== "function") {
        this.send_error(501, `Unsupported method (${pyRepr(this.command)})`);
        return;
      }
      await method.call(this);
      await this.wfile.flush();
    } catch (error) {
      if (!isTimeoutError(error)) throw error;
      this.log_error("Request timed out: %r", error);
      this.close_connection = true;
    }
  }

  /**
   * Parses `raw_requestline` and the headers into `command`, `path`, `request_version` and
   * `headers`. Returns false, having sent the error response if any, when the request is bad.
   */
  async parse_request(): Promise<boolean> {
    this.command = null;
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
      this.headers = await parse_headers(this.rfile, this.MessageClass);
    } catch (error) {
      if (error instanceof LineTooLong) {
        this.send_error(431, "Line too long", error.message);
        return false;
      }
      if (error instanceof HTTPException) {
        this.send_error(431, "Too many headers", error.message);
        return false;
      }
      throw error;
    }

    const conntype = this.headers.get("Connection", "").toLowerCase();
    if (conntype === "close") {
      this.close_connection = true;
    } else if (conntype === "keep-alive" && this.protocol_version >= "HTTP/1.1") {
      this.close_connection = false;
    }
    const expect = this.headers.get("Expect", "").toLowerCase();
    if (expect === "100-continue" && this.protocol_version >= "HTTP/1.1" && this.request_version >= "HTTP/1.1") {
      if (!(await this.handle_expect_100())) return false;
    }
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
      const content = percentFormat(this.error_message_format, {
        code,
        message: htmlEscape(message, false),
        explain: htmlEscape(explain, false),
      });
      body = Buffer.from(content, "utf8");
      this.send_header("Content-Type", this.error_content_type);
      this.send_header("Content-Length", String(body.length));
    }
    const written = this.end_headers();
    if (this.command !== "HEAD" && body) return this.wfile.write(body);
    return written;
  }

  /** Logs the request, then buffers the status line, `Server` and `Date`. */
  send_response(code: number, message?: string | null): void {
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
      this._headers_buffer.push(latin1(`${keyword}: ${value}\r\n`));
    }
    if (keyword.toLowerCase() === "connection") {
      const lower = String(value).toLowerCase();
      if (lower === "close") this.close_connection = true;
      else if (lower === "keep-alive") this.close_connection = false;
    }
  }

  /** Adds the blank line that ends the headers and sends them. */
  end_headers(): Promise<void> {
    if (this.request_version !== "HTTP/0.9") this._headers_buffer.push("\r\n");
    return this.flush_headers();
  }

  /** Sends the buffered status line and headers in one write. */
  flush_headers(): Promise<void> {
    if (this._headers_buffer.length === 0) return this.wfile.write(EMPTY);
    const block = this._headers_buffer.join("");
    this._headers_buffer = [];
    return this.wfile.write(Buffer.from(block, "latin1"));
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
    process.stderr.write(`${this.address_string()} - - [${this.log_date_time_string()}] ${message}\n`);
  }

  /** `server_version sys_version`, for the `Server` header. */
  version_string(): string {
    return this.server_version + " " + this.sys_version;
  }

  /** An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) for `timestamp` (seconds), or now. */
  date_time_string(timestamp?: number | null): string {
    return timestamp == null ? httpDateNow() : formatHttpDate(timestamp);
  }

  /** The current local time, for logs: `21/Nov/2026 22:23:50`. */
  log_date_time_string(): string {
    return logDateNow();
  }

  /** The client's address as logged: its host, with no DNS lookup. */
  address_string(): string {
    return this.client_address[0];
  }

  /** On `server_close()`: an idle keep-alive connection closes now, a busy one after its reply. */
  override server_closing(): void {
    this.closing = true;
    if (this.idle && this.rfile.pending === 0) this.connection.destroy();
  }
}

const EMPTY = Buffer.alloc(0);

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
