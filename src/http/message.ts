/**
 * Request headers as `http.client.parse_headers` reads them: lines are read with Python's limits
 * (65,536 bytes a line, 100 lines counting the blank one), decoded as Latin-1 and parsed by the
 * rules of the `email` package's compat32 parser, into a case-insensitive `HTTPMessage`.
 *
 * The server reads them strictly (`HeaderRules`): a field line compat32 would read as the end of
 * the headers or as two lines is refused (`BadHeaderLine`), and the bytes a head holds while it
 * arrives are metered. `parse_headers()` itself stays Python's.
 */
import { strip } from "../py/text.js";

/** `http.client._MAXLINE`: the longest header line, in bytes, terminator included. */
export const MAXLINE = 65536;
/** `http.client._MAXHEADERS`: lines read before giving up, the terminating blank line included. */
export const MAXHEADERS = 100;

/** `http.client.HTTPException`. */
export class HTTPException extends Error {
  override name = "HTTPException";
}

/** `http.client.LineTooLong`: `str(err)` is `got more than 65536 bytes when reading header line`. */
export class LineTooLong extends HTTPException {
  override name = "LineTooLong";
  constructor(lineType: string) {
    super(`got more than ${MAXLINE} bytes when reading ${lineType}`);
  }
}

/**
 * A request head larger than the server takes (not in Python): past the handler's
 * `max_header_size`, or past its share of the server's `max_header_memory`. Answered with 431.
 */
export class HeadersTooLarge extends HTTPException {
  override name = "HeadersTooLarge";
}

/**
 * A field line the server refuses (not in Python): no colon, a byte in the name other than a
 * visible ASCII character (a space before the colon, a NUL), or a CR that does not end the line.
 * `line` is the line without its line break.
 */
export class BadHeaderLine extends HTTPException {
  override name = "BadHeaderLine";
  constructor(readonly line: string) {
    super("bad header line");
  }
}

/**
 * The lower-cased form of a header name a lookup asks for. Handlers ask for a handful of names
 * written in their code (`Range`, `Accept-Encoding` …), several times a request, and a name's
 * `toLowerCase()` was the largest single cost of those lookups; the first `LOWER_NAMES_KEPT`
 * names asked for are remembered (not more, so names made up per request cannot grow it).
 */
function lowerName(name: string): string {
  const known = lowerNames.get(name);
  if (known !== undefined) return known;
  const lower = name.toLowerCase();
  if (lowerNames.size < LOWER_NAMES_KEPT) lowerNames.set(name, lower);
  return lower;
}

const lowerNames = new Map<string, string>();
const LOWER_NAMES_KEPT = 256;

/**
 * `http.client.HTTPMessage`: headers in arrival order, looked up case-insensitively.
 * `get()` returns the first occurrence, as `email.message.Message` does.
 */
export class HTTPMessage implements Iterable<string> {
  private readonly names: string[] = [];
  private readonly lowerNames: string[] = [];
  private readonly fieldValues: string[] = [];

  /** The header's first value, or `failobj` when it is absent. */
  get(name: string): string | undefined;
  get<T>(name: string, failobj: T): string | T;
  get<T>(name: string, failobj?: T): string | T | undefined {
    const index = this.lowerNames.indexOf(lowerName(name));
    return index < 0 ? failobj : this.fieldValues[index];
  }

  /** Every value of the header, in order, or `failobj` when there is none. */
  get_all(name: string): string[] | undefined;
  get_all<T>(name: string, failobj: T): string[] | T;
  get_all<T>(name: string, failobj?: T): string[] | T | undefined {
    const lower = lowerName(name);
    const found: string[] = [];
    for (let i = 0; i < this.lowerNames.length; i++) {
      if (this.lowerNames[i] === lower) found.push(this.fieldValues[i]!);
    }
    return found.length ? found : failobj;
  }

  /** `name in message`. */
  has(name: string): boolean {
    return this.lowerNames.includes(lowerName(name));
  }

  /** Header names as they were sent, duplicates included. */
  keys(): string[] {
    return [...this.names];
  }

  values(): string[] {
    return [...this.fieldValues];
  }

  items(): [string, string][] {
    return this.names.map((name, i) => [name, this.fieldValues[i]!]);
  }

  /** `len(message)`: the number of header lines kept. */
  get length(): number {
    return this.names.length;
  }

  [Symbol.iterator](): Iterator<string> {
    return this.keys()[Symbol.iterator]();
  }

  /** `Message.set_raw`: appends a header without any processing. */
  set_raw(name: string, value: string): void {
    this.names.push(name);
    this.lowerNames.push(name.toLowerCase());
    this.fieldValues.push(value);
  }

  /** `message[name] = value`: appends, as `email.message.Message.__setitem__` does. */
  add(name: string, value: string): void {
    this.set_raw(name, value);
  }

  /** `del message[name]`: removes every occurrence. */
  delete(name: string): void {
    const lower = name.toLowerCase();
    for (let i = this.lowerNames.length - 1; i >= 0; i--) {
      if (this.lowerNames[i] !== lower) continue;
      this.names.splice(i, 1);
      this.lowerNames.splice(i, 1);
      this.fieldValues.splice(i, 1);
    }
  }

  /** `Message.get_content_type()`: the lower-cased `maintype/subtype`, `text/plain` by default. */
  get_content_type(): string {
    const value = this.get("content-type");
    if (value === undefined) return "text/plain";
    const semicolon = value.indexOf(";");
    const ctype = strip(semicolon < 0 ? value : value.slice(0, semicolon)).toLowerCase();
    return ctype.split("/").length === 2 ? ctype : "text/plain";
  }

  get_content_maintype(): string {
    return this.get_content_type().split("/")[0]!;
  }

  get_content_subtype(): string {
    return this.get_content_type().split("/")[1]!;
  }

  /** The header block as `str(message)` shows it (each field `Name: value`, then a blank line). */
  toString(): string {
    return this.names.map((name, i) => `${name}: ${this.fieldValues[i]}\n`).join("") + "\n";
  }
}

/** What `parse_headers` needs of `rfile`. */
export interface LineSource {
  readline(limit?: number): Promise<Buffer>;
  /** The next line if it is already buffered, else `null` (saves a promise per header line). */
  readlineIfBuffered?(limit?: number): Buffer | null;
  /** The whole head's lines at once if they are buffered, else `null` (`SocketReader`'s). */
  takeHeadLinesIfBuffered?(maxLine: number, maxLines: number): string[] | null;
}

export type MessageFactory<M extends HTTPMessage = HTTPMessage> = new () => M;

/** How the server reads a request's headers, beyond `parse_headers` (not in Python). */
export interface HeaderRules {
  /** Refuse malformed field lines with `BadHeaderLine` rather than read them as compat32 does. */
  strict: boolean;
  /**
   * Called before each wait for a header line that is not buffered yet (never when the whole
   * block is): the place to meter what an unfinished head holds, and to throw to stop reading it.
   */
  waiting?: () => void;
}

/**
 * `http.client.parse_headers(fp, _class)`: reads header lines up to the blank line (or EOF) and
 * parses them. Throws `LineTooLong` or `HTTPException` as Python does.
 */
export async function parse_headers<M extends HTTPMessage = HTTPMessage>(
  fp: LineSource,
  _class?: MessageFactory<M>,
): Promise<M> {
  return parseHeadersSoon(fp, _class);
}

/**
 * `parse_headers`, returning the message itself (no Promise to await) when the whole header
 * block is already buffered, as it is for nearly every request. `rules` are the server's.
 */
export function parseHeadersSoon<M extends HTTPMessage = HTTPMessage>(
  fp: LineSource,
  _class?: MessageFactory<M>,
  rules?: HeaderRules,
): M | Promise<M> {
  const factory = (_class ?? HTTPMessage) as MessageFactory<M>;
  const block = fp.takeHeadLinesIfBuffered?.(MAXLINE, MAXHEADERS);
  if (block) return headersOf(block, factory, rules);
  const lines: string[] = [];
  for (;;) {
    const line = fp.readlineIfBuffered?.(MAXLINE + 1);
    if (!line) return readHeaderLines(fp, lines, rules).then(() => headersOf(lines, factory, rules));
    if (addHeaderLine(lines, line)) return headersOf(lines, factory, rules);
  }
}

/**
 * Reads the rest of the header lines into `lines`, waiting for them as they come. No line is held
 * in this async function's own frame, which keeps what it held while suspended: a line of 64 KiB
 * (or the socket read it is a slice of) would stay alive for as long as the head takes.
 */
async function readHeaderLines(fp: LineSource, lines: string[], rules: HeaderRules | undefined): Promise<void> {
  const add = (line: Buffer) => addHeaderLine(lines, line);
  while (!addBufferedLines(fp, lines)) {
    rules?.waiting?.();
    if (await fp.readline(MAXLINE + 1).then(add)) return;
  }
}

/** Adds the lines already buffered; true once the block has ended. */
function addBufferedLines(fp: LineSource, lines: string[]): boolean {
  for (;;) {
    const line = fp.readlineIfBuffered?.(MAXLINE + 1);
    if (!line) return false;
    if (addHeaderLine(lines, line)) return true;
  }
}

/** The message, from lines checked first when the rules are strict. */
function headersOf<M extends HTTPMessage>(lines: string[], factory: MessageFactory<M>, rules: HeaderRules | undefined): M {
  if (!rules?.strict) return parseHeaderLines(lines, factory);
  checkFieldLines(lines);
  return parseHeaderLines(lines, factory, true);
}

/** Adds one raw line; true once it ends the block. Throws on a line too long or too many lines. */
function addHeaderLine(lines: string[], line: Buffer): boolean {
  if (line.length > MAXLINE) throw new LineTooLong("header line");
  lines.push(line.toString("latin1"));
  if (lines.length > MAXHEADERS) throw new HTTPException(`got more than ${MAXHEADERS} headers`);
  return isBlankOrEnd(line);
}

function isBlankOrEnd(line: Buffer): boolean {
  return line.length === 0 || (line.length === 1 && line[0] === 0x0a) || (line.length === 2 && line[0] === 0x0d && line[1] === 0x0a);
}

/**
 * Parses decoded header lines by the compat32 `email` parser's rules. Lines that passed
 * `checkFieldLines` (`checked`) are all field lines or continuations up to the blank one: the
 * passes that find where compat32 would cut them are skipped.
 */
export function parseHeaderLines<M extends HTTPMessage>(httpLines: string[], factory: MessageFactory<M>, checked = false): M {
  const message = new factory();
  const lines = checked ? httpLines : headerSection(splitUniversalNewlines(httpLines));
  let name = "";
  let pieces: string[] = [];
  const flush = () => {
    if (name) message.set_raw(name, headerValue(pieces));
    name = "";
    pieces = [];
  };
  for (let lineno = 0; lineno < lines.length; lineno++) {
    const line = lines[lineno]!;
    const first = line.charCodeAt(0);
    if (checked && (first === 0x0d || first === 0x0a || line.length === 0)) break; // only the blank line, once checked
    if (first === 0x20 || first === 0x09) {
      // A continuation line folds into the previous header; one at the top is a defect, dropped.
      if (name) pieces.push(line);
      continue;
    }
    flush();
    if (line.startsWith("From ")) continue; // a Unix "From " envelope line is never a header
    const colon = line.indexOf(":");
    if (colon === 0) continue; // "Missing header name" defect: dropped
    name = line.slice(0, colon);
    pieces = [line];
  }
  flush();
  return message;
}

/**
 * Refuses (`BadHeaderLine`) a line that is not a field line — a name of visible ASCII characters
 * other than `:` (so no space before the colon, RFC 9112 §5.1), then a colon — nor a continuation
 * (a line starting with a space or tab, obs-fold: folded in as compat32 does), or that holds a CR
 * anywhere but just before its LF (§2.2). compat32 would read such a line as the end of the
 * headers, dropping those after it, or split it in two: a proxy reading it otherwise would see
 * different headers than we do (request smuggling).
 */
export function checkFieldLines(lines: string[]): void {
  for (const line of lines) {
    if (line === "\r\n" || line === "\n" || line === "") return; // the blank line
    const first = line.charCodeAt(0);
    let valueStart = 0;
    if (first !== 0x20 && first !== 0x09) {
      valueStart = nameEnd(line) + 1;
      if (valueStart <= 1) throw new BadHeaderLine(withoutLineBreak(line));
    }
    const cr = line.indexOf("\r", valueStart);
    if (cr >= 0 && (cr !== line.length - 2 || line.charCodeAt(cr + 1) !== 0x0a)) {
      throw new BadHeaderLine(withoutLineBreak(line));
    }
  }
}

/** The index of the colon ending a field name of visible ASCII characters; -1 if there is none. */
function nameEnd(line: string): number {
  for (let i = 0; i < line.length; i++) {
    const code = line.charCodeAt(i);
    if (code === 0x3a) return i;
    if (code < 0x21 || code > 0x7e) return -1;
  }
  return -1;
}

function withoutLineBreak(line: string): string {
  if (line.endsWith("\r\n")) return line.slice(0, -2);
  return line.endsWith("\n") ? line.slice(0, -1) : line;
}

/**
 * The email parser reads lines split at `\r\n`, `\r` or `\n`: a bare `\r` inside an HTTP line
 * starts a new line for it. The common case (no bare `\r`) keeps the lines as they are.
 */
function splitUniversalNewlines(httpLines: string[]): string[] {
  if (httpLines.every(hasNoBareCarriageReturn)) return httpLines;
  const lines: string[] = [];
  for (const text of httpLines) {
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code === 0x0d && text.charCodeAt(i + 1) === 0x0a) i++;
      else if (code !== 0x0d && code !== 0x0a) continue;
      lines.push(text.slice(start, i + 1));
      start = i + 1;
    }
    if (start < text.length) lines.push(text.slice(start));
  }
  // The HTTP lines were cut only at `\n`, so a trailing `\r` + next line's `\n` never occur apart.
  return lines;
}

function hasNoBareCarriageReturn(line: string): boolean {
  const cr = line.indexOf("\r");
  return cr < 0 || (cr === line.length - 2 && line.charCodeAt(cr + 1) === 0x0a);
}

/** The lines up to the first that is neither a header nor a continuation (`headerRE`). */
function headerSection(lines: string[]): string[] {
  for (let i = 0; i < lines.length; i++) {
    if (!looksLikeHeader(lines[i]!)) return lines.slice(0, i);
  }
  return lines;
}

/** `^(From |[\041-\071\073-\176]*:|[\t ])`: an envelope line, `name:`, or a continuation. */
function looksLikeHeader(line: string): boolean {
  const first = line.charCodeAt(0);
  if (first === 0x20 || first === 0x09 || line.startsWith("From ")) return true;
  for (let i = 0; i < line.length; i++) {
    const code = line.charCodeAt(i);
    if (code === 0x3a) return true;
    if (code < 0x21 || code > 0x7e) return false;
  }
  return false;
}

/** compat32 `header_source_parse`: leading blanks dropped, folds kept, trailing CR/LF dropped. */
function headerValue(pieces: string[]): string {
  const first = pieces[0]!;
  let start = first.indexOf(":") + 1;
  while (first[start] === " " || first[start] === "\t") start++;
  let value = first.slice(start);
  for (let i = 1; i < pieces.length; i++) value += pieces[i];
  let end = value.length;
  while (end > 0 && (value[end - 1] === "\r" || value[end - 1] === "\n")) end--;
  return value.slice(0, end);
}
