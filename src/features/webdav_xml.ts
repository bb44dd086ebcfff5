/**
 * WebDAV's XML: request bodies parsed safely, `207 Multi-Status` bodies written well-formed
 * (WebDAV: the command line's `--webdav`, class attribute `SimpleHTTPRequestHandler.webdav = true`;
 * the methods are in webdav.ts).
 *
 * Parsing is saxes' (a strict, namespace-aware XML 1.0 parser, the one jsdom uses): it never
 * fetches anything, and knows no entity but XML's five and character references. On top of it:
 * - a document type declaration (`<!DOCTYPE …>`) is refused outright, so no internal subset, no
 *   entity declarations, no expansion bomb (billion laughs), no external entity (XXE): `400`;
 * - the body is read with a byte limit (`XML_BODY_LIMIT`, 1 MiB: past it `413`, before anything
 *   is read when `Content-Length` says so), must be UTF-8, and may hold at most `MAX_ELEMENTS`
 *   elements nested at most `MAX_DEPTH` deep (`400` past either): the tree built is bounded by
 *   the bytes read.
 *
 * Writing: every name is written with an explicit prefix (`D:` for `DAV:`, `ns1:`… for others,
 * declared where used), a name in no namespace without one — no default namespace is ever
 * declared, so an unprefixed name always means "no namespace". Text and attribute values are
 * escaped, and characters XML 1.0 cannot hold at all (most C0 controls, lone surrogates) become
 * U+FFFD: a file name holding one still gives a well-formed document.
 */
import { createRequire } from "node:module";
import type { SaxesParser as Saxes, SaxesTagNS } from "saxes";

/** saxes, loaded by the first XML body parsed (`--webdav`), not by every server. */
let SaxesParser: typeof Saxes | null = null;
function saxesParser(): typeof Saxes {
  return (SaxesParser ??= (createRequire(import.meta.url)("saxes") as typeof import("saxes")).SaxesParser);
}

/** The largest XML request body read, in bytes. */
export const XML_BODY_LIMIT = 1024 * 1024;
/** The most elements in one request body. */
export const MAX_ELEMENTS = 10_000;
/** The deepest nesting of elements in one request body. */
export const MAX_DEPTH = 64;

export const DAV = "DAV:";

/** An attribute, by namespace and local name. */
export interface XmlAttribute {
  uri: string;
  local: string;
  value: string;
}

/** An element, by namespace (`""` for none) and local name, with its content in order. */
export interface XmlElement {
  uri: string;
  local: string;
  attributes: XmlAttribute[];
  children: XmlNode[];
}

export type XmlNode = XmlElement | string;

/** A body that is not XML we take: the message says why (for a `400`). */
export class XmlError extends Error {
  override name = "XmlError";
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses a request body into its root element; null for an empty body (which WebDAV reads as
 * the default: `allprop` for PROPFIND, a refresh for LOCK).
 * @throws XmlError for anything but a well-formed UTF-8 XML document within the limits
 */
export function parseXml(body: Buffer): XmlElement | null {
  if (body.length === 0) return null;
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new XmlError("the XML body is not UTF-8");
  }
  if (text.trim() === "") return null;
  const parser = new (saxesParser())({ xmlns: true, position: false });
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  let elements = 0;
  parser.on("doctype", () => {
    throw new XmlError("a document type declaration is not accepted");
  });
  parser.on("opentag", (tag: SaxesTagNS) => {
    if (++elements > MAX_ELEMENTS) throw new XmlError(`more than ${MAX_ELEMENTS} elements`);
    if (stack.length >= MAX_DEPTH) throw new XmlError(`elements nested more than ${MAX_DEPTH} deep`);
    const element: XmlElement = { uri: tag.uri, local: tag.local, attributes: attributesOf(tag), children: [] };
    if (stack.length > 0) stack[stack.length - 1]!.children.push(element);
    else root = element;
    stack.push(element);
  });
  parser.on("closetag", () => {
    stack.pop();
  });
  const addText = (data: string) => {
    const parent = stack[stack.length - 1];
    if (parent === undefined) return; // blanks around the root
    const last = parent.children[parent.children.length - 1];
    if (typeof last === "string") parent.children[parent.children.length - 1] = last + data;
    else parent.children.push(data);
  };
  parser.on("text", addText);
  parser.on("cdata", addText);
  parser.on("error", (error) => {
    throw new XmlError(error.message);
  });
  try {
    parser.write(text).close();
  } catch (error) {
    if (error instanceof XmlError) throw error;
    throw new XmlError((error as Error).message);
  }
  if (root === null) throw new XmlError("no root element");
  return root;
}

function attributesOf(tag: SaxesTagNS): XmlAttribute[] {
  const attributes: XmlAttribute[] = [];
  for (const attribute of Object.values(tag.attributes)) {
    // Namespace declarations are how names were spelled, not content: the writer declares its own.
    if (attribute.prefix === "xmlns" || (attribute.prefix === "" && attribute.local === "xmlns")) continue;
    attributes.push({ uri: attribute.uri, local: attribute.local, value: attribute.value });
  }
  return attributes;
}

/** Whether `node` is the element `{uri}local`. */
export function isElement(node: XmlNode | null | undefined, uri: string, local: string): node is XmlElement {
  return typeof node === "object" && node !== null && node.uri === uri && node.local === local;
}

/** The child elements of `element` (text between them dropped). */
export function childElements(element: XmlElement): XmlElement[] {
  return element.children.filter((child): child is XmlElement => typeof child !== "string");
}

/** The first child `{DAV:}local` of `element`, or undefined. */
export function davChild(element: XmlElement, local: string): XmlElement | undefined {
  return childElements(element).find((child) => isElement(child, DAV, local));
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Characters XML 1.0 cannot hold, even as references; and the ones text must escape. */
const NOT_XML = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g;
const TEXT_SPECIALS = /[&<>]/g;
const ATTRIBUTE_SPECIALS = /[&<>"\r\n\t]/g;
const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "\r": "&#13;",
  "\n": "&#10;",
  "\t": "&#9;",
};

/** `text` as XML character data: `&`, `<`, `>` escaped, what XML cannot hold as U+FFFD. */
export function escapeText(text: string): string {
  return wellFormed(text).replace(TEXT_SPECIALS, (c) => ESCAPES[c]!);
}

/** `text` as an attribute value (between double quotes). */
export function escapeAttribute(text: string): string {
  return wellFormed(text).replace(ATTRIBUTE_SPECIALS, (c) => ESCAPES[c]!);
}

/** `text` as XML can hold it: a lone surrogate (a name that is not UTF-8 holds U+DC80–U+DCFF) and a character XML forbids become U+FFFD. */
function wellFormed(text: string): string {
  return text.toWellFormed().replace(NOT_XML, "\ufffd");
}

/**
 * The prefixes of one document being written: `D` for `DAV:`, `ns1`, `ns2` … for the others,
 * each declared on the element that first needs it within its scope.
 */
export class Namespaces {
  private readonly prefixes = new Map<string, string>([[DAV, "D"]]);

  prefixOf(uri: string): string {
    let prefix = this.prefixes.get(uri);
    if (prefix === undefined) this.prefixes.set(uri, (prefix = `ns${this.prefixes.size}`));
    return prefix;
  }
}

/**
 * `<prefix:local` plus the declarations this element needs beyond `inScope` (URIs already
 * declared by its ancestors, which the children's scope then extends), for the name `{uri}local`.
 */
function openName(uri: string, local: string, names: Namespaces, inScope: Set<string>, declared: string[]): string {
  if (uri === "") return local;
  const prefix = names.prefixOf(uri);
  if (!inScope.has(uri)) {
    inScope.add(uri);
    declared.push(` xmlns:${prefix}="${escapeAttribute(uri)}"`);
  }
  return `${prefix}:${local}`;
}

/**
 * Writes `element` and its content. `inScope` holds the URIs declared around it (`DAV:` at the
 * root of a multistatus); it is not changed.
 */
export function writeElement(element: XmlElement, names: Namespaces, inScope: ReadonlySet<string>): string {
  const scope = new Set(inScope);
  const declared: string[] = [];
  const name = openName(element.uri, element.local, names, scope, declared);
  const attributes = element.attributes.map(
    (attribute) => ` ${openName(attribute.uri, attribute.local, names, scope, declared)}="${escapeAttribute(attribute.value)}"`,
  );
  const head = `<${name}${declared.join("")}${attributes.join("")}`;
  if (element.children.length === 0) return `${head}/>`;
  const content = element.children.map((child) => (typeof child === "string" ? escapeText(child) : writeElement(child, names, scope)));
  return `${head}>${content.join("")}</${name}>`;
}

/** An empty element `{uri}local`: how a property is named in a `propname` answer or a propstat. */
export function emptyElement(uri: string, local: string, names: Namespaces, inScope: ReadonlySet<string>): string {
  return writeElement({ uri, local, attributes: [], children: [] }, names, inScope);
}

/** The XML declaration every body we write starts with. */
export const XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n';
