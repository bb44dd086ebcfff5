/**
 * `SimpleHTTPRequestHandler.translate_path`'s rule as a pure function, remembered per directory.
 */
import * as posixpath from "../py/posixpath.js";
import { unquoteWithFallback } from "../py/urllib.js";

/** The path functions `translatePath` needs from the platform (`os.path`). */
export interface PathFlavour {
  dirname(path: string): string;
  join(a: string, b: string): string;
}

/**
 * `translate_path`'s rule, with the platform's path functions as a parameter (Python's tests swap
 * in `ntpath` to check Windows drive letters):
 * 1. drop the fragment, then the query;
 * 2. percent-decode as UTF-8, keeping encoded surrogates (`surrogatepass`) or, if the bytes are
 *    not UTF-8 at all, replacing them with U+FFFD;
 * 3. note a trailing slash — after decoding, so `%2f` counts;
 * 4. normalise lexically (`..` never climbs above `/`);
 * 5. join the remaining words onto `directory`, skipping `.`, `..` and any word with a directory
 *    part of its own (on Windows, `c:` or `\`);
 * 6. restore the trailing slash.
 */
export function translatePath(path: string, directory: string, flavour: PathFlavour = posixpath): string {
  if (flavour !== posixpath || path.length > MEMO_MAX_PATH) return translateUncached(path, directory, flavour);
  let memo = translated.get(directory);
  if (memo === undefined) {
    if (translated.size >= MEMO_DIRECTORIES) translated.clear();
    translated.set(directory, (memo = new Map()));
  }
  let result = memo.get(path);
  if (result === undefined) {
    if (memo.size >= MEMO_ENTRIES) memo.clear();
    result = translateUncached(path, directory, flavour);
    memo.set(path, result);
  }
  return result;
}

/**
 * `translatePath` is a pure function of its arguments, and a server sees the same few paths over
 * and over: results are remembered per directory, for short paths only, and all forgotten past
 * `MEMO_ENTRIES` (so a client requesting ever new paths costs a bounded few hundred KiB).
 */
const translated = new Map<string, Map<string, string>>();
const MEMO_ENTRIES = 1024;
const MEMO_DIRECTORIES = 16;
const MEMO_MAX_PATH = 256;

function translateUncached(path: string, directory: string, flavour: PathFlavour): string {
  path = path.split("#", 1)[0]!.split("?", 1)[0]!;
  path = unquoteWithFallback(path);
  const trailingSlash = path.endsWith("/");
  path = posixpath.normpath(path);
  let result = directory;
  for (const word of path.split("/")) {
    if (!word || word === posixpath.curdir || word === posixpath.pardir || flavour.dirname(word)) continue;
    result = flavour.join(result, word);
  }
  return trailingSlash ? result + "/" : result;
}
