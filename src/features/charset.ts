/**
 * A default charset for textual files. Turned on by the command line's `--charset CHARSET` (part
 * of `--dev`, as `utf-8`) and by the class attribute `SimpleHTTPRequestHandler.charset`
 * (default `null`: Python's types, unchanged).
 *
 * Python sends `text/plain` with no charset, so browsers guess one (windows-1252 for most
 * locales) and UTF-8 text shows as mojibake: `résumé` reads `rÃ©sumÃ©`. With a charset set,
 * every textual type that carries none gets `; charset=CHARSET`.
 */

/**
 * `mime-charset` (RFC 2978 §2.3): the characters a charset name may hold. Anything else (a space,
 * a `;`, CR or LF) would change the header's meaning.
 */
const CHARSET_NAME = /^[A-Za-z0-9!#$%&'+\-^_`{}~]+$/;

/** The textual types that are not `text/*`, by their essence (lower case, no parameters). */
const TEXTUAL_TYPES = new Set([
  "application/javascript",
  "application/ecmascript",
  "application/x-javascript",
  "application/json",
  "application/xml",
  "application/x-sh",
  "application/x-csh",
  "application/x-tex",
  "application/x-latex",
  "application/sql",
  "application/toml",
  "application/yaml",
  "application/x-yaml",
]);

/** A charset name that cannot be sent. */
export class InvalidCharsetError extends Error {
  override name = "InvalidCharsetError";
}

/** Checks a charset name (or null, for none); throws `InvalidCharsetError` for one that cannot be sent. */
export function checkCharset(charset: string | null): string | null {
  if (charset !== null && !CHARSET_NAME.test(charset)) {
    throw new InvalidCharsetError(`invalid charset ${JSON.stringify(charset)}: expected a name such as utf-8`);
  }
  return charset;
}

/**
 * Whether a type is text a browser decodes with a charset: `text/*`, JavaScript, JSON, XML, SVG
 * (any `+json` or `+xml` type) and a few script and data languages.
 */
export function isTextual(essence: string): boolean {
  return essence.startsWith("text/") || essence.endsWith("+json") || essence.endsWith("+xml") || TEXTUAL_TYPES.has(essence);
}

/** `; charset=` in any case, as a parameter (after a `;`). */
const HAS_CHARSET = /;\s*charset\s*=/i;

/** Results by charset, then by type: a server sees a handful of types over and over. */
const memo = new Map<string, Map<string, string>>();
const MEMO_TYPES = 256;

/**
 * `ctype` with `; charset=CHARSET` added when it is textual and names no charset of its own;
 * otherwise `ctype` itself. `charset` null: always `ctype`.
 */
export function withCharset(ctype: string, charset: string | null): string {
  if (charset === null) return ctype;
  let types = memo.get(charset);
  if (types === undefined) memo.set(charset, (types = new Map()));
  let result = types.get(ctype);
  if (result === undefined) {
    if (types.size >= MEMO_TYPES) types.clear();
    result = addCharset(ctype, charset);
    types.set(ctype, result);
  }
  return result;
}

function addCharset(ctype: string, charset: string): string {
  const semicolon = ctype.indexOf(";");
  const essence = (semicolon < 0 ? ctype : ctype.slice(0, semicolon)).trim().toLowerCase();
  if (!isTextual(essence) || HAS_CHARSET.test(ctype)) return ctype;
  return `${ctype}; charset=${charset}`;
}
