/**
 * Opt-in response features of SimpleHTTPRequestHandler that are not about files' bytes: CORS,
 * extra headers (and their validation, for the command line's `-H`), `Cache-Control` values and
 * the single-page-application fallback.
 *
 * Not Python; each is off by default. See docs/FEATURES.md.
 */
import type { HTTPMessage } from "../http/message.js";
import * as posixpath from "../py/posixpath.js";

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

// ---------------------------------------------------------------------------------------------
// CORS

export const ALLOW_ORIGIN: HeaderField = ["Access-Control-Allow-Origin", "*"];
/** The methods a preflight allows: the ones the handler serves. */
export const ALLOW_METHODS = "GET, HEAD, OPTIONS";
/** How long a browser may cache a preflight's answer, in seconds (browsers cap it lower). */
export const PREFLIGHT_MAX_AGE = 86400;

/** A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`. */
export function isPreflight(headers: HTTPMessage): boolean {
  return headers.has("Origin") && headers.has("Access-Control-Request-Method");
}

/**
 * The headers of a preflight's 204 besides `Access-Control-Allow-Origin` (which every response
 * gets): the allowed methods, the requested headers echoed back (so any request header is
 * allowed), and the cache lifetime.
 */
export function preflightHeaders(headers: HTTPMessage): HeaderField[] {
  const fields: HeaderField[] = [["Access-Control-Allow-Methods", ALLOW_METHODS]];
  const requested = headers.get_all("Access-Control-Request-Headers");
  if (requested) {
    // A folded request header keeps its line breaks; they must not reach the response.
    const value = requested.join(", ").replace(/\s*[\r\n]+\s*/g, " ").trim();
    if (value) fields.push(["Access-Control-Allow-Headers", value]);
  }
  fields.push(["Access-Control-Max-Age", String(PREFLIGHT_MAX_AGE)]);
  return fields;
}

// ---------------------------------------------------------------------------------------------
// Single-page applications

/**
 * The file to serve instead of a missing `path` (a translated path, see `translate_path`): `spa`
 * under `directory` when the last segment of `path` has no extension (`/app/settings`), else null
 * (`/missing.js` stays a 404).
 */
export function spaFallback(path: string, directory: string, spa: string): string | null {
  const [, ext] = posixpath.splitext(path.replace(/\/+$/, ""));
  return ext === "" ? posixpath.join(directory, spa) : null;
}
