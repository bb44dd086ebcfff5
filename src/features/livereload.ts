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
 * On with the command line's `--watch` (and `--dev`); in code, `withLiveReload(Handler, hub)`. Not
 * Python; see docs/FEATURES.md.
 */
import { watch, type FSWatcher } from "node:fs";
import { BytesIO, FileIO, type FileLike } from "../py/io.js";
import { urlsplit } from "../py/urllib.js";
import * as posixpath from "../py/posixpath.js";
import type { SimpleHandlerConstructor, SimpleHTTPRequestHandler } from "../server/simple_handler.js";

/** The reserved path of the event stream; under `--watch` a file of that name cannot be served. */
export const LIVERELOAD_PATH = "/__simplehttp/livereload";

/**
 * What HTML pages get, before their last `</body>` (or at their end when they have none): reload
 * on `reload`; stop listening (no reconnection) on `evicted`, which a page's stream gets when
 * newer pages have taken every stream (`maxStreams`).
 */
export const LIVERELOAD_SCRIPT =
  "<script>/* simplehttp --watch */(function(){" +
  `var s=new EventSource(${JSON.stringify(LIVERELOAD_PATH)});` +
  's.addEventListener("reload",function(){location.reload()});' +
  's.addEventListener("evicted",function(){s.close()})' +
  "})()</script>\n";
const SCRIPT_BYTES = Buffer.from(LIVERELOAD_SCRIPT, "latin1");

/** A `Content-type` that gets the script. */
const HTML_TYPE = /^text\/html\s*(;|$)/i;

/** HTML files up to this size get the script before `</body>`; larger ones get it at their end. */
export const INJECT_SCAN_LIMIT = 8 * 1024 * 1024;
/** Bytes of a page read at a time while looking for its last `</body>` (from the end). */
const SCAN_WINDOW = 64 * 1024;
/** A page in memory up to this size gets the script in one new buffer (one write to the socket). */
const JOIN_IN_MEMORY = 64 * 1024;

/** The event a change sends; the page's script reloads on it. */
const RELOAD_EVENT = "event: reload\ndata: reload\n\n";
/** The first bytes of a stream: the browser's reconnection delay (ms) if the server goes away. */
const STREAM_START = "retry: 1000\n\n";
const HEARTBEAT = ": heartbeat\n\n";
/** The last event of a stream closed for a newer one: the page's script stops reconnecting. */
const EVICTED_EVENT = "event: evicted\ndata: too many live-reload streams\n\n";
/** The shortest interval between two log lines about streams closed for newer ones. */
const EVICTION_LOG_INTERVAL_MS = 10_000;

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
  /**
   * Event streams open at once (one per open page). A new stream past this closes the oldest,
   * whose page then stops listening (it reloads no more); one log line per 10 s says so.
   * Streams do not count against the server's `max_connections` (`release_slot()`).
   * @default 100
   */
  maxStreams?: number;
  /** Where a watcher failure (or streams closed for newer ones) is reported (one line). @default a line on stderr */
  onError?: (message: string) => void;
  /** Changes to files this says yes to (by their path in the directory) reload nothing. @default none */
  ignore?: (filename: string) => boolean;
}

/** `LiveReloadOptions.maxStreams` by default. */
export const MAX_STREAMS = 100;

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
  readonly maxStreams: number;
  private readonly onError: (message: string) => void;
  private readonly ignore: ((filename: string) => boolean) | null;
  private evictedSinceLog = 0;
  private lastEvictionLog = -Infinity;
  private readonly clients = new Set<Client>();
  private watcher: FSWatcher | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(directory: string, options: LiveReloadOptions = {}) {
    this.directory = directory;
    this.debounceMs = options.debounceMs ?? 100;
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.maxStreams = Math.max(1, options.maxStreams ?? MAX_STREAMS);
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

  /** Adds a stream, closing the oldest past `maxStreams`; returns the function that removes it. */
  subscribe(client: Client): () => void {
    if (this.closed) {
      client.end();
      return () => {};
    }
    while (this.clients.size >= this.maxStreams) this.evictOldest();
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

  /** Closes the oldest stream (a Set iterates in insertion order), telling its page not to come back. */
  private evictOldest(): void {
    const oldest = this.clients.values().next().value as Client;
    this.clients.delete(oldest);
    oldest.send(EVICTED_EVENT);
    oldest.end();
    this.evictedSinceLog++;
    const now = Date.now();
    if (now - this.lastEvictionLog < EVICTION_LOG_INTERVAL_MS) return;
    const count = this.evictedSinceLog === 1 ? "the oldest page" : `the ${this.evictedSinceLog} oldest pages`;
    this.onError(`simplehttp: --watch: more than ${this.maxStreams} pages listening for reloads; ${count} will no longer reload`);
    this.lastEvictionLog = now;
    this.evictedSinceLog = 0;
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
 * there is none: `length` + the script's length bytes in all, as the Content-Length said.
 *
 * The page is streamed, never held whole: the last `</body>` of a file on disk is found by reading
 * it backwards, 64 KiB at a time, and the file is then sent as it is read, the script spliced in
 * at that offset; a page in memory (a small file, a listing) is sliced, not copied. So a client
 * that does not read holds one chunk, whatever the page's size. A file larger than
 * `INJECT_SCAN_LIMIT`, or a body of another kind, gets the script at its end.
 */
export async function injectScript(body: FileLike, length: number): Promise<FileLike> {
  if (body instanceof BytesIO) {
    const page = body.getvalue().subarray(0, length);
    const at = lastBodyTag(page, page.length);
    if (page.length <= JOIN_IN_MEMORY) return new BytesIO(Buffer.concat([page.subarray(0, at), SCRIPT_BYTES, page.subarray(at)]));
    return new SplicedScript(body, at);
  }
  if (body instanceof FileIO) {
    try {
      return new SplicedFile(body, length <= INJECT_SCAN_LIMIT ? await lastBodyTagInFile(body, length) : Infinity);
    } catch (error) {
      await body.close();
      throw error;
    }
  }
  return new SplicedScript(body, Infinity);
}

const LT_SLASH = Buffer.from("</", "latin1");
/** `body>` in lower case; a byte's upper case is cleared by `| 0x20` for letters. */
const BODY_CLOSE = Buffer.from("body>", "latin1");

/** The offset of the last `</body>` (any case) that ends at or before `end` in `bytes`; `end` if none. */
function lastBodyTag(bytes: Buffer, end: number): number {
  // (A negative offset would count from the end of the buffer.)
  for (let at = end < 7 ? -1 : bytes.lastIndexOf(LT_SLASH, end - 7); at >= 0; at = at === 0 ? -1 : bytes.lastIndexOf(LT_SLASH, at - 1)) {
    let matches = true;
    for (let i = 0; i < 4 && matches; i++) matches = (bytes[at + 2 + i]! | 0x20) === BODY_CLOSE[i];
    if (matches && bytes[at + 6] === 0x3e) return at;
  }
  return end;
}

/**
 * The offset of the last `</body>` in the first `length` bytes of `file`, or `length`: windows
 * read from the end (positional reads, so the file's own position stays at 0), each overlapping
 * the next by 6 bytes so a tag across their boundary is seen.
 */
async function lastBodyTagInFile(file: FileIO, length: number): Promise<number> {
  const window = Buffer.allocUnsafe(Math.min(SCAN_WINDOW, length));
  let end = length;
  while (end > 0) {
    const start = Math.max(0, end - window.length);
    const filled = await readAt(file, window, end - start, start);
    const at = lastBodyTag(window, filled);
    if (at < filled) return start + at;
    if (start === 0) break;
    end = start + 6;
  }
  return length;
}

/** Reads `count` bytes at `position` into `buffer` (fewer at the end of the file). */
async function readAt(file: FileIO, buffer: Buffer, count: number, position: number): Promise<number> {
  let filled = 0;
  while (filled < count) {
    const { bytesRead } = await file.handle.read(buffer, filled, count - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/** A body passed on as it is read, with the script after its first `position` bytes (or at its end). */
class SplicedScript implements FileLike {
  /** Bytes of the body passed on so far. */
  protected passed = 0;
  /** What is left of the script to send. */
  private scriptLeft: Buffer = SCRIPT_BYTES;

  constructor(
    protected readonly body: FileLike,
    private readonly position: number,
  ) {}

  async read(n = -1): Promise<Buffer> {
    if (this.atScript()) return this.takeScript(n);
    const chunk = await this.body.read(this.limit(n));
    if (chunk.length === 0) return this.takeScript(n);
    this.passed += chunk.length;
    return chunk;
  }

  close(): void | Promise<void> {
    return this.body.close();
  }

  /** True when the script is due: the body is passed on up to `position`. */
  protected atScript(): boolean {
    return this.scriptLeft.length > 0 && this.passed >= this.position;
  }

  /** How much of the body to ask for when `n` is wanted: never past `position` before the script. */
  protected limit(n: number): number {
    const before = this.position - this.passed;
    if (this.scriptLeft.length === 0 || !Number.isFinite(before)) return n;
    return n < 0 ? before : Math.min(n, before);
  }

  /** Up to `n` bytes (all for a negative `n`) of what is left of the script; empty once sent. */
  protected takeScript(n: number): Buffer {
    const part = n < 0 ? this.scriptLeft : this.scriptLeft.subarray(0, n);
    this.scriptLeft = this.scriptLeft.subarray(part.length);
    return part;
  }
}

/** `SplicedScript` over a file on disk, read into the buffers `copyfile()` reuses (`readinto`). */
class SplicedFile extends SplicedScript {
  constructor(
    private readonly file: FileIO,
    position: number,
  ) {
    super(file, position);
  }

  async readinto(b: Uint8Array): Promise<number> {
    if (!this.atScript()) {
      const n = await this.file.readinto(b.subarray(0, this.limit(b.length)));
      this.passed += n;
      if (n > 0) return n;
    }
    const part = this.takeScript(b.length);
    b.set(part);
    return part.length;
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
      // A stream may stay open for hours: it has its own cap (maxStreams), and gives back its
      // max_connections slot, so open pages never keep other requests waiting.
      this.server.release_slot(this);
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
