/**
 * CORS (the command line's `--cors`, the class attribute `cors = true`): every final response gets
 * `Access-Control-Allow-Origin: *`, and a preflight (`OPTIONS` with `Origin` and
 * `Access-Control-Request-Method`) is answered with 204 instead of Python's 501.
 *
 * Not Python; off by default. See docs/FEATURES.md.
 */
import type { HTTPMessage } from "../http/message.js";
import type { HeaderField } from "./headers.js";

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
