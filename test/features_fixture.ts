/**
 * Shared tools for the tests of the additions beyond Python (ranges, conditional requests,
 * compression, CORS, extra headers, SPA): a served tree made at test time, one-request exchanges
 * parsed into status, headers and body, and parsers for multipart and chunked bodies.
 */
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { formatHttpDate } from "../src/http/dates.js";
import { exchange, masked, splitReply } from "./helpers.js";

/** A handler that logs nothing. */
export class Quiet extends SimpleHTTPRequestHandler {
  override log_message(): void {}
}

/** 100 printable bytes: `!"#$%…`, each offset easy to check. */
export const HUNDRED = Buffer.from(Array.from({ length: 100 }, (_, i) => String.fromCharCode(0x21 + (i % 90))).join(""), "latin1");

/** Deterministic bytes (a linear congruential sequence), so a slice can be checked exactly. */
export function pseudoRandom(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Text that compresses well, of exactly `length` bytes. */
export function text(length: number): Buffer {
  const line = "The quick brown fox jumps over the lazy dog. 0123456789\n";
  return Buffer.from(line.repeat(Math.ceil(length / line.length)).slice(0, length), "latin1");
}

/** A fixed modification time for files whose dates the tests compare (2001-09-09T01:46:40Z). */
export const MTIME = 1000000000;

/**
 * Builds the served tree in a new temporary directory and returns its path:
 * - `hundred.txt` (100 bytes), `empty.txt`, `big.bin` (1 MiB + 17 bytes), all dated `MTIME`;
 * - `sub/` (a listing), `withindex/index.html`, `index.html` (the SPA page);
 * - compression: `big.txt` (20,000 bytes), `large.txt` (3 MiB of hex digits), `small.txt`
 *   (1,023), `edge.txt` (1,024),
 *   `page.html`, `app.js`, `data.json`, `image.svg`, `module.wasm`, `photo.png`, `archive.gz`;
 * - precompressed: `pre.js` with real `pre.js.br` and `pre.js.gz`, `gzonly.css` with
 *   `gzonly.css.gz`, `fake.js` with a *directory* named `fake.js.br`.
 */
export function buildTree(): string {
  const root = fs.mkdtempSync(join(tmpdir(), "simplehttp-features-"));
  const write = (name: string, data: string | Buffer) => {
    fs.mkdirSync(join(root, name, ".."), { recursive: true });
    fs.writeFileSync(join(root, name), data);
  };
  write("hundred.txt", HUNDRED);
  write("empty.txt", "");
  write("big.bin", pseudoRandom(1024 * 1024 + 17));
  write("sub/note.txt", "note\n");
  write("withindex/index.html", "<p>index</p>\n");
  write("index.html", "<!doctype html><title>app</title>\n");
  write("big.txt", text(20000));
  write("small.txt", text(1023));
  write("edge.txt", text(1024));
  write("page.html", text(4000));
  write("app.js", text(3000));
  write("data.json", text(3000));
  write("image.svg", text(3000));
  write("module.wasm", text(3000));
  write("large.txt", pseudoRandom(1536 * 1024, 3).toString("hex"));
  write("photo.png", pseudoRandom(5000, 7));
  write("archive.gz", pseudoRandom(5000, 9));
  const pre = text(8000);
  write("pre.js", pre);
  write("pre.js.br", brotliCompressSync(pre));
  write("pre.js.gz", gzipSync(pre));
  write("gzonly.css", text(2000));
  write("gzonly.css.gz", gzipSync(text(2000)));
  write("fake.js", text(2000));
  fs.mkdirSync(join(root, "fake.js.br"));
  for (const name of ["hundred.txt", "empty.txt", "big.bin", "pre.js", "pre.js.br", "pre.js.gz"]) {
    fs.utimesSync(join(root, name), MTIME, MTIME);
  }
  return root;
}

export function removeTree(root: string): void {
  fs.rmSync(root, { recursive: true, force: true });
}

/** The `Last-Modified` value of a file. */
export const lastModified = (path: string) => formatHttpDate(fs.statSync(path).mtimeMs / 1000);

export interface RequestOptions {
  method?: string;
  version?: string;
  headers?: Record<string, string> | [string, string][];
}

/** A parsed reply. */
export interface Reply {
  raw: Buffer;
  /** Status line and headers, Server and Date masked, one entry a line. */
  head: string[];
  status: number;
  body: Buffer;
  /** The first value of a header (case-insensitive), or undefined. */
  header(name: string): string | undefined;
  /** Header names in order. */
  names: string[];
}

/** Builds the bytes of a request. */
export function requestBytes(path: string, options: RequestOptions = {}): string {
  const { method = "GET", version = "HTTP/1.0", headers = {} } = options;
  let head = `${method} ${path} ${version}\r\n`;
  for (const [name, value] of Array.isArray(headers) ? headers : Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return head + "\r\n";
}

/** Parses one reply (status line, headers, everything after the blank line as the body). */
export function parseReply(raw: Buffer): Reply {
  const { head, body } = splitReply(raw);
  const lines = masked(head + "\r\n").slice(0, -2).split("\r\n");
  const fields = lines.slice(1).map((line) => {
    const colon = line.indexOf(":");
    return [line.slice(0, colon), line.slice(colon + 1).trim()] as const;
  });
  return {
    raw,
    head: lines,
    status: Number(lines[0]!.split(" ")[1]),
    body,
    names: fields.map(([name]) => name),
    header: (name) => fields.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1],
  };
}

/** Sends one request on a new connection and parses the reply (read until the server closes). */
export async function fetchReply(port: number, path: string, options: RequestOptions = {}): Promise<Reply> {
  return parseReply(await exchange(port, requestBytes(path, options), { timeoutMs: 30000 }));
}

/** A part of a `multipart/byteranges` body. */
export interface Part {
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Parses a multipart body strictly by its boundary: `--B\r\n` first, `\r\n--B\r\n` between parts,
 * `\r\n--B--\r\n` at the end, nothing after. Throws on any deviation.
 */
export function parseMultipart(body: Buffer, contentType: string): Part[] {
  const match = /^multipart\/byteranges; boundary=([0-9A-Za-z'()+_,\-./:=?]{1,70})$/.exec(contentType);
  if (!match) throw new Error(`not a multipart/byteranges type: ${contentType}`);
  const boundary = match[1]!;
  const close = Buffer.from(`\r\n--${boundary}--\r\n`);
  if (!body.subarray(body.length - close.length).equals(close)) throw new Error("the body does not end with the close delimiter");
  const first = Buffer.from(`--${boundary}\r\n`);
  if (!body.subarray(0, first.length).equals(first)) throw new Error("the body does not start with the boundary");
  const content = body.subarray(first.length, body.length - close.length);
  const delimiter = Buffer.from(`\r\n--${boundary}\r\n`);
  const parts: Part[] = [];
  let start = 0;
  for (;;) {
    const next = content.indexOf(delimiter, start);
    const piece = content.subarray(start, next < 0 ? content.length : next);
    const blank = piece.indexOf("\r\n\r\n");
    if (blank < 0) throw new Error("a part has no blank line after its headers");
    const headers: Record<string, string> = {};
    for (const line of piece.subarray(0, blank).toString("latin1").split("\r\n")) {
      const colon = line.indexOf(": ");
      headers[line.slice(0, colon)] = line.slice(colon + 2);
    }
    parts.push({ headers, body: piece.subarray(blank + 4) });
    if (next < 0) return parts;
    start = next + delimiter.length;
  }
}

/**
 * Decodes a chunked body, strictly (`<hex>\r\n<bytes>\r\n` … `0\r\n\r\n`); returns the data,
 * the number of chunks and whatever follows the last chunk.
 */
export function dechunk(body: Buffer): { data: Buffer; rest: Buffer; chunks: number } {
  const pieces: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const eol = body.indexOf("\r\n", offset);
    if (eol < 0) throw new Error("truncated chunk size line");
    const sizeText = body.subarray(offset, eol).toString("latin1");
    if (!/^[0-9a-f]+$/.test(sizeText)) throw new Error(`bad chunk size ${JSON.stringify(sizeText)}`);
    const size = parseInt(sizeText, 16);
    offset = eol + 2;
    if (size === 0) {
      if (body.toString("latin1", offset, offset + 2) !== "\r\n") throw new Error("no CRLF after the last chunk");
      return { data: Buffer.concat(pieces), rest: body.subarray(offset + 2), chunks: pieces.length };
    }
    pieces.push(body.subarray(offset, offset + size));
    if (body.toString("latin1", offset + size, offset + size + 2) !== "\r\n") throw new Error("no CRLF after a chunk");
    offset += size + 2;
  }
}
