/**
 * The page of the rich listing (`--listing rich`, class attribute `listing = "rich"`; the listing
 * itself is in rich_listing.ts): one self-contained HTML document, its style, script and icons
 * inline, allowed by a `Content-Security-Policy` that names them by hash — the page makes no
 * request but for its own links. Everything that does not depend on the directory (the style,
 * the script, the icons, the column headers of each sort, the policy) is built once, here.
 */
import { LIVERELOAD_SCRIPT } from "./livereload.js";
import { UPLOAD_FORM, UPLOAD_SCRIPT, UPLOAD_SCRIPT_HASH, UPLOAD_STYLE, UPLOAD_STYLE_HASH, hashSource } from "./upload_page.js";
import { MANAGE_SCRIPT, MANAGE_SCRIPT_HASH, MANAGE_STYLE, MANAGE_STYLE_HASH, manageBar } from "./manage_page.js";

export type SortKey = "name" | "size" | "mtime";
export type SortOrder = "asc" | "desc";

/** The order a column's header link asks for when the table is sorted by another column. */
export const FIRST_ORDER: Readonly<Record<SortKey, SortOrder>> = { name: "asc", size: "desc", mtime: "desc" };

const COLUMNS: readonly [key: SortKey, label: string][] = [
  ["name", "Name"],
  ["size", "Size"],
  ["mtime", "Modified"],
];

/**
 * Light and dark from the system's setting; on a narrow screen the name column wraps anywhere
 * and the date may break, so a phone never scrolls sideways.
 */
const STYLE = [
  ":root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--mute:#59636e;--line:#d1d9e0;--hi:#f0f4f8;--link:#0b5cc5;--dir:#b07b00}",
  "@media (prefers-color-scheme:dark){:root{--bg:#12161c;--fg:#e6edf3;--mute:#9198a1;--line:#30363d;--hi:#1c2330;--link:#64a8ff;--dir:#e3b341}}",
  "*{box-sizing:border-box}",
  "body{margin:0 auto;max-width:64rem;padding:1rem;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif}",
  "header{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:.5rem}",
  "h1{margin:0;font-size:1.2rem;font-weight:600;overflow-wrap:anywhere}",
  "a{color:var(--link);text-decoration:none}a:hover,a:focus-visible{text-decoration:underline}",
  "input{font:inherit;width:16rem;max-width:100%;padding:.25rem .5rem;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg)}",
  "p{margin:.4rem 0;color:var(--mute)}",
  "table{width:100%;border-collapse:collapse}",
  "th,td{padding:.3rem .5rem;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap;vertical-align:top}",
  "th{font-weight:600}th a{color:var(--fg)}",
  "td:first-child{width:100%;white-space:normal;overflow-wrap:anywhere}",
  "td:first-child a{color:var(--fg);display:block}",
  "th:nth-child(2),td:nth-child(2){text-align:right}",
  "td:nth-child(n+2){color:var(--mute);font-variant-numeric:tabular-nums}",
  "tbody tr:hover,tbody tr:focus-within{background:var(--hi)}",
  "svg{width:1.15em;height:1.15em;margin-right:.45em;vertical-align:-.2em;fill:none;stroke:currentColor;stroke-width:1.6;stroke-linecap:round;stroke-linejoin:round}",
  "#d{color:var(--dir)}",
  "@media (max-width:40rem){body{padding:.5rem}th,td{padding:.3rem .25rem}td:nth-child(3){white-space:normal}}",
].join("");

/**
 * Progressive: the table is complete without it. It shows the filter box, hides the rows whose
 * name does not contain what is typed, and moves through the rows from the keyboard: `/` focuses
 * the filter, the arrow keys move between the links, Enter in the filter opens the first match
 * (Enter on a link is the browser's own).
 */
const SCRIPT = [
  "(()=>{",
  'const f=document.getElementById("filter");',
  'const rows=[...document.querySelectorAll("tbody tr:not(.up)")].map(r=>[r,r.cells[0].textContent.toLowerCase()]);',
  "f.hidden=false;",
  'f.addEventListener("input",()=>{const q=f.value.toLowerCase();for(const[r,t]of rows)r.hidden=!t.includes(q)});',
  'const links=()=>[...document.querySelectorAll("tbody tr:not([hidden]) a")];',
  'document.addEventListener("keydown",e=>{',
  "if(e.altKey||e.ctrlKey||e.metaKey)return;",
  "const a=document.activeElement;",
  'if(e.key==="/"&&a!==f){e.preventDefault();f.focus();f.select();return}',
  'if(a===f&&e.key==="Escape"){f.value="";f.dispatchEvent(new Event("input"));return}',
  'if(a===f&&e.key==="Enter"){const l=links().find(x=>!x.closest(".up"));if(l){e.preventDefault();l.click()}return}',
  'if(e.key!=="ArrowDown"&&e.key!=="ArrowUp")return;',
  'const l=links(),n=l.indexOf(a)+(e.key==="ArrowDown"?1:-1);',
  "e.preventDefault();",
  "if(n<0)f.focus();else if(n<l.length)l[n].focus()",
  "})})()",
].join("");

/** Icons by id: a folder, the parent, and a few kinds of file (stroked, 24×24). */
const ICONS: Readonly<Record<string, string>> = {
  d: '<path d="M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z"/>',
  u: '<path d="M12 19V5M6 11l6-6 6 6"/>',
  f: '<path d="M6 3h8l4 4v14H6zM14 3v4h4"/>',
  t: '<path d="M6 3h8l4 4v14H6zM14 3v4h4M9 12h6M9 15h6M9 18h4"/>',
  i: '<path d="M4 5h16v14H4zM4 16l5-5 4 4 2-2 5 5"/><circle cx="15.5" cy="9.5" r="1.5"/>',
  m: '<path d="M6 3h8l4 4v14H6zM14 3v4h4M10 11v6l5-3z"/>',
  a: '<path d="M6 3h12v18H6zM12 3v2M11 6h2M12 7v2M11 10h2M12 11v2M11 14h2"/>',
};
export type IconId = keyof typeof ICONS;

const SPRITE =
  '<svg hidden xmlns="http://www.w3.org/2000/svg">' +
  Object.entries(ICONS).map(([id, body]) => `<symbol id="${id}" viewBox="0 0 24 24">${body}</symbol>`).join("") +
  "</svg>";

/** A folder, as the tab's icon: a `data:` URL, so not even the icon is a request. */
const FAVICON =
  "data:image/svg+xml," +
  encodeURIComponent(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">${ICONS["d"]!.replace("<path", '<path fill="#e3a008"')}</svg>`,
  );

/** Icons by lower-cased extension; anything else is a plain file. */
const ICON_BY_EXTENSION = new Map<string, IconId>();
for (const [icon, extensions] of [
  ["t", "txt md markdown rst csv tsv log json jsonc yaml yml toml ini cfg conf xml html htm css scss less js mjs cjs ts tsx jsx py rb go rs c h cc cpp hpp java kt swift sh bash zsh sql php lua pl r vue svelte diff patch"],
  ["i", "png jpg jpeg gif webp avif svg ico bmp tif tiff heic"],
  ["m", "mp3 wav ogg oga flac m4a aac opus mp4 m4v webm mkv mov avi ogv"],
  ["a", "zip gz tgz bz2 xz zst 7z rar tar jar war deb rpm br"],
] as const) {
  for (const extension of extensions.split(" ")) ICON_BY_EXTENSION.set(extension, icon);
}

/** The icon of a file by its name's extension. */
export function fileIcon(name: string): IconId {
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return "f";
  return ICON_BY_EXTENSION.get(name.slice(dot + 1).toLowerCase()) ?? "f";
}


/** The text of the live-reload script (`--watch` adds it to every HTML page, this one included). */
const LIVERELOAD_SOURCE = LIVERELOAD_SCRIPT.slice("<script>".length, LIVERELOAD_SCRIPT.lastIndexOf("</script>"));

/**
 * Nothing but this page's own style and script (by hash; and the live-reload script, should
 * `--watch` add it), `data:` images (the tab's icon), and requests back to this server (the
 * live-reload event stream). No plugin, frame, base URL or form target.
 */
export const CONTENT_SECURITY_POLICY = policy("", "", "'none'");

/**
 * The policy of a listing page: the page's own style and script by hash, and those of each
 * addition it carries — the upload form, the buttons for managing files (their requests are
 * `connect-src 'self'` already), the sharing additions' style (`share_page.ts`); forms sent back
 * to this server (the upload form, the search box), and with a README, images from this server.
 * Never `'unsafe-inline'`. Made once per combination.
 */
export function listingPolicy({ upload = false, manage = false, styles = [], forms = false, images = false }: PolicyParts): string {
  const key = `${+upload}${+manage}${+forms}${+images}${styles.join("\0")}`;
  let made = policies.get(key);
  if (made === undefined) {
    const moreStyle = (upload ? ` ${UPLOAD_STYLE_HASH}` : "") + (manage ? ` ${MANAGE_STYLE_HASH}` : "") + styles.map((style) => ` ${hashSource(style)}`).join("");
    const moreScript = (upload ? ` ${UPLOAD_SCRIPT_HASH}` : "") + (manage ? ` ${MANAGE_SCRIPT_HASH}` : "");
    made = policy(moreStyle, moreScript, upload || forms ? "'self'" : "'none'");
    if (images) made = made.replace("img-src data:", "img-src 'self' data:");
    policies.set(key, made);
  }
  return made;
}

/** What a listing page carries, as its policy must allow it (see `listingPolicy`). */
export interface PolicyParts {
  upload?: boolean;
  manage?: boolean;
  /** Inline styles of the additions, allowed by their hashes. */
  styles?: readonly string[];
  /** A form that is sent (to this server) besides the upload form. */
  forms?: boolean;
  /** Images from this server (a README's). */
  images?: boolean;
}

const policies = new Map<string, string>();

function policy(moreStyle: string, moreScript: string, formAction: string): string {
  return [
    "default-src 'none'",
    `style-src ${hashSource(STYLE)}${moreStyle}`,
    `script-src ${hashSource(SCRIPT)} ${hashSource(LIVERELOAD_SOURCE)}${moreScript}`,
    "img-src data:",
    "connect-src 'self'",
    "base-uri 'none'",
    `form-action ${formAction}`,
  ].join("; ");
}

/** The header row for each sort: the current column marked, and each link asking for the next order. */
const HEADERS = new Map<string, string>();
for (const [sort] of COLUMNS) {
  for (const order of ["asc", "desc"] as const) {
    const cells = COLUMNS.map(([key, label]) => {
      const current = key === sort;
      const next = current ? (order === "asc" ? "desc" : "asc") : FIRST_ORDER[key];
      const mark = current ? (order === "asc" ? " ▲" : " ▼") : "";
      const aria = current ? ` aria-sort="${order === "asc" ? "ascending" : "descending"}"` : "";
      return `<th${aria}><a href="?sort=${key}&amp;order=${next}">${label}</a>${mark}</th>`;
    });
    HEADERS.set(`${sort} ${order}`, `<thead><tr>${cells.join("")}</tr></thead>`);
  }
}

/** The parent's row: first in every sort, and never filtered out. */
export const PARENT_ROW = '<tr class="up"><td><a href="../"><svg><use href="#u"/></svg>../</a></td><td></td><td></td></tr>\n';

/** One entry's row. Every argument is HTML already (escaped, or made of safe characters). */
export function row(href: string, icon: IconId, name: string, size: string, exact: string, shown: string): string {
  return `<tr><td><a href="${href}"><svg><use href="#${icon}"/></svg>${name}</a></td><td>${size}</td><td title="${exact}">${shown}</td></tr>\n`;
}

const HEAD_START =
  '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
  '<meta name="viewport" content="width=device-width,initial-scale=1">\n' +
  `<link rel="icon" href="${FAVICON}">\n<title>`;
const HEAD_END = `</title>\n<style>${STYLE}</style>\n</head>\n<body>\n${SPRITE}\n<header><h1>`;
const FILTER = '</h1><input id="filter" type="search" placeholder="Filter ( / )" aria-label="Filter by name" autocomplete="off" hidden></header>\n';
const PAGE_END = `</tbody>\n</table>\n<script>${SCRIPT}</script>\n</body>\n</html>\n`;
// With the upload form (upload.ts): its style in the head, the form under the header, its script
// before the page's (and so before the live-reload script, which it must wrap).
const UPLOAD_HEAD_END = HEAD_END.replace("</style>\n", `</style>\n<style>${UPLOAD_STYLE}</style>\n`);
const UPLOAD_FILTER = FILTER + UPLOAD_FORM;
const UPLOAD_PAGE_END = PAGE_END.replace("<script>", `<script>${UPLOAD_SCRIPT}</script>\n<script>`);

export interface PageParts {
  /** The page's title, escaped. */
  title: string;
  /** The breadcrumbs, as links. */
  crumbs: string;
  /** The summary line, escaped. */
  summary: string;
  sort: SortKey;
  order: SortOrder;
  /** The rows, the parent's first when there is one. */
  rows: readonly string[];
  /** Whether the page carries the upload form (`upload` on). */
  upload?: boolean;
  /** The file actions its buttons offer (`delete mkdir move`, manage_page.ts); empty for none. */
  manage?: string;
  /** What the sharing additions put in the page (share_page.ts), each HTML already. */
  extras?: PageExtras;
}

export interface PageExtras {
  /** In the head, after the page's style: the additions' own `<style>`. */
  head?: string;
  /** Under the header (and the upload form): download links, the search box, the QR code. */
  header?: string;
  /** After the table: the README. */
  footer?: string;
}

/** The whole page. */
export function page({ title, crumbs, summary, sort, order, rows, upload = false, manage = "", extras }: PageParts): string {
  let head = upload ? UPLOAD_HEAD_END : HEAD_END;
  let end = upload ? UPLOAD_PAGE_END : PAGE_END;
  if (manage) {
    // The buttons' style after the others, their script before the page's own (after the upload one).
    head = head.replace("</head>", `<style>${MANAGE_STYLE}</style>\n</head>`);
    end = end.replace(`<script>${SCRIPT}`, `<script>${MANAGE_SCRIPT}</script>\n<script>${SCRIPT}`);
  }
  if (extras?.head) head = head.replace("</head>", `${extras.head}</head>`);
  if (extras?.footer) end = end.replace("</table>\n", `</table>\n${extras.footer}`);
  return (
    HEAD_START + title + head + crumbs + (upload ? UPLOAD_FILTER : FILTER) + (manage ? manageBar(manage) : "") + (extras?.header ?? "") +
    `<p>${summary}</p>\n<table>\n` + HEADERS.get(`${sort} ${order}`)! + "\n<tbody>\n" + rows.join("") +
    end
  );
}
