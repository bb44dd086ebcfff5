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
import type { BrotliCompress, Gzip } from "node:zlib";
import type { Stats } from "node:fs";
import type { FileLike } from "../py/io.js";
import { StatValidatedCache, unchanged, type FileIdentity } from "../server/file_cache.js";
import { statOrNull } from "../server/listdir.js";

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
 * `parseAcceptEncoding` of a request's `Accept-Encoding` values, remembered: browsers send one of
 * a handful of values, and each response with `--compress` or `--precompressed` needs them
 * parsed. The maps are shared, never changed after parsing; at most `WEIGHTS_KEPT` are kept, the
 * table emptied when full (and a value over `WEIGHTS_KEY_LIMIT` characters never kept), so no
 * client can grow it.
 */
function acceptedWeights(acceptEncoding: readonly string[]): ReadonlyMap<string, number> {
  const value = acceptEncoding.length === 1 ? acceptEncoding[0]! : acceptEncoding.join(",");
  let weights = weightsByValue.get(value);
  if (weights !== undefined) return weights;
  weights = parseAcceptEncoding(value);
  if (value.length <= WEIGHTS_KEY_LIMIT) {
    if (weightsByValue.size >= WEIGHTS_KEPT) weightsByValue.clear();
    weightsByValue.set(value, weights);
  }
  return weights;
}

const weightsByValue = new Map<string, ReadonlyMap<string, number>>();
const WEIGHTS_KEPT = 64;
const WEIGHTS_KEY_LIMIT = 256;

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
  return chooseFromWeights(acceptedWeights(acceptEncoding), available);
}

/** `chooseCoding` for weights already parsed (`parseAcceptEncoding`). */
function chooseFromWeights(weights: ReadonlyMap<string, number>, available: readonly Coding[]): Coding | null {
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

/** A precompressed file found beside the requested one. */
export interface Precompressed {
  path: string;
  stats: Stats;
  coding: Coding;
}

/**
 * The precompressed files beside `path` (`path.br`, `path.gz`: a regular file each, found by a
 * stat, not opened) that decide the response: `chosen`, the one to send for the request's
 * `Accept-Encoding` (`chooseCoding`), or null; `any`, whether there is one at all (the response
 * then varies with `Accept-Encoding`, accepted or not). The siblings are looked for in the order
 * the client prefers their codings, and the first one present settles both: it is the best the
 * client accepts, or, if the client does not accept it, none of the rest would be chosen either.
 * So a request usually costs one stat, and none while `original` (the stat of the file at
 * `path`, just taken) is given and unchanged: see `recentSiblingStats`. With `confinedTo` (a
 * directory), siblings whose real path lies outside it are ignored (checked every time); `skip`
 * are codings to ignore (their file could not be opened).
 */
export function findPrecompressed(
  path: string,
  acceptEncoding: readonly string[] | undefined,
  confinedTo: string | null = null,
  skip: ReadonlySet<Coding> = NONE,
  original: FileIdentity | null = null,
): FoundPrecompressed | Promise<FoundPrecompressed> {
  const weights = acceptEncoding === undefined ? null : acceptedWeights(acceptEncoding);
  return nextSibling(path, weights, preferenceOrder(weights), 0, confinedTo, skip, original);
}

/**
 * A sibling's stat, taken again when the last one is a second old or the file asked for has
 * changed since (its stat, taken on every request, is `original`): a request for a
 * precompressed file then costs the one stat a plain file does. A sibling written or removed
 * while the file beside it stays the same is seen within a second; one written with its file
 * (a build, a deploy) at once. What is sent is still what the small-file cache holds for that
 * stat, or the file opened then, so the length always matches the bytes.
 */
function recentSiblingStats(sibling: string, original: FileIdentity): Stats | null {
  const now = Date.now();
  const kept = siblingLookups.get(sibling);
  if (kept !== undefined && now - kept.at < SIBLING_LOOKUP_MS && unchanged(kept.original, original)) return kept.stats;
  const stats = statOrNull(sibling);
  if (siblingLookups.size >= SIBLING_LOOKUPS_KEPT) siblingLookups.clear();
  siblingLookups.set(sibling, { at: now, original, stats });
  return stats;
}

/** A sibling's stat (null: none), when it was taken, and the stat of its file then. */
interface SiblingLookup {
  at: number;
  original: FileIdentity;
  stats: Stats | null;
}

const siblingLookups = new Map<string, SiblingLookup>();
/** How long a sibling's stat is used for, while its file is unchanged. */
export const SIBLING_LOOKUP_MS = 1000;
/** Siblings remembered at most (the table is emptied when full). */
const SIBLING_LOOKUPS_KEPT = 4096;

/** What `findPrecompressed` found. */
export interface FoundPrecompressed {
  chosen: Precompressed | null;
  any: boolean;
}

const NONE: ReadonlySet<Coding> = new Set();

/** The search from `order[i]` on: synchronous but for the real-path checks of `confinedTo`. */
function nextSibling(
  path: string,
  weights: ReadonlyMap<string, number> | null,
  order: readonly Coding[],
  i: number,
  confinedTo: string | null,
  skip: ReadonlySet<Coding>,
  original: FileIdentity | null,
): FoundPrecompressed | Promise<FoundPrecompressed> {
  for (; i < order.length; i++) {
    const coding = order[i]!;
    if (skip.has(coding)) continue;
    const sibling = precompressedPath(path, coding);
    const stats = original ? recentSiblingStats(sibling, original) : statOrNull(sibling);
    if (!stats?.isFile()) continue;
    const found = () => ({ chosen: weights && chooseFromWeights(weights, [coding]) === coding ? { path: sibling, stats, coding } : null, any: true });
    if (confinedTo === null) return found();
    // With follow_symlinks off, a sibling that links out of the directory is as if absent.
    const next = i + 1;
    return resolvesOutside(sibling, confinedTo).then((outside) => (outside ? nextSibling(path, weights, order, next, confinedTo, skip, original) : found()));
  }
  return { chosen: null, any: false };
}

/** `CODINGS` by the client's weights, heaviest first (ours on a tie); the order does not change the choice, only how soon it is made. */
function preferenceOrder(weights: ReadonlyMap<string, number> | null): readonly Coding[] {
  if (weights === null) return CODINGS;
  const star = weights.get("*") ?? 0;
  const weight = (coding: Coding) => weights.get(coding) ?? star;
  return weight("gzip") > weight("br") ? GZIP_FIRST : CODINGS;
}

const GZIP_FIRST: readonly Coding[] = ["gzip", "br"];

const EMPTY = Buffer.alloc(0);

/** Brotli at quality 5: most of the gain of 11 at a fraction of the time, as on-the-fly work must be. */
const BROTLI_QUALITY = 5;
/**
 * A 512 KiB window (ngx_brotli's default) rather than brotli's 4 MiB: it bounds what one
 * connection holds, and output starts after about 256 KiB of input instead of several MiB.
 */
const BROTLI_WINDOW_BITS = 19;

function createCompressor(coding: Coding, size: number): BrotliCompress | Gzip {
  // node:zlib is loaded by the first response compressed, not by every server.
  const { constants: zlib, createBrotliCompress, createGzip } = process.getBuiltinModule("node:zlib");
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
 * The output of a file's compression, kept whole: the bytes, and where each step's output ended
 * (a replay gives the same pieces, so the same chunks on the wire, as the compression did).
 */
interface CompressedResult {
  data: Buffer;
  ends: number[];
}

/**
 * What was compressed, by file and coding, validated by each request's stat like the small-file
 * cache (server/file_cache.ts): a file that has not changed is not compressed again. At most
 * `COMPRESSED_CACHE_BYTES` in all for the process, the least recently served dropped first; a
 * result larger than `COMPRESSED_ENTRY_BYTES` is not kept (it is compressed for each request).
 * Off with `compress_cache = false`.
 */
export const COMPRESSED_CACHE_BYTES = 16 * 1024 * 1024;
export const COMPRESSED_ENTRY_BYTES = 2 * 1024 * 1024;
const compressedResults = new StatValidatedCache<CompressedResult>(COMPRESSED_CACHE_BYTES);

function resultKey(path: string, coding: Coding): string {
  return `${coding}:${path}`;
}

/** The cache's use, for tests and benchmarks: bytes and results held. */
export function compressedCacheUse(): { bytes: number; results: number } {
  return { bytes: compressedResults.size, results: compressedResults.count };
}

/**
 * The compressed body of the file at `path` (described by `stats`) if the cache holds it: its
 * bytes as they were made, in the same pieces.
 */
export function cachedCompression(path: string, coding: Coding, stats: FileIdentity): FileLike | null {
  const result = compressedResults.get(resultKey(path, coding), stats);
  return result && new ReplayedBody(result);
}

/** Where a `CompressedBody` keeps its output, once whole, for later requests. */
export interface CompressionRecord {
  path: string;
  stats: FileIdentity;
}

/**
 * A file compressed as it is read: each `read()` reads the next 64 KiB of the file and, holding
 * one of `COMPRESSION_SLOTS`, passes it through a node:zlib stream, returning what came out
 * (empty steps are skipped). Memory stays at one input and one output chunk; nothing is read or
 * compressed before the first `read()` (a HEAD never starts it), and nothing runs between reads,
 * so a client that stops reading holds no slot. Closing it closes the file. With a `record`, the
 * output of a compression that reaches the end is also kept in the cache (`cachedCompression`),
 * unless it grows past `COMPRESSED_ENTRY_BYTES`.
 */
export class CompressedBody implements FileLike {
  private compressor: BrotliCompress | Gzip | null = null;
  private pending: Buffer = EMPTY;
  private ended = false;
  /** Each step's output so far, while it is to be kept (null once too large, or without a record). */
  private pieces: Buffer[] | null;
  private recorded = 0;

  constructor(
    private readonly file: FileLike,
    readonly coding: Coding,
    private readonly size: number,
    private readonly record: CompressionRecord | null = null,
  ) {
    this.pieces = record ? [] : null;
  }

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
    this.keep(this.pending);
    if (input.length === 0) {
      this.ended = true;
      this.store();
    }
  }

  /** Adds a step's output to the record, or gives the record up once it is too large to keep. */
  private keep(output: Buffer): void {
    if (this.pieces === null || output.length === 0) return;
    this.recorded += output.length;
    if (this.recorded > COMPRESSED_ENTRY_BYTES) this.pieces = null;
    else this.pieces.push(output);
  }

  /** At the end of the file: the whole output, copied into one buffer of its own, into the cache. */
  private store(): void {
    if (this.pieces === null || this.record === null) return;
    const ends: number[] = [];
    let end = 0;
    for (const piece of this.pieces) ends.push((end += piece.length));
    // One exact buffer: zlib's pieces are views of larger buffers the cache must not hold.
    const data = Buffer.concat(this.pieces, end);
    compressedResults.set(resultKey(this.record.path, this.coding), this.record.stats, { data, ends }, data.length);
    this.pieces = null;
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
    this.pieces = null;
    await this.file.close();
  }
}

/**
 * A cached compression result read back as `CompressedBody` read it out: each `read(n)` gives
 * the rest of the current step's output, at most `n` bytes, so the chunks on the wire are the
 * same as the first time.
 */
class ReplayedBody implements FileLike {
  private piece = 0;
  private offset = 0;

  constructor(private readonly result: CompressedResult) {}

  async read(n = -1): Promise<Buffer> {
    const { data, ends } = this.result;
    if (this.piece >= ends.length) return EMPTY;
    const end = ends[this.piece]!;
    const count = n < 0 ? end - this.offset : Math.min(n, end - this.offset);
    const chunk = data.subarray(this.offset, this.offset + count);
    this.offset += count;
    if (this.offset === end) this.piece++;
    return chunk;
  }

  close(): void {}
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
