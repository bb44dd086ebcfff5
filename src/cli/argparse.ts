/**
 * The part of Python's `argparse` a command line like `python -m http.server` shows its users:
 * how arguments are read (abbreviated long options, `-bVALUE`, `--bind=VALUE`, `-hb` clusters,
 * `--`), the usage and help text, and the error messages — driven by a table of arguments.
 *
 * Reading happens in two steps. The first walks the arguments as argparse does, so that errors
 * come in its order and words; it writes out each argument in one canonical form. The second hands
 * that form to `node:util` `parseArgs` (strict), which builds the values.
 */
import { parseArgs } from "node:util";
import { pyRepr } from "../py/format.js";

/**
 * An option (`-b, --bind ADDRESS`). `value` options take one argument; `optional` ones may take
 * one (argparse's `nargs='?'`: `--spa` alone is `const`, `--spa FILE` is `FILE`); the others are
 * switches.
 */
export interface OptionSpec {
  /** The option strings, as shown in the help: `["-b", "--bind"]`. */
  flags: readonly string[];
  /** The key of the parsed value: `bind`, `tls_cert`. */
  dest: string;
  kind: "switch" | "value" | "optional" | "help" | "version";
  /** The value's name in usage and help; default `dest` upper-cased. */
  metavar?: string;
  help: string;
  /** The value of an `optional` option given without one. */
  const?: string;
  /** Collect every occurrence in a list (argparse's `action='append'`) instead of keeping the last. */
  append?: boolean;
  /** Converts the value, as `PositionalSpec.convert` does (and with the same errors). */
  convert?: (text: string) => unknown;
  /**
   * The title of the help section that lists the option (default: `options`). Unlike argparse, an
   * option in a section of its own is left out of the usage line, and an abbreviation that could
   * also mean an option of the main section means that one: these sections hold additions, and the
   * usage (printed with every error) and every abbreviation of the original options stay as they were.
   */
  group?: string;
  /** Options naming the same `exclusive` group may not be given together (a mutually exclusive group). */
  exclusive?: string;
}

/** An optional positional argument (`nargs='?'`), with the conversion argparse calls `type`. */
export interface PositionalSpec<T = unknown> {
  dest: string;
  help: string;
  /**
   * Converts the text. Throws a `TypeError` whose message names the type (`int`) for text of the
   * wrong form (`invalid int value: 'abc'`), or another error whose message is the whole complaint.
   */
  convert: (text: string) => T;
}

/** A failed parse: `argument -b/--bind: expected one argument`, `unrecognized arguments: --foo`. */
export class ArgumentError extends Error {}

export type ParseResult =
  | { help: true; version: boolean }
  | { help: false; values: Record<string, unknown>; positionals: Record<string, unknown> };

/** argparse's width at 80 columns (`COLUMNS - 2`), and its `max_help_position`. */
const WIDTH = 78;
const MAX_HELP_POSITION = 24;
/** Looks like a negative number, so it is a value rather than an option. */
const NEGATIVE_NUMBER = /^-\d+$|^-\d*\.\d+$/;

/** One argument as argparse classifies it: a value, the `--` marker, or an option (maybe unknown). */
type Classified =
  | { type: "value" }
  | { type: "separator" }
  | { type: "option"; spec: OptionSpec | null; flag: string; explicit: string | null; sep: string };

export class ArgumentParser {
  readonly prog: string;
  readonly options: readonly OptionSpec[];
  readonly positionals: readonly PositionalSpec[];
  private readonly byFlag = new Map<string, OptionSpec>();

  constructor(prog: string, options: readonly OptionSpec[], positionals: readonly PositionalSpec[]) {
    this.prog = prog;
    this.options = options;
    this.positionals = positionals;
    for (const spec of options) for (const flag of spec.flags) this.byFlag.set(flag, spec);
  }

  /** `usage: prog [-h] …`, wrapped as argparse wraps it at 80 columns, without a final newline. */
  formatUsage(): string {
    const prefix = "usage: ";
    const optionParts = this.options.filter((spec) => !spec.group).map((spec) => `[${spec.flags[0]}${metavarSuffix(spec)}]`);
    const positionalParts = this.positionals.map((spec) => `[${spec.dest}]`);
    const oneLine = [this.prog, ...optionParts, ...positionalParts].join(" ");
    if (prefix.length + oneLine.length <= WIDTH) return prefix + oneLine;

    let lines: string[];
    if (prefix.length + this.prog.length <= 0.75 * WIDTH) {
      const indent = " ".repeat(prefix.length + this.prog.length + 1);
      lines = wrapParts([this.prog, ...optionParts], indent, prefix);
      lines.push(...wrapParts(positionalParts, indent));
    } else {
      const indent = " ".repeat(prefix.length);
      lines = wrapParts([...optionParts, ...positionalParts], indent);
      if (lines.length > 1) lines = [...wrapParts(optionParts, indent), ...wrapParts(positionalParts, indent)];
      lines = [this.prog, ...lines];
    }
    return prefix + lines.join("\n");
  }

  /** The whole `--help` text, ending in a newline. */
  formatHelp(): string {
    const row = (spec: OptionSpec): [string, string] => [spec.flags.join(", ") + metavarSuffix(spec), spec.help];
    const groups = [...new Set(this.options.flatMap((spec) => (spec.group ? [spec.group] : [])))];
    const rows: [invocation: string, help: string][][] = [
      this.positionals.map((spec) => [spec.dest, spec.help]),
      this.options.filter((spec) => !spec.group).map(row),
      ...groups.map((group) => this.options.filter((spec) => spec.group === group).map(row)),
    ];
    const longest = Math.max(...rows.flat().map(([invocation]) => invocation.length + 2));
    const helpPosition = Math.min(longest + 2, MAX_HELP_POSITION);
    const helpWidth = Math.max(WIDTH - helpPosition, 11);
    const invocationWidth = helpPosition - 4;
    const section = (title: string, entries: [string, string][]) => {
      const lines = [`${title}:`];
      for (const [invocation, help] of entries) {
        const [first = "", ...rest] = wrapWords(help, helpWidth);
        if (invocation.length <= invocationWidth) {
          lines.push(`  ${invocation.padEnd(invocationWidth)}  ${first}`);
        } else {
          lines.push(`  ${invocation}`, " ".repeat(helpPosition) + first);
        }
        for (const line of rest) lines.push(" ".repeat(helpPosition) + line);
      }
      return lines.join("\n");
    };
    const sections = [];
    if (rows[0]!.length) sections.push(section("positional arguments", rows[0]!));
    if (rows[1]!.length) sections.push(section("options", rows[1]!));
    groups.forEach((group, index) => sections.push(section(group, rows[index + 2]!)));
    return [this.formatUsage(), ...sections].join("\n\n") + "\n";
  }

  /** Reads `argv`; throws `ArgumentError` with argparse's message. */
  parse(argv: readonly string[]): ParseResult {
    // argparse classifies every argument before it reads any, so a bad option fails first.
    const separator = argv.indexOf("--");
    const classes = argv.map((arg, index) => this.classify(arg, separator >= 0 && index > separator));
    const canonical: string[] = [];
    const positionalTexts: string[] = [];
    const extras: string[] = [];
    const seen = new Map<string, OptionSpec>();
    let separatorSeen = false;

    for (let index = 0; index < argv.length; index++) {
      const arg = argv[index]!;
      const found = classes[index]!;
      if (found.type === "separator" && !separatorSeen) {
        separatorSeen = true;
        continue;
      }
      if (found.type !== "option") {
        if (positionalTexts.length < this.positionals.length) {
          const spec = this.positionals[positionalTexts.length]!;
          convertPositional(spec, arg);
          positionalTexts.push(arg);
        } else {
          extras.push(arg);
        }
        continue;
      }
      if (!found.spec) {
        extras.push(arg);
        continue;
      }

      // One argument may hold several options (`-hb ADDRESS`, `-hbADDRESS`) and a value.
      const actions: [OptionSpec, string | null][] = [];
      let { spec, flag, explicit, sep } = found;
      for (;;) {
        if (explicit === null) {
          const valueFollows = index + 1 < argv.length && classes[index + 1]!.type === "value";
          if (spec.kind === "optional") {
            actions.push([spec, valueFollows ? argv[++index]! : spec.const ?? ""]);
          } else if (spec.kind !== "value") {
            actions.push([spec, null]);
          } else if (valueFollows) {
            actions.push([spec, argv[++index]!]);
          } else {
            throw new ArgumentError(`argument ${spec.flags.join("/")}: expected one argument`);
          }
          break;
        }
        if (spec.kind === "value" || spec.kind === "optional") {
          actions.push([spec, explicit]);
          break;
        }
        // A switch given a value: `-hb` continues with `-b`; `--cgi=x` is an error.
        if (flag[1] === "-" || explicit === "" || sep === "=" || explicit.startsWith("-")) {
          throw new ArgumentError(`argument ${spec.flags.join("/")}: ignored explicit argument ${pyRepr(explicit)}`);
        }
        actions.push([spec, null]);
        const next = this.byFlag.get("-" + explicit[0]);
        if (!next) {
          extras.push("-" + explicit);
          break;
        }
        spec = next;
        flag = "-" + explicit[0];
        explicit = explicit.slice(1);
        sep = "";
        if (explicit === "") explicit = null;
        else if (explicit.startsWith("=")) [explicit, sep] = [explicit.slice(1), "="];
      }

      for (const [action, value] of actions) {
        // argparse's `help` and `version` actions print and exit as soon as they are read.
        if (action.kind === "help" || action.kind === "version") return { help: true, version: action.kind === "version" };
        this.checkExclusive(action, seen);
        if (value !== null && action.convert) convertValue(`argument ${action.flags.join("/")}`, action.convert, value);
        canonical.push(value === null ? `--${action.dest}` : `--${action.dest}=${value}`);
      }
    }
    if (extras.length) throw new ArgumentError(`unrecognized arguments: ${extras.join(" ")}`);
    return this.collect([...canonical, "--", ...positionalTexts]);
  }

  /** Builds the values from the canonical arguments with `parseArgs`, then converts positionals. */
  private collect(args: string[]): ParseResult {
    const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {};
    for (const spec of this.options) {
      if (spec.kind === "help" || spec.kind === "version") continue;
      options[spec.dest] = { type: spec.kind === "switch" ? "boolean" : "string", ...(spec.append ? { multiple: true } : {}) };
    }
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
    } catch (error) {
      throw new ArgumentError(error instanceof Error ? error.message : String(error));
    }
    const values: Record<string, unknown> = {};
    for (const spec of this.options) {
      if (spec.kind === "help" || spec.kind === "version") continue;
      const value = parsed.values[spec.dest] as string | string[] | boolean | undefined;
      const convert = spec.convert;
      if (!convert || typeof value === "boolean" || value === undefined) values[spec.dest] = value;
      else values[spec.dest] = Array.isArray(value) ? value.map((text) => convert(text)) : convert(value);
    }
    const positionals: Record<string, unknown> = {};
    this.positionals.forEach((spec, index) => {
      const text = parsed.positionals[index];
      positionals[spec.dest] = text === undefined ? undefined : spec.convert(text);
    });
    return { help: false, values, positionals };
  }

  /** argparse's mutually exclusive groups: `argument --no-cache: not allowed with argument --cache`. */
  private checkExclusive(spec: OptionSpec, seen: Map<string, OptionSpec>): void {
    if (!spec.exclusive) return;
    const other = seen.get(spec.exclusive);
    if (other && other !== spec) {
      throw new ArgumentError(`argument ${spec.flags.join("/")}: not allowed with argument ${other.flags.join("/")}`);
    }
    seen.set(spec.exclusive, spec);
  }

  /** argparse's `_parse_optional`: is this argument an option, and which? */
  private classify(arg: string, afterSeparator: boolean): Classified {
    if (afterSeparator) return { type: "value" };
    if (arg === "--") return { type: "separator" };
    if (!arg.startsWith("-") || arg === "-") return { type: "value" };
    const exact = this.byFlag.get(arg);
    if (exact) return { type: "option", spec: exact, flag: arg, explicit: null, sep: "" };
    const equals = arg.indexOf("=");
    if (equals > 0) {
      const spec = this.byFlag.get(arg.slice(0, equals));
      if (spec) return { type: "option", spec, flag: arg.slice(0, equals), explicit: arg.slice(equals + 1), sep: "=" };
    }
    let matches = this.abbreviations(arg);
    // An abbreviation of an original option keeps its meaning when additions share its prefix.
    if (matches.some((match) => !match.spec!.group)) matches = matches.filter((match) => !match.spec!.group);
    if (matches.length > 1) {
      const names = matches.map((match) => match.flag).join(", ");
      throw new ArgumentError(`ambiguous option: ${arg} could match ${names}`);
    }
    if (matches.length === 1) return matches[0]!;
    if (NEGATIVE_NUMBER.test(arg) || arg.includes(" ")) return { type: "value" };
    return { type: "option", spec: null, flag: arg, explicit: null, sep: "" };
  }

  /** The options `arg` may abbreviate: `--bi` → `--bind`, `-bVALUE` → `-b` with `VALUE`. */
  private abbreviations(arg: string): Extract<Classified, { type: "option" }>[] {
    const found: Extract<Classified, { type: "option" }>[] = [];
    if (arg.startsWith("--")) {
      const equals = arg.indexOf("=");
      const prefix = equals < 0 ? arg : arg.slice(0, equals);
      const explicit = equals < 0 ? null : arg.slice(equals + 1);
      for (const [flag, spec] of this.byFlag) {
        if (flag.startsWith(prefix)) found.push({ type: "option", spec, flag, explicit, sep: explicit === null ? "" : "=" });
      }
    } else {
      for (const [flag, spec] of this.byFlag) {
        if (flag === arg.slice(0, 2)) found.push({ type: "option", spec, flag, explicit: arg.slice(2), sep: "" });
        else if (flag.startsWith(arg)) found.push({ type: "option", spec, flag, explicit: null, sep: "" });
      }
    }
    return found;
  }
}

function convertPositional(spec: PositionalSpec, text: string): void {
  convertValue(`argument ${spec.dest}`, spec.convert, text);
}

/** Runs `convert` to check `text`; a failure is an `ArgumentError` in argparse's words. */
function convertValue(argument: string, convert: (text: string) => unknown, text: string): void {
  try {
    convert(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const complaint = error instanceof TypeError ? `invalid ${message} value: ${pyRepr(text)}` : message;
    throw new ArgumentError(`${argument}: ${complaint}`);
  }
}

function metavarSuffix(spec: OptionSpec): string {
  const metavar = spec.metavar ?? spec.dest.toUpperCase();
  if (spec.kind === "value") return ` ${metavar}`;
  if (spec.kind === "optional") return ` [${metavar}]`;
  return "";
}

/** argparse's `get_lines`: parts joined by spaces, a new line (at `indent`) when one would pass the width. */
function wrapParts(parts: readonly string[], indent: string, prefix?: string): string[] {
  const lines: string[] = [];
  let line: string[] = [];
  const start = (prefix ?? indent).length - 1;
  let length = start;
  for (const part of parts) {
    if (length + 1 + part.length > WIDTH && line.length) {
      lines.push(indent + line.join(" "));
      line = [];
      length = indent.length - 1;
    }
    line.push(part);
    length += part.length + 1;
  }
  if (line.length) lines.push(indent + line.join(" "));
  if (prefix !== undefined && lines.length) lines[0] = lines[0]!.slice(indent.length);
  return lines;
}

/** Greedy word wrap, as `textwrap.wrap` does for plain help sentences. */
function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}
