/**
 * The parts of Python's `urllib.parse` that `http.server` depends on: `quote`, `unquote`,
 * `urlsplit` and `urlunsplit`, with Python's exact results (including its errors).
 */
import { isIPv4, isIPv6 } from "node:net";
import { decodeUtf8, encodeUtf8, type DecodeErrors, type EncodeErrors } from "./codecs.js";
import { remembered } from "./functools.js";

const HEX = "0123456789ABCDEF";

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/**
 * `unquote_to_bytes(text)` for ASCII text: each `%XX` (two hex digits, either case) becomes its
 * byte; a `%` not followed by two hex digits stays as it is.
 */
export function unquote_to_bytes(text: string): Buffer {
  const bytes = Buffer.from(text, "utf8");
  if (!bytes.includes(0x25)) return bytes;
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte === 0x25 && i + 2 < bytes.length) {
      const high = hexValue(bytes[i + 1]!);
      const low = hexValue(bytes[i + 2]!);
      if (high >= 0 && low >= 0) {
        out[n++] = (high << 4) | low;
        i += 2;
        continue;
      }
    }
    out[n++] = byte;
  }
  return out.subarray(0, n);
}

export interface UnquoteOptions {
  /** Only `utf-8` is supported. */
  encoding?: "utf-8";
  /** How invalid UTF-8 in the decoded bytes is handled. @default "replace" */
  errors?: DecodeErrors;
}

/**
 * `urllib.parse.unquote(text, errors=…)`: replaces `%XX` escapes by the characters their bytes
 * encode in UTF-8. Each run of ASCII characters is decoded on its own; other characters are kept
 * as they are. With `errors: "strict"` or `"surrogatepass"`, invalid bytes raise
 * `UnicodeDecodeError`.
 */
export function unquote(text: string, options: UnquoteOptions = {}): string {
  if (!text.includes("%")) return text;
  const errors = options.errors ?? "replace";
  let out = "";
  let i = 0;
  while (i < text.length) {
    let end = i;
    const ascii = text.charCodeAt(i) < 0x80;
    while (end < text.length && text.charCodeAt(end) < 0x80 === ascii) end++;
    const run = text.slice(i, end);
    out += ascii && run.includes("%") ? decodeUtf8(unquote_to_bytes(run), errors) : run;
    i = end;
  }
  return out;
}

const ALWAYS_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~";

const UNRESERVED_OR_SLASH = /^[A-Za-z0-9_.\-~/]*$/;

/** Per `safe` string: what each byte quotes to (Python caches its quoters the same way). */
const quoters = new Map<string, string[]>();

function quoterFor(safe: string): string[] {
  return remembered(quoters, safe, 64, quoterTable);
}

function quoterTable(safe: string): string[] {
  const allowed = ALWAYS_SAFE + safe;
  return Array.from({ length: 256 }, (_, byte) =>
    byte < 0x80 && allowed.includes(String.fromCharCode(byte)) ? String.fromCharCode(byte) : "%" + HEX[byte >> 4] + HEX[byte & 15],
  );
}

export interface QuoteOptions {
  /** ASCII characters, besides letters, digits and `_.-~`, left unquoted. @default "/" */
  safe?: string;
  /** How lone surrogates are encoded before quoting. @default "strict" */
  errors?: EncodeErrors;
}

/**
 * How `translate_path` decodes a URL path: `unquote(text, errors='surrogatepass')` (an encoded
 * surrogate, such as a listing's link to a name that is not UTF-8, decodes back to it), or plain
 * `unquote(text)` (U+FFFD for bytes that are not UTF-8) when that raises.
 */
export function unquoteWithFallback(text: string): string {
  try {
    return unquote(text, { errors: "surrogatepass" });
  } catch {
    return unquote(text);
  }
}

/** `urllib.parse.quote_from_bytes(bytes, safe)`: every byte not safe becomes `%XX` (upper case). */
export function quote_from_bytes(bytes: Uint8Array, safe = "/"): string {
  const table = quoterFor(safe);
  let out = "";
  for (const byte of bytes) out += table[byte];
  return out;
}

/**
 * `urllib.parse.quote(text, safe='/', errors=…)`: the UTF-8 bytes of `text`, percent-encoded
 * except for letters, digits, `_.-~` and `safe`. `errors: "surrogatepass"` encodes lone
 * surrogates (such as the U+DC80–U+DCFF of an undecodable file name) as three bytes each.
 */
export function quote(text: string, options: QuoteOptions = {}): string {
  if (!text) return text;
  if (options.safe === undefined && UNRESERVED_OR_SLASH.test(text)) return text; // nothing to quote
  return quote_from_bytes(encodeUtf8(text, options.errors ?? "strict"), options.safe ?? "/");
}

/** `urlsplit()`'s result: `scheme://netloc/path?query#fragment`, without `%` decoding. */
export interface SplitResult {
  scheme: string;
  netloc: string;
  path: string;
  query: string;
  fragment: string;
}

/** Python's `ValueError` from `urlsplit` (an invalid bracketed host, an NFKC trick in the netloc). */
export class URLValueError extends Error {
  override name = "ValueError";
}

const SCHEME_CHARS = /^[A-Za-z0-9+.-]*$/;
const uses_netloc = new Set([
  "", "ftp", "http", "gopher", "nntp", "telnet", "imap", "wais", "file", "mms", "https", "shttp", "snews",
  "prospero", "rtsp", "rtsps", "rtspu", "rsync", "svn", "svn+ssh", "sftp", "nfs", "git", "git+ssh", "ws", "wss",
]);

function stripLeadingC0OrSpace(text: string): string {
  let i = 0;
  while (i < text.length && text.charCodeAt(i) <= 0x20) i++;
  return text.slice(i);
}

function checkBracketedHost(host: string): void {
  if (host.startsWith("v")) {
    if (!/^v[a-fA-F0-9]+\..+$/s.test(host)) throw new URLValueError("IPvFuture address is invalid");
  } else if (isIPv4(host)) {
    throw new URLValueError("An IPv4 address cannot be in brackets");
  } else if (!isIPv6(host)) {
    throw new URLValueError(`'${host}' does not appear to be an IPv4 or IPv6 address`);
  }
}

function checkNetloc(netloc: string): void {
  if (!netloc || /^[\x00-\x7f]*$/.test(netloc)) return;
  const stripped = netloc.replace(/[@:#?]/g, "");
  const normalized = stripped.normalize("NFKC");
  if (stripped === normalized) return;
  for (const c of "/?#@:") {
    if (normalized.includes(c)) {
      throw new URLValueError(`netloc '${netloc}' contains invalid characters under NFKC normalization`);
    }
  }
}

/**
 * `urllib.parse.urlsplit(url)`: splits `scheme://netloc/path?query#fragment` into its five parts
 * (leading C0 controls and spaces, tabs and newlines removed first). Raises `URLValueError`
 * where Python raises `ValueError`.
 */
export function urlsplit(url: string): SplitResult {
  url = stripLeadingC0OrSpace(url).replace(/[\t\r\n]/g, "");
  let scheme = "";
  let netloc = "";
  let query = "";
  let fragment = "";
  const colon = url.indexOf(":");
  if (colon > 0 && /^[A-Za-z]/.test(url) && SCHEME_CHARS.test(url.slice(0, colon))) {
    scheme = url.slice(0, colon).toLowerCase();
    url = url.slice(colon + 1);
  }
  if (url.startsWith("//")) {
    let end = url.length;
    for (const delimiter of "/?#") {
      const at = url.indexOf(delimiter, 2);
      if (at >= 0) end = Math.min(end, at);
    }
    netloc = url.slice(2, end);
    url = url.slice(end);
    const open = netloc.includes("[");
    const close = netloc.includes("]");
    if (open !== close) throw new URLValueError("Invalid IPv6 URL");
    if (open && close) {
      const after = netloc.slice(netloc.indexOf("[") + 1);
      checkBracketedHost(after.includes("]") ? after.slice(0, after.indexOf("]")) : after);
    }
  }
  const hash = url.indexOf("#");
  if (hash >= 0) {
    fragment = url.slice(hash + 1);
    url = url.slice(0, hash);
  }
  const question = url.indexOf("?");
  if (question >= 0) {
    query = url.slice(question + 1);
    url = url.slice(0, question);
  }
  checkNetloc(netloc);
  return { scheme, netloc, path: url, query, fragment };
}

/**
 * `urllib.parse.urlunsplit(parts)`: the inverse of `urlsplit`, up to equivalence (an empty query
 * or fragment loses its `?` or `#`).
 */
export function urlunsplit(parts: SplitResult): string {
  const { scheme, netloc, query, fragment } = parts;
  let url = parts.path;
  if (netloc || (scheme && uses_netloc.has(scheme) && !url.startsWith("//"))) {
    if (url && !url.startsWith("/")) url = "/" + url;
    url = "//" + netloc + url;
  }
  if (scheme) url = scheme + ":" + url;
  if (query) url += "?" + query;
  if (fragment) url += "#" + fragment;
  return url;
}
