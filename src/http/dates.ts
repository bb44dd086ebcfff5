/**
 * Dates in the two forms the server writes: RFC 1123 in GMT for headers
 * (`email.utils.formatdate(ts, usegmt=True)`) and local time for log lines.
 * Both are cached per second: a busy server formats each at most once a second.
 */
import { splitWhitespace } from "../py/text.js";
import { remembered } from "../py/functools.js";

export const WEEKDAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] as const;
export const MONTH_NAMES = [null, "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] as const;

const pad2 = (n: number) => (n < 10 ? "0" : "") + n;

/** `email.utils.formatdate(timestamp, usegmt=True)`: `Sun, 06 Nov 1994 08:49:37 GMT`. */
export function formatHttpDate(timestamp: number): string {
  return remembered(httpDates, Math.floor(timestamp), 1024, formatHttpDateUncached);
}

/** `Last-Modified` dates of the files served: the same few seconds, formatted once each. */
const httpDates = new Map<number, string>();

function formatHttpDateUncached(timestamp: number): string {
  const d = new Date(Math.floor(timestamp) * 1000);
  const weekday = WEEKDAY_NAMES[(d.getUTCDay() + 6) % 7];
  const year = String(d.getUTCFullYear()).padStart(4, "0");
  return `${weekday}, ${pad2(d.getUTCDate())} ${MONTH_NAMES[d.getUTCMonth() + 1]} ${year} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} GMT`;
}

/** The local-time log form `21/Nov/2026 22:23:50` (`"%02d/%3s/%04d %02d:%02d:%02d"`). */
export function formatLogDate(timestamp: number): string {
  const d = new Date(Math.floor(timestamp) * 1000);
  return `${pad2(d.getDate())}/${MONTH_NAMES[d.getMonth() + 1]}/${String(d.getFullYear()).padStart(4, "0")} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** A formatter whose result is reused for every call within the same second. */
function perSecond(format: (seconds: number) => string): () => string {
  let second = -1;
  let text = "";
  return () => {
    const now = Math.floor(Date.now() / 1000);
    if (now !== second) {
      second = now;
      text = format(now);
    }
    return text;
  };
}

/** The current time as an HTTP date, formatted at most once a second. */
export const httpDateNow = perSecond(formatHttpDate);

/** The current time as a log date, formatted at most once a second. */
export const logDateNow = perSecond(formatLogDate);

// ---------------------------------------------------------------------------------------------
// Parsing (`If-Modified-Since`): `email.utils.parsedate_to_datetime`, rule for rule.

const MONTHS_LOWER = [
  "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
  "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december",
];
const DAYS_LOWER = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/** Zone names `email` knows, in `±hhmm` form (RFC 822's military zones other than Z are not trusted). */
const ZONES: Record<string, number> = {
  UT: 0, UTC: 0, GMT: 0, Z: 0,
  AST: -400, ADT: -300, EST: -500, EDT: -400, CST: -600, CDT: -500, MST: -700, MDT: -600, PST: -800, PDT: -700,
};

/** A date as `email.utils` parses it. `tzoffset` is in seconds east of UTC; null for no zone or `-0000`. */
export interface ParsedDate {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  tzoffset: number | null;
}

/** Python's `int(text)` for a word: optional sign, ASCII digits, single underscores between digits. */
function pyInt(text: string): number | null {
  return /^[+-]?\d+(?:_\d+)*$/.test(text) ? Number(text.replace(/_/g, "")) : null;
}

/** `str.isdigit()` for a Latin-1 character: ASCII digits and the superscripts ¹ ² ³. */
function isDigitChar(c: string | undefined): boolean {
  return c !== undefined && ((c >= "0" && c <= "9") || c === "\u00b9" || c === "\u00b2" || c === "\u00b3");
}

/**
 * `email._parseaddr._parsedate_tz`: reads RFC 5322 / RFC 1123 (`Sun, 06 Nov 1994 08:49:37 GMT`),
 * RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`) dates, and
 * the variants `email` tolerates. Two-digit years: 69–99 → 19xx, 0–68 → 20xx. Returns null where
 * Python returns None; the fields are not range-checked here.
 */
export function parsedate_tz(data: string): ParsedDate | null {
  if (!data) return null;
  let words = splitWhitespace(data);
  if (words.length === 0) return null;
  // The day name, with or without its comma, carries nothing.
  if (words[0]!.endsWith(",") || DAYS_LOWER.includes(words[0]!.toLowerCase())) {
    words.shift();
  } else {
    const comma = words[0]!.lastIndexOf(",");
    if (comma >= 0) words[0] = words[0]!.slice(comma + 1);
  }
  if (words.length === 3) {
    // RFC 850: dd-mon-yy.
    const stuff = words[0]!.split("-");
    if (stuff.length === 3) words = [...stuff, ...words.slice(1)];
  }
  if (words.length === 4) {
    const s = words[3]!;
    let i = s.indexOf("+");
    if (i === -1) i = s.indexOf("-");
    if (i > 0) words.splice(3, 1, s.slice(0, i), s.slice(i));
    else words.push(""); // no zone
  }
  if (words.length < 5) return null;
  let [dd, mm, yy, tm, tz] = words.slice(0, 5) as [string, string, string, string, string];
  if (!(dd && mm && yy)) return null;
  mm = mm.toLowerCase();
  if (!MONTHS_LOWER.includes(mm)) {
    [dd, mm] = [mm, dd.toLowerCase()];
    if (!MONTHS_LOWER.includes(mm)) return null;
  }
  let month = MONTHS_LOWER.indexOf(mm) + 1;
  if (month > 12) month -= 12;
  if (dd.endsWith(",")) dd = dd.slice(0, -1);
  if (yy.indexOf(":") > 0) [yy, tm] = [tm, yy];
  if (yy.endsWith(",")) {
    yy = yy.slice(0, -1);
    if (!yy) return null;
  }
  if (!isDigitChar(yy[0])) [yy, tz] = [tz, yy];
  if (tm.endsWith(",")) tm = tm.slice(0, -1);
  let clock = tm.split(":");
  let thh: string, tmm: string, tss: string;
  if (clock.length === 2) [thh, tmm, tss] = [clock[0]!, clock[1]!, "0"];
  else if (clock.length === 3) [thh, tmm, tss] = clock as [string, string, string];
  else if (clock.length === 1 && clock[0]!.includes(".")) {
    // Some mailers separate the time with dots.
    clock = clock[0]!.split(".");
    if (clock.length === 2) [thh, tmm, tss] = [clock[0]!, clock[1]!, "0"];
    else if (clock.length === 3) [thh, tmm, tss] = clock as [string, string, string];
    else return null;
  } else return null;
  const numbers = [yy, dd, thh, tmm, tss].map(pyInt);
  if (numbers.some((n) => n === null)) return null;
  let [year, day, hour, minute, second] = numbers as number[] as [number, number, number, number, number];
  if (year < 100) year += year > 68 ? 1900 : 2000;
  let tzoffset: number | null = null;
  tz = tz.toUpperCase();
  if (Object.hasOwn(ZONES, tz)) tzoffset = ZONES[tz]!;
  else {
    tzoffset = pyInt(tz);
    // -0000: UTC, but "the zone of origin is unknown" — a naive time.
    if (tzoffset === 0 && tz.startsWith("-")) tzoffset = null;
  }
  if (tzoffset) {
    const sign = tzoffset < 0 ? -1 : 1;
    const magnitude = Math.abs(tzoffset);
    tzoffset = sign * (Math.floor(magnitude / 100) * 3600 + (magnitude % 100) * 60);
  }
  return { year, month, day, hour, minute, second, tzoffset };
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** `parsedate_to_datetime()`'s result: the parsed fields, and the instant they name. */
export interface ParsedDateTime extends ParsedDate {
  /**
   * Seconds since the epoch. A naive date (no zone, or `-0000`) is read as UTC, which is what
   * `send_head` does with it.
   */
  timestamp: number;
  /**
   * True when Python's result has `tzinfo is timezone.utc`: the zone was GMT, UTC, UT, Z or a zero
   * offset (`+0000`). A naive result is not UTC (`tzoffset` is null).
   */
  isUTC: boolean;
}

/**
 * `email.utils.parsedate_to_datetime(value)`: null where Python raises (`ValueError`: no date,
 * or a field out of range, such as 31 April, hour 24, second 60, a year outside 1–9999, or an
 * offset of a day or more).
 */
export function parsedate_to_datetime(value: string): ParsedDateTime | null {
  const parsed = parsedate_tz(value);
  if (!parsed) return null;
  const { year, month, day, hour, minute, second, tzoffset } = parsed;
  if (year < 1 || year > 9999 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return null;
  if (tzoffset !== null && Math.abs(tzoffset) >= 86400) return null;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  const timestamp = date.getTime() / 1000 - (tzoffset ?? 0);
  return { ...parsed, timestamp, isUTC: tzoffset === 0 };
}

// Python's `If-Modified-Since` rule (`SimpleHTTPRequestHandler.send_head`); the other
// preconditions, which Python ignores, are in features/conditional.ts.

/** What `notModifiedSince` reads of the request's headers (an `HTTPMessage`). */
export interface HeaderLookup {
  get(name: string): string | undefined;
  has(name: string): boolean;
}

/**
 * A date from a conditional header, in whole seconds since the epoch, parsed as Python parses
 * `If-Modified-Since`: `email.utils`' formats, and only a UTC or zone-less date counts (any other
 * offset, or no date at all, gives null: the header is ignored).
 */
export function conditionalDate(value: string): number | null {
  const date = parsedate_to_datetime(value);
  return date && (date.isUTC || date.tzoffset === null) ? date.timestamp : null;
}

/** A file's modification time as `Last-Modified` states it: whole seconds. */
export function lastModifiedSeconds(mtimeMs: number): number {
  return Math.floor(mtimeMs / 1000);
}

/**
 * Python's `If-Modified-Since` rule: true (send 304) when the header is present, `If-None-Match`
 * is absent, the date parses as UTC or zone-less, and the file is not newer than it.
 */
export function notModifiedSince(headers: HeaderLookup, mtimeMs: number): boolean {
  const value = headers.get("If-Modified-Since");
  if (value === undefined || headers.has("If-None-Match")) return false;
  const since = conditionalDate(value);
  return since !== null && lastModifiedSeconds(mtimeMs) <= since;
}
