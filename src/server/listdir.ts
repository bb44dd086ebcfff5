/**
 * The file-system calls of `SimpleHTTPRequestHandler` as Python makes them: `os.stat` where
 * `os.path.isdir`/`isfile` would say False (`statOrNull`), and `os.listdir` sorted as the listing
 * sorts it (`listSorted`). Synchronous on purpose (docs/ARCHITECTURE.md, "Performance").
 */
import { lstatSync, opendirSync, readdirSync, statSync, type Dirent, type Stats } from "node:fs";
import { encodeUtf8, fsdecode, fsencode, fsPath } from "../py/codecs.js";
import * as posixpath from "../py/posixpath.js";
import { hasSurrogate } from "../py/text.js";

/**
 * `os.stat(path)` (following links), or null where Python's `os.path.is*` would say False.
 * Synchronous on purpose: a stat of a cached inode takes a microsecond or two, a trip through
 * libuv's thread pool and a promise ten times that (docs/ARCHITECTURE.md, "Performance").
 */
export function statOrNull(path: string, follow = true): Stats | null {
  try {
    const name = fsPath(path);
    return (follow ? statSync(name, NO_THROW) : lstatSync(name, NO_THROW)) ?? null;
  } catch {
    return null; // ENOTDIR, EACCES, ELOOP, a NUL in the name …
  }
}

const NO_THROW = { throwIfNoEntry: false } as const;

/** One directory entry as `list_directory` needs it (and hands to the rich listing). */
export interface ListingEntry {
  name: string;
  /** `name.lower()`, the sort key. */
  key: string;
  isDir: boolean;
  isLink: boolean;
}
type Entry = ListingEntry;

/**
 * `os.listdir(path)` sorted as Python's listing sorts it (`sort(key=str.lower)`, stable), with
 * `isdir`/`islink` taken from the entry type where the file system gives it.
 *
 * Synchronous, as Python's `os.listdir` (docs/ARCHITECTURE.md, "Performance"). Names are read as
 * strings (a Buffer per name costs more than the system calls); a name that is not UTF-8 shows as
 * U+FFFD, and then the directory is read again as bytes, to decode it as Python does.
 *
 * The order names come in only matters for names equal once lower-cased (`A` and `a`): Python
 * keeps the file system's order for those. `readdirSync` (libuv) returns names sorted by bytes,
 * which is nearly the final order and sorts fastest; only when such a tie exists is the
 * directory read again, in the file system's order.
 */
export function listSorted(path: string): Entry[] {
  const dirents = readdirSync(fsPath(path), { withFileTypes: true });
  if (dirents.some((dirent) => dirent.name.includes("\ufffd"))) return sortByLower(readInDiskOrder(path));
  const sorted = sortByLower(dirents.map((dirent) => entry(path, dirent, dirent.name)));
  return hasTies(sorted) ? sortByLower(readInDiskOrder(path)) : sorted;
}

/** The entries in the order the file system returns them (`opendir`; no sorting). */
function readInDiskOrder(path: string): Entry[] {
  const dir = opendirSync(fsencode(path), { encoding: "buffer" as BufferEncoding });
  const entries: Entry[] = [];
  try {
    for (let dirent = dir.readSync(); dirent !== null; dirent = dir.readSync()) {
      entries.push(entry(path, dirent, fsdecode(dirent.name as unknown as Buffer)));
    }
  } finally {
    dir.closeSync();
  }
  return entries;
}

/** Whether two neighbours of a sorted listing have the same sort key. */
function hasTies(sorted: Entry[]): boolean {
  for (let i = 1; i < sorted.length; i++) if (sorted[i]!.key === sorted[i - 1]!.key) return true;
  return false;
}

/** One entry's name, and whether it is (or links to) a directory and whether it is a link. */
function entry(path: string, dirent: Dirent, name: string): Entry {
  let isDir = dirent.isDirectory();
  let isLink = dirent.isSymbolicLink();
  const known = isDir || isLink || dirent.isFile() || dirent.isFIFO() || dirent.isSocket() ||
    dirent.isBlockDevice() || dirent.isCharacterDevice();
  const fullname = posixpath.join(path, name);
  if (!known) isLink = statOrNull(fullname, false)?.isSymbolicLink() ?? false;
  if (isLink || !known) isDir = statOrNull(fullname)?.isDirectory() ?? false;
  return { name, key: name.toLowerCase(), isDir, isLink };
}

/**
 * Python's `sort(key=str.lower)`: stable, by the lower-cased name compared code point by code
 * point. UTF-8 (with surrogates encoded as three bytes) orders bytes as code points order.
 */
function sortByLower(entries: Entry[]): Entry[] {
  if (entries.some(({ key }) => hasSurrogate(key))) {
    const bytes = new Map(entries.map(({ key }) => [key, encodeUtf8(key, "surrogatepass")]));
    return entries.sort((a, b) => Buffer.compare(bytes.get(a.key)!, bytes.get(b.key)!));
  }
  // Without surrogates, UTF-16 order is code point order: plain comparison, no encoding.
  return entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
