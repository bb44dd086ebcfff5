/**
 * The rich listing: a file browser for directories without an index page. Turned on by the
 * command line's `--listing rich` (part of `--dev`) and by the class attribute
 * `SimpleHTTPRequestHandler.listing = "rich"` (default `"python"`: Python's page, unchanged).
 *
 * `list_directory()` reads and sorts the directory as Python does, then hands the entries here
 * (`sendRichListing`), so names, their order, their escaping and their links are Python's. This
 * module adds each entry's size and time, and answers with:
 * - a page (rich_listing_page.ts): a table with folders first and `../`, human sizes, times (the
 *   exact one on hover), icons, breadcrumbs, a summary line, sort links (`?sort=name|size|mtime`,
 *   `&order=asc|desc`) and a filter box;
 * - or JSON, for `Accept: application/json` or `?format=json`: Caddy's `browse` array (`name`,
 *   `size`, `url`, `mod_time`, `mode`, `is_dir`, `is_symlink`), plus `type` and `mtime`.
 *
 * Speed: the stat of every entry is the cost (about 2 µs each). A directory's stats, rows and
 * rendered bodies are kept for `STATS_MAX_AGE_MS` and reused while the directory still holds the
 * same names: entries added, removed or renamed show at once; a size or time changed in place, at
 * most a second later.
 */
import type { Stats } from "node:fs";
import { statOrNull } from "../server/listdir.js";
import { BytesIO, type FileLike } from "../py/io.js";
import { encodeListing } from "../py/codecs.js";
import { quote, unquoteWithFallback } from "../py/urllib.js";
import { htmlEscape } from "../py/text.js";
import * as posixpath from "../py/posixpath.js";
import type { ListingEntry, SimpleHTTPRequestHandler } from "../server/simple_handler.js";
import { manageActions } from "./manage_page.js";
import {
  listingPolicy,
  FIRST_ORDER,
  PARENT_ROW,
  fileIcon,
  page,
  row,
  type SortKey,
  type SortOrder,
} from "./rich_listing_page.js";
import type { PageExtras } from "./rich_listing_page.js";
import { shareParts, type ShareHandler } from "./share_page.js";

/** The listing a handler sends: Python's, or the rich one. */
export type ListingStyle = "python" | "rich";

/** What the listing needs of the handler. */
export type ListingHandler = Pick<SimpleHTTPRequestHandler, "path" | "headers" | "send_response" | "send_header" | "end_headers"> & {
  /** Whether the page carries the upload form (upload.ts). */
  upload?: boolean;
  /** Which buttons for managing files the page carries (manage.ts, manage_page.ts). */
  allow_delete?: boolean;
  allow_mkdir?: boolean;
  allow_move?: boolean;
} & Partial<Omit<ShareHandler, "path">>;

/** How long a directory's stats are reused (while its names stay the same). */
export const STATS_MAX_AGE_MS = 1000;

/** One entry with what its stat said, and its row, rendered once (its JSON object when first asked for). */
interface Item {
  isDir: boolean;
  size: number;
  /** Milliseconds since the epoch; NaN when the entry could not be stat'ed. */
  mtimeMs: number;
  row: string;
  /** The JSON object's fields, in Caddy's order then ours. */
  fields: JsonFields;
  json: string | null;
}

interface JsonFields {
  name: string;
  size: number;
  url: string;
  mod_time: string | null;
  mode: number;
  is_dir: boolean;
  is_symlink: boolean;
  type: "directory" | "file" | "other";
  mtime: string | null;
}

/** A directory as last seen: its entries, their items, and the bodies already rendered from them. */
interface Snapshot {
  entries: readonly ListingEntry[];
  takenAt: number;
  items: Item[];
  folders: number;
  files: number;
  totalSize: number;
  bodies: Map<string, Buffer>;
  bytes: number;
}

/** Snapshots by directory, oldest first; at most `SNAPSHOT_BYTES` of rendered bodies in all. */
const snapshots = new Map<string, Snapshot>();
let snapshotBytes = 0;
const SNAPSHOT_BYTES = 8 * 1024 * 1024;
/** Bodies kept per directory (sorts × formats × the URLs it is reached by). */
const BODIES_PER_SNAPSHOT = 8;

/**
 * Sends the rich listing of the directory `path` (its entries as `list_directory` read them):
 * the headers, and the body to copy.
 */
export async function sendRichListing(handler: ListingHandler, path: string, entries: readonly ListingEntry[]): Promise<FileLike> {
  const [urlPath, query] = splitPath(handler.path);
  const params = new URLSearchParams(query);
  const json = params.get("format") === "json" || (handler.headers.get("Accept") ?? "").includes("application/json");
  const sort = SORT_KEYS.has(params.get("sort") ?? "") ? (params.get("sort") as SortKey) : "name";
  const requested = params.get("order");
  const order: SortOrder = requested === "asc" || requested === "desc" ? requested : FIRST_ORDER[sort];

  const snapshot = snapshotOf(path, entries);
  const upload = handler.upload === true && !json;
  const manage = json ? "" : manageActions(handler);
  // The sharing additions (archive links, search box, QR code, README: share_page.ts), when on.
  const share = json ? null : await shareParts(handler as ShareHandler, path, urlPath, entries);
  const key = `${json ? "json" : upload ? "html+upload" : "html"}${manage ? `+${manage}` : ""} ${sort} ${order} ${urlPath}${share ? " " + share.key : ""}`;
  let body = snapshot.bodies.get(key);
  if (body === undefined) {
    body = json ? renderJson(snapshot, sort, order) : renderPage(snapshot, urlPath, sort, order, upload, manage, share?.extras);
    keep(snapshot, key, body);
  }

  handler.send_response(200);
  if (json) {
    handler.send_header("Content-type", "application/json");
  } else {
    handler.send_header("Content-type", "text/html; charset=utf-8");
    handler.send_header("Content-Security-Policy", listingPolicy({ upload, manage: manage !== "", ...share?.policy }));
  }
  handler.send_header("Content-Length", String(body.length));
  // The same URL answers HTML or JSON by Accept: a cache must keep them apart.
  handler.send_header("Vary", "Accept");
  await handler.end_headers();
  return new BytesIO(body);
}

const SORT_KEYS = new Set<string>(["name", "size", "mtime"]);

/** The path without its fragment, and its query (without the `?`). */
function splitPath(path: string): [path: string, query: string] {
  const withoutFragment = path.split("#", 1)[0]!;
  const mark = withoutFragment.indexOf("?");
  return mark < 0 ? [withoutFragment, ""] : [withoutFragment.slice(0, mark), withoutFragment.slice(mark + 1)];
}

/** The directory's snapshot: the one kept, if it is recent and its names unchanged; else a new one. */
function snapshotOf(path: string, entries: readonly ListingEntry[]): Snapshot {
  const now = Date.now();
  const kept = snapshots.get(path);
  if (kept !== undefined && now - kept.takenAt < STATS_MAX_AGE_MS && sameEntries(kept.entries, entries)) return kept;
  if (kept !== undefined) forget(path, kept);
  const snapshot = takeSnapshot(path, entries, now);
  snapshots.set(path, snapshot);
  return snapshot;
}

function sameEntries(a: readonly ListingEntry[], b: readonly ListingEntry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name || x.isDir !== y.isDir || x.isLink !== y.isLink) return false;
  }
  return true;
}

function forget(path: string, snapshot: Snapshot): void {
  snapshots.delete(path);
  snapshotBytes -= snapshot.bytes;
}

/** Keeps a rendered body, within the per-directory and overall limits. */
function keep(snapshot: Snapshot, key: string, body: Buffer): void {
  if (snapshot.bodies.size >= BODIES_PER_SNAPSHOT) {
    snapshotBytes -= snapshot.bytes;
    snapshot.bodies.clear();
    snapshot.bytes = 0;
  }
  snapshot.bodies.set(key, body);
  snapshot.bytes += body.length;
  snapshotBytes += body.length;
  for (const [path, oldest] of snapshots) {
    if (snapshotBytes <= SNAPSHOT_BYTES || oldest === snapshot) break;
    forget(path, oldest);
  }
}

function takeSnapshot(path: string, entries: readonly ListingEntry[], now: number): Snapshot {
  const directory = path.endsWith("/") ? path : path + "/";
  const items: Item[] = [];
  let folders = 0;
  let files = 0;
  let totalSize = 0;
  for (const entry of entries) {
    const item = describe(directory, entry);
    items.push(item);
    if (item.isDir) {
      folders++;
    } else {
      files++;
      totalSize += item.size;
    }
  }
  return { entries, takenAt: now, items, folders, files, totalSize, bodies: new Map(), bytes: 0 };
}

/**
 * An entry's stat (following a link, as serving does; a broken link's own), its row and its JSON.
 * The display name and link are Python's: `name/` for a folder, `name@` for a link, each escaped
 * with `html.escape(quote=False)` and linked with `quote(errors='surrogatepass')`.
 */
function describe(directory: string, { name, isDir, isLink }: ListingEntry): Item {
  const full = directory + name;
  const stats = statOrNull(full, true) ?? (isLink ? statOrNull(full, false) : null);
  const size = stats?.size ?? 0;
  const mtimeMs = stats?.mtimeMs ?? NaN;
  const linkname = isDir ? name + "/" : name;
  const displayname = isLink ? name + "@" : linkname;
  const href = quote(linkname, { errors: "surrogatepass" });
  const time = Number.isNaN(mtimeMs) ? null : new Date(mtimeMs);
  const exact = time ? time.toISOString() : "";
  const icon = isDir ? "d" : fileIcon(name);
  const shownSize = isDir || !stats ? "—" : humanSize(size);
  return {
    isDir,
    size,
    mtimeMs,
    row: row(href, icon, htmlEscape(displayname, false), shownSize, exact, time ? localMinute(time) : ""),
    fields: {
      name: linkname,
      size,
      url: href,
      mod_time: exact || null,
      mode: goFileMode(stats, isLink),
      is_dir: isDir,
      is_symlink: isLink,
      type: isDir ? "directory" : stats?.isFile() ? "file" : "other",
      mtime: exact || null,
    },
    json: null,
  };
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/** Sizes in powers of 1024, as Caddy shows them: `834 B`, `1.2 KiB`, `15 MiB`. */
export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = value < 10 ? value.toFixed(1) : String(Math.round(value));
  return `${shown} ${UNITS[unit]}`;
}

const pad = (n: number) => (n < 10 ? "0" + n : String(n));

/** `2026-11-22 10:00`, in the server's time zone (for a development server, the user's). */
export function localMinute(time: Date): string {
  return `${time.getFullYear()}-${pad(time.getMonth() + 1)}-${pad(time.getDate())} ${pad(time.getHours())}:${pad(time.getMinutes())}`;
}

/** Go's `os.FileMode` bits for each file type (Caddy's `mode` is a Go `FileMode`). */
const GO_TYPE_BITS = new Map<number, number>([
  [0o040000, 2 ** 31], // ModeDir
  [0o120000, 2 ** 27], // ModeSymlink
  [0o060000, 2 ** 26], // ModeDevice
  [0o020000, 2 ** 26 + 2 ** 21], // ModeDevice | ModeCharDevice
  [0o010000, 2 ** 25], // ModeNamedPipe
  [0o140000, 2 ** 24], // ModeSocket
]);

/**
 * The entry's mode as Caddy's JSON has it: Go's `FileMode` of the entry itself (not following a
 * link, as Go's `DirEntry.Info()`), a number. A symbolic link on Linux is always `0777`.
 */
export function goFileMode(stats: Stats | null, isLink: boolean): number {
  if (isLink) return 2 ** 27 + 0o777;
  if (stats === null) return 0;
  const mode = stats.mode;
  let bits = (mode & 0o777) + (GO_TYPE_BITS.get(mode & 0o170000) ?? 0);
  if (mode & 0o4000) bits += 2 ** 23; // ModeSetuid
  if (mode & 0o2000) bits += 2 ** 22; // ModeSetgid
  if (mode & 0o1000) bits += 2 ** 20; // ModeSticky
  return bits;
}

type Compare = (a: Item, b: Item) => number;
/** Ascending comparisons; ties keep Python's name order (the sort is stable). */
const COMPARE: Readonly<Record<SortKey, Compare | null>> = {
  name: null,
  size: (a, b) => a.size - b.size,
  mtime: (a, b) => (a.mtimeMs || 0) - (b.mtimeMs || 0),
};

/** Folders first, then files, each group in the order asked for. */
function ordered(items: readonly Item[], sort: SortKey, order: SortOrder): Item[] {
  const folders = items.filter((item) => item.isDir);
  const files = items.filter((item) => !item.isDir);
  const compare = COMPARE[sort];
  if (compare) {
    folders.sort(compare);
    files.sort(compare);
  }
  if (order === "desc") {
    folders.reverse();
    files.reverse();
  }
  return folders.concat(files);
}

function renderJson(snapshot: Snapshot, sort: SortKey, order: SortOrder): Buffer {
  const objects = ordered(snapshot.items, sort, order).map((item) => (item.json ??= JSON.stringify(item.fields)));
  return Buffer.from(`[${objects.join(",")}]\n`, "utf8");
}

function renderPage(snapshot: Snapshot, urlPath: string, sort: SortKey, order: SortOrder, upload: boolean, manage: string, extras?: PageExtras): Buffer {
  const decoded = unquoteWithFallback(urlPath);
  const rows = ordered(snapshot.items, sort, order).map((item) => item.row);
  if (posixpath.normpath(decoded) !== "/") rows.unshift(PARENT_ROW);
  const html = page({
    title: `Directory listing for ${htmlEscape(decoded, false)}`,
    crumbs: breadcrumbs(urlPath),
    summary: summaryLine(snapshot),
    sort,
    order,
    rows,
    upload,
    manage,
    extras,
  });
  return encodeListing(html);
}

/**
 * A link per segment of the URL path, each relative (`../../`), so that they hold behind a proxy
 * that mounts the server under a prefix: `/` `docs/` `api/`.
 */
export function breadcrumbs(urlPath: string): string {
  const segments = urlPath.split("/").slice(1);
  const last = segments.length - 1; // the part after the final slash: empty for a directory's URL
  const links: string[] = [];
  segments.forEach((segment, index) => {
    if (index === last || segment === "") return;
    links.push(crumb("../".repeat(last - index - 1) || "./", `${htmlEscape(unquoteWithFallback(segment), false)}/`));
  });
  return crumb("../".repeat(last) || "./", "/") + links.join("");
}

function crumb(href: string, text: string): string {
  return `<a href="${href}">${text}</a>`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** `2 folders, 3 files, 14.5 KiB` */
function summaryLine({ folders, files, totalSize }: Snapshot): string {
  return `${plural(folders, "folder")}, ${plural(files, "file")}, ${humanSize(totalSize)}`;
}

/** Forgets every snapshot (for tests). */
export function forgetSnapshots(): void {
  snapshots.clear();
  snapshotBytes = 0;
}
