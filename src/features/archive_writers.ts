/**
 * The two writers of `--archive` (class attribute `archive`; archive.ts walks and feeds them):
 * zip through yazl and tar (and tar.gz) through tar-stream, each taking one entry at a time and
 * resolving when it can take the next, so that nothing is read faster than the client takes it.
 */
import { once } from "node:events";
import type { Stats } from "node:fs";
import { PassThrough, type Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { createRequire } from "node:module";
import type yazlModule from "yazl";
import type tarModule from "tar-stream";
import type { Header as TarHeaders } from "tar-stream";

/** yazl, tar-stream and node:zlib are loaded by the first archive made (`--archive`), not by every server. */
const load = createRequire(import.meta.url);
const yazl = () => load("yazl") as typeof yazlModule;
const tar = () => load("tar-stream") as typeof tarModule;

/** tar.gz's zlib level: the fastest, as most of a shared folder (photos, video) does not compress. */
export const GZIP_LEVEL = 1;

/** What both formats offer the job. Each method resolves once the writer can take more. */
export interface ArchiveWriter {
  readonly output: Readable;
  directory(name: string, stats: Stats, signal: AbortSignal): Promise<void>;
  file(name: string, stats: Stats, source: Readable, compress: boolean, signal: AbortSignal): Promise<void>;
  note(name: string, text: string, signal: AbortSignal): Promise<void>;
  finish(signal: AbortSignal): Promise<void>;
  destroy(error?: Error): void;
}

/**
 * A name as a zip can hold it. A zip's only separator is `/`, and yazl reads a `\` as one too,
 * then refuses a name that ends with it, climbs with `..` or starts like `c:`: one file named
 * `x\` or `..\y` would cut off the whole archive. So a `\` becomes `_`, and so does the colon of
 * a leading drive letter (only the top folder's name can start the path).
 */
export function zipEntryName(name: string): string {
  const flat = name.includes("\\") ? name.replaceAll("\\", "_") : name;
  return DRIVE.test(flat) ? `${flat[0]}_${flat.slice(2)}` : flat;
}

const DRIVE = /^[a-zA-Z]:/;

/** zip through yazl, which streams each entry with a data descriptor and adds ZIP64 where needed. */
export class ZipWriter implements ArchiveWriter {
  private readonly zip = new (yazl().ZipFile)();
  readonly output: Readable = this.zip.outputStream as unknown as Readable;
  private source: Readable | null = null;

  constructor() {
    // yazl reports a failure on the zip file itself; the job sees it through the output.
    this.zip.on("error", (error: Error) => this.output.destroy(error));
  }

  async directory(name: string, stats: Stats, signal: AbortSignal): Promise<void> {
    this.zip.addEmptyDirectory(zipEntryName(name), { mtime: stats.mtime, mode: stats.mode });
    await this.room(signal);
  }

  async file(name: string, stats: Stats, source: Readable, compress: boolean, signal: AbortSignal): Promise<void> {
    this.source = source;
    // yazl keeps this function with the entry until the end (for the central directory): it must
    // not keep the stream, and what it read, alive with it.
    let handOver: Readable | null = source;
    this.zip.addReadStreamLazy(zipEntryName(name), { mtime: stats.mtime, mode: stats.mode, size: stats.size, compress }, (callback) => {
      const stream = handOver!;
      handOver = null;
      callback(null, stream);
    });
    // yazl takes entries in turn: this one's data is read once the ones before it are written.
    await finished(source, { signal });
    this.source = null;
  }

  async note(name: string, text: string, signal: AbortSignal): Promise<void> {
    this.zip.addBuffer(Buffer.from(text, "utf8"), zipEntryName(name), { mtime: new Date(), mode: 0o100644 });
    await this.room(signal);
  }

  async finish(): Promise<void> {
    this.zip.end();
  }

  /** yazl writes headers without waiting: wait here while the client has not taken them. */
  private async room(signal: AbortSignal): Promise<void> {
    const output = this.output as unknown as PassThrough;
    if (output.writableNeedDrain) await once(output, "drain", { signal });
  }

  destroy(error?: Error): void {
    this.source?.destroy();
    this.output.destroy(error);
  }
}

/** tar (and tar.gz) through tar-stream; the entry stream applies backpressure to each file. */
export class TarWriter implements ArchiveWriter {
  private readonly pack = tar().pack();
  readonly output: Readable;
  private source: Readable | null = null;

  constructor(gzip: boolean) {
    // tar.gz compresses everything, photos and videos too: zlib's fastest level (docs/FEATURES.md).
    this.output = gzip ? process.getBuiltinModule("node:zlib").createGzip({ level: GZIP_LEVEL }) : new PassThrough();
    this.pack.pipe(this.output as unknown as NodeJS.WritableStream);
    this.pack.on("error", (error: Error) => this.output.destroy(error));
  }

  directory(name: string, stats: Stats): Promise<void> {
    return this.entry({ name: name + "/", type: "directory", mode: stats.mode & 0o7777, mtime: stats.mtime });
  }

  async file(name: string, stats: Stats, source: Readable, _compress: boolean, signal: AbortSignal): Promise<void> {
    this.source = source;
    let written: (error?: Error | null) => void = () => {};
    const entryDone = new Promise<void>((resolve, reject) => (written = (error) => (error ? reject(error) : resolve())));
    entryDone.catch(() => {}); // awaited below, unless the client has gone (then it fails, unheard)
    const sink = this.pack.entry({ name, type: "file", size: stats.size, mode: stats.mode & 0o7777, mtime: stats.mtime }, written) as unknown as NodeJS.WritableStream;
    for await (const chunk of source) {
      if (signal.aborted) return;
      if (!sink.write(chunk)) await once(sink, "drain", { signal });
    }
    sink.end();
    await entryDone;
    this.source = null;
  }

  note(name: string, text: string): Promise<void> {
    const data = Buffer.from(text, "utf8");
    return new Promise((resolve, reject) => {
      this.pack.entry({ name, type: "file", size: data.length, mode: 0o644, mtime: new Date() }, data, (error) => (error ? reject(error) : resolve()));
    });
  }

  async finish(): Promise<void> {
    this.pack.finalize();
  }

  private entry(header: Partial<TarHeaders> & { name: string }): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pack.entry(header, (error) => (error ? reject(error) : resolve()));
    });
  }

  destroy(error?: Error): void {
    this.source?.destroy();
    this.pack.destroy();
    this.output.destroy(error);
  }
}
