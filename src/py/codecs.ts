/**
 * Python's UTF-8 codec with the error handlers `http.server` relies on, on JavaScript strings.
 *
 * A Python `str` may hold lone surrogates (U+D800–U+DFFF); so may a JavaScript string, as lone
 * UTF-16 code units, which is how these functions represent them:
 * - `surrogateescape` (how Python decodes file names): each byte that is not part of a valid
 *   UTF-8 sequence becomes U+DC80–U+DCFF and encodes back to the same byte, so any file name
 *   round-trips (`fsdecode` / `fsencode`).
 * - `surrogatepass`: the three-byte forms `ED A0 80`–`ED BF BF` decode to, and encode from, the
 *   surrogate code points themselves.
 * - `replace`: each invalid sequence (a maximal subpart, as Python and WHATWG count them) decodes
 *   to one U+FFFD.
 * - `strict`: an invalid sequence raises `UnicodeDecodeError` / `UnicodeEncodeError`.
 */

import { isAscii } from "node:buffer";
import { hasSurrogate } from "./text.js";

export type DecodeErrors = "strict" | "replace" | "surrogatepass" | "surrogateescape";
export type EncodeErrors = "strict" | "surrogatepass" | "surrogateescape";

/** Python's `UnicodeDecodeError` (a `ValueError`). */
export class UnicodeDecodeError extends Error {
  override name = "UnicodeDecodeError";
  constructor(
    readonly start: number,
    readonly end: number,
    reason: string,
  ) {
    super(`'utf-8' codec can't decode byte(s) in position ${start}-${end - 1}: ${reason}`);
  }
}

/** Python's `UnicodeEncodeError` (a `ValueError`). */
export class UnicodeEncodeError extends Error {
  override name = "UnicodeEncodeError";
  constructor(readonly position: number) {
    super(`'utf-8' codec can't encode character in position ${position}: surrogates not allowed`);
  }
}

const isContinuation = (byte: number | undefined) => byte !== undefined && byte >= 0x80 && byte <= 0xbf;

/**
 * The length of the valid UTF-8 sequence at `i`, or minus the length of the invalid maximal
 * subpart there (at least one byte). With `allowSurrogates`, `ED A0..BF 80..BF` is valid.
 */
function sequenceAt(bytes: Uint8Array, i: number, allowSurrogates: boolean): number {
  const lead = bytes[i]!;
  if (lead < 0x80) return 1;
  let length: number;
  let low = 0x80;
  let high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) length = 2;
  else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead === 0xe0) low = 0xa0;
    else if (lead === 0xed && !allowSurrogates) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead === 0xf0) low = 0x90;
    else if (lead === 0xf4) high = 0x8f;
  } else return -1;
  const second = bytes[i + 1];
  if (second === undefined || second < low || second > high) return -1;
  for (let k = 2; k < length; k++) {
    if (!isContinuation(bytes[i + k])) return -k;
  }
  return length;
}

function codePointAt(bytes: Uint8Array, i: number, length: number): number {
  const lead = bytes[i]!;
  switch (length) {
    case 1:
      return lead;
    case 2:
      return ((lead & 0x1f) << 6) | (bytes[i + 1]! & 0x3f);
    case 3:
      return ((lead & 0x0f) << 12) | ((bytes[i + 1]! & 0x3f) << 6) | (bytes[i + 2]! & 0x3f);
    default:
      return ((lead & 0x07) << 18) | ((bytes[i + 1]! & 0x3f) << 12) | ((bytes[i + 2]! & 0x3f) << 6) | (bytes[i + 3]! & 0x3f);
  }
}

/** `bytes.decode('utf-8', errors)`. */
export function decodeUtf8(bytes: Uint8Array, errors: DecodeErrors = "strict"): string {
  if (isAscii(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1");
  const allowSurrogates = errors === "surrogatepass";
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const length = sequenceAt(bytes, i, allowSurrogates);
    if (length > 0) {
      // A surrogate decoded by surrogatepass stays a lone code unit, as in Python's str.
      out += String.fromCodePoint(codePointAt(bytes, i, length));
      i += length;
      continue;
    }
    const end = i - length;
    switch (errors) {
      case "replace":
        out += "\ufffd";
        break;
      case "surrogateescape":
        for (let k = i; k < end; k++) out += String.fromCharCode(0xdc00 + bytes[k]!);
        break;
      default:
        throw new UnicodeDecodeError(i, end, bytes[i]! >= 0x80 && bytes[i]! < 0xc2 ? "invalid start byte" : "invalid continuation byte");
    }
    i = end;
  }
  return out;
}

/**
 * `text.encode('utf-8', errors)`. A high surrogate followed by a low one is one character (that
 * is what a JavaScript string means by it); any other surrogate is lone.
 */
export function encodeUtf8(text: string, errors: EncodeErrors = "strict"): Buffer {
  if (!hasSurrogate(text)) return Buffer.from(text, "utf8");
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        const point = 0x10000 + ((unit - 0xd800) << 10) + (next - 0xdc00);
        bytes.push(0xf0 | (point >> 18), 0x80 | ((point >> 12) & 0x3f), 0x80 | ((point >> 6) & 0x3f), 0x80 | (point & 0x3f));
        i++;
        continue;
      }
    }
    if (unit >= 0xd800 && unit <= 0xdfff) {
      if (errors === "surrogateescape" && unit >= 0xdc80 && unit <= 0xdcff) bytes.push(unit - 0xdc00);
      else if (errors === "surrogatepass") bytes.push(0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f));
      else throw new UnicodeEncodeError(i);
      continue;
    }
    if (unit < 0x80) bytes.push(unit);
    else if (unit < 0x800) bytes.push(0xc0 | (unit >> 6), 0x80 | (unit & 0x3f));
    else bytes.push(0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f));
  }
  return Buffer.from(bytes);
}

/** `os.fsdecode(name)` on a UTF-8 system: undecodable bytes become U+DC80–U+DCFF. */
export function fsdecode(name: Uint8Array): string {
  return decodeUtf8(name, "surrogateescape");
}

/**
 * `os.fsencode(path)`: the bytes to hand the operating system. Raises `UnicodeEncodeError` for a
 * surrogate that does not stand for a byte, as Python does.
 */
export function fsencode(path: string): Buffer {
  return encodeUtf8(path, "surrogateescape");
}

/**
 * `fsencode(path)` in the form Node's `fs` takes best: the string itself when it holds no
 * surrogate (Node encodes it as UTF-8, the same bytes, without a Buffer per call), else the bytes.
 */
export function fsPath(path: string): string | Buffer {
  return hasSurrogate(path) ? fsencode(path) : path;
}

/**
 * A directory listing's bytes: UTF-8, with U+DC80–U+DCFF standing for the raw bytes of names that
 * are not UTF-8 (`surrogateescape`). Python fails (and sends nothing) on any other lone surrogate,
 * which only a crafted request path can put in a listing's title; U+FFFD is sent for it instead.
 */
export function encodeListing(html: string): Buffer {
  try {
    return encodeUtf8(html, "surrogateescape");
  } catch {
    const cleaned = html.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udc7f\udd00-\udfff]/g, "\ufffd");
    return encodeUtf8(cleaned, "surrogateescape");
  }
}
