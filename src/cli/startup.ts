/**
 * What the command line says after Python's banner, only when a flag beyond Python's is given
 * (always with `--dev`): the URLs to open — `localhost` for a wildcard or loopback bind, and this
 * machine's network addresses when bound to every interface, so a phone on the same network can
 * be pointed at it — and one line naming the features on. Also the warnings a setting earns at
 * startup (a `--spa` file that does not exist). Without our flags nothing here prints: stdout is
 * Python's banner alone.
 */
import { statSync } from "node:fs";
import { networkInterfaces, type NetworkInterfaceInfo } from "node:os";
import { isIP } from "node:net";
import * as posixpath from "../py/posixpath.js";
import type { Address } from "../socketserver/address.js";
import { PROG, type CommandLine } from "./options.js";
import { DEFAULT_UPLOAD_MAX, describeSize } from "../features/limits.js";
import { loadedModule } from "./server.js";

/** Addresses that mean every interface: IPv6 (with IPv4 mapped in) and IPv4 alone. */
const ALL_IPV6 = new Set(["::", ""]);
const ALL_IPV4 = "0.0.0.0";

/** `http://HOST:PORT/`, an IPv6 host in brackets. */
export function urlFor(scheme: string, host: string, port: number): string {
  return `${scheme.toLowerCase()}://${isIP(host) === 6 ? `[${host}]` : host}:${port}/`;
}

function isLoopback(host: string): boolean {
  return host === "::1" || host.startsWith("127.") || host.startsWith("::ffff:127.");
}

/** A link-local IPv6 address needs a zone (`%eth0`) that browsers do not take in a URL. */
function isLinkLocal(info: NetworkInterfaceInfo): boolean {
  return info.family === "IPv6" && (info.scopeid !== 0 || /^fe[89ab]/i.test(info.address));
}

/**
 * This machine's addresses another machine could reach it by: each non-internal IPv4 address,
 * and, when IPv6 is served, each non-internal IPv6 address but the link-local ones.
 */
export function networkAddresses(withIPv6: boolean, interfaces = networkInterfaces()): string[] {
  const addresses: string[] = [];
  for (const infos of Object.values(interfaces)) {
    for (const info of infos ?? []) {
      if (info.internal || isLinkLocal(info)) continue;
      if (info.family === "IPv4" || withIPv6) addresses.push(info.address);
    }
  }
  // IPv4 first: the one people type.
  return addresses.sort((a, b) => isIP(a) - isIP(b));
}

/** `[label, url]` for each URL to open, for the address bound. */
export function urlsToOpen(scheme: string, [host, port]: Address, interfaces = networkInterfaces()): [label: string, url: string][] {
  const wildcard = ALL_IPV6.has(host) || host === ALL_IPV4;
  if (!wildcard && !isLoopback(host)) return [["Network", urlFor(scheme, host, port)]];
  const urls: [string, string][] = [["Local", urlFor(scheme, "localhost", port)]];
  if (wildcard) {
    for (const address of networkAddresses(host !== ALL_IPV4, interfaces)) urls.push(["Network", urlFor(scheme, address, port)]);
  }
  return urls;
}

/** The features on, in words, in a fixed order: `live reload, no-cache, CORS, rich listing`. */
export function featureNames(command: CommandLine): string[] {
  const names: string[] = [];
  const add = (on: unknown, name: string) => {
    if (on !== undefined && on !== null && on !== false) names.push(name);
  };
  add(command.watch, "live reload");
  add(command.cache_control, command.cache_control === "no-cache" ? "no-cache" : `cache ${command.cache_control}`);
  add(command.cors, "CORS");
  add(command.listing === "rich", "rich listing");
  add(command.charset, `charset ${command.charset}`);
  add(!command.dotfiles, "dotfiles hidden");
  add(command.etag, "ETags");
  add(command.compress, "compression");
  add(command.precompressed, "precompressed files");
  add(command.spa, `SPA fallback to ${command.spa}`);
  add(command.headers.length > 0, `${command.headers.length} extra header${command.headers.length === 1 ? "" : "s"}`);
  add(command.follow_symlinks === false, "symlinks kept inside");
  add(command.upload, uploadFeature(command));
  add(command.allow_delete || command.allow_mkdir || command.allow_move, manageFeature(command));
  add(command.webdav, command.webdav === "rw" ? "WebDAV" : "WebDAV (read-only)");
  add(command.auth, command.auth_scope === "uploads" ? "basic auth for uploads" : "basic auth");
  add(command.archive, "archives (zip, tar, tar.gz)");
  add(command.search, "search");
  add(command.readme, "README");
  add(command.qr, "QR code");
  add(command.quiet, "no request log");
  add(command.workers > 1, `${command.workers} workers`);
  add(command.header_timeout !== undefined, `header timeout ${seconds(command.header_timeout)}`);
  add(command.keepalive_timeout !== undefined, `keep-alive timeout ${seconds(command.keepalive_timeout)}`);
  add(command.write_timeout !== undefined, `write timeout ${seconds(command.write_timeout)}`);
  add(command.max_connections !== undefined, `at most ${command.max_connections} connections`);
  add(command.shutdown_grace !== undefined, `shutdown grace ${seconds(command.shutdown_grace)}`);
  return names;
}

/** `uploads (at most 1 GiB)`, `uploads (overwrite, mkdir, no size limit)`. */
function uploadFeature(command: CommandLine): string {
  const max = command.upload_max === undefined ? DEFAULT_UPLOAD_MAX : command.upload_max;
  const details = [
    ...(command.upload_overwrite ? ["overwrite"] : []),
    ...(command.upload_mkdir ? ["mkdir"] : []),
    max === null ? "no size limit" : `at most ${describeSize(max)}`,
  ];
  return `uploads (${details.join(", ")})`;
}

/** `delete, mkdir, move`: what --allow-* lets clients do. */
function manageFeature(command: CommandLine): string {
  return [
    ...(command.allow_delete ? ["delete"] : []),
    ...(command.allow_mkdir ? ["mkdir"] : []),
    ...(command.allow_move ? ["move"] : []),
  ].join(", ");
}

function seconds(value: number | null | undefined): string {
  return value === null || value === undefined ? "off" : `${value} s`;
}

/**
 * The lines after the banner: nothing without our flags; else the URLs, then the features.
 *
 * ```text
 *   Local:    http://localhost:8000/
 *   Network:  http://192.168.1.20:8000/
 *   Features: live reload, no-cache, CORS, rich listing, charset utf-8
 * ```
 */
export function startupText(command: CommandLine, scheme: string, address: Address, interfaces = networkInterfaces()): string {
  if (!command.additions) return "";
  const lines = urlsToOpen(scheme, address, interfaces).map(([label, url]) => `  ${`${label}:`.padEnd(10)}${url}`);
  const features = featureNames(command);
  if (features.length > 0) lines.push(`  ${"Features:".padEnd(10)}${features.join(", ")}`);
  const text = lines.map((line) => line + "\n").join("");
  return command.qr ? text + qrText(scheme, address, interfaces) : text;
}

/**
 * `--qr`: the network URL (the first non-internal IPv4 address, or the address bound) as a QR
 * code in half blocks, its URL under it.
 */
export function qrText(scheme: string, address: Address, interfaces = networkInterfaces()): string {
  const { lanUrl, qrTerminal } = loadedModule("qr"); // loaded for --qr by loadCommandModules
  const url = lanUrl(scheme, address, interfaces);
  return `\n${qrTerminal(url)}  ${url}\n`;
}

/** One line on stderr per setting that will not work as meant; the server starts all the same. */
export function startupWarnings(command: CommandLine): string {
  const warnings: string[] = [];
  if (command.spa !== null && !isFile(posixpath.join(command.directory, command.spa))) {
    warnings.push(`--spa: ${command.spa} is not a file in ${command.directory}; missing paths will get 404`);
  }
  warnings.push(...exposureWarnings(command));
  return warnings.map((warning) => `${PROG}: warning: ${warning}\n`).join("");
}

/** Whether `-b` names this machine alone (a loopback address or `localhost`). */
function bindsLoopback(bind: string | null): boolean {
  return bind !== null && (bind === "localhost" || isLoopback(bind));
}

/**
 * What `--upload` and `--auth` risk when other machines can connect: anyone may write files
 * without `--auth`; passwords and files cross the network readable without TLS.
 */
export function exposureWarnings(command: CommandLine): string[] {
  if (bindsLoopback(command.bind)) return [];
  const where = command.bind ? `on ${command.bind}` : "on every interface";
  const warnings: string[] = [];
  const writer = writingFlag(command);
  if (writer !== null && command.auth === null) {
    const what = command.upload ? "write files into" : "change the files in";
    warnings.push(`${writer} without --auth ${where}: anyone who can reach this machine can ${what} ${command.directory}`);
  }
  const sensitive = [command.auth !== null ? "--auth" : null, writer].filter(Boolean);
  if (sensitive.length > 0 && !command.tls_cert) {
    warnings.push(`${sensitive.join(" and ")} without TLS ${where}: passwords and files cross the network in clear text (use --tls-cert, or -b 127.0.0.1)`);
  }
  return warnings;
}

/** The flag that lets clients change files, as the warnings name it; null when none does. */
function writingFlag(command: CommandLine): string | null {
  if (command.webdav === "rw") return "--webdav rw";
  if (command.upload) return "--upload";
  if (command.allow_delete) return "--allow-delete";
  if (command.allow_move) return "--allow-move";
  if (command.allow_mkdir) return "--allow-mkdir";
  return null;
}

/**
 * With `--upload`: removes, in the background, the temporary files of uploads a stopped server left
 * (killed mid-upload), and says how many on stderr when there were any.
 */
export async function removeLeftoverUploads(command: CommandLine): Promise<void> {
  if (!command.upload) return;
  const { removeStaleUploads } = await import("../features/atomic_write.js");
  return removeStaleUploads(command.directory).then(
    (removed) => {
      if (removed.length === 0) return;
      const what = removed.length === 1 ? "1 unfinished upload" : `${removed.length} unfinished uploads`;
      process.stderr.write(`${PROG}: removed ${what} left by a server that stopped mid-upload\n`);
    },
    () => {},
  );
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
