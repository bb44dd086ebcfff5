/**
 * Headers added to responses: `extra_headers` (the command line's `-H NAME:VALUE`) on every final
 * response, and `cache_control` (`--cache SECONDS`, `--no-cache`) on file responses; with the
 * checks that keep a configured header from breaking the response (`checkHeaderField`).
 *
 * Not Python; off by default (`extra_headers = []`, `cache_control = null`). See docs/FEATURES.md.
 */

/** A header as configured: `[name, value]`. */
export type HeaderField = readonly [name: string, value: string];

/** A header name or value that cannot be sent as given. */
export class InvalidHeaderError extends Error {
  override name = "InvalidHeaderError";
}

/** `token` (RFC 9110 §5.6.2): the characters a header name may hold. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Characters a header value may not hold: CR, LF and NUL (they would end or corrupt the line). */
const FORBIDDEN_IN_VALUE = /[\r\n\0]/;

/**
 * Checks a header for sending: the name a non-empty token, the value free of CR, LF and NUL and
 * within Latin-1. Throws `InvalidHeaderError` naming the problem; returns the header otherwise.
 */
export function checkHeaderField(name: string, value: string): HeaderField {
  if (!TOKEN.test(name)) throw new InvalidHeaderError(`invalid header name ${JSON.stringify(name)}`);
  if (FORBIDDEN_IN_VALUE.test(value)) {
    throw new InvalidHeaderError(`invalid value for header ${name}: it contains CR, LF or NUL (${JSON.stringify(value)})`);
  }
  if (/[^\x00-\xff]/.test(value)) {
    throw new InvalidHeaderError(`invalid value for header ${name}: only Latin-1 characters can be sent (${JSON.stringify(value)})`);
  }
  return [name, value];
}

const checkedLists = new WeakSet<readonly HeaderField[]>();

/**
 * Checks every header of a list (`extra_headers`), once per list: a list already checked is
 * returned at once. Throws `InvalidHeaderError` for the first bad one.
 */
export function checkHeaderList(headers: readonly HeaderField[]): readonly HeaderField[] {
  if (checkedLists.has(headers)) return headers;
  for (const header of headers) {
    if (!Array.isArray(header) || header.length !== 2 || typeof header[0] !== "string" || typeof header[1] !== "string") {
      throw new InvalidHeaderError(`a header must be a [name, value] pair of strings, not ${JSON.stringify(header)}`);
    }
    checkHeaderField(header[0], header[1]);
  }
  checkedLists.add(headers);
  return headers;
}

/**
 * Parses a header given as `Name: value` (the command line's `-H`), trimming the space around
 * the value, and checks it as `checkHeaderField` does.
 *
 * ```ts
 * parseHeaderOption("X-Frame-Options: DENY") // ["X-Frame-Options", "DENY"]
 * parseHeaderOption("X-Empty:")              // ["X-Empty", ""]
 * parseHeaderOption("no colon")              // throws InvalidHeaderError
 * ```
 */
export function parseHeaderOption(text: string): HeaderField {
  const colon = text.indexOf(":");
  if (colon < 0) throw new InvalidHeaderError(`invalid header ${JSON.stringify(text)}: expected "Name: value"`);
  return checkHeaderField(text.slice(0, colon), text.slice(colon + 1).trim());
}

/**
 * `Cache-Control` for the command line's `--cache SECONDS`: `max-age=N`. Throws `RangeError`
 * unless `seconds` is a whole number from 0.
 */
export function maxAge(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RangeError(`max-age must be a whole number of seconds, not ${seconds}`);
  return `max-age=${seconds}`;
}
