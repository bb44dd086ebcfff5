/**
 * The URL as a QR code, for a phone on the same network. Turned on by the command line's `--qr`
 * (which prints the code after the banner) and by the class attribute
 * `SimpleHTTPRequestHandler.qr = true` (the rich listing shows the code of the folder's own
 * address, as an inline SVG; default `false`).
 *
 * The address is the one another machine can use: bound to every interface, this machine's first
 * non-internal IPv4 address (the first `Network:` line of the banner); bound to one address, that
 * address. The codes come from qrcode-generator (error correction M), drawn here: in the terminal
 * with Unicode half blocks, two rows of modules per line, with a quiet zone of 4 modules; on the
 * page as one `<path>` per colour, which needs nothing from the page's Content-Security-Policy.
 */
import { networkInterfaces, type NetworkInterfaceInfo } from "node:os";
import { isIP } from "node:net";
import { createRequire } from "node:module";
import type qrcodeGenerator from "qrcode-generator";

/** The margin around the code, in modules, as ISO/IEC 18004 asks. */
export const QUIET_ZONE = 4;

/** The code's modules, row by row: true for a dark module. */
export function qrMatrix(text: string): boolean[][] {
  // Loaded by the first code drawn (`--qr`), not by every server.
  const qrcode = createRequire(import.meta.url)("qrcode-generator") as typeof qrcodeGenerator;
  const code = qrcode(0, "M");
  // qrcode-generator's byte mode takes one byte per character: give it the UTF-8 bytes.
  code.addData(Buffer.from(text, "utf8").toString("latin1"), "Byte");
  code.make();
  const size = code.getModuleCount();
  return Array.from({ length: size }, (_, row) => Array.from({ length: size }, (_, col) => code.isDark(row, col)));
}

/** The matrix with `margin` light modules on every side. */
function withQuietZone(matrix: boolean[][], margin: number): boolean[][] {
  const width = matrix.length + 2 * margin;
  const light = () => new Array<boolean>(width).fill(false);
  const rows = matrix.map((row) => [...new Array<boolean>(margin).fill(false), ...row, ...new Array<boolean>(margin).fill(false)]);
  return [...Array.from({ length: margin }, light), ...rows, ...Array.from({ length: margin }, light)];
}

/**
 * Half blocks by [top light, bottom light]: a terminal draws characters in its light text colour
 * on its dark background, so light modules are drawn and dark ones left blank. (On a terminal
 * with a light background the code shows inverted; phone cameras read that too.)
 */
const HALF_BLOCKS = [" ", "\u2584", "\u2580", "\u2588"] as const; // neither, bottom, top, both

/** The code as lines of half blocks, quiet zone included, each line ending with a newline. */
export function qrTerminal(text: string, margin = QUIET_ZONE): string {
  const rows = withQuietZone(qrMatrix(text), margin);
  const lines: string[] = [];
  for (let row = 0; row < rows.length; row += 2) {
    const top = rows[row]!;
    const bottom = rows[row + 1] ?? top.map(() => true); // an odd last row: the terminal's dark below it
    let line = "";
    for (let col = 0; col < top.length; col++) line += HALF_BLOCKS[(top[col] ? 0 : 2) + (bottom[col] ? 0 : 1)];
    lines.push(line);
  }
  return lines.map((line) => line + "\n").join("");
}

/**
 * The code as an SVG element: a white square (the quiet zone) and one path of dark modules,
 * a run of modules per segment. `label` becomes its accessible name.
 */
export function qrSvg(text: string, label = text, margin = QUIET_ZONE): string {
  const matrix = qrMatrix(text);
  const size = matrix.length + 2 * margin;
  let dark = "";
  matrix.forEach((row, y) => {
    for (let x = 0; x < row.length; x++) {
      if (!row[x]) continue;
      let run = 1;
      while (row[x + run]) run++;
      dark += `M${x + margin} ${y + margin}h${run}v1h-${run}z`;
      x += run - 1;
    }
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size} ${size}" role="img" aria-label="${escapeAttribute(label)}" shape-rendering="crispEdges">` +
    `<path fill="#fff" d="M0 0h${size}v${size}H0z"/><path fill="#000" d="${dark}"/></svg>`
  );
}

function escapeAttribute(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const WILDCARDS = new Set(["", "::", "0.0.0.0"]);

/**
 * The host another machine reaches this server by: for a wildcard bind, the first non-internal
 * IPv4 address (`localhost` when there is none); else the address bound.
 */
export function lanHost(boundHost: string, interfaces?: NodeJS.Dict<NetworkInterfaceInfo[]>): string {
  if (!WILDCARDS.has(boundHost)) return boundHost.startsWith("::ffff:") && boundHost.includes(".") ? boundHost.slice(7) : boundHost;
  return interfaces ? firstLanAddress(interfaces) : currentLanAddress();
}

function firstLanAddress(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string {
  for (const infos of Object.values(interfaces)) {
    for (const info of infos ?? []) if (info.family === "IPv4" && !info.internal) return info.address;
  }
  return "localhost";
}

/**
 * `firstLanAddress` of this machine's interfaces, looked up at most once a second: listing them
 * costs tens of microseconds, and every listing page with `qr` on asks.
 */
function currentLanAddress(): string {
  const now = Date.now();
  if (now - lanLookedUp >= 1000) {
    lanAddress = firstLanAddress(networkInterfaces());
    lanLookedUp = now;
  }
  return lanAddress;
}

let lanAddress = "localhost";
let lanLookedUp = -Infinity;

/** `http://HOST:PORT/` for `lanHost()`: the URL the QR code holds. */
export function lanUrl(scheme: string, [host, port]: readonly [string, number], interfaces?: NodeJS.Dict<NetworkInterfaceInfo[]>): string {
  const lan = lanHost(host, interfaces);
  return `${scheme.toLowerCase()}://${isIP(lan) === 6 ? `[${lan}]` : lan}:${port}/`;
}

/** SVGs made, by URL (a listing is asked for again and again); at most `SVG_CACHE_SIZE`. */
const svgCache = new Map<string, string>();
const SVG_CACHE_SIZE = 256;

/** `qrSvg(url)`, remembered. */
export function cachedQrSvg(url: string): string {
  let svg = svgCache.get(url);
  if (svg === undefined) {
    svg = qrSvg(url);
    if (svgCache.size >= SVG_CACHE_SIZE) svgCache.delete(svgCache.keys().next().value!);
    svgCache.set(url, svg);
  }
  return svg;
}
