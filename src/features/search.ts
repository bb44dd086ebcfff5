/**
 * Search below a folder. Turned on by the command line's `--search` and by the class attribute
 * `SimpleHTTPRequestHandler.search = true` (default `false`: `?q=` is an ordinary query), bounded
 * by `--search-max N` (`search_max_entries`, default 100,000 entries visited) and
 * `--search-time SECONDS` (`search_timeout`, default 5 s).
 *
 * `GET /dir/?q=TEXT` finds the files and folders under `/dir/` whose name contains TEXT, compared
 * case-insensitively, at any depth: a page like the rich listing (a row per match, its path from
 * `/dir/`), or JSON for `Accept: application/json` or `&format=json`:
 * `{"query", "partial", "reason", "visited", "results": [the listing's objects, with "path"]}`.
 * The rich listing carries a search box that sends it.
 *
 * The walk is tree_walk.ts's: never into a dotfile under `dotfiles = false`, a link leading out
 * under `follow_symlinks = false`, a CGI directory; asynchronous, yielding to the event loop every
 * few hundred entries, so other requests are served while it runs. It stops after
 * `search_max_entries` entries, `search_timeout` seconds, `SEARCH_MAX_RESULTS` matches, or when the
 * client goes away; the answer then says it is partial, and why.
 */
import { stat } from "node:fs/promises";
import type { Stats } from "node:fs";
import { BytesIO, type FileLike } from "../py/io.js";
import { encodeListing, fsPath } from "../py/codecs.js";
import { quote, unquoteWithFallback } from "../py/urllib.js";
import { htmlEscape } from "../py/text.js";
import type { HTTPMessage } from "../http/message.js";
import { walkTree, type WalkRules } from "./tree_walk.js";
import { urlWords, queryOf } from "./archive.js";
import { breadcrumbs, goFileMode, humanSize, localMinute } from "./rich_listing.js";
import { fileIcon, listingPolicy, page, row, FIRST_ORDER, type SortKey, type SortOrder } from "./rich_listing_page.js";
import { SHARE_STYLE, searchForm } from "./share_page.js";

export { DEFAULT_SEARCH_MAX_ENTRIES, DEFAULT_SEARCH_TIMEOUT } from "./limits.js";
/** The most matches one search returns. */
export const SEARCH_MAX_RESULTS = 1000;
/** The query parameter of a search. */
export const SEARCH_PARAMETER = "q";

/** What the search needs of the handler. */
export interface SearchHandler {
  path: string;
  headers: HTTPMessage;
  directory: string;
  dotfiles: boolean;
  follow_symlinks: boolean;
  cgi_directories?: readonly string[];
  search_max_entries: number;
  search_timeout: number;
  readonly signal: AbortSignal;
  send_response(code: number, message?: string | null): void;
  send_header(keyword: string, value: string): void;
  end_headers(): Promise<void>;
}

/** The text a request searches for (`?q=`, trimmed), or null when it asks for no search. */
export function requestedSearch(path: string): string | null {
  const query = queryOf(path);
  if (!query.includes(SEARCH_PARAMETER)) return null;
  const text = new URLSearchParams(query).get(SEARCH_PARAMETER)?.trim() ?? "";
  return text === "" ? null : text;
}

/** Searches running now, in this process (for tests). */
let running = 0;
export function searchesRunning(): number {
  return running;
}

interface Match {
  relative: readonly string[];
  isDir: boolean;
  isLink: boolean;
  stats: Stats | null;
}

/** What a search found, and whether (and why) it stopped early. */
export interface SearchResult {
  matches: Match[];
  visited: number;
  partial: boolean;
  reason: string | null;
}

/**
 * Walks the directory `path` for names containing `text` (case-insensitively), within the
 * handler's limits.
 */
export async function searchTree(handler: SearchHandler, path: string, text: string): Promise<SearchResult> {
  const rules: WalkRules = {
    root: handler.directory,
    dotfiles: handler.dotfiles,
    follow_symlinks: handler.follow_symlinks,
    cgi_directories: handler.cgi_directories ?? null,
  };
  const needle = text.toLowerCase();
  const stop = new AbortController();
  let reason: string | null = null;
  const timer = setTimeout(() => {
    reason = `stopped after ${handler.search_timeout} seconds`;
    stop.abort();
  }, handler.search_timeout * 1000);
  const onGone = () => {
    reason = "the client went away";
    stop.abort();
  };
  handler.signal.addEventListener("abort", onGone, { once: true });
  const matches: Match[] = [];
  let visited = 0;
  running++;
  try {
    for await (const entry of walkTree(path, urlWords(handler.path), rules, { stats: false, signal: stop.signal })) {
      if (++visited > handler.search_max_entries) {
        visited--;
        reason = `stopped after visiting ${handler.search_max_entries} entries`;
        break;
      }
      if (entry.kind === "problem") continue;
      const name = entry.relative[entry.relative.length - 1]!;
      if (!name.toLowerCase().includes(needle)) continue;
      if (matches.length >= SEARCH_MAX_RESULTS) {
        reason = `stopped at ${SEARCH_MAX_RESULTS} matches`;
        break;
      }
      matches.push({ relative: entry.relative, isDir: entry.kind === "directory", isLink: entry.isLink, stats: entry.stats });
    }
  } finally {
    running--;
    clearTimeout(timer);
    handler.signal.removeEventListener("abort", onGone);
  }
  return { matches, visited, partial: reason !== null, reason };
}

/** Answers `?q=TEXT` on the directory `path`: the headers, and the page or JSON to copy. */
export async function sendSearch(handler: SearchHandler, path: string, text: string): Promise<FileLike> {
  const result = await searchTree(handler, path, text);
  const base = path.endsWith("/") ? path : path + "/";
  await Promise.all(
    result.matches.map(async (match) => {
      match.stats ??= await stat(fsPath(base + match.relative.join("/"))).catch(() => null);
    }),
  );
  const query = new URLSearchParams(queryOf(handler.path));
  const json = query.get("format") === "json" || (handler.headers.get("Accept") ?? "").includes("application/json");
  const sort = (["name", "size", "mtime"] as const).find((key) => key === query.get("sort")) ?? "name";
  const order: SortOrder = query.get("order") === "asc" || query.get("order") === "desc" ? (query.get("order") as SortOrder) : FIRST_ORDER[sort];
  const matches = ordered(result.matches, sort, order);
  const urlPath = handler.path.split("#", 1)[0]!.split("?", 1)[0]!;
  const body = json ? renderJson(text, result, matches) : renderPage(text, urlPath, result, matches, sort, order);
  handler.send_response(200);
  if (json) {
    handler.send_header("Content-type", "application/json");
  } else {
    handler.send_header("Content-type", "text/html; charset=utf-8");
    handler.send_header("Content-Security-Policy", SEARCH_POLICY);
  }
  handler.send_header("Content-Length", String(body.length));
  handler.send_header("Vary", "Accept");
  handler.send_header("Cache-Control", "no-store");
  await handler.end_headers();
  return new BytesIO(body);
}

const SEARCH_POLICY = listingPolicy({ styles: [SHARE_STYLE], forms: true });

const COMPARE: Readonly<Record<SortKey, ((a: Match, b: Match) => number) | null>> = {
  name: null, // the walk's order: by path
  size: (a, b) => (a.stats?.size ?? 0) - (b.stats?.size ?? 0),
  mtime: (a, b) => (a.stats?.mtimeMs ?? 0) - (b.stats?.mtimeMs ?? 0),
};

function ordered(matches: Match[], sort: SortKey, order: SortOrder): Match[] {
  const sorted = [...matches];
  const compare = COMPARE[sort];
  if (compare) sorted.sort(compare);
  if (order === "desc") sorted.reverse();
  return sorted;
}

/** The match's path from the searched folder, as a link (each segment quoted) and as text. */
function linkOf(match: Match): { href: string; shown: string } {
  const tail = match.isDir ? "/" : "";
  return {
    href: match.relative.map((segment) => quote(segment, { errors: "surrogatepass", safe: "" })).join("/") + tail,
    shown: match.relative.join("/") + tail,
  };
}

function renderJson(text: string, result: SearchResult, matches: readonly Match[]): Buffer {
  const results = matches.map((match) => {
    const { href, shown } = linkOf(match);
    const time = match.stats ? new Date(match.stats.mtimeMs).toISOString() : null;
    return {
      name: match.relative[match.relative.length - 1]! + (match.isDir ? "/" : ""),
      path: shown,
      size: match.stats?.size ?? 0,
      url: href,
      mod_time: time,
      mode: goFileMode(match.stats, match.isLink),
      is_dir: match.isDir,
      is_symlink: match.isLink,
      type: match.isDir ? "directory" : match.stats?.isFile() ? "file" : "other",
      mtime: time,
    };
  });
  const document = { query: text, partial: result.partial, reason: result.reason, visited: result.visited, results };
  return encodeListing(JSON.stringify(document) + "\n");
}

function renderPage(text: string, urlPath: string, result: SearchResult, matches: readonly Match[], sort: SortKey, order: SortOrder): Buffer {
  const rows = matches.map((match) => {
    const { href, shown } = linkOf(match);
    const time = match.stats ? new Date(match.stats.mtimeMs) : null;
    const size = match.isDir || !match.stats ? "—" : humanSize(match.stats.size);
    return row(href, match.isDir ? "d" : fileIcon(shown), htmlEscape(shown, false), size, time ? time.toISOString() : "", time ? localMinute(time) : "");
  });
  const found = `${matches.length} ${matches.length === 1 ? "match" : "matches"} for “${htmlEscape(text, false)}” among ${result.visited} entries`;
  const partial = result.partial ? ` — <strong class="partial">partial results: ${htmlEscape(result.reason ?? "", false)}</strong>` : "";
  const html = page({
    title: `Search for “${htmlEscape(text, false)}” in ${htmlEscape(unquoteWithFallback(urlPath), false)}`,
    crumbs: breadcrumbs(urlPath),
    summary: `${found}${partial} · <a href="./">back to the listing</a>`,
    sort,
    order,
    rows,
    extras: { head: `<style>${SHARE_STYLE}</style>`, header: `<div class="share">${searchForm(text)}</div>\n` },
  });
  // The column headers sort the results: keep the query in their links.
  return encodeListing(html.replaceAll('href="?sort=', `href="?${SEARCH_PARAMETER}=${htmlEscape(encodeURIComponent(text))}&amp;sort=`));
}
