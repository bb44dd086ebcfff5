/**
 * Small Python string helpers the module's byte-exact output depends on:
 * `html.escape`, the log scrubbing table of 3.12+, whitespace `split()` and `rstrip()`.
 */

/** `html.escape(s, quote)`: `&`, `<`, `>` always; `"` and `'` only when `quote`. */
export function htmlEscape(text: string, quote = true): string {
  if (!(quote ? HTML_SPECIAL : HTML_SPECIAL_NO_QUOTES).test(text)) return text;
  let out = "";
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    let entity: string;
    switch (text.charCodeAt(i)) {
      case 0x26: entity = "&amp;"; break;
      case 0x3c: entity = "&lt;"; break;
      case 0x3e: entity = "&gt;"; break;
      case 0x22: if (!quote) continue; entity = "&quot;"; break;
      case 0x27: if (!quote) continue; entity = "&#x27;"; break;
      default: continue;
    }
    out += text.slice(last, i) + entity;
    last = i + 1;
  }
  return last === 0 ? text : out + text.slice(last);
}

// A regular expression scans in native code: 50 KB of listing in well under a microsecond when
// nothing matches, where a charCodeAt loop takes tens of microseconds.
const HTML_SPECIAL = /[&<>"']/;
const HTML_SPECIAL_NO_QUOTES = /[&<>]/;
const NEEDS_SCRUB = /[\x00-\x1f\x7f-\x9f\\]/;
const NOT_LATIN1 = /[^\x00-\xff]/;
const SURROGATE = /[\ud800-\udfff]/;

function needsScrub(code: number): boolean {
  return code < 0x20 || (code >= 0x7f && code < 0xa0) || code === 0x5c;
}

/**
 * The `_control_char_table` translation applied to log messages (3.12+): C0 and C1 control
 * characters become `\xNN` and a backslash becomes `\\`, so a client cannot write escape
 * sequences to the operator's terminal.
 */
export function scrubControlCharacters(text: string): string {
  if (!NEEDS_SCRUB.test(text)) return text;
  let i = 0;
  while (i < text.length && !needsScrub(text.charCodeAt(i))) i++;
  if (i === text.length) return text;
  let out = text.slice(0, i);
  for (; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x5c) out += "\\\\";
    else if (needsScrub(code)) out += "\\x" + code.toString(16).padStart(2, "0");
    else out += text[i];
  }
  return out;
}

/** Characters Python's `str.split()` treats as whitespace in a Latin-1 decoded string. */
export function isPyWhitespace(code: number): boolean {
  return (code >= 0x09 && code <= 0x0d) || (code >= 0x1c && code <= 0x20) || code === 0x85 || code === 0xa0;
}

/** `str.split()` with no argument, for Latin-1 text: runs of whitespace separate words. */
export function splitWhitespace(text: string): string[] {
  const words: string[] = [];
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    if (isPyWhitespace(text.charCodeAt(i))) {
      if (start >= 0) {
        words.push(text.slice(start, i));
        start = -1;
      }
    } else if (start < 0) {
      start = i;
    }
  }
  if (start >= 0) words.push(text.slice(start));
  return words;
}

/**
 * `text.strip()` with no argument. Python's whitespace differs from JavaScript's `trim()`:
 * it includes `\x1c`–`\x1f` and `\x85`, and excludes `\ufeff`.
 */
export function strip(text: string): string {
  const isSpace = (i: number) => {
    const code = text.charCodeAt(i);
    return code <= 0xff ? isPyWhitespace(code) : code !== 0xfeff && /\s/.test(text[i]!);
  };
  let start = 0;
  let end = text.length;
  while (start < end && isSpace(start)) start++;
  while (end > start && isSpace(end - 1)) end--;
  return text.slice(start, end);
}

/** `text.rstrip(chars)`: drops any trailing run of the given characters. */
export function rstrip(text: string, chars: string): string {
  let end = text.length;
  while (end > 0 && chars.includes(text[end - 1]!)) end--;
  return end === text.length ? text : text.slice(0, end);
}

/** `text.lstrip(chars)`. */
export function lstrip(text: string, chars: string): string {
  let start = 0;
  while (start < text.length && chars.includes(text[start]!)) start++;
  return start === 0 ? text : text.slice(start);
}

/** True when every character fits in one Latin-1 byte (Python's `encode('latin-1', 'strict')`). */
export function isLatin1(text: string): boolean {
  return !NOT_LATIN1.test(text);
}

/** True when `text` holds a UTF-16 surrogate code unit (paired or lone). */
export function hasSurrogate(text: string): boolean {
  return SURROGATE.test(text);
}
