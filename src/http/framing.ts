/**
 * How a request's body is delimited (RFC 9112 §6.3): by `Transfer-Encoding: chunked`, by
 * `Content-Length`, or not at all.
 *
 * Python's server never looks at either header: a handler reads what it likes, and on a
 * keep-alive connection whatever it leaves is parsed as the next request. That is how request
 * smuggling works — a proxy in front and this server disagreeing on where a body ends — so
 * requests whose framing two parsers could read differently are refused: both headers at once,
 * several different lengths, a length that is not a plain number, or a transfer coding other
 * than a single `chunked`.
 */
import type { HTTPMessage } from "./message.js";
import { pyRepr } from "../py/format.js";

/** The request has no body. */
export const NO_BODY = -1;
/** The body is chunked (its length is known only at its end). */
export const CHUNKED = -2;

/** A request whose body cannot be delimited safely; the message is the 400's reason phrase. */
export class FramingError extends Error {
  override name = "FramingError";
}

/** A length of more digits than this could lose precision as a JavaScript number. */
const MAX_LENGTH_DIGITS = 15;

/**
 * The body's framing: its length in bytes, `CHUNKED`, or `NO_BODY`.
 * @throws FramingError for a request to refuse with 400
 */
export function requestFraming(headers: HTTPMessage): number {
  const lengths = headers.get_all("content-length");
  const codings = headers.get_all("transfer-encoding");
  if (!lengths && !codings) return NO_BODY;
  if (lengths && codings) throw new FramingError("Bad request framing (Content-Length with Transfer-Encoding)");
  if (codings) return transferCoding(codings);
  return contentLength(lengths!);
}

/**
 * `Content-Length`: digits only. Repeated headers, or a list in one (`5, 5`), are accepted when
 * every value is the same number (RFC 9110 §8.6).
 */
function contentLength(values: string[]): number {
  let length = NO_BODY;
  for (const value of values) {
    for (const item of value.split(",")) {
      const digits = trimWhitespace(item);
      if (!isDigits(digits) || digits.length > MAX_LENGTH_DIGITS) throw badLength(values);
      const n = Number(digits);
      if (length !== NO_BODY && n !== length) throw badLength(values);
      length = n;
    }
  }
  return length;
}

function badLength(values: string[]): FramingError {
  return new FramingError(`Bad Content-Length (${pyRepr(values.join(", "))})`);
}

/** `Transfer-Encoding`: exactly one coding, `chunked` (any case). Empty list items are allowed. */
function transferCoding(values: string[]): number {
  const codings = values
    .join(",")
    .split(",")
    .map(trimWhitespace)
    .filter((coding) => coding !== "");
  if (codings.length === 1 && codings[0]!.toLowerCase() === "chunked") return CHUNKED;
  throw new FramingError(`Bad Transfer-Encoding (${pyRepr(values.join(", "))})`);
}

/** Strips spaces and tabs — and the CR LF a folded header line leaves in its value. */
function trimWhitespace(text: string): string {
  return text.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "");
}

function isDigits(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x30 || code > 0x39) return false;
  }
  return true;
}
