/**
 * Python's printf-style `%` formatting, `str()` and `repr()`, as `log_message` formats
 * (`'"%s" %s %s'`, `"Request timed out: %r"`) and `error_message_format` (`%(code)d`) need them.
 * Formats are compiled once and cached, so a log line costs one pass over its pieces.
 */
import { remembered } from "./functools.js";

type Spec = {
  key: string | null;
  flags: string;
  width: number;
  precision: number;
  type: string;
};
type Piece = string | Spec;

const compiled = new Map<string, Piece[]>();
const CACHE_LIMIT = 256;

/** `format % args` (a positional list) or `format % mapping` (for `%(name)s` specifiers). */
export function percentFormat(format: string, args: readonly unknown[] | Record<string, unknown>): string {
  const pieces = compile(format);
  const positional = Array.isArray(args) ? (args as readonly unknown[]) : null;
  let next = 0;
  let out = "";
  for (const piece of pieces) {
    if (typeof piece === "string") {
      out += piece;
      continue;
    }
    let value: unknown;
    if (piece.key !== null) {
      if (positional) throw new TypeError("format requires a mapping");
      const mapping = args as Record<string, unknown>;
      if (!Object.hasOwn(mapping, piece.key)) throw new Error(`KeyError: ${pyRepr(piece.key)}`);
      value = mapping[piece.key];
    } else {
      if (!positional) {
        // Python: `'%s' % {'a': 1}` formats the mapping itself.
        value = args;
      } else {
        if (next >= positional.length) throw new TypeError("not enough arguments for format string");
        value = positional[next++];
      }
    }
    out += convert(piece, value);
  }
  if (positional && next < positional.length) {
    throw new TypeError("not all arguments converted during string formatting");
  }
  return out;
}

function compile(format: string): Piece[] {
  return remembered(compiled, format, CACHE_LIMIT, parse);
}

function parse(format: string): Piece[] {
  const pieces: Piece[] = [];
  let literal = "";
  let i = 0;
  while (i < format.length) {
    const percent = format.indexOf("%", i);
    if (percent < 0) {
      literal += format.slice(i);
      break;
    }
    literal += format.slice(i, percent);
    i = percent + 1;
    if (format[i] === "%") {
      literal += "%";
      i++;
      continue;
    }
    let key: string | null = null;
    if (format[i] === "(") {
      const close = format.indexOf(")", i);
      if (close < 0) throw new Error("ValueError: incomplete format key");
      key = format.slice(i + 1, close);
      i = close + 1;
    }
    let flags = "";
    while (i < format.length && "#0- +".includes(format[i]!)) flags += format[i++];
    let width = 0;
    while (i < format.length && isDigit(format[i]!)) width = width * 10 + Number(format[i++]);
    let precision = -1;
    if (format[i] === ".") {
      i++;
      precision = 0;
      while (i < format.length && isDigit(format[i]!)) precision = precision * 10 + Number(format[i++]);
    }
    while (i < format.length && "hlL".includes(format[i]!)) i++;
    const type = format[i++];
    if (type === undefined) throw new Error("ValueError: incomplete format"); // a trailing `%`
    if (!"srauidxXoeEfFgGc".includes(type)) {
      throw new Error(`ValueError: unsupported format character ${pyRepr(type)}`);
    }
    if (literal) pieces.push(literal);
    literal = "";
    pieces.push({ key, flags, width, precision, type });
  }
  if (literal) pieces.push(literal);
  return pieces;
}

function isDigit(c: string): boolean {
  return c >= "0" && c <= "9";
}

function convert(spec: Spec, value: unknown): string {
  let text: string;
  switch (spec.type) {
    case "s":
      text = pyStr(value);
      if (spec.precision >= 0) text = text.slice(0, spec.precision);
      break;
    case "r":
    case "a":
      text = pyRepr(value);
      if (spec.precision >= 0) text = text.slice(0, spec.precision);
      break;
    case "c":
      text = typeof value === "number" ? String.fromCodePoint(value) : String(value);
      break;
    default:
      text = formatNumber(spec, toNumber(value, spec.type));
  }
  return pad(text, spec);
}

function toNumber(value: unknown, type: string): number | bigint {
  if (typeof value === "number" || typeof value === "bigint") return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  throw new TypeError(`%${type} format: a real number is required, not ${typeof value}`);
}

function formatNumber(spec: Spec, value: number | bigint): string {
  const negative = value < 0;
  const magnitude = negative ? -value : value;
  let digits: string;
  let prefix = "";
  if (typeof magnitude === "number" && !Number.isFinite(magnitude) && "eEfFgG".includes(spec.type)) {
    // `'%f' % float('nan')` is `nan` (`NAN` for the upper-case types), not JavaScript's `NaN`.
    digits = Number.isNaN(magnitude) ? "nan" : "inf";
    if (spec.type === spec.type.toUpperCase()) digits = digits.toUpperCase();
    const sign = negative ? "-" : spec.flags.includes("+") ? "+" : spec.flags.includes(" ") ? " " : "";
    return sign + digits;
  }
  switch (spec.type) {
    case "x":
    case "X":
    case "o": {
      const whole = typeof magnitude === "bigint" ? magnitude : Math.trunc(magnitude);
      digits = whole.toString(spec.type === "o" ? 8 : 16);
      if (spec.type === "X") digits = digits.toUpperCase();
      if (spec.flags.includes("#")) prefix = spec.type === "o" ? "0o" : spec.type === "x" ? "0x" : "0X";
      break;
    }
    case "e":
    case "E":
      digits = Number(magnitude).toExponential(spec.precision < 0 ? 6 : spec.precision).replace(/e([+-])(\d)$/, "e$10$2");
      if (spec.type === "E") digits = digits.toUpperCase();
      break;
    case "f":
    case "F":
      digits = Number(magnitude).toFixed(spec.precision < 0 ? 6 : spec.precision);
      break;
    case "g":
    case "G":
      digits = formatGeneral(Number(magnitude), spec.precision < 0 ? 6 : spec.precision || 1, spec.flags.includes("#"));
      if (spec.type === "G") digits = digits.toUpperCase();
      break;
    default: // d, i, u
      digits = (typeof magnitude === "bigint" ? magnitude : Math.trunc(magnitude)).toString();
  }
  const sign = negative ? "-" : spec.flags.includes("+") ? "+" : spec.flags.includes(" ") ? " " : "";
  if (spec.flags.includes("0") && !spec.flags.includes("-")) {
    const room = spec.width - sign.length - prefix.length;
    if (digits.length < room) digits = "0".repeat(room - digits.length) + digits;
  }
  return sign + prefix + digits;
}

/**
 * `%g`: scientific notation when the exponent (after rounding to `precision` digits) is below -4
 * or at least `precision`, else fixed; trailing zeros dropped unless `#` (Python's rule, which
 * `toPrecision` does not follow).
 */
function formatGeneral(value: number, precision: number, alternate: boolean): string {
  const scientific = value.toExponential(precision - 1);
  const exponent = Number(scientific.slice(scientific.indexOf("e") + 1));
  if (exponent >= -4 && exponent < precision) {
    const fixed = value.toFixed(precision - 1 - exponent);
    return alternate ? fixed : dropTrailingZeros(fixed);
  }
  const [mantissa, power] = scientific.split("e") as [string, string];
  return (alternate ? mantissa : dropTrailingZeros(mantissa)) + exponentSuffix(power);
}

function dropTrailingZeros(text: string): string {
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

/** JavaScript writes `e+8`; Python writes at least two exponent digits, `e+08`. */
function exponentSuffix(power: string): string {
  const sign = power[0] === "-" ? "-" : "+";
  const digits = power.replace(/^[+-]/, "");
  return "e" + sign + digits.padStart(2, "0");
}

function pad(text: string, spec: Spec): string {
  if (text.length >= spec.width) return text;
  const fill = " ".repeat(spec.width - text.length);
  return spec.flags.includes("-") ? text + fill : fill + text;
}

/** Python's `str()` of a value, for `%s`. */
export function pyStr(value: unknown): string {
  switch (typeof value) {
    case "string":
      return value;
    case "number":
      // Integers print in full as Python's `int` does (`String(1e21)` would be `1e+21`).
      if (Number.isInteger(value)) return Math.abs(value) < 1e21 ? String(value) : BigInt(value).toString();
      return pyFloat(value);
    case "boolean":
      return value ? "True" : "False";
    case "undefined":
      return "None";
    case "object":
      if (value === null) return "None";
      if (Array.isArray(value)) return `[${value.map(pyRepr).join(", ")}]`;
      if (value instanceof Error) return value.message;
      if (value instanceof Uint8Array) return bytesRepr(value);
      return String(value);
    default:
      return String(value);
  }
}

function pyFloat(value: number): string {
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  // Python's repr switches to an exponent below 1e-4 (JavaScript only below 1e-6).
  if (value !== 0 && Math.abs(value) < 1e-4) {
    const [mantissa, power] = value.toExponential().split("e") as [string, string];
    return mantissa + exponentSuffix(power);
  }
  return String(value);
}

/** Python's `repr()`: strings quoted and escaped as Python does, errors as `Name('message')`. */
export function pyRepr(value: unknown): string {
  if (typeof value === "string") return strRepr(value);
  if (value instanceof Error) return `${value.name}(${strRepr(value.message)})`;
  if (value instanceof Uint8Array) return bytesRepr(value);
  return pyStr(value);
}

const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, "0");
}

function strRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (char === quote || char === "\\") out += "\\" + char;
    else if (char === "\t") out += "\\t";
    else if (char === "\n") out += "\\n";
    else if (char === "\r") out += "\\r";
    else if (code < 0x20 || code === 0x7f) out += "\\x" + hex(code, 2);
    else if (code < 0x7f) out += char;
    else if (!NOT_PRINTABLE.test(char)) out += char;
    else if (code <= 0xff) out += "\\x" + hex(code, 2);
    else if (code <= 0xffff) out += "\\u" + hex(code, 4);
    else out += "\\U" + hex(code, 8);
  }
  return out + quote;
}

function bytesRepr(bytes: Uint8Array): string {
  const quote = bytes.includes(0x27) && !bytes.includes(0x22) ? '"' : "'";
  let out = "b" + quote;
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    if (char === quote || char === "\\") out += "\\" + char;
    else if (char === "\t") out += "\\t";
    else if (char === "\n") out += "\\n";
    else if (char === "\r") out += "\\r";
    else if (byte < 0x20 || byte >= 0x7f) out += "\\x" + hex(byte, 2);
    else out += char;
  }
  return out + quote;
}
