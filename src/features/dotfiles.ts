/**
 * Hiding dotfiles. Turned on by the command line's `--no-dotfiles` and by the class attribute
 * `SimpleHTTPRequestHandler.dotfiles = false` (default `true`: served and listed, as by Python).
 *
 * When hidden, a path with a segment that starts with `.` (`/.env`, `/.git/config`,
 * `/app/.DS_Store`) is `404 File not found`, and such names are left out of listings, at every
 * depth. `/.well-known/` is the exception (RFC 8615: `security.txt`, ACME challenges, app links
 * live there): a first segment `.well-known` counts as a plain name.
 *
 * Segments are those `translate_path` uses: the path without its query and fragment, percent-
 * decoded, normalised (`/a/../.git` is `/.git`, `/%2egit` is `/.git`).
 */
import { unquoteWithFallback } from "../py/urllib.js";
import * as posixpath from "../py/posixpath.js";

/** The one dot-name still served and listed at the root. */
export const WELL_KNOWN = ".well-known";

/** Whether a name is a dotfile (not `.` or `..`, which `translate_path` never uses as names). */
export function isDotName(name: string): boolean {
  return name.charCodeAt(0) === 0x2e && name !== "." && name !== "..";
}

/** Whether the URL path `path` names a dotfile, or anything under a dot-directory. */
export function isHiddenPath(path: string): boolean {
  // Nothing to hide in a path without a dot, the common case: no decoding needed.
  if (!path.includes(".") && !path.includes("%")) return false;
  const decoded = posixpath.normpath(unquoteWithFallback(path.split("#", 1)[0]!.split("?", 1)[0]!));
  return hasHiddenSegment(decoded.split("/").filter((word) => word !== ""));
}

/** Whether a path given by its segments from the root (decoded) names a dotfile or goes through one. */
export function hasHiddenSegment(words: readonly string[]): boolean {
  return words.some((word, index) => isDotName(word) && !(index === 0 && word === WELL_KNOWN));
}

/**
 * The entries of a listing of the URL path `path` without the dotfiles (`.well-known` stays in
 * the root's listing).
 */
export function withoutDotfiles<T extends { name: string }>(entries: T[], path: string): T[] {
  const atRoot = posixpath.normpath(unquoteWithFallback(path.split("#", 1)[0]!.split("?", 1)[0]!)) === "/";
  return entries.filter(({ name }) => !isDotName(name) || (atRoot && name === WELL_KNOWN));
}
