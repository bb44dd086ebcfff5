/**
 * A folder's README below its rich listing, as miniserve shows it. Turned on by the command
 * line's `--readme` and by the class attribute `SimpleHTTPRequestHandler.readme = true` (default
 * `false`), for `listing = "rich"`.
 *
 * The first of `README_NAMES` the listing holds (so never a hidden one) is shown: Markdown
 * through markdown-it with raw HTML off (a `<script>` in the file is shown as text) and links and
 * images limited to relative URLs, `http:`, `https:` and `mailto:` (no `javascript:`, `data:`,
 * `vbscript:`, `file:`); a plain-text README as preformatted text. The page's
 * Content-Security-Policy stays without `'unsafe-inline'`, and only allows images from this
 * server besides: even HTML that got through could run no script. A README larger than
 * `README_MAX_BYTES`, or a link leading out under `follow_symlinks = false`, is not shown.
 */
import { createRequire } from "node:module";
import type MarkdownIt from "markdown-it";
import { FileIO } from "../py/io.js";
import { fsPath } from "../py/codecs.js";
import { htmlEscape } from "../py/text.js";
import { quote } from "../py/urllib.js";
import type { ListingEntry } from "../server/listdir.js";
import { resolvesOutside } from "./symlinks.js";

/** The names looked for, in this order. */
export const README_NAMES: readonly string[] = ["README.md", "readme.md", "Readme.md", "README.markdown", "README.txt", "readme.txt", "README"];
/** The largest README rendered. */
export const README_MAX_BYTES = 1024 * 1024;

const MARKDOWN = /\.(?:md|markdown)$/i;
/** A URL with a scheme: only these may be links or images. */
const SCHEME = /^([a-z][a-z0-9+.-]*):/i;
const SAFE_SCHEMES = new Set(["http", "https", "mailto"]);

/** Whether a link or image URL (as markdown-it has decoded and normalised it) may be used. */
export function isSafeUrl(url: string): boolean {
  const trimmed = url.trim();
  // A control character or whitespace inside a scheme could be dropped by a browser: refuse any.
  if (/[\x00-\x20\x7f]/.test(trimmed)) return false;
  const scheme = SCHEME.exec(trimmed);
  return scheme === null || SAFE_SCHEMES.has(scheme[1]!.toLowerCase());
}

/** markdown-it, made by the first README rendered (a server that shows none never loads it). */
let markdown: InstanceType<typeof MarkdownIt> | null = null;
function markdownRenderer(): InstanceType<typeof MarkdownIt> {
  if (markdown) return markdown;
  const MarkdownItClass = createRequire(import.meta.url)("markdown-it") as typeof MarkdownIt;
  markdown = new MarkdownItClass({ html: false, linkify: true, typographer: false });
  markdown.validateLink = isSafeUrl;
  return markdown;
}

/** Renders Markdown to HTML: raw HTML escaped, unsafe links left as text. */
export function renderMarkdown(text: string): string {
  return markdownRenderer().render(text);
}

/** The README of a listing, rendered: its name and its HTML. */
export interface Readme {
  name: string;
  html: string;
}

/** What the README needs of the handler. */
export interface ReadmeHandler {
  directory: string;
  follow_symlinks: boolean;
}

/** Rendered READMEs, by path, with the size and time they were rendered from; at most 64. */
const cache = new Map<string, { size: number; mtimeMs: number; readme: Readme }>();
const CACHE_SIZE = 64;

/**
 * The README of the directory `path` among its listed `entries`, rendered; null when there is
 * none to show.
 */
export async function findReadme(handler: ReadmeHandler, path: string, entries: readonly ListingEntry[]): Promise<Readme | null> {
  const names = new Map(entries.filter((entry) => !entry.isDir).map((entry) => [entry.name, entry]));
  const entry = README_NAMES.map((name) => names.get(name)).find((found) => found !== undefined);
  if (entry === undefined) return null;
  const full = (path.endsWith("/") ? path : path + "/") + entry.name;
  if (entry.isLink && !handler.follow_symlinks && (await resolvesOutside(full, handler.directory))) return null;
  const opened = await FileIO.openRegular(fsPath(full));
  if (opened === null) return null;
  try {
    const { stats, file } = opened;
    if (stats.size > README_MAX_BYTES) {
      return { name: entry.name, html: `<p>${htmlEscape(entry.name, false)} is too large to show here (over ${README_MAX_BYTES / 1024 / 1024} MiB): <a href="${quote(entry.name)}">open it</a>.</p>\n` };
    }
    const kept = cache.get(full);
    if (kept && kept.size === stats.size && kept.mtimeMs === stats.mtimeMs) return kept.readme;
    const text = (await file.read()).subarray(0, README_MAX_BYTES).toString("utf8");
    const html = MARKDOWN.test(entry.name) ? renderMarkdown(text) : `<pre>${htmlEscape(text, false)}</pre>\n`;
    const readme = { name: entry.name, html };
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(full, { size: stats.size, mtimeMs: stats.mtimeMs, readme });
    return readme;
  } finally {
    await opened.file.close();
  }
}
