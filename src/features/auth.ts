/**
 * HTTP Basic authentication (RFC 7617). Turned on by the command line's `--auth USER:PASSWORD`
 * and `--auth-file FILE`, and by the class attribute `SimpleHTTPRequestHandler.auth =
 * ["user:password", …]` (default `null`: no authentication, as in Python). `--auth-scope uploads`
 * (`auth_scope = "uploads"`) asks for it only on the methods that write (`PUT`, `POST`,
 * `DELETE`, `MKCOL`, `MOVE`, `COPY`, `PROPPATCH`, `LOCK`, `UNLOCK`), reading staying open.
 *
 * The check runs when the request line and headers are parsed (`parse_request()`, and
 * `handle_expect_100()` before a `100 Continue`), so a request without valid credentials touches
 * no file and has none of its body read: it gets `401` with
 * `WWW-Authenticate: Basic realm="simplehttp", charset="UTF-8"`. A CORS preflight (with `cors`
 * on) is let through: browsers never send credentials with one, and it reaches no file.
 *
 * - Constant time: the credentials sent are hashed (SHA-256) and compared with every configured
 *   pair's hash by `timingSafeEqual`, all of them, whatever matches.
 * - Never logged: log lines keep Python's format (the request line, not the headers), and the user
 *   name is not logged either (people type passwords into the user field).
 * - Brute force: an address (an IPv6 one by its /64) may fail `FAILURES_ALLOWED` times; then its
 *   requests get `429 Too Many Requests` with `Retry-After`, their credentials unchecked, and it
 *   earns one more attempt each `FAILURE_COOLDOWN_MS` (so at most 10 guesses a minute, sustained).
 *   Each server (each `--workers` process) counts on its own.
 */
import { readFileSync } from "node:fs";
import { isIPv6 } from "node:net";
import type { HTTPMessage } from "../http/message.js";
import { isPreflight } from "./cors.js";

/** Which requests need credentials: all of them, or uploads only. */
export type AuthScope = "all" | "uploads";

/** The challenge of every 401. */
export const CHALLENGE = 'Basic realm="simplehttp", charset="UTF-8"';

/** Failed attempts an address may make before it must wait. */
export const FAILURES_ALLOWED = 10;
/** How long it then waits for each further attempt. */
export const FAILURE_COOLDOWN_MS = 6000;
/** Addresses remembered at most; the one unseen longest is forgotten first. */
export const FAILURE_TABLE_SIZE = 10_000;

/**
 * Methods that write: what `auth_scope = "uploads"` guards — uploads, and the methods of
 * manage.ts and webdav.ts that change files, their properties or their locks.
 */
const UPLOAD_METHODS = new Set(["PUT", "POST", "DELETE", "MKCOL", "MOVE", "COPY", "PROPPATCH", "LOCK", "UNLOCK"]);

/** A `USER:PASSWORD` that cannot be used. */
export class InvalidCredentialError extends Error {
  override name = "InvalidCredentialError";
}

/** C0 controls and DEL: nothing a browser's login box would send. */
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * Checks a `USER:PASSWORD` pair: a user name without `:` (the first colon separates them), a
 * non-empty password, neither with a control character. Returns it.
 */
export function checkCredential(text: string): string {
  const colon = text.indexOf(":");
  if (colon < 0) throw new InvalidCredentialError("expected USER:PASSWORD");
  if (colon === 0) throw new InvalidCredentialError("the user name is empty");
  if (colon === text.length - 1) throw new InvalidCredentialError("the password is empty");
  if (CONTROL.test(text)) throw new InvalidCredentialError("a control character in the user name or password");
  return text;
}

/**
 * The `USER:PASSWORD` lines of an `--auth-file`: blank lines and lines starting with `#` are
 * skipped, a trailing CR is dropped; a bad line is an error naming its number (not its content).
 */
export function parseAuthFile(text: string): string[] {
  const pairs: string[] = [];
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "" || line.trimStart().startsWith("#")) continue;
    try {
      pairs.push(checkCredential(line));
    } catch (error) {
      throw new InvalidCredentialError(`line ${index + 1}: ${(error as Error).message}`);
    }
  }
  if (pairs.length === 0) throw new InvalidCredentialError("no USER:PASSWORD line");
  return pairs;
}

/** `parseAuthFile` of a file's UTF-8 content. */
export function readAuthFile(path: string): string[] {
  return parseAuthFile(readFileSync(path, "utf8"));
}

function sha256(data: string | Buffer): Buffer {
  return process.getBuiltinModule("node:crypto").createHash("sha256").update(data).digest();
}

/**
 * Checks an `auth` list once (later calls with the same list return at once): `null`, or an array
 * of valid `USER:PASSWORD` strings. A handler checks its class's list when it is created, so a bad
 * one fails every connection with the reason in the log rather than at some request.
 * @throws InvalidCredentialError naming the entry's position (never its content)
 */
export function checkCredentials(pairs: readonly string[] | null): readonly string[] | null {
  if (pairs === null || compiled.has(pairs)) return pairs;
  if (!Array.isArray(pairs)) throw new InvalidCredentialError("auth must be a list of USER:PASSWORD strings, or null");
  pairs.forEach((pair, index) => {
    try {
      if (typeof pair !== "string") throw new InvalidCredentialError("not a string");
      checkCredential(pair);
    } catch (error) {
      throw new InvalidCredentialError(`auth[${index}]: ${(error as Error).message}`);
    }
  });
  digestsOf(pairs);
  return pairs;
}

/** The hashes of a list of pairs, made once per list. */
const compiled = new WeakMap<readonly string[], Buffer[]>();

function digestsOf(pairs: readonly string[]): Buffer[] {
  let digests = compiled.get(pairs);
  if (digests === undefined) {
    digests = pairs.map((pair) => sha256(Buffer.from(checkCredential(pair), "utf8")));
    compiled.set(pairs, digests);
  }
  return digests;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The decoded `user:password` bytes of an `Authorization: Basic …` header, or null when there is
 * none, or it is not Basic, or not base64, or the header is repeated.
 */
export function basicCredentials(headers: HTTPMessage): Buffer | null {
  const values = headers.get_all("Authorization");
  if (!values || values.length !== 1) return null;
  const value = values[0]!.trim();
  const space = value.indexOf(" ");
  if (space < 0 || value.slice(0, space).toLowerCase() !== "basic") return null;
  const token = value.slice(space + 1).trim();
  if (!BASE64.test(token) || token.length % 4 !== 0) return null;
  return Buffer.from(token, "base64");
}

/** Whether `presented` (`user:password` bytes) is one of `pairs`, compared in constant time. */
export function matchesAny(presented: Buffer, pairs: readonly string[]): boolean {
  const digest = sha256(presented);
  let match = false;
  const { timingSafeEqual } = process.getBuiltinModule("node:crypto");
  for (const expected of digestsOf(pairs)) match = timingSafeEqual(digest, expected) || match;
  return match;
}

/**
 * The key failures are counted under: an IPv4 address (also when mapped into IPv6), or the first
 * 64 bits of an IPv6 one — a single host usually holds a whole /64.
 */
export function addressKey(host: string): string {
  if (host.startsWith("::ffff:") && host.includes(".")) return host.slice(7);
  if (!isIPv6(host)) return host;
  const [head = "", tail = ""] = host.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = host.includes("::") ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right] : left;
  return groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, "").toLowerCase()).join(":") + "::/64";
}

/** Failed attempts per address, as a level that drains by one each `FAILURE_COOLDOWN_MS`. */
export class FailedLogins {
  private readonly levels = new Map<string, { level: number; at: number }>();

  constructor(
    readonly allowed = FAILURES_ALLOWED,
    readonly cooldownMs = FAILURE_COOLDOWN_MS,
    readonly tableSize = FAILURE_TABLE_SIZE,
  ) {}

  private levelOf(key: string, now: number): number {
    const entry = this.levels.get(key);
    if (!entry) return 0;
    return Math.max(0, entry.level - (now - entry.at) / this.cooldownMs);
  }

  /** Seconds `key` must wait before its next attempt is checked; 0 when it may try now. */
  waitSeconds(key: string, now = Date.now()): number {
    const excess = this.levelOf(key, now) - (this.allowed - 1);
    return excess > 0 ? Math.ceil((excess * this.cooldownMs) / 1000) : 0;
  }

  /** Counts a failed attempt by `key`. */
  failed(key: string, now = Date.now()): void {
    const level = this.levelOf(key, now) + 1;
    this.levels.delete(key); // re-inserted last: the map's order is the order last seen
    this.levels.set(key, { level, at: now });
    if (this.levels.size > this.tableSize) this.levels.delete(this.levels.keys().next().value!);
  }

  get size(): number {
    return this.levels.size;
  }
}

/** Each server's failed attempts (a server per process with `--workers`). */
const failuresByServer = new WeakMap<object, FailedLogins>();

function failuresOf(server: object): FailedLogins {
  let failures = failuresByServer.get(server);
  if (!failures) failuresByServer.set(server, (failures = new FailedLogins()));
  return failures;
}

/** What the check needs of the handler. */
export interface AuthHandler {
  auth: readonly string[] | null;
  auth_scope: AuthScope;
  cors: boolean;
  command: string | null;
  headers: HTTPMessage;
  client_address: readonly [string, number];
  server: object;
  send_error(code: number, message?: string | null, explain?: string | null): Promise<void>;
  defer_header(keyword: string, value: string): void;
}

/** Whether this request must show credentials. */
export function needsCredentials(handler: AuthHandler): boolean {
  if (handler.auth === null) return false;
  if (handler.auth_scope === "uploads" && !UPLOAD_METHODS.has(handler.command ?? "")) return false;
  // Browsers never send credentials with a preflight: answered, it reveals no file.
  return !(handler.command === "OPTIONS" && handler.cors && isPreflight(handler.headers));
}

/**
 * Checks the request's credentials. True when it may go on; false once it has been answered:
 * `401` (no or wrong credentials) or `429` (too many failures from its address).
 */
export async function checkAccess(handler: AuthHandler): Promise<boolean> {
  if (!needsCredentials(handler)) return true;
  const failures = failuresOf(handler.server);
  const key = addressKey(handler.client_address[0]);
  const wait = failures.waitSeconds(key);
  if (wait > 0) {
    handler.defer_header("Retry-After", String(wait));
    await handler.send_error(429, `Too many failed logins from this address; try again in ${wait} seconds`);
    return false;
  }
  const presented = basicCredentials(handler.headers);
  if (presented !== null && matchesAny(presented, handler.auth!)) return true;
  if (presented !== null) failures.failed(key);
  handler.defer_header("WWW-Authenticate", CHALLENGE);
  await handler.send_error(401);
  return false;
}
