/**
 * Dead properties: what WebDAV clients store on a resource with `PROPPATCH` (writable WebDAV:
 * the command line's `--webdav rw`, class attributes `webdav` and `upload`; the methods are in
 * webdav.ts).
 *
 * They are kept in this process's memory and nowhere else: never in a file of the served tree
 * (where a GET could fetch them, or a listing show them) nor beside it. So they cannot leak, and
 * are lost when the server stops — a client such as Windows' (which stores file times this way)
 * sees the file's own times again. Bounded: at most `MAX_PROPERTY_BYTES` in all (names and values
 * as XML), a value at most `MAX_VALUE_BYTES`; past either a `PROPPATCH` gets `507` for that
 * property, and nothing of it is stored. They follow their resource: moved with `MOVE`, copied
 * with `COPY`, forgotten with `DELETE` (by any route: the listing's buttons too).
 *
 * Resources are named by file-system path (no trailing slash), as locks are.
 */
import { isAtOrBelow } from "./locks.js";

/** Bytes of dead properties held at most, by all the servers of this process. */
export const MAX_PROPERTY_BYTES = 4 * 1024 * 1024;
/** The largest value of one property, as XML. */
export const MAX_VALUE_BYTES = 64 * 1024;

export interface DeadProperty {
  uri: string;
  local: string;
  /** The whole property element, written as XML (its namespaces declared in it). */
  xml: string;
}

/** `{uri}local`: a property's key. */
export function propertyKey(uri: string, local: string): string {
  return `{${uri}}${local}`;
}

function sizeOf(property: DeadProperty): number {
  return property.uri.length + property.local.length + property.xml.length;
}

/** The dead properties of one process. */
export class DeadProperties {
  private readonly byPath = new Map<string, Map<string, DeadProperty>>();
  private bytes = 0;

  constructor(readonly maxBytes = MAX_PROPERTY_BYTES) {}

  get size(): number {
    return this.bytes;
  }

  /** The properties of `path`, in the order they were set. */
  of(path: string): DeadProperty[] {
    return [...(this.byPath.get(path)?.values() ?? [])];
  }

  get(path: string, key: string): DeadProperty | undefined {
    return this.byPath.get(path)?.get(key);
  }

  /**
   * Applies one `PROPPATCH`'s changes to `path`, all or none: null when done, else the index of
   * the first change that would not fit (the store is then as it was).
   */
  apply(path: string, changes: readonly ({ set: DeadProperty } | { remove: string })[]): number | null {
    const current = new Map(this.byPath.get(path) ?? []);
    let bytes = this.bytes;
    for (const [index, change] of changes.entries()) {
      if ("set" in change) {
        const key = propertyKey(change.set.uri, change.set.local);
        const old = current.get(key);
        const added = sizeOf(change.set) - (old ? sizeOf(old) : 0);
        if (change.set.xml.length > MAX_VALUE_BYTES || bytes + added > this.maxBytes) return index;
        current.delete(key); // set again: it moves to the end, as the latest set
        current.set(key, change.set);
        bytes += added;
      } else {
        const old = current.get(change.remove);
        if (old) bytes -= sizeOf(old);
        current.delete(change.remove);
      }
    }
    if (current.size > 0) this.byPath.set(path, current);
    else this.byPath.delete(path);
    this.bytes = bytes;
    return null;
  }

  /** Forgets the properties of `path` and everything below it. */
  removeTree(path: string): void {
    for (const [key, properties] of this.byPath) {
      if (!isAtOrBelow(key, path)) continue;
      for (const property of properties.values()) this.bytes -= sizeOf(property);
      this.byPath.delete(key);
    }
  }

  /** Moves the properties of `from` and below it to `to` (what was at `to` is forgotten). */
  move(from: string, to: string): void {
    this.removeTree(to);
    for (const [key, properties] of [...this.byPath]) {
      if (!isAtOrBelow(key, from)) continue;
      this.byPath.delete(key);
      this.byPath.set(to + key.slice(from.length), properties);
    }
  }

  /** Copies the properties of `from` (and below it, with `tree`) to `to`, within the limit. */
  copy(from: string, to: string, tree: boolean): void {
    this.removeTree(to);
    for (const [key, properties] of [...this.byPath]) {
      if (!(tree ? isAtOrBelow(key, from) : key === from)) continue;
      let added = 0;
      for (const property of properties.values()) added += sizeOf(property);
      if (this.bytes + added > this.maxBytes) return;
      this.byPath.set(to + key.slice(from.length), new Map(properties));
      this.bytes += added;
    }
  }

  /** Forgets everything (for tests). */
  clear(): void {
    this.byPath.clear();
    this.bytes = 0;
  }
}

/** The dead properties of this process. */
export const deadProperties = new DeadProperties();
