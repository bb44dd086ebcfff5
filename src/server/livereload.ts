/**
 * Live reload (the command line's `--watch`): HTML pages get a small script that listens, by
 * server-sent events on a reserved path of the same server, for a change to any file under the
 * directory served, and reloads the page when one comes.
 *
 * - `LiveReloadHub`: one recursive `fs.watch` per directory, a debounce, and the open event
 *   streams, each kept alive by a heartbeat comment.
 * - `withLiveReload(Handler, hub)`: a subclass of a `SimpleHTTPRequestHandler` class that answers
 *   `LIVERELOAD_PATH` with the event stream and injects `LIVERELOAD_SCRIPT` into its HTML
 *   responses. The class itself is unchanged: without the subclass, no byte differs from Python's.
 *
 * Not Python; see docs/FEATURES.md.
 */
import { watch, type FSWatcher } from "node:fs";
import type { Socket } from "node:net";
import type { Address } from "../socketserver/address.js";
import type { FileLike } from "../py/io.js";
import { BytesIO } from "../py/io.js";
import { urlsplit } from "../py/urllib.js";
import * as posixpath from "../py/posixpath.js";
import type { SimpleHandlerConstructor, SimpleHTTPRequestHandler, SimpleHTTPRequestHandlerOptions } from "./simple_handler.js";

/** The reserved path of the event stream; under `--watch` a file of that name cannot be served. */
export const LIVERELOAD_PATH = "/__simplehttp/livereload";

/** What HTML pages get, before their last `</body>` (or at their end when they have none). */
export const LIVERELOAD_SCRIPT =
  "<script>/* simplehttp --watch */" +
  `new EventSource(${JSON.stringify(LIVERELOAD_PATH)}).addEventListener("reload",function(){location.reload()})` +
  "</script>\n";
const SCRIPT_BYTES = Buffer.from(LIVERELOAD_SCRIPT, "latin1");

/** A `Content-type` that gets the script. */
const HTML_TYPE = /^text\/html\s*(;|$)/i;

/** HTML files up to this size get the script before `</body>`; larger ones get it at their end. */
export const INJECT_SCAN_LIMIT = 8 * 1024 * 1024;

/** The event a change sends; the page's script reloads on it. */
const RELOAD_EVENT = "event: reload\ndata: reload\n\n";
/** The first bytes of a stream: the browser's reconnection delay (ms) if the server goes away. */
const STREAM_START = "retry: 1000\n\n";
const HEARTBEAT = ": heartbeat\n\n";

export interface LiveReloadOptions {
  /**
   * How long after the last change the pages reload, in ms: an editor saving several files, or
   * a build writing many, makes one reload.
   * @default 100
   */
  debounceMs?: number;
  /**
   * How often an open stream gets a comment line, in ms: it shows the server (and its write
   * timeout) that the client still reads, and keeps proxies from dropping an idle connection.
   * @default 15000
   */
  heartbeatMs?: number;
  /** Where a watcher failure is reported (one line). @default a line on stderr */
  onError?: (message: string) => void;
  /** Changes to files this says yes to (by their path in the directory) reload nothing. @default none */
  ignore?: (filename: string) => boolean;
}

/** One open event stream: what to write to it, and how to end it. */
interface Client {
  send(text: string): void;
  end(): void;
}

/** The file watcher and the open event streams of one directory. */
export class LiveReloadHub {
  readonly directory: string;
  readonly debounceMs: number;
  readonly heartbeatMs: number;
  private readonly onError: (message: string) => void;
  private readonly ignore: ((filename: string) => boolean) | null;
  private readonly clients = new Set<Client>();
  private watcher: FSWatcher | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(directory: string, options: LiveReloadOptions = {}) {
    this.directory = directory;
    this.debounceMs = options.debounceMs ?? 100;
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.onError = options.onError ?? ((message) => process.stderr.write(`${message}\n`));
    this.ignore = options.ignore ?? null;
  }

  /** How many event streams are open. */
  get size(): number {
    return this.clients.size;
  }

  /**
   * Starts watching the directory and everything under it. A directory that cannot be watched
   * (too many files for the system's inotify limit, say) is reported once; pages then load
   * without ever reloading.
   */
  start(): void {
    if (this.watcher || this.closed) return;
    try {
      // Not persistent: the watcher alone never keeps the process alive.
      this.watcher = watch(this.directory, { recursive: true, persistent: false }, (_event, filename) => {
        if (!(this.ignore && filename && this.ignore(String(filename)))) this.changed();
      });
    } catch (error) {
      this.onError(`simplehttp: --watch cannot watch ${this.directory}: ${(error as Error).message}`);
      return;
    }
    this.watcher.on("error", (error) => {
      this.onError(`simplehttp: --watch stopped watching ${this.directory}: ${error.message}`);
      this.watcher?.close();
      this.watcher = null;
    });
  }

  /** A file changed: the pages reload once no change has come for `debounceMs`. */
  changed(): void {
    if (this.closed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.reload();
    }, this.debounceMs);
    this.debounce.unref();
  }

  /** Tells every open page to reload, now. */
  reload(): void {
    for (const client of this.clients) client.send(RELOAD_EVENT);
  }

  /** Adds a stream; returns the function that removes it. */
  subscribe(client: Client): () => void {
    if (this.closed) {
      client.end();
      return () => {};
    }
    this.clients.add(client);
    if (!this.heartbeat) {
      this.heartbeat = setInterval(() => {
        for (const each of this.clients) each.send(HEARTBEAT);
      }, this.heartbeatMs);
      this.heartbeat.unref();
    }
    return () => {
      this.clients.delete(client);
      if (this.clients.size === 0 && this.heartbeat) {
        clearInterval(this.heartbeat);
        this.heartbeat = null;
      }
    };
  }

  /** Stops watching and ends every open stream. */
  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = null;
    for (const client of [...this.clients]) client.end();
    this.clients.clear();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}

/**
 * `body` with `LIVERELOAD_SCRIPT` inserted before its last `</body>` (any case), or appended when
 * there is none: `length` + the script's length bytes in all, as the Content-Length said. A file
 * larger than `INJECT_SCAN_LIMIT` is streamed, with the script at its end.
 */
export async function injectScript(body: FileLike, length: number): Promise<FileLike> {
  if (length > INJECT_SCAN_LIMIT) return new AppendedScript(body);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for (;;) {
      const chunk = await body.read(Math.min(64 * 1024, INJECT_SCAN_LIMIT + 1 - total));
      if (chunk.length === 0 || total >= INJECT_SCAN_LIMIT) break;
      chunks.push(chunk);
      total += chunk.length;
    }
  } finally {
    await body.close();
  }
  const html = Buffer.concat(chunks);
  // Latin-1 maps each byte to one character, and lower-casing keeps the length: indexes are offsets.
  const at = html.toString("latin1").toLowerCase().lastIndexOf("</body>");
  const position = at < 0 ? html.length : at;
  return new BytesIO(Buffer.concat([html.subarray(0, position), SCRIPT_BYTES, html.subarray(position)]));
}

/** A body streamed as it is, then the script. */
class AppendedScript implements FileLike {
  private done = false;
  constructor(private readonly body: FileLike) {}

  async read(n = -1): Promise<Buffer> {
    if (this.done) return Buffer.alloc(0);
    const chunk = await this.body.read(n);
    if (chunk.length > 0) return chunk;
    this.done = true;
    return SCRIPT_BYTES;
  }

  close(): void | Promise<void> {
    return this.body.close();
  }
}

/**
 * A subclass of `Base` (`SimpleHTTPRequestHandler` or a subclass) with live reload from `hub`:
 *
 * - `GET LIVERELOAD_PATH` is a `text/event-stream` that stays open (closing the connection after
 *   it) until the client leaves, `hub` closes or the server closes (`server_closing()`);
 * - a 200 response to GET or HEAD whose `Content-type` is `text/html` (a file, an index page, a
 *   listing) gets the script, and a `Content-Length` that counts it; such pages are not compressed.
 *   Other responses (errors, redirects, ranges, CGI output) are unchanged;
 * - `If-Modified-Since` is ignored (a 200 instead of a 304), so that a reload never keeps a page
 *   or file edited within the same second as the copy the browser holds.
 */
export function withLiveReload<T extends SimpleHandlerConstructor>(Base: T, hub: LiveReloadHub): T {
  const Handler = Base as unknown as typeof SimpleHTTPRequestHandler;
  class LiveReloadHandler extends Handler {
    /** The status of the response being written, and what its headers have said so far. */
    private liveStatus = 0;
    private liveHtml = false;
    private liveEncoded = false;
    /** The body length the file's own Content-Length gave, when the script is to be injected. */
    private injectLength: number | null = null;
    /** Ends the open event stream, if this connection is one. */
    private endStream: (() => void) | null = null;

    override send_response_only(code: number, message?: string | null): void {
      this.liveStatus = code;
      this.liveHtml = false;
      this.liveEncoded = false;
      this.injectLength = null;
      super.send_response_only(code, message);
    }

    override send_header(keyword: string, value: string | number): void {
      const name = keyword.toLowerCase();
      if (name === "content-type") this.liveHtml = HTML_TYPE.test(String(value));
      else if (name === "content-encoding") this.liveEncoded = true;
      else if (name === "content-length" && this.injects()) {
        this.injectLength = Number(value);
        value = String(this.injectLength + SCRIPT_BYTES.length);
      }
      super.send_header(keyword, value);
    }

    /** Whether the response under way is one that gets the script. */
    private injects(): boolean {
      return (
        this.liveStatus === 200 && this.liveHtml && !this.liveEncoded && (this.command === "GET" || this.command === "HEAD")
      );
    }

    override async send_head(): Promise<FileLike | null> {
      if ((this.command === "GET" || this.command === "HEAD") && urlsplit(this.path).path === LIVERELOAD_PATH) {
        await this.sendEventStream();
        return null;
      }
      // A reload must get the file as it is now, but If-Modified-Since counts whole seconds: an
      // edit within the second of the last load would be answered 304 with the old page. (Chromium
      // ignores ETags on HTTP/1.0 responses, so If-None-Match cannot be relied on instead.)
      this.headers.delete("If-Modified-Since");
      // A compressed page could not take the script: pages are sent uncompressed under --watch.
      const { compress, precompressed } = this;
      if ((compress || precompressed) && this.mayBeHtml()) this.compress = this.precompressed = false;
      let body: FileLike | null;
      try {
        body = await super.send_head();
      } finally {
        this.compress = compress;
        this.precompressed = precompressed;
      }
      const length = this.injectLength;
      this.injectLength = null;
      if (body === null || length === null || !Number.isSafeInteger(length)) return body;
      return this.command === "HEAD" ? body : injectScript(body, length);
    }

    /** Whether the request may be answered with HTML: an `.html` file, a directory, an SPA route. */
    private mayBeHtml(): boolean {
      const path = this.translate_path(this.path);
      if (path.endsWith("/") || posixpath.splitext(path)[1] === "") return true;
      return HTML_TYPE.test(this.guess_type(path));
    }

    /** The event stream: headers, then events and heartbeats until one side ends it. */
    private async sendEventStream(): Promise<void> {
      this.send_response(200);
      this.send_header("Content-Type", "text/event-stream");
      this.send_header("Cache-Control", "no-cache");
      // No Content-Length: the stream ends when the connection does.
      this.close_connection = true;
      await this.end_headers();
      if (this.command === "HEAD") return;
      const socket = this.connection;
      await new Promise<void>((resolve) => {
        let unsubscribe = () => {};
        const end = () => {
          socket.off("end", end);
          socket.off("close", end);
          unsubscribe();
          this.endStream = null;
          resolve();
        };
        const send = (text: string) => {
          this.wfile.write(text).catch(end);
        };
        this.endStream = end;
        socket.once("end", end);
        socket.once("close", end);
        send(STREAM_START);
        unsubscribe = hub.subscribe({ send, end });
        if (socket.destroyed) end();
      });
    }

    /** The server is closing: an event stream ends now, like an idle keep-alive connection. */
    override server_closing(): void {
      super.server_closing();
      this.endStream?.();
    }
  }
  Object.defineProperty(LiveReloadHandler, "name", { value: Handler.name });
  return LiveReloadHandler as unknown as T;
}
