/**
 * HTML forms for handlers: a streaming parser of `multipart/form-data` and
 * `application/x-www-form-urlencoded` bodies, on busboy (the parser most Node frameworks use, kept
 * up and strict about the format). Python dropped `cgi.FieldStorage` in 3.13; this is what a
 * handler uses instead: `for await (const part of this.form(options)) …`.
 *
 * Fields arrive as strings, files as streams, in the order the client sent them. A file's stream
 * must be read (or left: asking for the next part drains it) before the next part is parsed, and
 * nothing more of the body is read while it waits: memory stays flat however large the upload.
 * Every limit has a default, and passing one is an error the handler need not catch: a
 * `RequestBodyError` that answers 413 (too large, too many), 400 (malformed) or 415 (not a form).
 */
import { createRequire } from "node:module";
import type busboy from "busboy";

/** busboy, loaded by the first form parsed (a server that never reads one never loads it). */
let loadedBusboy: typeof busboy | null = null;
function busboyParser(): typeof busboy {
  return (loadedBusboy ??= createRequire(import.meta.url)("busboy") as typeof busboy);
}
import type { Readable } from "node:stream";
import type { HTTPMessage } from "../http/message.js";
import { RequestBodyError } from "./request_body.js";

/** A form field: its name and value (decoded as UTF-8, or the form's charset). */
export interface FormField {
  type: "field";
  name: string;
  value: string;
  /** The part's `Content-Type` (`text/plain` when it gave none). */
  mimeType: string;
}

/** An uploaded file: its field name, the file name the client gave, and its bytes as a stream. */
export interface FormFile {
  type: "file";
  name: string;
  /**
   * The client's file name, its last path component only (a browser sends no directories; others
   * may, and they are cut off). Never trust it as a path: check it before using it as one.
   * `undefined` when the part gave none.
   */
  filename: string | undefined;
  /** The part's `Content-Type` (`text/plain` when it gave none, as RFC 7578 says). */
  mimeType: string;
  /**
   * The file's bytes. Errors with the `RequestBodyError` 413 when the file passes `fileSize`
   * (so a `pipeline()` into a file rejects, and the partial file can be removed).
   */
  stream: Readable;
}

export type FormPart = FormField | FormFile;

/** Limits of `form()`; each has a default, and passing one is a `RequestBodyError` 413. */
export interface FormOptions {
  /** The most bytes of body in all. @default Infinity */
  limit?: number;
  /** The most bytes in one file. @default Infinity */
  fileSize?: number;
  /** The most files. @default 1000 */
  files?: number;
  /** The most fields (not files). @default 1000 */
  fields?: number;
  /** The most bytes in one field's value. @default 1048576 (1 MiB) */
  fieldSize?: number;
  /** The most bytes in a field's name. @default 200 */
  fieldNameSize?: number;
  /** The most parts, fields and files together. @default 2000 */
  parts?: number;
  /** The most header lines in one part. @default 100 */
  headerPairs?: number;
}

const DEFAULT_LIMITS = {
  fileSize: Infinity,
  files: 1000,
  fields: 1000,
  fieldSize: 1 << 20,
  fieldNameSize: 200,
  parts: 2000,
  headerPairs: 100,
} satisfies Required<Omit<FormOptions, "limit">>;

/** Parts parsed and not yet taken past which the body is no longer read (fields are small). */
const QUEUE_HIGH_WATER = 16;

/**
 * The parts of a form body, parsed as `body` streams in.
 * @throws RequestBodyError 415 for a body that is not a form, 400 for a malformed one, 413 past a limit
 */
export async function* parseForm(
  headers: HTTPMessage,
  body: AsyncIterable<Buffer>,
  options: FormOptions = {},
): AsyncGenerator<FormPart, void, undefined> {
  const limits = { ...DEFAULT_LIMITS, ...withoutUndefined(options) };
  const parser = createParser(headers, limits);
  const state = new FormState();

  // busboy cuts long names only in urlencoded bodies: multipart names are measured here.
  const nameTooLong = (name: string, truncated = false) => {
    if (!truncated && Buffer.byteLength(name) <= limits.fieldNameSize) return false;
    state.fail(tooLarge(`a field name is longer than ${limits.fieldNameSize} bytes`));
    return true;
  };
  parser.on("field", (name, value, info) => {
    if (nameTooLong(name, info.nameTruncated)) return;
    if (info.valueTruncated) return state.fail(tooLarge(`field ${JSON.stringify(name)} is longer than ${limits.fieldSize} bytes`));
    state.push({ type: "field", name, value, mimeType: info.mimeType });
  });
  parser.on("file", (name, stream, info) => {
    // A file's stream may fail before the caller holds it (a limit, a malformed or abandoned
    // body): the error then reaches the caller through the iterator, or its own pipeline.
    stream.on("error", ignore);
    if (nameTooLong(name)) return stream.resume();
    stream.once("limit", () => {
      const error = tooLarge(`file ${JSON.stringify(info.filename ?? name)} is larger than ${limits.fileSize} bytes`);
      stream.destroy(error);
      state.fail(error);
    });
    state.push({ type: "file", name, filename: info.filename, mimeType: info.mimeType, stream });
  });
  parser.on("partsLimit", () => state.fail(tooLarge(`more than ${limits.parts} parts`)));
  parser.on("filesLimit", () => state.fail(tooLarge(`more than ${limits.files} files`)));
  parser.on("fieldsLimit", () => state.fail(tooLarge(`more than ${limits.fields} fields`)));
  parser.on("error", (error: Error) => state.fail(new RequestBodyError(400, `Malformed form body (${error.message})`, { cause: error })));
  parser.on("close", () => state.finish());

  void pump(body, parser, state).catch((error) => {
    state.fail(error);
    // The body failed (cut short, reset, timed out): a file stream being read must end too, with
    // that error, or its reader would wait for bytes that never come.
    parser.destroy(error);
  });
  let current: FormFile | null = null;
  try {
    for (;;) {
      // Whatever the caller left of the previous file is read and dropped.
      if (current && !current.stream.destroyed) current.stream.resume();
      current = null;
      const part = await state.next();
      if (!part) return;
      if (part.type === "file") current = part;
      yield part;
    }
  } finally {
    if (!state.done) {
      state.stop();
      parser.destroy();
      if (current && !current.stream.destroyed) current.stream.destroy();
    }
  }
}

/** busboy for the request's `Content-Type`; a type it does not parse is 415. */
function createParser(headers: HTTPMessage, limits: typeof DEFAULT_LIMITS): busboy.Busboy {
  const type = headers.get("Content-Type");
  if (!type) throw new RequestBodyError(415, "No Content-Type: expected multipart/form-data or application/x-www-form-urlencoded");
  try {
    // Browsers send file names as raw UTF-8 in `filename=`; Latin-1 (busboy's default) would garble them.
    return busboyParser()({ headers: { "content-type": type }, limits, defParamCharset: "utf8" });
  } catch (error) {
    const message = (error as Error).message;
    if (/boundary/i.test(message)) throw new RequestBodyError(400, `Malformed form body (${message})`, { cause: error });
    throw new RequestBodyError(415, `Unsupported form type ${JSON.stringify(type)}: expected multipart/form-data or application/x-www-form-urlencoded`, { cause: error });
  }
}

/** Feeds the body to the parser, no faster than the parser, the file streams and the caller take it. */
async function pump(body: AsyncIterable<Buffer>, parser: busboy.Busboy, state: FormState): Promise<void> {
  for await (const chunk of body) {
    if (state.stopped) return;
    if (!parser.write(chunk)) await state.until(parser, "drain");
    while (state.queued >= QUEUE_HIGH_WATER && !state.stopped) await state.taken();
    if (state.stopped) return;
  }
  parser.end();
}

/** The parts parsed and not yet taken, the first failure, and the two sides waiting on each other. */
class FormState {
  private readonly queue: FormPart[] = [];
  private failure: Error | null = null;
  /** The parser has finished (all parts are in the queue). */
  private finished = false;
  /** The caller gave up or a failure ended the parse: the pump stops. */
  stopped = false;
  private wakeReader: (() => void) | null = null;
  /** The pump's wait for a part to be taken; a wait for `drain` ends only on `drain` or a stop. */
  private wakeTaken: (() => void) | null = null;
  private readonly onStop = new Set<() => void>();

  get queued(): number {
    return this.queue.length;
  }

  /** Every part has been taken, or the parse failed: nothing is left to clean up. */
  get done(): boolean {
    return (this.finished && this.queue.length === 0) || this.failure !== null;
  }

  push(part: FormPart): void {
    this.queue.push(part);
    this.readerMayGo();
  }

  fail(error: Error): void {
    this.failure ??= error;
    this.stop();
  }

  finish(): void {
    this.finished = true;
    this.readerMayGo();
  }

  stop(): void {
    this.stopped = true;
    this.readerMayGo();
    for (const wake of [...this.onStop]) wake();
  }

  /** The next part; null at the end of the form. */
  async next(): Promise<FormPart | null> {
    for (;;) {
      if (this.failure) throw this.failure;
      const part = this.queue.shift();
      if (part) {
        const wake = this.wakeTaken;
        this.wakeTaken = null;
        wake?.();
        return part;
      }
      if (this.finished) return null;
      await new Promise<void>((resolve) => (this.wakeReader = resolve));
    }
  }

  /** Resolves when the caller takes a part, or the parse stops. */
  taken(): Promise<void> {
    return this.waitFor((wake) => {
      this.wakeTaken = wake;
      return () => (this.wakeTaken = null);
    });
  }

  /** Resolves on the stream's `event` (or `close`), or when the parse stops. */
  until(stream: NodeJS.EventEmitter, event: string): Promise<void> {
    return this.waitFor((wake) => {
      stream.once(event, wake);
      stream.once("close", wake);
      return () => {
        stream.off(event, wake);
        stream.off("close", wake);
      };
    });
  }

  /** Resolves when `subscribe`'s wake is called or the parse stops, then unsubscribes. */
  private waitFor(subscribe: (wake: () => void) => () => void): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        unsubscribe();
        this.onStop.delete(wake);
        resolve();
      };
      const unsubscribe = subscribe(wake);
      this.onStop.add(wake);
    });
  }

  private readerMayGo(): void {
    const wake = this.wakeReader;
    this.wakeReader = null;
    wake?.();
  }
}

function ignore(): void {}

function tooLarge(what: string): RequestBodyError {
  return new RequestBodyError(413, `Form too large: ${what}`);
}

function withoutUndefined(options: FormOptions): Partial<typeof DEFAULT_LIMITS> {
  const limits: Partial<Record<string, number>> = {};
  for (const [key, value] of Object.entries(options)) if (value !== undefined && key !== "limit") limits[key] = value;
  return limits as Partial<typeof DEFAULT_LIMITS>;
}
