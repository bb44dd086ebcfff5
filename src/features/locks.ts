/**
 * WebDAV write locks and the `If` header (RFC 4918 §6, §7, §10.4), for writable WebDAV (the
 * command line's `--webdav rw`; class attributes `webdav = true` with any write permission; the
 * methods are in webdav.ts).
 *
 * Locks live in this process's memory, nowhere else: at most `MAX_LOCKS` (past it a new lock is
 * refused, `503`), each for at most `MAX_LOCK_SECONDS`, an owner of at most `MAX_OWNER_BYTES`.
 * An expired lock is forgotten when next looked at. They are lost when the server stops (a client
 * then sees its token rejected and locks again), and they are not shared between processes: the
 * command line refuses `--workers` with a writable `--webdav`.
 *
 * Resources are named by their file-system path under the served directory (no trailing slash),
 * so two servers of one process serving different folders never see each other's locks.
 */
import { lstatSync } from "node:fs";
import type { HTTPMessage } from "../http/message.js";
import { fsPath } from "../py/codecs.js";
import * as posixpath from "../py/posixpath.js";
import { fileETag } from "./conditional.js";
import { isRefusal, urlWords } from "./upload_target.js";

/** Locks held at most, by all the servers of this process. */
export const MAX_LOCKS = 1000;
/** The longest a lock lasts before it must be refreshed; `Timeout: Infinite` gets this. */
export const MAX_LOCK_SECONDS = 3600;
/** What a lock lasts when the client names no timeout. */
export const DEFAULT_LOCK_SECONDS = 600;
/** The largest `<D:owner>` kept, as XML. */
export const MAX_OWNER_BYTES = 4096;

export type LockScope = "exclusive" | "shared";
export type LockDepth = 0 | "infinity";

export interface Lock {
  /** `urn:uuid:…` */
  readonly token: string;
  /** The lock root's file-system path. */
  readonly path: string;
  /** The lock root's URL path, decoded (`/dir/`, `/a.txt`): its `lockroot`. */
  readonly urlPath: string;
  readonly depth: LockDepth;
  readonly scope: LockScope;
  /** The `<D:owner>` element as the client sent it, written back as XML; null without one. */
  readonly owner: string | null;
  seconds: number;
  /** When it expires, in ms since the epoch. */
  expires: number;
}

/** Whether `path` is `root` or below it. */
export function isAtOrBelow(path: string, root: string): boolean {
  return path === root || (path.startsWith(root) && (root.endsWith("/") || path.charCodeAt(root.length) === 0x2f));
}

/** The parent directory's path (`/srv/a/b` → `/srv/a`). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}

/** A new lock conflicts with one held: the held one, for the answer. */
export class LockConflictError extends Error {
  constructor(readonly held: Lock) {
    super(`locked by ${held.token}`);
  }
}

/** Too many locks held already. */
export class TooManyLocksError extends Error {}

/** The locks of one process. */
export class LockTable {
  private readonly locks = new Map<string, Lock>();

  constructor(readonly maxLocks = MAX_LOCKS) {}

  get size(): number {
    this.prune(Date.now());
    return this.locks.size;
  }

  private prune(now: number): void {
    for (const [token, lock] of this.locks) if (lock.expires <= now) this.locks.delete(token);
  }

  /** The live lock of `token`, or undefined. */
  get(token: string): Lock | undefined {
    const lock = this.locks.get(token);
    if (lock !== undefined && lock.expires <= Date.now()) {
      this.locks.delete(token);
      return undefined;
    }
    return lock;
  }

  /** The locks that cover `path`: on it, or on a directory above it with depth infinity. */
  covering(path: string): Lock[] {
    this.prune(Date.now());
    return [...this.locks.values()].filter((lock) => lock.path === path || (lock.depth === "infinity" && isAtOrBelow(path, lock.path)));
  }

  /** The locks whose root is `path` or below it. */
  within(path: string): Lock[] {
    this.prune(Date.now());
    return [...this.locks.values()].filter((lock) => isAtOrBelow(lock.path, path));
  }

  /**
   * A new lock on `path`. An exclusive lock conflicts with any lock covering `path` (or, with
   * depth infinity, any below it); a shared one with an exclusive one there.
   * @throws LockConflictError, TooManyLocksError
   */
  create(fields: Omit<Lock, "token" | "expires">): Lock {
    const now = Date.now();
    this.prune(now);
    const others = new Set([...this.covering(fields.path), ...(fields.depth === "infinity" ? this.within(fields.path) : [])]);
    for (const held of others) {
      if (fields.scope === "exclusive" || held.scope === "exclusive") throw new LockConflictError(held);
    }
    if (this.locks.size >= this.maxLocks) throw new TooManyLocksError(`${this.maxLocks} locks are held already`);
    const lock: Lock = { ...fields, token: `urn:uuid:${process.getBuiltinModule("node:crypto").randomUUID()}`, expires: now + fields.seconds * 1000 };
    this.locks.set(lock.token, lock);
    return lock;
  }

  /** Gives the lock `seconds` more from now. */
  refresh(lock: Lock, seconds: number): void {
    lock.seconds = seconds;
    lock.expires = Date.now() + seconds * 1000;
  }

  remove(token: string): boolean {
    return this.locks.delete(token);
  }

  /** Forgets the locks on `path` and below it (deleted, or moved away). */
  removeTree(path: string): void {
    for (const lock of this.within(path)) this.locks.delete(lock.token);
  }

  /** Forgets every lock (for tests). */
  clear(): void {
    this.locks.clear();
  }
}

/** The locks of this process. */
export const locks = new LockTable();

// ---------------------------------------------------------------------------------------------
// Timeout

/**
 * The seconds a `Timeout` header asks for (RFC 4918 §10.7: `Second-N` or `Infinite`, the first
 * one given), within `MAX_LOCK_SECONDS`; `DEFAULT_LOCK_SECONDS` without one we understand.
 */
export function lockSeconds(header: string | undefined): number {
  if (header === undefined) return DEFAULT_LOCK_SECONDS;
  for (const item of header.split(",")) {
    const value = item.trim();
    if (value.toLowerCase() === "infinite") return MAX_LOCK_SECONDS;
    const match = /^second-(\d{1,10})$/i.exec(value);
    if (match) return Math.max(1, Math.min(MAX_LOCK_SECONDS, Number(match[1])));
  }
  return DEFAULT_LOCK_SECONDS;
}

// ---------------------------------------------------------------------------------------------
// The If header (RFC 4918 §10.4)

export interface IfCondition {
  not: boolean;
  /** A state token (`urn:uuid:…`, or `DAV:no-lock`, which no resource has). */
  token?: string;
  /** An entity tag, quotes included (`"abc"`, `W/"abc"`). */
  etag?: string;
}

export interface IfList {
  /** The resource the list is about (a tagged list: an absolute URL or path), or null: the request's. */
  resource: string | null;
  conditions: IfCondition[];
}

/** An `If` header that does not parse: `400`. */
export class IfHeaderError extends Error {}

/**
 * The lists of an `If` header: `(<token> ["etag"])`, `Not`, several lists, tagged
 * (`<http://host/a> (<token>)`) or not.
 * @throws IfHeaderError for anything else
 */
export function parseIfHeader(value: string): IfList[] {
  const lists: IfList[] = [];
  let resource: string | null = null;
  let tagged: boolean | null = null;
  let at = 0;
  const skipBlanks = () => {
    while (at < value.length && (value[at] === " " || value[at] === "\t")) at++;
  };
  const until = (close: string): string => {
    const end = value.indexOf(close, at + 1);
    if (end < 0) throw new IfHeaderError(`unclosed ${value[at]}`);
    const inside = value.slice(at + 1, end);
    at = end + 1;
    return inside;
  };
  for (skipBlanks(); at < value.length; skipBlanks()) {
    const c = value[at];
    if (c === "<") {
      if (tagged === false) throw new IfHeaderError("tagged and untagged lists mixed");
      tagged = true;
      resource = until(">");
      skipBlanks();
      if (value[at] !== "(") throw new IfHeaderError("a resource tag without a list");
      continue;
    }
    if (c !== "(") throw new IfHeaderError(`unexpected ${JSON.stringify(c)}`);
    if (tagged === null) tagged = false;
    at++;
    const conditions: IfCondition[] = [];
    for (skipBlanks(); value[at] !== ")"; skipBlanks()) {
      if (at >= value.length) throw new IfHeaderError("unclosed (");
      let not = false;
      if (value.slice(at, at + 3).toLowerCase() === "not") {
        not = true;
        at += 3;
        skipBlanks();
      }
      if (value[at] === "<") conditions.push({ not, token: until(">") });
      else if (value[at] === "[") conditions.push({ not, etag: until("]") });
      else throw new IfHeaderError("a condition is a <state token> or an [entity tag]");
    }
    at++;
    if (conditions.length === 0) throw new IfHeaderError("an empty list");
    lists.push({ resource: tagged ? resource : null, conditions });
  }
  if (lists.length === 0) throw new IfHeaderError("no list");
  return lists;
}

/** What evaluating an `If` header needs: where a tagged resource is, and its entity tag. */
export interface IfContext {
  /** The file-system path a list is about (its tag's URL mapped, or the request's); null: not ours. */
  pathOf(resource: string | null): string | null;
  /** The resource's current entity tag, or null when it does not exist. */
  etagOf(path: string): string | null;
  table: LockTable;
}

export interface IfResult {
  /** Whether the header holds (else `412`). */
  holds: boolean;
  /** The state tokens of the lists that held: the locks the client shows it owns. */
  tokens: Set<string>;
}

const opaque = (tag: string) => (tag.startsWith("W/") ? tag.slice(2) : tag);

/**
 * Evaluates the lists: the header holds when one list does (every condition true, `Not`
 * reversing one). A state token is true when a lock with it covers the list's resource; an entity
 * tag when it is the resource's own (weak comparison). A list about a resource of another server
 * is false.
 */
export function evaluateIf(lists: readonly IfList[], context: IfContext): IfResult {
  const tokens = new Set<string>();
  let holds = false;
  for (const list of lists) {
    const path = context.pathOf(list.resource);
    if (path === null) continue;
    const held = list.conditions.every((condition) => conditionHolds(condition, path, context) !== condition.not);
    if (!held) continue;
    holds = true;
    for (const condition of list.conditions) if (condition.token !== undefined && !condition.not) tokens.add(condition.token);
  }
  return { holds, tokens };
}

function conditionHolds(condition: IfCondition, path: string, context: IfContext): boolean {
  if (condition.token !== undefined) {
    return context.table.covering(path).some((lock) => lock.token === condition.token);
  }
  const etag = context.etagOf(path);
  return etag !== null && opaque(etag) === opaque(condition.etag!);
}

/**
 * The lock that stops a write to `path`: one covering it of which no token was submitted (a
 * resource under several shared locks needs the token of one of them); undefined when none.
 */
export function blockingLock(table: LockTable, path: string, tokens: ReadonlySet<string>): Lock | undefined {
  const covering = table.covering(path);
  if (covering.length === 0 || covering.some((lock) => tokens.has(lock.token))) return undefined;
  return covering[0];
}

// ---------------------------------------------------------------------------------------------
// Before a write

/** What checking a write against the locks needs of the handler. */
export interface LockedHandler {
  headers: HTTPMessage;
  directory: string;
  webdav: boolean;
  send_error(code: number, message?: string | null, explain?: string | null): Promise<void>;
}

/** One thing a write changes. */
export interface Change {
  /** The resource's file-system path. */
  path: string;
  /** Everything below it changes too (a directory deleted, moved, replaced). */
  tree?: boolean;
  /** It is created or removed: its directory's membership changes (a lock on the directory guards it). */
  membership?: boolean;
}

/** A resource's entity tag, as `getetag` and `ETag` give it; null when it does not exist. */
export function etagAt(path: string): string | null {
  const stats = lstatSync(fsPath(path), { throwIfNoEntry: false });
  return stats ? fileETag(stats) : null;
}

/**
 * With WebDAV on, checks a write before it is made: the `If` header must parse (`400`) and hold
 * (`412 Precondition Failed`), and every lock on what the write changes must be one whose token
 * the header submitted (`423 Locked`). False once answered. `requestPath` is the resource the
 * request names, for untagged lists.
 */
export async function confirmLocks(handler: LockedHandler, requestPath: string, changes: readonly Change[], table = locks): Promise<boolean> {
  if (!handler.webdav) return true;
  const header = handler.headers.get("If");
  let tokens = new Set<string>();
  if (header !== undefined) {
    let lists: IfList[];
    try {
      lists = parseIfHeader(header);
    } catch (error) {
      await handler.send_error(400, `Bad If header: ${(error as Error).message}`);
      return false;
    }
    const result = evaluateIf(lists, {
      pathOf: (resource) => (resource === null ? requestPath : pathOfUrl(handler, resource)),
      etagOf: etagAt,
      table,
    });
    if (!result.holds) {
      await handler.send_error(412, "The If header's conditions do not hold");
      return false;
    }
    tokens = result.tokens;
  }
  const blocked = blockedChange(table, changes, tokens);
  if (blocked === undefined) return true;
  await handler.send_error(423, `Locked: ${blocked.urlPath} is locked, and its lock token was not submitted`);
  return false;
}

/** The first lock in the way of `changes`, or undefined. */
function blockedChange(table: LockTable, changes: readonly Change[], tokens: ReadonlySet<string>): Lock | undefined {
  for (const change of changes) {
    const blocking = blockingLock(table, change.path, tokens);
    if (blocking) return blocking;
    if (change.membership) {
      const parent = parentOf(change.path);
      // A lock on the directory itself (any depth) guards what it holds.
      const onParent = table.covering(parent);
      if (onParent.length > 0 && !onParent.some((lock) => tokens.has(lock.token))) return onParent[0];
    }
    if (change.tree) {
      for (const lock of table.within(change.path)) {
        if (!tokens.has(lock.token) && blockingLock(table, lock.path, tokens)) return lock;
      }
    }
  }
  return undefined;
}

/** The file-system path of a URL of this server (an `If` header's tag), or null for another's. */
function pathOfUrl(handler: LockedHandler, url: string): string | null {
  const words = urlWords(url, handler.headers.get("Host"));
  if (words === "other host" || isRefusal(words)) return null;
  return pathOfWords(handler.directory, words);
}

/** The file-system path of a URL path's segments (a final empty one dropped). */
export function pathOfWords(directory: string, words: readonly string[]): string {
  const names = words.filter((word) => word !== "");
  return names.length === 0 ? directory.replace(/\/+$/, "") || "/" : posixpath.join(directory, ...names);
}
