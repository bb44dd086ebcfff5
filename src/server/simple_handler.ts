/**
 * `http.server.SimpleHTTPRequestHandler`: serves the files under `directory` for GET and HEAD,
 * with directory listings, a redirect for directories named without their slash, and
 * `If-Modified-Since` — byte for byte as CPython 3.14 does.
 *
 * Each step is a method a subclass may override alone: `translate_path` (URL → file name),
 * `send_head` (status and headers; returns the body), `list_directory`, `guess_type`, `copyfile`.
 *
 * File names that are not UTF-8 are handled exactly as Python handles them: a name read from the
 * disk is decoded with `surrogateescape` (each stray byte becomes U+DC80–U+DCFF, see
 * `py/codecs.ts`). In a listing its link is `quote(name, errors='surrogatepass')` (byte 0xFF is
 * `%ED%B3%BF`), which `translate_path` decodes back to the same name, so the link opens the file;
 * its displayed name is the raw bytes themselves, as Python writes them (a browser shows U+FFFD).
 * `%FF` in a URL is not that file: it decodes to U+FFFD, in Python as here.
 *
 * Deliberate differences, where Python raises and sends nothing (the connection just closes):
 * - a NUL (`%00`) in the path, or a surrogate that stands for no byte (`%ED%A0%80`): 404
 *   `File not found`;
 * - such a surrogate in a listing's title (`/dir/%ED%A0%80/../`): the listing, with U+FFFD.
 *
 * Additions (docs/FEATURES.md), which change no byte unless the request or an option asks:
 * ranges and preconditions on files (`Range`, `If-Range`, `If-Match`, `If-Unmodified-Since`),
 * and the options `etag`, `cors`, `extra_headers`, `cache_control`, `compress`, `precompressed`
 * and `spa`; `listing`, `charset` and `dotfiles`; `upload` and `auth`, which hook in at the
 * constructor (`do_PUT`, `do_POST`), `parse_request`, `handle_expect_100` and `list_directory`;
 * `allow_delete`, `allow_mkdir`, `allow_move` and `webdav`, which give the constructor's handler
 * the WebDAV methods (`do_DELETE`, `do_MKCOL`, `do_MOVE`, `do_PROPFIND` …) and `do_OPTIONS` its
 * WebDAV answer; `archive` and `search` (`directory_response`), `qr` and `readme` (the rich
 * listing). Their logic is in src/features/ (one module each); this class only calls it. The
 * modules of uploads, managing files, WebDAV, the rich listing, archives and search are
 * loaded when their option is on (feature_modules.ts), not by every server. How
 * files are copied (copy_chunks.ts), paths translated (translate_path.ts) and directories read
 * (listdir.ts) are in files of their own.
 */
import type { Socket } from "node:net";
import type { Stats } from "node:fs";
import { fileURLToPath } from "node:url";
import { BaseHTTPRequestHandler, __version__ } from "./base_handler.js";
import type { Address } from "../socketserver/address.js";
import type { BaseServer } from "../socketserver/servers.js";
import { guess_file_type } from "../http/mime.js";
import { BytesIO, FileIO, type FileLike } from "../py/io.js";
import { encodeListing, fsPath } from "../py/codecs.js";
import { quote, unquoteWithFallback, urlsplit, urlunsplit, type SplitResult } from "../py/urllib.js";
import * as posixpath from "../py/posixpath.js";
import { htmlEscape } from "../py/text.js";
import { pyRepr } from "../py/format.js";
import { notModifiedSince } from "../http/dates.js";
import { needsFileFeatures, sendFileHead } from "../features/file_response.js";
import { checkHeaderList, type HeaderField } from "../features/headers.js";
import { ALLOW_ORIGIN, isPreflight, preflightHeaders } from "../features/cors.js";
import { spaFallback } from "../features/spa.js";
import { resolvesOutside } from "../features/symlinks.js";
import { smallFiles } from "./file_cache.js";
import { WRITTEN } from "../socketserver/writer.js";
import { checkCharset, withCharset } from "../features/charset.js";
import { isHiddenPath, withoutDotfiles } from "../features/dotfiles.js";
import type { ListingStyle } from "../features/rich_listing.js";
// auth.ts is loaded with the class, not on demand: a handler refuses a bad `auth` list when it
// is created (and the command line parses --auth with it anyway).
import { checkAccess, checkCredentials, type AuthScope } from "../features/auth.js";
import { DEFAULT_SEARCH_MAX_ENTRIES, DEFAULT_SEARCH_TIMEOUT, DEFAULT_UPLOAD_MAX } from "../features/limits.js";
import { loadFeature, loadFeaturesFor, loaded } from "./feature_modules.js";
import { copyInChunks, type Writable } from "./copy_chunks.js";
import { translatePath } from "./translate_path.js";
import { listSorted, statOrNull, type ListingEntry } from "./listdir.js";

export type { FileLike } from "../py/io.js";
export { BytesIO, FileIO } from "../py/io.js";
export { COPY_BUFSIZE, MAX_COPY_CHUNK, pooledChunkBytes, type Writable } from "./copy_chunks.js";
export { translatePath, type PathFlavour } from "./translate_path.js";
export type { ListingEntry } from "./listdir.js";

type Entry = ListingEntry;

export interface SimpleHTTPRequestHandlerOptions {
  /**
   * The directory to serve: a path (a relative one is resolved against the current directory at
   * every request, as in Python) or a `file:` URL.
   * @default the class's `directory`, else `process.cwd()` when the handler is created
   */
  directory?: string | URL | null;
}

/**
 * The `Location` that adds a directory's trailing slash: Python's (`urlunsplit` of the request's
 * parts with `/` added to the path), except where a browser would follow Python's to another
 * host (docs/DIFFERENCES.md, docs/SECURITY.md):
 * - a backslash is sent as `%5C`: browsers read `\` as `/`, so `/\evil.example/` would be
 *   `//evil.example/`, a scheme-relative URL (`%5C` names the same directory here);
 * - a path without a host is never sent after a scheme (`http:/evil.example/..`, where
 *   `urlunsplit` makes `http:///evil.example/../`, which browsers read as that host), nor after
 *   a host the client did not name with a scheme (`\x01//evil.example/..`: `urlsplit` strips the
 *   control character, as browsers do, and finds a host), nor with two leading slashes.
 * An absolute URL (`http://host/dir`) keeps its scheme and host: it names where the client asked
 * to go.
 */
function directoryLocation(parts: SplitResult): string {
  const path = parts.path.replace(BACKSLASH, "%5C") + "/";
  if (parts.scheme && parts.netloc) return urlunsplit({ ...parts, path });
  if (!parts.scheme && !parts.netloc && !path.startsWith("//")) return urlunsplit({ ...parts, path });
  const local = "/" + path.replace(LEADING_SLASHES, "");
  return urlunsplit({ scheme: "", netloc: "", path: local, query: parts.query, fragment: parts.fragment });
}

const BACKSLASH = /\\/g;
const LEADING_SLASHES = /^\/+/;

/** `os.fspath(directory)` for the forms accepted here. */
function fspath(directory: string | URL): string {
  return directory instanceof URL ? fileURLToPath(directory) : directory;
}

/** A file `send_head` has opened: its fstat, and its content as a `FileLike` once wanted. */
interface OpenedFile {
  readonly stats: Stats;
  file(): Promise<FileLike> | FileLike;
  close(): Promise<void> | void;
}

class MemoryFile implements OpenedFile {
  constructor(
    readonly stats: Stats,
    private readonly data: Buffer,
  ) {}
  file(): FileLike {
    return new BytesIO(this.data);
  }
  close(): void {}
}

class DiskFile implements OpenedFile {
  constructor(
    readonly stats: Stats,
    private readonly handle: FileIO,
  ) {}
  file(): FileIO {
    return this.handle;
  }
  close(): Promise<void> {
    return this.handle.close();
  }
}

const LISTING_STYLE = '<style type="text/css">\n:root {\ncolor-scheme: light dark;\n}\n</style>';

type SimpleHandlerClass = typeof SimpleHTTPRequestHandler;

/** A `SimpleHTTPRequestHandler` class or subclass, as a server constructs it. */
export type SimpleHandlerConstructor = new (
  request: Socket,
  client_address: Address,
  server: any,
  options?: SimpleHTTPRequestHandlerOptions,
) => SimpleHTTPRequestHandler<any>;

/**
 * Serves files from `directory` (default: the current directory when the handler is created).
 *
 * Binding the directory — what Python does with `functools.partial(SimpleHTTPRequestHandler,
 * directory=...)` — is the class attribute `directory`; `with_directory()` makes a subclass with
 * it set, for handing to a server:
 *
 * ```ts
 * const httpd = new ThreadingHTTPServer(["", 8000], SimpleHTTPRequestHandler.with_directory("public"));
 * ```
 *
 * A handler constructed directly may also take `{ directory }` as a fourth argument, which wins
 * over the class attribute.
 */
export class SimpleHTTPRequestHandler<S extends BaseServer = BaseServer> extends BaseHTTPRequestHandler<S> {
  static override server_version = "SimpleHTTP/" + __version__;
  /**
   * Types by extension, consulted before the MIME table: the exact extension, then lower-cased.
   * Python's four entries keep compressed files from being typed by their inner extension.
   */
  static extensions_map: Record<string, string> = {
    ".gz": "application/gzip",
    ".Z": "application/octet-stream",
    ".bz2": "application/x-bzip2",
    ".xz": "application/x-xz",
  };
  /** Files served for a directory, tried in order, before a listing is generated. */
  static index_pages: readonly string[] = ["index.html", "index.htm"];
  /** The directory served by handlers of this class; `null` means `process.cwd()`. */
  static directory: string | URL | null = null;
  /**
   * Follow symbolic links wherever they point, as Python does. `false` answers 404 for any path
   * whose real path lies outside the real path of `directory` (see features/symlinks.ts).
   * @default true
   */
  static follow_symlinks = true;

  // Additions beyond Python (docs/FEATURES.md), all off by default.
  /**
   * Send a weak `ETag` (`W/"<size hex>-<mtime ms hex>"`) on file responses, and evaluate
   * `If-None-Match` against it (304 on a match) and `If-Match` / `If-Range` entity tags.
   * @default false
   */
  static etag = false;
  /**
   * Send `Access-Control-Allow-Origin: *` on every response, and answer CORS preflights
   * (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) with 204.
   * @default false
   */
  static cors = false;
  /**
   * Headers added to every response, as `[name, value]` pairs. A name that is not a token, or a
   * value with CR, LF or NUL, is refused (`InvalidHeaderError`) when a handler is created;
   * `parseHeaderOption("Name: value")` checks one at configuration time.
   * @default []
   */
  static extra_headers: readonly HeaderField[] = [];
  /**
   * `Cache-Control` for file responses (200, 206, 304), e.g. `max-age=3600` or `no-cache`;
   * listings, redirects and errors never get it.
   * @default null
   */
  static cache_control: string | null = null;
  /**
   * Compress compressible files of at least 1 KiB with brotli or gzip, as `Accept-Encoding`
   * allows; never a request with `Range`.
   * @default false
   */
  static compress = false;
  /**
   * With `compress`, keep what was compressed (per file, coding and content: validated by each
   * request's stat, like the small-file cache) so an unchanged file is not compressed again for
   * every request; bounded in memory for the whole process (features/compression.ts).
   * @default true
   */
  static compress_cache = true;
  /**
   * Serve `x.br` or `x.gz`, when it sits beside `x` and the client accepts it, for a request of `x`.
   * @default false
   */
  static precompressed = false;
  /**
   * Single-page application fallback: a GET or HEAD of a missing path whose last segment has no
   * extension is answered with this file (relative to `directory`), e.g. `"index.html"`.
   * @default null
   */
  static spa: string | null = null;
  /**
   * The page a directory without an index page gets: `"python"`, Python's list of links, or
   * `"rich"`, a file browser (sizes, dates, sorting, a filter, JSON on request; features/rich_listing.ts).
   * @default "python"
   */
  static listing: ListingStyle = "python";
  /**
   * A charset added to textual types that name none (`text/*`, JavaScript, JSON, XML, SVG), e.g.
   * `"utf-8"`; null leaves Python's types as they are (features/charset.ts).
   * @default null
   */
  static charset: string | null = null;
  /**
   * Serve and list names starting with `.`, as Python does; `false` answers them `404 File not
   * found` and leaves them out of listings, except `/.well-known/` (features/dotfiles.ts).
   * @default true
   */
  static dotfiles = true;
  /**
   * Receive files: `PUT /dir/name`, and a multipart `POST` to a directory (the form the listings
   * then carry); off, both get Python's `501` (features/upload.ts).
   * @default false
   */
  static upload = false;
  /** Let an upload replace an existing regular file (`204`); otherwise it is `409`. @default false */
  static upload_overwrite = false;
  /** Let an upload create the directories its path names; otherwise a missing one is `409`. @default false */
  static upload_mkdir = false;
  /** The largest upload, in bytes (`413` past it); `null`: no limit. @default 1073741824 (1 GiB) */
  static upload_max: number | null = DEFAULT_UPLOAD_MAX;
  /**
   * HTTP Basic credentials, `"user:password"` strings: a request without one of them gets `401`
   * (features/auth.ts). `null`: no authentication, as in Python.
   * @default null
   */
  static auth: readonly string[] | null = null;
  /** Which requests `auth` guards: `"all"`, or `"uploads"` (every method that writes) only. @default "all" */
  static auth_scope: AuthScope = "all";
  /** `DELETE` removes files and directories (features/manage.ts); off, Python's `501`. @default false */
  static allow_delete = false;
  /** `MKCOL` makes directories (features/manage.ts); off, Python's `501`. @default false */
  static allow_mkdir = false;
  /** `MOVE` renames and moves (features/manage.ts); off, Python's `501`. @default false */
  static allow_move = false;
  /**
   * WebDAV (features/webdav.ts): `OPTIONS`, `PROPFIND`; with `upload`, `allow_delete`,
   * `allow_mkdir`, `allow_move` also `PUT`, `DELETE`, `MKCOL`, `MOVE`, `COPY`, `PROPPATCH`,
   * `LOCK` and `UNLOCK`, as those permissions allow. Off, those methods get Python's `501`.
   * @default false
   */
  static webdav = false;
  /** Let `PROPFIND` answer `Depth: infinity` (at most 10,000 resources); otherwise it is `403`. @default false */
  static webdav_depth_infinity = false;
  /**
   * Every directory may be downloaded as one archive, `?download=zip`, `tar` or `tar.gz`, streamed
   * as it is built; the listings link to them (features/archive.ts).
   * @default false
   */
  static archive = false;
  /**
   * A QR code of this machine's network address on the rich listing (an inline SVG), for a phone
   * to open the page; the command line also prints one after its banner (features/qr.ts).
   * @default false
   */
  static qr = false;
  /**
   * `?q=TEXT` on a directory finds the names containing TEXT under it, and the rich listing gets a
   * search box (features/search.ts).
   * @default false
   */
  static search = false;
  /** The most entries one search visits before it answers with what it found (partial). @default 100000 */
  static search_max_entries = DEFAULT_SEARCH_MAX_ENTRIES;
  /** The longest a search walks, in seconds, before it answers with what it found (partial). @default 5 */
  static search_timeout = DEFAULT_SEARCH_TIMEOUT;
  /**
   * The rich listing shows the directory's `README.md` (or `readme.md`, `README.txt` …) below the
   * table, Markdown rendered without raw HTML (features/readme.ts).
   * @default false
   */
  static readme = false;

  extensions_map: Record<string, string> = (this.constructor as SimpleHandlerClass).extensions_map;
  index_pages: readonly string[] = (this.constructor as SimpleHandlerClass).index_pages;
  etag: boolean = (this.constructor as SimpleHandlerClass).etag;
  cors: boolean = (this.constructor as SimpleHandlerClass).cors;
  extra_headers: readonly HeaderField[] = checkHeaderList((this.constructor as SimpleHandlerClass).extra_headers);
  cache_control: string | null = (this.constructor as SimpleHandlerClass).cache_control;
  compress: boolean = (this.constructor as SimpleHandlerClass).compress;
  compress_cache: boolean = (this.constructor as SimpleHandlerClass).compress_cache;
  precompressed: boolean = (this.constructor as SimpleHandlerClass).precompressed;
  spa: string | null = (this.constructor as SimpleHandlerClass).spa;
  follow_symlinks: boolean = (this.constructor as SimpleHandlerClass).follow_symlinks;
  listing: ListingStyle = (this.constructor as SimpleHandlerClass).listing;
  charset: string | null = checkCharset((this.constructor as SimpleHandlerClass).charset);
  dotfiles: boolean = (this.constructor as SimpleHandlerClass).dotfiles;
  upload: boolean = (this.constructor as SimpleHandlerClass).upload;
  upload_overwrite: boolean = (this.constructor as SimpleHandlerClass).upload_overwrite;
  upload_mkdir: boolean = (this.constructor as SimpleHandlerClass).upload_mkdir;
  upload_max: number | null = (this.constructor as SimpleHandlerClass).upload_max;
  auth: readonly string[] | null = checkCredentials((this.constructor as SimpleHandlerClass).auth);
  auth_scope: AuthScope = (this.constructor as SimpleHandlerClass).auth_scope;
  allow_delete: boolean = (this.constructor as SimpleHandlerClass).allow_delete;
  allow_mkdir: boolean = (this.constructor as SimpleHandlerClass).allow_mkdir;
  allow_move: boolean = (this.constructor as SimpleHandlerClass).allow_move;
  webdav: boolean = (this.constructor as SimpleHandlerClass).webdav;
  webdav_depth_infinity: boolean = (this.constructor as SimpleHandlerClass).webdav_depth_infinity;
  archive: boolean = (this.constructor as SimpleHandlerClass).archive;
  qr: boolean = (this.constructor as SimpleHandlerClass).qr;
  search: boolean = (this.constructor as SimpleHandlerClass).search;
  search_max_entries: number = (this.constructor as SimpleHandlerClass).search_max_entries;
  search_timeout: number = (this.constructor as SimpleHandlerClass).search_timeout;
  readme: boolean = (this.constructor as SimpleHandlerClass).readme;
  /** Whether this request's credentials were checked (before a `100 Continue`, or after parsing). */
  private accessChecked = false;
  /** The status of the response being written (so that a `100 Continue` gets no added headers). */
  private responseCode = 0;
  /** Headers for the next `end_headers()` (see `defer_header`). */
  private deferredHeaders: HeaderField[] = [];
  /** The feature modules this handler's options need, while they load (null once they are in). */
  private featuresLoading: Promise<void> | null = null;
  /** The directory served, as a path (`os.fspath`). */
  directory: string;

  constructor(request: Socket, client_address: Address, server: S, options: SimpleHTTPRequestHandlerOptions = {}) {
    super(request, client_address, server);
    this.directory = fspath(options.directory ?? (this.constructor as SimpleHandlerClass).directory ?? process.cwd());
    this.featuresLoading = loadFeaturesFor(this);
    if (this.featuresLoading === null) this.addFeatureMethods();
  }

  /**
   * Gives this handler the methods its options add (`do_PUT`, `do_DELETE`, `do_PROPFIND` …):
   * in the constructor once their modules are loaded, else in `parse_request()` once they are.
   */
  private addFeatureMethods(): void {
    if (this.upload) loaded.upload!.addUploadMethods(this);
    if (this.allow_delete || this.allow_mkdir || this.allow_move) loaded.manage!.addManageMethods(this);
    if (this.webdav) loaded.webdav!.addWebdavMethods(this);
  }

  /** Once the feature modules this handler waited for are in: what the constructor would have done. */
  private async featuresLoaded(loading: Promise<void>): Promise<void> {
    await loading;
    this.featuresLoading = null;
    this.addFeatureMethods();
  }

  /**
   * A subclass of this class that serves `directory` (Python's `functools.partial(Handler,
   * directory=...)`). A relative path stays relative: it is resolved at each request.
   */
  static with_directory<T extends SimpleHandlerConstructor>(this: T, directory: string | URL): T {
    const Base = this as unknown as SimpleHandlerClass;
    const Bound = class extends Base {
      static override directory: string | URL | null = directory;
    };
    Object.defineProperty(Bound, "name", { value: Base.name });
    return Bound as unknown as T;
  }

  /** Serves a GET request: the headers, then the file or listing. */
  async do_GET(): Promise<void> {
    const f = await this.send_head();
    if (f) {
      try {
        await this.copyfile(f, this.wfile);
      } finally {
        const closing = f.close(); // a file in memory closes at once: nothing to await
        if (closing) await closing;
      }
    }
  }

  /** Serves a HEAD request: the same headers as GET, no body. */
  async do_HEAD(): Promise<void> {
    const f = await this.send_head();
    if (f) await f.close();
  }


  /**
   * With `auth`, also checks the credentials once the request is parsed (features/auth.ts). A
   * request on a connection that came while its options' feature modules were still loading
   * (the first of a class, see feature_modules.ts) waits for them first: here rather than in
   * `setup()`, so a subclass's own `setup()` cannot skip the wait.
   */
  override async parse_request(): Promise<boolean> {
    if (this.featuresLoading !== null) await this.featuresLoaded(this.featuresLoading);
    if (this.auth === null) return super.parse_request();
    this.accessChecked = false;
    if (!(await super.parse_request())) return false;
    return this.accessChecked || checkAccess(this);
  }

  /** Before a `100 Continue`: the credentials, then whether the upload would be refused anyway. */
  override async handle_expect_100(): Promise<boolean> {
    this.accessChecked = true;
    if (this.auth !== null && !(await checkAccess(this))) return false;
    if (this.upload && !(await (loaded.upload ?? (await loadFeature("upload"))).precheckUpload(this))) return false;
    if (this.webdav && !(await (loaded.webdav ?? (await loadFeature("webdav"))).precheckWebdav(this))) return false;
    return super.handle_expect_100();
  }

  /**
   * With `cors`, answers a CORS preflight with 204; with `webdav`, any other `OPTIONS` with what
   * the share offers (`DAV`, `Allow`). Anything else is what Python sends for a method it does
   * not implement: `501 Unsupported method ('OPTIONS')`.
   */
  async do_OPTIONS(): Promise<void> {
    const preflight = this.cors && isPreflight(this.headers);
    if (this.webdav && !preflight) return (loaded.webdav ?? (await loadFeature("webdav"))).answerOptions(this);
    if (!preflight) {
      return this.send_error(501, `Unsupported method (${pyRepr(this.command)})`);
    }
    this.send_response(204);
    for (const [name, value] of preflightHeaders(this.headers)) this.send_header(name, value);
    await this.end_headers();
  }

  override send_response_only(code: number, message?: string | null): void {
    this.responseCode = code;
    super.send_response_only(code, message);
  }

  /**
   * Buffers a header that the next `end_headers()` sends after the others: how a header joins a
   * response that another method builds, e.g. `Content-Range` on the 416 that `send_error` sends.
   */
  defer_header(keyword: string, value: string): void {
    this.deferredHeaders.push([keyword, value]);
  }

  /**
   * Ends the headers, first adding the deferred ones, then, on every final response (files,
   * listings, redirects, 304s, errors), CORS and `extra_headers`.
   */
  override end_headers(): Promise<void> {
    if (this.deferredHeaders.length) {
      for (const [name, value] of this.deferredHeaders) this.send_header(name, value);
      this.deferredHeaders = [];
    }
    if (this.responseCode >= 200) this.send_added_headers();
    return super.end_headers();
  }

  /**
   * The common part of GET and HEAD: sends the status line and headers, and returns the body to
   * copy (which the caller must close), or null when there is nothing more to send.
   *
   * A directory without its trailing slash is redirected to it (so relative links in the page
   * resolve inside it), then served by its first index page, else listed.
   */
  async send_head(): Promise<FileLike | null> {
    let path = this.translate_path(this.path);
    const refused = this.refuse_path(path, true);
    if (refused !== false && (await refused)) return null;
    let stats = statOrNull(path);
    if (stats?.isDirectory()) {
      const parts = urlsplit(this.path);
      if (!(parts.path.endsWith("/") || parts.path.endsWith("%2f") || parts.path.endsWith("%2F"))) {
        this.send_response(301);
        this.send_header("Location", directoryLocation(parts));
        this.send_header("Content-Length", "0");
        await this.end_headers();
        return null;
      }
      const answered = this.directory_response(path);
      if (answered !== null) return answered;
      let index: string | null = null;
      for (const name of this.index_pages) {
        const candidate = posixpath.join(path, name);
        const candidateStats = statOrNull(candidate);
        if (candidateStats?.isFile()) {
          index = candidate;
          stats = candidateStats;
          break;
        }
      }
      if (index === null) return this.list_directory(path);
      path = index;
    } else if (stats === null) {
      const fallback = this.fallback_path(path);
      if (fallback !== null) {
        path = fallback;
        stats = statOrNull(path);
      }
    }
    const ctype = withCharset(this.guess_type(path), this.charset);
    // A file named with a trailing slash is not that file (bpo-17324).
    if (path.endsWith("/")) {
      await this.send_error(404, "File not found");
      return null;
    }
    // An index page or the SPA file may itself be a link out of the directory.
    const refusedFile = this.refuse_path(path, false);
    if (refusedFile !== false && (await refusedFile)) return null;
    // Ranges, the preconditions Python ignores, and the file options: see file_response.ts.
    if (needsFileFeatures(this) && stats?.isFile()) return sendFileHead(this, path, ctype, stats);
    const opened = this.openFile(path, stats);
    const f = opened instanceof Promise ? await opened : opened;
    if (f === null) {
      // Python's `open()` failed: missing, unreadable, a NUL in the name (where Python raises).
      await this.send_error(404, "File not found");
      return null;
    }
    try {
      const fs = f.stats;
      // Only a UTC (or zone-less) date is compared; any other offset is ignored, as in Python.
      if (notModifiedSince(this.headers, fs.mtimeMs)) {
        this.send_response(304);
        await this.end_headers();
        await f.close();
        return null;
      }
      this.send_response(200);
      this.send_header("Content-type", ctype);
      this.send_header("Content-Length", String(fs.size));
      this.send_header("Last-Modified", this.date_time_string(fs.mtimeMs / 1000));
      const written = this.end_headers();
      if (written !== WRITTEN) await written; // the socket took the headers: no turn to wait
      return f.file();
    } catch (error) {
      await f.close();
      throw error;
    }
  }

  /**
   * Python's `open(path, 'rb')` + `fstat`, for regular files only: a small one comes from memory
   * (validated by the stat just taken), a larger one is opened. Null where `open` would fail, and
   * for anything but a regular file — a FIFO, a socket or a device — which Python would open (and
   * wait on a FIFO's writer forever, or stream a device without end): those get 404 here.
   */
  private openFile(path: string, stats: Stats | null): OpenedFile | null | Promise<OpenedFile | null> {
    if (stats === null || !stats.isFile()) return null;
    if (stats.size <= smallFiles.maxFileSize) {
      try {
        const cached = smallFiles.lookup(path, stats, fsPath(path));
        if (cached) return new MemoryFile(cached.stats, cached.data);
      } catch {
        return null;
      }
    }
    return this.openOnDisk(path);
  }

  private async openOnDisk(path: string): Promise<OpenedFile | null> {
    const opened = await FileIO.openRegular(fsPath(path));
    return opened && new DiskFile(opened.stats, opened.file);
  }

  // Hooks through which the additions (src/features/) take part in `send_head` and
  // `end_headers`. Each does nothing, at no cost, while its options are off.

  /**
   * Refuses a path the options hide: with `dotfiles` off, a request path naming a dotfile
   * (`forRequest`: checked once per request, on the path as the client sent it); with
   * `follow_symlinks` off, a file that resolves outside `directory` (the translated `path`, and
   * again for the index page or SPA file chosen). True, having sent `404 File not found`, when
   * refused; false (not a Promise) when no option applies.
   */
  refuse_path(path: string, forRequest: boolean): boolean | Promise<boolean> {
    const hidden = forRequest && !this.dotfiles && isHiddenPath(this.path);
    if (!hidden && this.follow_symlinks) return false;
    return this.refuseWith404(hidden || resolvesOutside(path, this.directory));
  }

  private async refuseWith404(refused: boolean | Promise<boolean>): Promise<boolean> {
    if (!(await refused)) return false;
    await this.send_error(404, "File not found");
    return true;
  }

  /**
   * The file to serve for a `path` that does not exist, or null for Python's 404: with `spa`, the
   * SPA file for a path without an extension (features/spa.ts).
   */
  fallback_path(path: string): string | null {
    return this.spa === null ? null : spaFallback(path, this.directory, this.spa);
  }

  /**
   * The answer for the directory `path` (its URL with the trailing slash) other than its index
   * page or listing, or null to carry on: with `archive`, the archive `?download=` asks for
   * (features/archive.ts); with `search`, the results of `?q=` (features/search.ts).
   */
  directory_response(path: string): Promise<FileLike | null> | null {
    if (this.archive) {
      const archive = loaded.archive;
      if (archive === undefined) return loadFeature("archive").then(() => this.directory_response(path));
      const format = archive.requestedArchive(this.path);
      if (format !== null) return archive.sendArchive(this, path, format);
    }
    if (this.search) {
      const search = loaded.search;
      if (search === undefined) return loadFeature("search").then(() => this.directory_response(path));
      const query = search.requestedSearch(this.path);
      if (query !== null) return search.sendSearch(this, path, query);
    }
    return null;
  }

  /**
   * Headers every final response gets (files, listings, redirects, 304s, errors), after its own:
   * `Access-Control-Allow-Origin` with `cors`, then `extra_headers`.
   */
  send_added_headers(): void {
    if (this.cors) this.send_header(...ALLOW_ORIGIN);
    for (const [name, value] of this.extra_headers) this.send_header(name, value);
  }

  /**
   * Sends the headers of an HTML listing of `path` and returns its body (or sends
   * `404 No permission to list directory` and returns null). Entries are sorted case-insensitively;
   * directories end in `/`, symbolic links in `@` (a link to a directory still links with `/`).
   */
  async list_directory(path: string): Promise<FileLike | null> {
    let entries: Entry[];
    try {
      entries = listSorted(path);
    } catch {
      await this.send_error(404, "No permission to list directory");
      return null;
    }
    if (!this.dotfiles) entries = withoutDotfiles(entries, this.path);
    if (this.upload) {
      const { isUploadTemp } = loaded.atomic_write ?? (await loadFeature("atomic_write"));
      entries = entries.filter(({ name }) => !isUploadTemp(name));
    }
    if (this.listing === "rich") return (loaded.rich_listing ?? (await loadFeature("rich_listing"))).sendRichListing(this, path, entries);
    const displaypath = htmlEscape(unquoteWithFallback(this.path.split("#", 1)[0]!.split("?", 1)[0]!), false);
    const title = `Directory listing for ${displaypath}`;
    const lines = [
      "<!DOCTYPE HTML>",
      '<html lang="en">',
      "<head>",
      '<meta charset="utf-8">',
      LISTING_STYLE,
      `<title>${title}</title>\n</head>`,
      `<body>\n<h1>${title}</h1>`,
      "<hr>\n<ul>",
    ];
    for (const { name, isDir, isLink } of entries) {
      let displayname = name;
      let linkname = name;
      if (isDir) {
        displayname = name + "/";
        linkname = name + "/";
      }
      if (isLink) displayname = name + "@";
      lines.push(`<li><a href="${quote(linkname, { errors: "surrogatepass" })}">${htmlEscape(displayname, false)}</a></li>`);
    }
    const downloads = this.archive ? `<p>${(loaded.archive ?? (await loadFeature("archive"))).downloadLinks()}</p>\n` : "";
    const uploadForm = this.upload ? (loaded.upload_page ?? (await loadFeature("upload_page"))).UPLOAD_FOOTER : "";
    lines.push(`</ul>\n<hr>\n${downloads}${uploadForm}</body>\n</html>\n`);
    const encoded = encodeListing(lines.join("\n"));
    this.send_response(200);
    this.send_header("Content-type", "text/html; charset=utf-8");
    this.send_header("Content-Length", String(encoded.length));
    await this.end_headers();
    return new BytesIO(encoded);
  }

  /**
   * Maps a URL path to a file name under `directory`, ignoring the query and fragment and any part
   * that could leave the directory (`..`, drive letters). A trailing slash is kept.
   */
  translate_path(path: string): string {
    return translatePath(path, this.directory);
  }

  /**
   * Copies `source` to `outputfile` in chunks of `COPY_BUFSIZE` (larger while the client keeps
   * up; buffers are reused once the socket has sent them), waiting for each write to
   * be taken: memory stays flat whatever the file size, and a slow client slows only its own copy.
   * A write to a client that has gone rejects, which ends the copy.
   */
  async copyfile(source: FileLike, outputfile: Writable): Promise<void> {
    // Already in memory (a small file, a listing): one write, no reads to await.
    if (source instanceof BytesIO) {
      const rest = source.readRest();
      const written = rest.length > 0 ? outputfile.write(rest) : undefined;
      if (written && written !== WRITTEN) await written;
      return;
    }
    await copyInChunks(source, outputfile);
  }

  /**
   * The `Content-type` for a file: `extensions_map` by exact extension, then lower-cased; then
   * the MIME table (`mimetypes.guess_file_type`); else `application/octet-stream`.
   */
  guess_type(path: string): string {
    const ext = posixpath.splitext(path)[1];
    if (Object.hasOwn(this.extensions_map, ext)) return this.extensions_map[ext]!;
    const lower = ext.toLowerCase();
    if (Object.hasOwn(this.extensions_map, lower)) return this.extensions_map[lower]!;
    return guess_file_type(path)[0] ?? "application/octet-stream";
  }
}
