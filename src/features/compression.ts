/**
 * Content codings (RFC 9110 §8.4, §12.5.3): choosing one from `Accept-Encoding`, compressing a
 * file on the fly with node:zlib, framing it with chunked transfer coding, and finding the
 * precompressed `x.br` / `x.gz` that sit beside a file.
 *
 * On with the command line's `--compress` (the class attribute `compress = true`) and
 * `--precompressed` (`precompressed = true`); off by default. Not Python: `http.server` never
 * sends `Content-Encoding`. See docs/FEATURES.md.
 */
import { resolvesOutside } from "./symlinks.js";
import { constants as zlib, createBrotliCompress, createGzip, type BrotliCompress, type Gzip } from "node:zlib";
import type { Stats } from "node:fs";
import { FileIO, type FileLike } from "../py/io.js";
import { fsencode } from "../py/codecs.js";

/** The codings served, in order of preference when the client weighs them equally. */
export type Coding = "br" | "gzip";
export const CODINGS: readonly Coding[] = ["br", "gzip"];

/** The file-name suffix of each coding's precompressed file. */
export const PRECOMPRESSED_SUFFIX: Readonly<Record<Coding, string>> = { br: ".br", gzip: ".gz" };

/** Files smaller than this (in bytes) are not compressed on the fly: framing would eat the gain. */
export const COMPRESS_MIN_SIZE = 1024;

/** Types compressed on the fly besides `text/*` and the `+json` / `+xml` suffixes. */
const COMPRESSIBLE_TYPES = new Set([
  "application/javascript",
  "application/ecmascript",
  "application/x-javascript",
  "application/json",
  "application/xml",
  "application/wasm",
  "application/yaml",
  "application/x-yaml",
  "application/toml",
  "application/x-sh",
  "application/x-ndjson",
  "application/vnd.ms-fontobject",
  "font/ttf",
  "font/otf",
  "image/bmp",
  "image/vnd.microsoft.icon",
  "image/x-icon",
]);

/**
 * Whether a type is worth compressing: `text/*`, `*+json`, `*+xml` (SVG, Atom, RSS, XHTML…) and
 * `COMPRESSIBLE_TYPES`. Images, audio, video, archives and fonts that are compressed already
 * (PNG, JPEG, MP4, ZIP, gzip, WOFF2…) are not.
 */
export function isCompressible(type: string): boolean {
  const semicolon = type.indexOf(";");
  const mime = (semicolon < 0 ? type : type.slice(0, semicolon)).trim().toLowerCase();
  return mime.startsWith("text/") || mime.endsWith("+json") || mime.endsWith("+xml") || COMPRESSIBLE_TYPES.has(mime);
}

/** `q` weights: `0`, `1`, or `0.` / `1.` with up to three digits (RFC 9110 §12.4.2). */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * Parses `Accept-Encoding` into the weight of each coding named (lower-cased; `x-gzip` counts as
 * `gzip`). An element with an invalid weight is skipped; a coding named twice keeps its first
 * weight.
 *
 * ```ts
 * parseAcceptEncoding("gzip;q=0.8, br, *;q=0") // Map { "gzip" => 0.8, "br" => 1, "*" => 0 }
 * ```
 */
export function parseAcceptEncoding(value: string): Map<string, number> {
  const weights = new Map<string, number>();
  for (const element of value.split(",")) {
    const [name = "", ...params] = element.split(";");
    let coding = name.trim().toLowerCase();
    if (coding === "") continue;
    if (coding === "x-gzip") coding = "gzip";
    let q = 1;
    for (const param of params) {
      const equals = param.indexOf("=");
      if (equals < 0 || param.slice(0, equals).trim().toLowerCase() !== "q") continue;
      const text = param.slice(equals + 1).trim();
      q = QVALUE.test(text) ? Number(text) : NaN;
    }
    if (!Number.isNaN(q) && !weights.has(coding)) weights.set(coding, q);
  }
  return weights;
}

/**
 * The coding to send, among `available` (in our order of preference), for the request's
 * `Accept-Encoding` values; null for none (identity).
 * - A coding's weight is its own, else that of `*`, else 0: a client that names no coding gets
 *   none, and no header at all means identity (most clients that accept compression say so).
 * - The heaviest coding wins, `br` before `gzip` on a tie; a weight of 0 never wins.
 * - `identity;q=…` named with a heavier weight than the winner keeps the response uncompressed.
 */
export function chooseCoding(acceptEncoding: readonly string[] | undefined, available: readonly Coding[] = CODINGS): Coding | null {
  if (acceptEncoding === undefined || available.length === 0) return null;
  const weights = parseAcceptEncoding(acceptEncoding.join(","));
  const star = weights.get("*") ?? 0;
  let best: Coding | null = null;
  let bestWeight = 0;
  for (const coding of CODINGS) {
    if (!available.includes(coding)) continue;
    const weight = weights.get(coding) ?? star;
    if (weight > bestWeight) {
      best = coding;
      bestWeight = weight;
    }
  }
  const identity = weights.get("identity");
  return identity !== undefined && identity > bestWeight ? null : best;
}

/** `path` + the coding's suffix (`x.js` → `x.js.br`). */
export function precompressedPath(path: string, coding: Coding): string {
  return path + PRECOMPRESSED_SUFFIX[coding];
}

/** A precompressed file opened for serving. */
export interface Precompressed {
  file: FileIO;
  stats: Stats;
  coding: Coding;
}

/**
 * Opens the precompressed file to serve for `path`, or returns null: the preferred coding (by
 * `chooseCoding`) among those whose `path.br` / `path.gz` is a regular file.
 * `found` lists the codings present, whether or not the client accepts them (they make the
 * response vary with `Accept-Encoding`). With `confinedTo` (a directory), siblings whose real
 * path lies outside it are ignored.
 */
export async function openPrecompressed(
  path: string,
  acceptEncoding: readonly string[] | undefined,
  confinedTo: string | null = null,
): Promise<{ found: Coding[]; chosen: Precompressed | null }> {
  const found: Coding[] = [];
  const opened = new Map<Coding, Precompressed>();
  for (const coding of CODINGS) {
    const sibling = precompressedPath(path, coding);
    // With follow_symlinks off, a sibling that links out of the directory is as if absent.
    if (confinedTo !== null && (await resolvesOutside(sibling, confinedTo))) continue;
    const regular = await FileIO.openRegular(fsencode(sibling));
    if (regular) {
      found.push(coding);
      opened.set(coding, { ...regular, coding });
    }
  }
  const coding = chooseCoding(acceptEncoding, found);
  for (const [other, { file }] of opened) if (other !== coding) await file.close();
  return { found, chosen: coding === null ? null : opened.get(coding)! };
}

const EMPTY = Buffer.alloc(0);

/** Brotli at quality 5: most of the gain of 11 at a fraction of the time, as on-the-fly work must be. */
const BROTLI_QUALITY = 5;
/**
 * A 512 KiB window (ngx_brotli's default) rather than brotli's 4 MiB: it bounds what one
 * connection holds, and output starts after about 256 KiB of input instead of several MiB.
 */
const BROTLI_WINDOW_BITS = 19;

function createCompressor(coding: Coding, size: number): BrotliCompress | Gzip {
  if (coding === "gzip") return createGzip();
  return createBrotliCompress({
    params: {
      [zlib.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
      [zlib.BROTLI_PARAM_LGWIN]: BROTLI_WINDOW_BITS,
      [zlib.BROTLI_PARAM_SIZE_HINT]: size,
    },
  });
}

/** Bytes of the file compressed per step (one or a few jobs on libuv's thread pool). */
const COMPRESS_INPUT_CHUNK = 64 * 1024;

/** libuv's thread-pool size: `UV_THREADPOOL_SIZE`, else its default of 4. */
function threadPoolSize(): number {
  const size = Number(process.env.UV_THREADPOOL_SIZE);
  return Number.isInteger(size) && size > 0 ? size : 4;
}

/**
 * How many responses may be compressing at once, in the whole process: half of libuv's thread
 * pool (2 of the default 4). node:zlib compresses on that pool, which also does every file read;
 * the pool takes its work first come, first served, so 32 brotli responses compressing freely
 * kept about 32 jobs queued and each 512 KiB read of a download waited behind them (a 100 MiB
 * file took 4 s instead of 0.12 s). Held to this many, file reads find a thread within one
 * compression step (a few ms). The rest wait their turn between steps, never while writing.
 */
export const COMPRESSION_SLOTS = Math.max(1, Math.floor(threadPoolSize() / 2));

/** A counting semaphore, first come first served. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  /** Slots taken now, and the most ever taken at once (for tests and benchmarks). */
  inUse = 0;
  peak = 0;

  constructor(readonly size: number) {
    this.free = size;
  }

  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      this.taken();
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.waiting.push(() => resolve())).then(() => this.taken());
  }

  release(): void {
    this.inUse--;
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }

  private taken(): void {
    this.inUse++;
    this.peak = Math.max(this.peak, this.inUse);
  }
}

const compressionSlots = new Slots(COMPRESSION_SLOTS);

/** How many compression steps run now and ran at most at once; `reset` starts a new peak. */
export function compressionLoad(reset = false): { inUse: number; peak: number; slots: number } {
  const load = { inUse: compressionSlots.inUse, peak: compressionSlots.peak, slots: compressionSlots.size };
  if (reset) compressionSlots.peak = compressionSlots.inUse;
  return load;
}

/**
 * A file compressed as it is read: each `read()` reads the next 64 KiB of the file and, holding
 * one of `COMPRESSION_SLOTS`, passes it through a node:zlib stream, returning what came out
 * (empty steps are skipped). Memory stays at one input and one output chunk; nothing is read or
 * compressed before the first `read()` (a HEAD never starts it), and nothing runs between reads,
 * so a client that stops reading holds no slot. Closing it closes the file.
 */
export class CompressedBody implements FileLike {
  private compressor: BrotliCompress | Gzip | null = null;
  private pending: Buffer = EMPTY;
  private ended = false;

  constructor(private readonly file: FileIO, readonly coding: Coding, private readonly size: number) {}

  async read(n = -1): Promise<Buffer> {
    // An empty read means the end, so an empty step must not be passed on.
    while (this.pending.length === 0) {
      if (this.ended) return EMPTY;
      await this.step();
    }
    const count = n < 0 ? this.pending.length : Math.min(n, this.pending.length);
    const chunk = this.pending.subarray(0, count);
    this.pending = this.pending.subarray(count);
    return chunk;
  }

  /** Compresses the next chunk of the file (or finishes the stream at its end) into `pending`. */
  private async step(): Promise<void> {
    const input = await this.file.read(COMPRESS_INPUT_CHUNK);
    await compressionSlots.acquire();
    try {
      this.pending = await this.compress(input.length > 0 ? input : null);
    } finally {
      compressionSlots.release();
    }
    if (input.length === 0) this.ended = true;
  }

  /** Feeds `input` to the compressor (null: ends it) and resolves with everything it gave back. */
  private compress(input: Buffer | null): Promise<Buffer> {
    const compressor = (this.compressor ??= createCompressor(this.coding, this.size));
    return new Promise((resolve, reject) => {
      const output: Buffer[] = [];
      const collect = (chunk: Buffer) => output.push(chunk);
      const done = (error?: Error | null) => {
        compressor.off("data", collect).off("error", done).off("end", done);
        if (error) reject(error);
        else resolve(output.length === 1 ? output[0]! : Buffer.concat(output));
      };
      compressor.on("data", collect).once("error", done);
      // The write's callback runs once zlib has taken all of `input` (flowing, nothing is held back).
      if (input) compressor.write(input, done);
      else compressor.once("end", done).end();
    });
  }

  async close(): Promise<void> {
    this.compressor?.destroy();
    this.pending = EMPTY;
    this.ended = true;
    await this.file.close();
  }
}

const CHUNK_END = Buffer.from("0\r\n\r\n", "latin1");
const CRLF = Buffer.from("\r\n", "latin1");

/**
 * Chunked transfer coding (RFC 9112 §7.1) over another body: each piece read becomes
 * `<size in hex>\r\n<bytes>\r\n`, and the end is the zero-size chunk `0\r\n\r\n`.
 */
export class ChunkedBody implements FileLike {
  private ended = false;

  constructor(private readonly inner: FileLike) {}

  async read(n = -1): Promise<Buffer> {
    if (this.ended) return EMPTY;
    const chunk = await this.inner.read(n);
    if (chunk.length === 0) {
      this.ended = true;
      return CHUNK_END;
    }
    return Buffer.concat([Buffer.from(chunk.length.toString(16) + "\r\n", "latin1"), chunk, CRLF]);
  }

  close(): void | Promise<void> {
    return this.inner.close();
  }
}
