/**
 * Conditional requests (RFC 9110 §13) for files: ETags, `If-Match`, `If-Unmodified-Since`,
 * `If-None-Match`, `If-Modified-Since` (Python's rule, kept exactly) and `If-Range`.
 *
 * Turned on by the request itself (`If-Match`, `If-Unmodified-Since`, `If-Range`), and for ETags
 * by the command line's `--etag` (the class attribute `etag = true`). Python evaluates only
 * `If-Modified-Since` (http/dates.ts), and only when `If-None-Match` is absent; the rest is ours.
 * See docs/FEATURES.md.
 */
import type { Stats } from "node:fs";
import type { HTTPMessage } from "../http/message.js";
import { conditionalDate, lastModifiedSeconds, notModifiedSince } from "../http/dates.js";

/** An entity tag as sent: `W/"…"` is weak, `"…"` strong; `opaque` is the text between quotes. */
export interface EntityTag {
  weak: boolean;
  opaque: string;
}

/**
 * The ETag of a file: weak, from its size and modification time in milliseconds (both in hex),
 * e.g. `W/"1a2b-18c3f2a9b10"`. Weak because a file rewritten within the same millisecond at the
 * same size keeps its tag: the tag says "probably the same", not "byte for byte the same".
 */
export function fileETag(stats: Pick<Stats, "size" | "mtimeMs">): string {
  return `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
}

/**
 * Parses an entity tag (`"x"` or `W/"x"`), or null when `text` is not exactly one.
 */
export function parseEntityTag(text: string): EntityTag | null {
  const tags = parseEntityTagList(text);
  return tags !== null && tags.length === 1 ? tags[0]! : null;
}

/**
 * Parses a comma-separated list of entity tags (`If-Match`, `If-None-Match`), or null when it is
 * not one (including `*`, which the callers test for first). Empty list elements are allowed.
 */
export function parseEntityTagList(value: string): EntityTag[] | null {
  const tags: EntityTag[] = [];
  let i = 0;
  for (;;) {
    while (i < value.length && (value[i] === " " || value[i] === "\t" || value[i] === ",")) i++;
    if (i >= value.length) return tags.length ? tags : null;
    const weak = value.startsWith("W/", i);
    if (weak) i += 2;
    if (value[i] !== '"') return null;
    const close = value.indexOf('"', i + 1);
    if (close < 0) return null;
    const opaque = value.slice(i + 1, close);
    if (!isEtagText(opaque)) return null;
    tags.push({ weak, opaque });
    i = close + 1;
    while (i < value.length && (value[i] === " " || value[i] === "\t")) i++;
    if (i < value.length && value[i] !== ",") return null;
  }
}

/** `etagc = %x21 / %x23-7E / obs-text`: visible characters other than `"`, and Latin-1. */
function isEtagText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x21 || code === 0x22 || code === 0x7f || code > 0xff) return false;
  }
  return true;
}

/** Strong comparison: both strong, same opaque text (`If-Match`, `If-Range`). */
export function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque;
}

/** Weak comparison: same opaque text, weak or not (`If-None-Match`). */
export function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}

/**
 * Whether `value` (an `If-Match` or `If-None-Match` list) matches the file's tag: `*` matches
 * any existing file; otherwise one of the listed tags must compare equal. With no tag (ETags
 * off) or an unparsable list, nothing matches.
 */
export function tagListMatches(value: string, etag: string | null, compare: typeof weakMatch): boolean {
  if (value.trim() === "*") return true;
  const current = etag === null ? null : parseEntityTag(etag);
  if (current === null) return false;
  return parseEntityTagList(value)?.some((tag) => compare(tag, current)) ?? false;
}

/** What the preconditions of a GET or HEAD of a file call for. */
export type PreconditionResult = "proceed" | "not-modified" | "precondition-failed";

/**
 * Evaluates a GET or HEAD's preconditions on a file in RFC 9110 §13.2.2's order:
 * 1. `If-Match`: fails (412) unless `*` or a strongly matching tag — so, with weak or no ETags,
 *    any listed tag fails;
 * 2. else `If-Unmodified-Since`: fails (412) if the file is newer than the date (an unusable
 *    date is ignored);
 * 3. `If-None-Match`: with ETags, a weak match (or `*`) gives 304; without ETags Python's rule
 *    holds: the header is not evaluated, it only disables step 4;
 * 4. else `If-Modified-Since`: Python's rule (`notModifiedSince`).
 *
 * `etag` is the file's tag, or null when ETags are off.
 */
export function evaluatePreconditions(headers: HTTPMessage, mtimeMs: number, etag: string | null): PreconditionResult {
  const ifMatch = headers.get("If-Match");
  if (ifMatch !== undefined) {
    if (!tagListMatches(ifMatch, etag, strongMatch)) return "precondition-failed";
  } else {
    const ifUnmodifiedSince = headers.get("If-Unmodified-Since");
    const since = ifUnmodifiedSince === undefined ? null : conditionalDate(ifUnmodifiedSince);
    if (since !== null && lastModifiedSeconds(mtimeMs) > since) return "precondition-failed";
  }
  const ifNoneMatch = headers.get("If-None-Match");
  if (ifNoneMatch !== undefined) {
    return etag !== null && tagListMatches(ifNoneMatch, etag, weakMatch) ? "not-modified" : "proceed";
  }
  return notModifiedSince(headers, mtimeMs) ? "not-modified" : "proceed";
}

/**
 * Whether a `Range` may be honoured given `If-Range` (RFC 9110 §13.1.5): true without the header;
 * with an entity tag, only a strong match with the file's tag (never with a weak tag, or with
 * ETags off); with a date, only the exact second of `Last-Modified`. Otherwise the whole file is
 * sent.
 */
export function ifRangeHolds(value: string | undefined, mtimeMs: number, etag: string | null): boolean {
  if (value === undefined) return true;
  const text = value.trim();
  if (text.startsWith('"') || text.startsWith("W/")) {
    const tag = parseEntityTag(text);
    const current = etag === null ? null : parseEntityTag(etag);
    return tag !== null && current !== null && strongMatch(tag, current);
  }
  const date = conditionalDate(text);
  return date !== null && date === lastModifiedSeconds(mtimeMs);
}
