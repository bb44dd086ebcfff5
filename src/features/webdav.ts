/**
 * WebDAV (RFC 4918): the served folder as a network drive for Finder, Windows, GNOME Files,
 * davfs2 and rclone. Turned on by the command line's `--webdav` and by the class attribute
 * `SimpleHTTPRequestHandler.webdav = true` (default `false`: the WebDAV methods get Python's
 * `501`, and `OPTIONS` Python's `501` too).
 *
 * - Read-only (`webdav` alone): `OPTIONS` (`DAV: 1`, `Allow`), `PROPFIND` with `Depth: 0` or `1`
 *   (`infinity` is `403` unless `webdav_depth_infinity`), every write method `403`.
 * - Writable, as far as the permissions go (`--webdav rw` turns them all on): `PUT` (`upload`:
 *   the upload code, atomic), `DELETE`, `MKCOL`, `MOVE` (`allow_delete`, `allow_mkdir`,
 *   `allow_move`: manage.ts), `COPY` (`upload`; a directory also `allow_mkdir`), `PROPPATCH`
 *   (`upload`: dead properties in memory, webdav_props.ts), and class 2 locking, `LOCK` and
 *   `UNLOCK` (any write permission: locks.ts), `If` honoured on every write. `OPTIONS` then says
 *   `DAV: 1, 2`: Finder mounts a share read-only unless the server offers locks.
 *
 * Every write goes through the checks uploads have (upload_target.ts: names, confinement to the
 * served tree through no link leading out, dotfiles, CGI directories, another site's `Origin`),
 * and `Destination` through the same. XML request bodies are parsed by webdav_xml.ts (no DTD, at
 * most 1 MiB).
 */
import { opendir, stat, lstat } from "node:fs/promises";
import type { Stats } from "node:fs";
import { fsdecode, fsPath } from "../py/codecs.js";
import * as posixpath from "../py/posixpath.js";
import { formatHttpDate } from "../http/dates.js";
import { RequestBodyError } from "../server/request_body.js";
import type { SimpleHTTPRequestHandler } from "../server/simple_handler.js";
import { fileETag } from "./conditional.js";
import { withCharset } from "./charset.js";
import { hasHiddenSegment } from "./dotfiles.js";
import { resolvesOutside } from "./symlinks.js";
import { AtomicFile, isUploadTemp } from "./atomic_write.js";
import { refuse, refusalFor } from "./upload.js";
import { inCgiDirectory, isRefusal, locateTarget, pathWords, refusal, refusedOrigin, type Refusal } from "./upload_target.js";
import {
  answerCreated,
  copyFile,
  copyTree,
  depthOf,
  followInside,
  planTransfer,
  quotedUrl,
  requestWords,
  resolveSource,
  removeTarget,
  BYTE_NAMES,
  type CopyFailure,
  type ManageHandler,
  type Source,
} from "./manage.js";
import {
  LockConflictError,
  TooManyLocksError,
  confirmLocks,
  evaluateIf,
  etagAt,
  lockSeconds,
  locks,
  parseIfHeader,
  pathOfWords,
  type Lock,
  type LockScope,
  MAX_OWNER_BYTES,
} from "./locks.js";
import { deadProperties, propertyKey, type DeadProperty } from "./webdav_props.js";
import {
  DAV,
  Namespaces,
  XML_BODY_LIMIT,
  XML_DECLARATION,
  XmlError,
  childElements,
  davChild,
  emptyElement,
  escapeText,
  isElement,
  parseXml,
  writeElement,
  type XmlElement,
} from "./webdav_xml.js";

/** What WebDAV needs of the handler. */
export type WebdavHandler = ManageHandler &
  Pick<
    SimpleHTTPRequestHandler,
    "upload" | "upload_overwrite" | "follow_symlinks" | "webdav_depth_infinity" | "guess_type" | "charset" | "log_error" | "client_address"
  >;

/** The most resources one `PROPFIND` with `Depth: infinity` answers for. */
export const MAX_PROPFIND_RESOURCES = 10_000;

/** The live properties, in the order `allprop` gives them. */
const LIVE_PROPERTIES = [
  "displayname",
  "getcontentlength",
  "getlastmodified",
  "creationdate",
  "getcontenttype",
  "getetag",
  "resourcetype",
  "supportedlock",
  "lockdiscovery",
] as const;
const LIVE = new Set<string>(LIVE_PROPERTIES);

// ---------------------------------------------------------------------------------------------
// Permissions

/** Whether any write is allowed: then locks are offered (`DAV: 1, 2`). */
export function writable(handler: Pick<WebdavHandler, "upload" | "allow_delete" | "allow_mkdir" | "allow_move">): boolean {
  return handler.upload || handler.allow_delete || handler.allow_mkdir || handler.allow_move;
}

/** The methods allowed, for `Allow`. */
function allowedMethods(handler: WebdavHandler): string {
  const methods = ["OPTIONS", "GET", "HEAD", "PROPFIND"];
  if (handler.upload) methods.push("PUT", "COPY", "PROPPATCH");
  if (handler.allow_delete) methods.push("DELETE");
  if (handler.allow_mkdir) methods.push("MKCOL");
  if (handler.allow_move) methods.push("MOVE");
  if (writable(handler)) methods.push("LOCK", "UNLOCK");
  return methods.join(", ");
}

const READ_ONLY = refusal(403, "This WebDAV share is read-only");

// ---------------------------------------------------------------------------------------------
// Answers

/** `207 Multi-Status` with `responses` (each a `<D:response>`). */
async function sendMultiStatus(handler: WebdavHandler, responses: readonly string[], logLine?: string): Promise<void> {
  const body = Buffer.from(`${XML_DECLARATION}<D:multistatus xmlns:D="DAV:">\n${responses.join("")}</D:multistatus>\n`, "utf8");
  await sendXml(handler, 207, body, [], logLine);
}

/** An XML answer; `logLine`, what it changed, is logged after the request's line. */
async function sendXml(handler: WebdavHandler, code: number, body: Buffer, headers: readonly [string, string][] = [], logLine?: string): Promise<void> {
  handler.send_response(code);
  if (logLine !== undefined) handler.log_message("%s", logLine);
  for (const [name, value] of headers) handler.send_header(name, value);
  handler.send_header("Content-Type", "application/xml; charset=utf-8");
  handler.send_header("Content-Length", String(body.length));
  await handler.end_headers();
  await handler.wfile.write(body);
}

/** `HTTP/1.1 200 OK` */
function statusLine(code: number, handler: WebdavHandler): string {
  const phrase = (handler as unknown as { responses: Record<number, [string, string]> }).responses[code]?.[0] ?? "";
  return `HTTP/1.1 ${code} ${phrase}`;
}

function hrefOf(urlPath: string): string {
  return `<D:href>${escapeText(quotedUrl(urlPath))}</D:href>`;
}

/** The request's XML body, parsed (null when empty); a refusal for a bad or too large one. */
async function readXml(handler: WebdavHandler): Promise<XmlElement | null | Refusal> {
  let body: Buffer;
  try {
    body = await handler.body_bytes({ limit: XML_BODY_LIMIT });
  } catch (error) {
    if (error instanceof RequestBodyError && error.status === 413) return refusal(413, `XML body larger than ${XML_BODY_LIMIT} bytes`);
    throw error;
  }
  try {
    return parseXml(body);
  } catch (error) {
    if (error instanceof XmlError) return refusal(400, `Bad XML body: ${error.message}`);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// OPTIONS

/** `OPTIONS` with WebDAV: what the server offers, `200`, no body. */
export async function answerOptions(handler: WebdavHandler): Promise<void> {
  handler.send_response(200);
  handler.send_header("DAV", writable(handler) ? "1, 2" : "1");
  handler.send_header("MS-Author-Via", "DAV");
  handler.send_header("Allow", allowedMethods(handler));
  handler.send_header("Content-Length", "0");
  await handler.end_headers();
}

// ---------------------------------------------------------------------------------------------
// PROPFIND

/** A resource as PROPFIND shows it. */
interface Resource {
  /** Its URL path, decoded, a directory's ending in `/`. */
  urlPath: string;
  path: string;
  /** Its stat, links followed (a broken link's own). */
  stats: Stats;
}

/** The readable resource the request names: hidden names, CGI directories and links out refused as serving refuses them. */
async function readableResource(handler: WebdavHandler): Promise<Resource | Refusal> {
  const words = requestWords(handler);
  if (isRefusal(words)) return words;
  if (words.some((word) => word === "." || word === "..")) return refusal(400, "Bad file name: a dot segment");
  if (!handler.dotfiles && hasHiddenSegment(words)) return refusal(404, "File not found");
  if (words.length > 0 && isUploadTemp(words[words.length - 1]!)) return refusal(404, "File not found");
  if (inCgiDirectory(handler, words, true)) return refusal(403, "CGI directories are not listed");
  const path = pathOfWords(handler.directory, words);
  const stats = await stat(fsPath(path)).catch(() => null);
  if (stats === null) return refusal(404, "File not found");
  if (!handler.follow_symlinks && (await resolvesOutside(path, handler.directory))) return refusal(404, "File not found");
  const urlPath = "/" + words.join("/") + (stats.isDirectory() && words.length > 0 ? "/" : "");
  return { urlPath, path, stats };
}

/** The members of a directory PROPFIND shows: as its listing would, hidden and temporary names left out. */
async function membersOf(handler: WebdavHandler, directory: Resource): Promise<Resource[]> {
  const members: Resource[] = [];
  // Names as bytes, decoded as Python lists them: one that is not UTF-8 keeps its bytes.
  const dir = await opendir(fsPath(directory.path), BYTE_NAMES).catch(() => null);
  if (dir === null) return members;
  for await (const entry of dir) {
    const name = fsdecode(entry.name as unknown as Buffer);
    if ((!handler.dotfiles && name.startsWith(".")) || isUploadTemp(name)) continue;
    const path = posixpath.join(directory.path, name);
    const stats = (await stat(fsPath(path)).catch(() => null)) ?? (await lstat(fsPath(path)).catch(() => null));
    if (stats === null) continue;
    if (!handler.follow_symlinks && entry.isSymbolicLink() && (await resolvesOutside(path, handler.directory))) continue;
    const words = directory.urlPath.split("/").filter((word) => word !== "");
    if (inCgiDirectory(handler, [...words, name], true) && !stats.isDirectory()) continue;
    members.push({ urlPath: `${directory.urlPath}${name}${stats.isDirectory() ? "/" : ""}`, path, stats });
  }
  members.sort((a, b) => (a.urlPath < b.urlPath ? -1 : a.urlPath > b.urlPath ? 1 : 0));
  return members;
}

/** What a PROPFIND asks for. */
type PropfindRequest = { kind: "allprop" } | { kind: "propname" } | { kind: "prop"; names: { uri: string; local: string }[] };

function parsePropfind(root: XmlElement | null): PropfindRequest | Refusal {
  if (root === null) return { kind: "allprop" };
  if (!isElement(root, DAV, "propfind")) return refusal(400, "Bad XML body: expected DAV:propfind");
  const [first] = childElements(root);
  if (isElement(first, DAV, "allprop")) return { kind: "allprop" };
  if (isElement(first, DAV, "propname")) return { kind: "propname" };
  if (isElement(first, DAV, "prop")) return { kind: "prop", names: childElements(first).map(({ uri, local }) => ({ uri, local })) };
  return refusal(400, "Bad XML body: DAV:propfind holds allprop, propname or prop");
}

/** `PROPFIND`: properties of the resource, and of its members with `Depth: 1`. */
export async function propfindRequest(handler: WebdavHandler): Promise<void> {
  const depth = depthOf(handler);
  if (depth === null) return refuse(handler, refusal(400, "Bad Depth header (0, 1 or infinity)"));
  const wanted = depth ?? "infinity";
  if (wanted === "infinity" && !handler.webdav_depth_infinity) {
    return refuse(handler, refusal(403, "PROPFIND with Depth: infinity is not answered here (use Depth: 0 or 1)"));
  }
  const body = await readXml(handler);
  if (isRefusal(body ?? {})) return refuse(handler, body as Refusal);
  const request = parsePropfind(body as XmlElement | null);
  if (isRefusal(request)) return refuse(handler, request);
  const resource = await readableResource(handler);
  if (isRefusal(resource)) return refuse(handler, resource);

  const resources = [resource];
  if (wanted !== 0 && resource.stats.isDirectory()) {
    const queue = [resource];
    while (queue.length > 0) {
      const members = await membersOf(handler, queue.shift()!);
      resources.push(...members);
      if (resources.length > MAX_PROPFIND_RESOURCES) {
        return refuse(handler, refusal(507, `More than ${MAX_PROPFIND_RESOURCES} resources: ask with Depth: 1`));
      }
      if (wanted === "infinity") queue.push(...members.filter((member) => member.stats.isDirectory()));
    }
  }
  const names = new Namespaces();
  await sendMultiStatus(handler, resources.map((item) => propfindResponse(handler, item, request, names)));
}

/** One resource's `<D:response>`. */
function propfindResponse(handler: WebdavHandler, resource: Resource, request: PropfindRequest, names: Namespaces): string {
  const scope = new Set([DAV]);
  const dead = deadProperties.of(resource.path);
  const byStatus = new Map<number, string[]>();
  const add = (code: number, xml: string) => {
    let list = byStatus.get(code);
    if (!list) byStatus.set(code, (list = []));
    list.push(xml);
  };
  if (request.kind === "propname") {
    for (const local of LIVE_PROPERTIES) if (liveValue(handler, resource, local) !== null) add(200, `<D:${local}/>`);
    for (const property of dead) add(200, emptyElement(property.uri, property.local, names, scope));
  } else if (request.kind === "allprop") {
    for (const local of LIVE_PROPERTIES) {
      const value = liveValue(handler, resource, local);
      if (value !== null) add(200, value);
    }
    for (const property of dead) add(200, property.xml);
  } else {
    for (const { uri, local } of request.names) {
      const value = uri === DAV && LIVE.has(local) ? liveValue(handler, resource, local) : deadProperties.get(resource.path, propertyKey(uri, local))?.xml ?? null;
      if (value !== null) add(200, value);
      else add(404, emptyElement(uri, local, names, scope));
    }
  }
  const propstats = [...byStatus].map(
    ([code, props]) => `<D:propstat><D:prop>${props.join("")}</D:prop><D:status>${statusLine(code, handler)}</D:status></D:propstat>`,
  );
  return `<D:response>${hrefOf(resource.urlPath)}${propstats.join("")}</D:response>\n`;
}

/** A live property's element, or null where it does not apply (a directory's length). */
function liveValue(handler: WebdavHandler, { urlPath, path, stats }: Resource, local: string): string | null {
  const isDirectory = stats.isDirectory();
  switch (local) {
    case "displayname": {
      const name = urlPath.replace(/\/$/, "");
      return `<D:displayname>${escapeText(name.slice(name.lastIndexOf("/") + 1))}</D:displayname>`;
    }
    case "getcontentlength":
      return isDirectory ? null : `<D:getcontentlength>${stats.size}</D:getcontentlength>`;
    case "getlastmodified":
      return `<D:getlastmodified>${formatHttpDate(stats.mtimeMs / 1000)}</D:getlastmodified>`;
    case "creationdate": {
      const born = stats.birthtimeMs > 0 ? stats.birthtimeMs : stats.ctimeMs;
      return `<D:creationdate>${new Date(born).toISOString().replace(/\.\d{3}Z$/, "Z")}</D:creationdate>`;
    }
    case "getcontenttype":
      return isDirectory ? null : `<D:getcontenttype>${escapeText(withCharset(handler.guess_type(path), handler.charset))}</D:getcontenttype>`;
    case "getetag":
      return isDirectory ? null : `<D:getetag>${escapeText(fileETag(stats))}</D:getetag>`;
    case "resourcetype":
      return isDirectory ? "<D:resourcetype><D:collection/></D:resourcetype>" : "<D:resourcetype/>";
    case "supportedlock":
      return writable(handler) ? SUPPORTED_LOCKS : "<D:supportedlock/>";
    case "lockdiscovery":
      return `<D:lockdiscovery>${locks.covering(path).map(activeLock).join("")}</D:lockdiscovery>`;
    default:
      return null;
  }
}

const SUPPORTED_LOCKS =
  "<D:supportedlock>" +
  ["exclusive", "shared"]
    .map((scope) => `<D:lockentry><D:lockscope><D:${scope}/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>`)
    .join("") +
  "</D:supportedlock>";

/** A lock as `lockdiscovery` shows it. */
function activeLock(lock: Lock): string {
  const left = Math.max(0, Math.ceil((lock.expires - Date.now()) / 1000));
  return (
    "<D:activelock>" +
    `<D:locktype><D:write/></D:locktype><D:lockscope><D:${lock.scope}/></D:lockscope>` +
    `<D:depth>${lock.depth === 0 ? "0" : "infinity"}</D:depth>` +
    (lock.owner ?? "") +
    `<D:timeout>Second-${left}</D:timeout>` +
    `<D:locktoken><D:href>${escapeText(lock.token)}</D:href></D:locktoken>` +
    `<D:lockroot>${hrefOf(lock.urlPath)}</D:lockroot>` +
    "</D:activelock>"
  );
}

// ---------------------------------------------------------------------------------------------
// PROPPATCH

type PatchChange = { set: XmlElement } | { remove: XmlElement };

function patchChanges(root: XmlElement | null): PatchChange[] | Refusal {
  if (root === null || !isElement(root, DAV, "propertyupdate")) return refusal(400, "Bad XML body: expected DAV:propertyupdate");
  const changes: PatchChange[] = [];
  for (const instruction of childElements(root)) {
    const set = isElement(instruction, DAV, "set");
    if (!set && !isElement(instruction, DAV, "remove")) continue;
    const prop = davChild(instruction, "prop");
    if (prop === undefined) return refusal(400, "Bad XML body: DAV:set and DAV:remove hold DAV:prop");
    for (const property of childElements(prop)) changes.push(set ? { set: property } : { remove: property });
  }
  if (changes.length === 0) return refusal(400, "Bad XML body: no property to set or remove");
  return changes;
}

/** `PROPPATCH`: dead properties set and removed, all or none; the live ones are protected (`403`). */
export async function proppatchRequest(handler: WebdavHandler): Promise<void> {
  if (!handler.upload) return refuse(handler, READ_ONLY);
  const foreign = refusedOrigin(handler.headers);
  if (foreign) return refuse(handler, foreign);
  const words = requestWords(handler);
  if (isRefusal(words)) return refuse(handler, words);
  const source = words.length === 0 ? await rootResource(handler) : await resolveSource(handler, words);
  if (isRefusal(source)) return refuse(handler, source);
  if (!(await confirmLocks(handler, source.path, [{ path: source.path }]))) return;
  const body = await readXml(handler);
  if (body !== null && isRefusal(body)) return refuse(handler, body);
  const changes = patchChanges(body);
  if (isRefusal(changes)) return refuse(handler, changes);

  const names = new Namespaces();
  const scope = new Set([DAV]);
  const protectedOnes = changes.filter((change) => {
    const element = "set" in change ? change.set : change.remove;
    return element.uri === DAV && LIVE.has(element.local);
  });
  const stored = changes.map((change) =>
    "set" in change
      ? { set: { uri: change.set.uri, local: change.set.local, xml: writeElement(change.set, new Namespaces(), scope) } as DeadProperty }
      : { remove: propertyKey(change.remove.uri, change.remove.local) },
  );
  const failedAt = protectedOnes.length > 0 ? -1 : deadProperties.apply(source.path, stored);
  const statuses = changes.map((change, index) => {
    if (protectedOnes.includes(change)) return 403;
    if (failedAt === null) return 200;
    return index === failedAt ? 507 : 424;
  });
  const byStatus = new Map<number, string[]>();
  changes.forEach((change, index) => {
    const element = "set" in change ? change.set : change.remove;
    const list = byStatus.get(statuses[index]!) ?? [];
    list.push(emptyElement(element.uri, element.local, names, scope));
    byStatus.set(statuses[index]!, list);
  });
  const propstats = [...byStatus].map(
    ([code, props]) => `<D:propstat><D:prop>${props.join("")}</D:prop><D:status>${statusLine(code, handler)}</D:status></D:propstat>`,
  );
  const href = source.urlPath + (source.stats.isDirectory() ? "/" : "") || "/";
  const logLine = failedAt === null ? `changed properties of ${href}` : undefined;
  await sendMultiStatus(handler, [`<D:response>${hrefOf(href)}${propstats.join("")}</D:response>\n`], logLine);
}

/** The served directory as a resource (a PROPPATCH or LOCK may name it; nothing may delete or move it). */
async function rootResource(handler: WebdavHandler): Promise<Source | Refusal> {
  const path = pathOfWords(handler.directory, []);
  const stats = await lstat(fsPath(path)).catch(() => null);
  if (stats === null) return refusal(404, "File not found");
  return { urlPath: "", path, stats };
}

// ---------------------------------------------------------------------------------------------
// COPY

/** `COPY /a` with `Destination: /b`: a file, or a directory (with `Depth: infinity`, all it holds). */
export async function copyRequest(handler: WebdavHandler): Promise<void> {
  if (!handler.upload) return refuse(handler, READ_ONLY);
  const depth = depthOf(handler);
  if (depth === null || depth === 1) return refuse(handler, refusal(400, "Bad Depth header (COPY takes 0 or infinity)"));
  const transfer = await planTransfer(handler, true);
  if (transfer === null) return;
  if (isRefusal(transfer)) return refuse(handler, transfer);
  const { source, target, replacing } = transfer;
  let stats = source.stats;
  if (stats.isSymbolicLink()) {
    const followed = await followInside(source.path, handler.directory);
    if (followed === null) return refuse(handler, refusal(403, "Outside the served directory"));
    stats = followed;
  }
  if (stats.isDirectory() && !handler.allow_mkdir) return refuse(handler, refusal(403, "Copying a directory needs --allow-mkdir"));
  let failures: CopyFailure[];
  try {
    if (replacing && stats.isFile() && target.existing!.isFile()) {
      await copyFile(source.path, target.path, true);
      failures = [];
    } else {
      if (replacing) await removeTarget(target);
      const keep = (name: string) => handler.dotfiles || !name.startsWith(".");
      failures = await copyTree(source.path, stats, target.path, depth === 0 ? 0 : "infinity", keep, source.urlPath, target.urlPath);
    }
  } catch (error) {
    const answer = refusalFor(error, null);
    if (answer === null) throw error;
    return refuse(handler, answer.code === 409 && answer.message.includes("exists") ? refusal(412, "The destination appeared meanwhile") : answer);
  }
  deadProperties.copy(source.path, target.path, depth !== 0);
  const slash = stats.isDirectory() ? "/" : "";
  const line = `copied ${source.urlPath + slash} to ${target.urlPath + slash}`;
  if (failures.length > 0) {
    return sendMultiStatus(
      handler,
      failures.map(({ urlPath, code }) => `<D:response>${hrefOf(urlPath)}<D:status>${statusLine(code, handler)}</D:status></D:response>\n`),
      `${line}, but for ${failures.length} member${failures.length === 1 ? "" : "s"}`,
    );
  }
  if (replacing) {
    handler.send_response(204);
    handler.log_message("%s", line);
    await handler.end_headers();
    return;
  }
  await answerCreated(handler, target.urlPath + slash, line);
}

// ---------------------------------------------------------------------------------------------
// LOCK and UNLOCK

/** What a `lockinfo` body asks for. */
interface LockRequest {
  scope: LockScope;
  owner: string | null;
}

function parseLockinfo(root: XmlElement): LockRequest | Refusal {
  if (!isElement(root, DAV, "lockinfo")) return refusal(400, "Bad XML body: expected DAV:lockinfo");
  const scope = davChild(root, "lockscope");
  const type = davChild(root, "locktype");
  if (scope === undefined || type === undefined || davChild(type, "write") === undefined) {
    return refusal(400, "Bad XML body: a write lock needs DAV:lockscope and DAV:locktype");
  }
  const kind = davChild(scope, "exclusive") ? "exclusive" : davChild(scope, "shared") ? "shared" : null;
  if (kind === null) return refusal(400, "Bad XML body: DAV:lockscope is exclusive or shared");
  const ownerElement = davChild(root, "owner");
  const owner = ownerElement ? writeElement(ownerElement, new Namespaces(), new Set([DAV])) : null;
  if (owner !== null && Buffer.byteLength(owner) > MAX_OWNER_BYTES) return refusal(400, `DAV:owner longer than ${MAX_OWNER_BYTES} bytes`);
  return { scope: kind, owner };
}

/** `LOCK`: a new lock (on an unmapped name, an empty file is made for it: `201`), or a refresh. */
export async function lockRequest(handler: WebdavHandler): Promise<void> {
  if (!writable(handler)) return refuse(handler, READ_ONLY);
  const foreign = refusedOrigin(handler.headers);
  if (foreign) return refuse(handler, foreign);
  const depth = depthOf(handler);
  if (depth === null || depth === 1) return refuse(handler, refusal(400, "Bad Depth header (LOCK takes 0 or infinity)"));
  const words = requestWords(handler);
  if (isRefusal(words)) return refuse(handler, words);
  const body = await readXml(handler);
  if (body !== null && isRefusal(body)) return refuse(handler, body);
  const seconds = lockSeconds(handler.headers.get("Timeout"));
  if (body === null) return refreshLock(handler, words, seconds);
  const wanted = parseLockinfo(body);
  if (isRefusal(wanted)) return refuse(handler, wanted);

  let resource = words.length === 0 ? await rootResource(handler) : await resolveSource(handler, words);
  let created = false;
  if (isRefusal(resource) && resource.code === 404 && words.length > 0) {
    const made = await createEmpty(handler, words);
    if (made === null) return;
    if (isRefusal(made)) return refuse(handler, made);
    resource = made;
    created = true;
  } else if (isRefusal(resource)) {
    return refuse(handler, resource);
  } else if (!(await confirmLocks(handler, resource.path, []))) {
    return;
  }
  const isDirectory = resource.stats.isDirectory();
  let lock: Lock;
  try {
    lock = locks.create({
      path: resource.path,
      urlPath: resource.urlPath + (isDirectory ? "/" : "") || "/",
      depth: depth === 0 ? 0 : "infinity",
      scope: wanted.scope,
      owner: wanted.owner,
      seconds,
    });
  } catch (error) {
    if (error instanceof LockConflictError) return refuse(handler, refusal(423, `Locked: ${error.held.urlPath} is locked`));
    if (error instanceof TooManyLocksError) return refuse(handler, refusal(503, `Too many locks: ${error.message}`));
    throw error;
  }
  const line = `locked ${lock.urlPath} (${lock.scope}, depth ${lock.depth})${created ? ", an empty file made for it" : ""}`;
  await sendLock(handler, created ? 201 : 200, lock, true, line);
}

async function sendLock(handler: WebdavHandler, code: number, lock: Lock, withToken: boolean, logLine?: string): Promise<void> {
  const body = Buffer.from(`${XML_DECLARATION}<D:prop xmlns:D="DAV:"><D:lockdiscovery>${activeLock(lock)}</D:lockdiscovery></D:prop>\n`, "utf8");
  await sendXml(handler, code, body, withToken ? [["Lock-Token", `<${lock.token}>`]] : [], logLine);
}

/** A `LOCK` without a body: the lock the `If` header names, given a new timeout. */
async function refreshLock(handler: WebdavHandler, words: readonly string[], seconds: number): Promise<void> {
  const header = handler.headers.get("If");
  if (header === undefined) return refuse(handler, refusal(400, "A LOCK without a body refreshes the lock an If header names"));
  const path = pathOfWords(handler.directory, words);
  let lists;
  try {
    lists = parseIfHeader(header);
  } catch (error) {
    return refuse(handler, refusal(400, `Bad If header: ${(error as Error).message}`));
  }
  const { holds, tokens } = evaluateIf(lists, { pathOf: (resource) => (resource === null ? path : null), etagOf: etagAt, table: locks });
  const lock = holds ? locks.covering(path).find((candidate) => tokens.has(candidate.token)) : undefined;
  if (lock === undefined) return refuse(handler, refusal(412, "No lock of this resource is named in the If header"));
  locks.refresh(lock, seconds);
  await sendLock(handler, 200, lock, false);
}

/** The empty file a `LOCK` of an unmapped name makes (RFC 4918 §7.3), through the upload checks. */
async function createEmpty(handler: WebdavHandler, words: readonly string[]) {
  if (!handler.upload) return refusal(404, "File not found");
  const target = await locateTarget(handler, words.slice(0, -1), words[words.length - 1]!, false);
  if (isRefusal(target)) return target;
  if (!(await confirmLocks(handler, target.path, [{ path: target.path, membership: true }]))) return null;
  const file = await AtomicFile.create(target.directory);
  try {
    await file.commit(target.path, { overwrite: false });
  } catch (error) {
    return refusalFor(error, null) ?? refusal(409, "A file of that name exists");
  }
  return { urlPath: target.urlPath, path: target.path, stats: await lstat(fsPath(target.path)) };
}

/** `UNLOCK` with `Lock-Token: <token>`: `204`, or `409` when that lock does not cover this resource. */
export async function unlockRequest(handler: WebdavHandler): Promise<void> {
  if (!writable(handler)) return refuse(handler, READ_ONLY);
  const header = handler.headers.get("Lock-Token")?.trim() ?? "";
  const token = /^<([^<>]+)>$/.exec(header)?.[1];
  if (token === undefined) return refuse(handler, refusal(400, "UNLOCK needs a Lock-Token header (<token>)"));
  const words = requestWords(handler);
  if (isRefusal(words)) return refuse(handler, words);
  const path = pathOfWords(handler.directory, words);
  const lock = locks.get(token);
  if (lock === undefined || !locks.covering(path).includes(lock)) {
    return refuse(handler, refusal(409, "That lock token does not lock this resource"));
  }
  locks.remove(token);
  handler.send_response(204);
  handler.log_message("unlocked %s", lock.urlPath);
  await handler.end_headers();
}

// ---------------------------------------------------------------------------------------------
// PUT under locks

/** The lock checks a `PUT` gets before the upload code takes it (also before `100 Continue`). */
async function putAllowed(handler: WebdavHandler): Promise<boolean> {
  // Nothing to check without a lock or an If header: no lstat for the common PUT.
  if (locks.size === 0 && !handler.headers.has("If")) return true;
  const words = pathWords(handler.path);
  if (isRefusal(words)) return true; // the upload code answers it
  const path = pathOfWords(handler.directory, words);
  const exists = (await lstat(fsPath(path)).catch(() => null)) !== null;
  return confirmLocks(handler, path, [{ path, membership: !exists }]);
}

/**
 * The lock checks a form upload (`POST /dir/`) gets before the upload code takes it: the files it
 * holds are named only in its body, so the whole folder counts as changed.
 */
async function postAllowed(handler: WebdavHandler): Promise<boolean> {
  const words = pathWords(handler.path);
  if (isRefusal(words)) return true; // the upload code answers it
  const path = pathOfWords(handler.directory, words);
  return confirmLocks(handler, path, [{ path, tree: true, membership: true }]);
}

/** The uploads of upload.ts, and the lock checks each gets first. */
const UPLOAD_CHECKS = { PUT: putAllowed, POST: postAllowed } as const;

/** Before `100 Continue`: an upload the locks would refuse is answered without its body. */
export async function precheckWebdav(handler: WebdavHandler): Promise<boolean> {
  const allowed = handler.upload ? UPLOAD_CHECKS[handler.command as keyof typeof UPLOAD_CHECKS] : undefined;
  return allowed === undefined || allowed(handler);
}

// ---------------------------------------------------------------------------------------------
// The hook

const READ_METHODS = [["PROPFIND", propfindRequest]] as const;
const WRITE_METHODS = [
  ["PROPPATCH", proppatchRequest],
  ["COPY", copyRequest],
  ["LOCK", lockRequest],
  ["UNLOCK", unlockRequest],
] as const;
/** The methods manage.ts and upload.ts answer when allowed; with WebDAV, `403` when not. */
const REFUSED_UNLESS_ALLOWED = ["PUT", "DELETE", "MKCOL", "MOVE"] as const;

/**
 * Gives a handler the WebDAV methods (as its own properties, where its class has none of that
 * name): `PROPFIND`, and `PROPPATCH`, `COPY`, `LOCK`, `UNLOCK`, each refusing with `403` what the
 * permissions do not allow, as do `PUT`, `DELETE`, `MKCOL` and `MOVE` when not given by upload.ts
 * or manage.ts; the `PUT` and `POST` of upload.ts are checked against the locks first.
 */
export function addWebdavMethods(handler: WebdavHandler): void {
  const methods = handler as unknown as Record<string, unknown>;
  for (const [command, run] of [...READ_METHODS, ...WRITE_METHODS]) {
    if (typeof methods[`do_${command}`] !== "function") methods[`do_${command}`] = () => run(handler);
  }
  for (const command of REFUSED_UNLESS_ALLOWED) {
    if (typeof methods[`do_${command}`] !== "function") methods[`do_${command}`] = () => refuse(handler, READ_ONLY);
  }
  if (!handler.upload) return;
  for (const [command, allowed] of Object.entries(UPLOAD_CHECKS)) {
    const upload = methods[`do_${command}`];
    if (!Object.hasOwn(methods, `do_${command}`) || typeof upload !== "function") continue;
    methods[`do_${command}`] = async () => {
      if (await allowed(handler)) await upload.call(handler);
    };
  }
}
