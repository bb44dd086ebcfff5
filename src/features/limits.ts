/**
 * The limits of the opt-in features that a handler class and the command line name before any of
 * them is on: `upload_max`'s default and sizes as `--upload-max` writes them (upload.ts), the
 * search's bounds (search.ts). Kept apart from those features so that naming a default does not
 * load the feature: a server without `--upload` or `--search` never compiles them.
 */

/** `upload_max`'s default: 1 GiB. */
export const DEFAULT_UPLOAD_MAX = 1024 ** 3;

/** `search_max_entries`'s default: the most entries one search visits. */
export const DEFAULT_SEARCH_MAX_ENTRIES = 100_000;
/** `search_timeout`'s default, in seconds. */
export const DEFAULT_SEARCH_TIMEOUT = 5;

const UNITS: readonly [suffix: string, bytes: number][] = [
  ["T", 1024 ** 4],
  ["G", 1024 ** 3],
  ["M", 1024 ** 2],
  ["K", 1024],
];
const SIZE = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i;

/**
 * A size as `--upload-max` takes it: bytes, or a number with `K`, `M`, `G` or `T` (powers of 1024;
 * `KB`, `KiB`, any case, the same), e.g. `500M`, `1.5G`. `0` is `null`: no limit.
 * @throws RangeError for anything else
 */
export function parseSize(text: string): number | null {
  const match = SIZE.exec(text);
  if (!match) throw new RangeError(`invalid size ${JSON.stringify(text)} (expected bytes, or a number with K, M, G or T)`);
  const unit = UNITS.find(([suffix]) => suffix === match[2]!.toUpperCase())?.[1] ?? 1;
  const bytes = Math.floor(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`size ${JSON.stringify(text)} is too large`);
  return bytes === 0 ? null : bytes;
}

/** `1 GiB`, `500 MiB`, `1536 bytes`: the largest unit that divides it exactly. */
export function describeSize(bytes: number): string {
  for (const [suffix, unit] of UNITS) if (bytes >= unit && bytes % unit === 0) return `${bytes / unit} ${suffix}iB`;
  return `${bytes} byte${bytes === 1 ? "" : "s"}`;
}
