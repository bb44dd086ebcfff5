/**
 * What the sharing additions add to the rich listing's page (`listing = "rich"`): the archive
 * links (`archive`, archive.ts), the search box (`search`, search.ts), the QR code of the folder's
 * network address (`qr`, qr.ts) and the README below the table (`readme`, readme.ts), with their
 * style and the page's Content-Security-Policy for them. Nothing here runs script: the search box
 * is a plain form, the QR code a `<details>` holding an SVG.
 */
import { htmlEscape } from "../py/text.js";
import type { ListingEntry } from "../server/listdir.js";
import type { ReadmeHandler } from "./readme.js";
import { loadFeature, loaded } from "../server/feature_modules.js";
import type { PageExtras, PolicyParts } from "./rich_listing_page.js";

/** The additions' style (named by hash in the policy). */
export const SHARE_STYLE = [
  ".share{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:baseline;margin:.5rem 0}",
  ".share form{display:flex;gap:.25rem;margin:0}",
  ".share button{font:inherit}",
  ".qr summary{cursor:pointer;color:var(--link)}",
  ".qr svg{display:block;width:12rem;height:12rem;margin:.5rem 0;stroke:none}",
  ".qr a{font-size:.9em}",
  ".partial{color:#b35900}",
  ".readme{margin-top:1.5rem;padding-top:.5rem;border-top:1px solid var(--line);overflow-wrap:anywhere}",
  ".readme h2.readme-name{font-size:.9rem;font-weight:600;color:var(--mute);margin:0 0 .5rem}",
  ".readme pre{overflow-x:auto;padding:.5rem;background:var(--hi);border-radius:6px}",
  ".readme code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em}",
  ".readme img{max-width:100%}",
  ".readme table{width:auto}.readme td:first-child{width:auto}",
  ".readme td,.readme th{white-space:normal;border:1px solid var(--line)}",
  ".readme blockquote{margin:0;padding-left:1rem;border-left:3px solid var(--line);color:var(--mute)}",
].join("");

const HEAD = `<style>${SHARE_STYLE}</style>\n`;

/** The search box: a GET form to this folder (`?q=`). */
export function searchForm(value = ""): string {
  const shown = value ? ` value="${htmlEscape(value)}"` : "";
  return (
    '<form class="search" role="search" method="get">' +
    `<input type="search" name="q"${shown} placeholder="Search below this folder" aria-label="Search below this folder" required>` +
    '<button type="submit">Search</button></form>'
  );
}

/** What the additions need of the handler. */
export interface ShareHandler extends ReadmeHandler {
  path: string;
  archive?: boolean;
  qr?: boolean;
  search?: boolean;
  readme?: boolean;
  connection?: object;
  server?: { server_address?: readonly [string, number] | unknown };
}

/** The page's additions, the part of the body cache's key that they vary, and what the page's policy must allow of them. */
export interface ShareParts {
  key: string;
  extras: PageExtras;
  policy: PolicyParts;
}

/** Whether any addition is on (else the listing is as before, byte for byte). */
export function sharing(handler: ShareHandler): boolean {
  return !!(handler.archive || handler.qr || handler.search || handler.readme);
}

/**
 * The additions for the listing of the directory `path` (URL path `urlPath`, its `entries` as
 * listed), or null when none is on.
 */
export async function shareParts(handler: ShareHandler, path: string, urlPath: string, entries: readonly ListingEntry[]): Promise<ShareParts | null> {
  if (!sharing(handler)) return null;
  const header: string[] = [];
  if (handler.search) header.push(searchForm());
  // Each module loads with the first page that uses it (server/feature_modules.ts).
  if (handler.archive) header.push(`<span class="downloads">${(loaded.archive ?? (await loadFeature("archive"))).downloadLinks()}</span>`);
  const qr = handler.qr ? (loaded.qr ?? (await loadFeature("qr"))) : null;
  const qrUrl = qr ? folderUrl(handler, urlPath, qr.lanUrl) : null;
  if (qr && qrUrl !== null) {
    header.push(`<details class="qr"><summary>QR code</summary>${qr.cachedQrSvg(qrUrl)}<a href="${htmlEscape(qrUrl)}">${htmlEscape(qrUrl, false)}</a></details>`);
  }
  const readme = handler.readme ? await (loaded.readme ?? (await loadFeature("readme"))).findReadme(handler, path, entries) : null;
  const extras: PageExtras = {
    head: HEAD,
    header: header.length > 0 ? `<div class="share">${header.join("")}</div>\n` : "",
    footer: readme ? `<article class="readme"><h2 class="readme-name">${htmlEscape(readme.name, false)}</h2>\n${readme.html}</article>\n` : "",
  };
  const flags = `${handler.archive ? "a" : ""}${handler.search ? "s" : ""}${qrUrl ?? ""}`;
  return {
    key: `${flags} ${readme ? readme.name + readme.html.length : ""}`,
    extras,
    policy: { styles: [SHARE_STYLE], forms: !!handler.search, images: readme !== null },
  };
}

/** This folder's address as another machine on the network reaches it (qr.ts). */
function folderUrl(handler: ShareHandler, urlPath: string, lanUrl: typeof import("./qr.js").lanUrl): string | null {
  const address = handler.server?.server_address;
  if (!Array.isArray(address) || typeof address[0] !== "string" || typeof address[1] !== "number") return null;
  const scheme = handler.connection && "encrypted" in handler.connection ? "https" : "http";
  return lanUrl(scheme, address as [string, number]) + urlPath.replace(/^\/+/, "");
}
