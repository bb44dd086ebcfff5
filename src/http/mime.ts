/**
 * MIME types by file name: Python's `mimetypes.guess_file_type` algorithm (suffix map, encoding
 * suffixes, case-insensitive type lookup) over mime-db's table (the `mime-types` package), with
 * the rows where mime-db and Python 3.14's built-in table disagree settled one by one.
 * docs/MIME.md lists every such row and why.
 */
import { createRequire } from "node:module";
import { splitext } from "../py/posixpath.js";
import { remembered } from "../py/functools.js";

/**
 * mime-db's table of extensions (`mime-types`' `types`), loaded by the first lookup that needs it:
 * reading and indexing its 2,500 entries is the largest allocation of a server's start, and grew
 * the heap that a server idle after `listen` keeps (about 4 MB of RSS).
 */
let mimeTypes: Record<string, string> | null = null;
function mimeTable(): Record<string, string> {
  return (mimeTypes ??= (createRequire(import.meta.url)("mime-types") as typeof import("mime-types")).types);
}

/**
 * `mimetypes.suffix_map`: suffixes that stand for two (`.tgz` is `.tar.gz`). Matched
 * case-insensitively, then expanded again.
 */
export const suffix_map: Record<string, string> = {
  ".svgz": ".svg.gz",
  ".tgz": ".tar.gz",
  ".taz": ".tar.gz",
  ".tz": ".tar.gz",
  ".tbz2": ".tar.bz2",
  ".txz": ".tar.xz",
};

/**
 * `mimetypes.encodings_map`: compression suffixes, matched case-sensitively and stripped before
 * the type is looked up (`a.js.gz` → `text/javascript`, encoding `gzip`).
 */
export const encodings_map: Record<string, string> = {
  ".gz": "gzip",
  ".Z": "compress",
  ".bz2": "bzip2",
  ".xz": "xz",
  ".br": "br",
};

/**
 * Extensions where Python 3.14's built-in table and mime-db disagree (or mime-db has no entry)
 * and Python's type is kept: both are registered or both behave the same in browsers, so parity
 * with `python -m http.server` decides.
 */
const PYTHON_314: Record<string, string> = {
  ".wiz": "application/msword",
  ".a": "application/octet-stream",
  ".dll": "application/octet-stream",
  ".exe": "application/octet-stream",
  ".o": "application/octet-stream",
  ".obj": "application/octet-stream",
  ".m3u": "application/vnd.apple.mpegurl",
  ".xlb": "application/vnd.ms-excel",
  ".ppa": "application/vnd.ms-powerpoint",
  ".pwz": "application/vnd.ms-powerpoint",
  ".h5": "application/x-hdf5",
  ".mif": "application/x-mif",
  ".ram": "application/x-pn-realaudio",
  ".pyc": "application/x-python-code",
  ".pyo": "application/x-python-code",
  ".rpm": "application/x-rpm",
  ".roff": "application/x-troff",
  ".t": "application/x-troff",
  ".tr": "application/x-troff",
  ".man": "application/x-troff-man",
  ".me": "application/x-troff-me",
  ".ms": "application/x-troff-ms",
  ".rdf": "application/xml",
  ".wsdl": "application/xml",
  ".xpdl": "application/xml",
  ".yaml": "application/yaml",
  ".yml": "application/yaml",
  ".3gp": "audio/3gpp",
  ".3gpp": "audio/3gpp",
  ".3g2": "audio/3gpp2",
  ".3gpp2": "audio/3gpp2",
  ".loas": "audio/aac",
  ".ass": "audio/aac",
  ".flac": "audio/flac",
  ".mka": "audio/matroska",
  ".nws": "message/rfc822",
  ".bat": "text/plain",
  ".c": "text/plain",
  ".h": "text/plain",
  ".ksh": "text/plain",
  ".pl": "text/plain",
  ".srt": "text/plain",
  ".rtf": "text/rtf",
  ".py": "text/x-python",
  ".rst": "text/x-rst",
  ".sgm": "text/x-sgml",
  ".sgml": "text/x-sgml",
  ".mkv": "video/matroska",
  ".mk3d": "video/matroska-3d",
  ".mpa": "video/mpeg",
  ".avi": "video/vnd.avi",
};

/**
 * Our own choices, where neither table's answer is kept as it is (`null`: no type, so the server
 * sends `application/octet-stream`). Each row is argued in docs/MIME.md.
 */
const DECISIONS: Record<string, string | null> = {
  // Python: text/xml. RFC 7303 prefers application/xml; it is also what Python sends on hosts
  // with /etc/mime.types (Debian, Ubuntu, Fedora).
  ".xml": "application/xml",
  // Python: audio/vnd.wave, which browsers do not recognise as playable; audio/wav they do.
  ".wav": "audio/wav",
  // Python: audio/opus (the RTP payload type). RFC 7845 §9 names audio/ogg for .opus files.
  ".opus": "audio/ogg",
  // mime-db: video/mp2t. In a served directory .ts/.mts are mostly TypeScript sources; Python
  // has no type for them (octet-stream), which is right for either meaning.
  ".ts": null,
  ".mts": null,
  // mime-db: application/node (a download). A CommonJS module is JavaScript.
  ".cjs": "text/javascript",
};

/** Types added at run time with `add_type()`; they win over every table. */
const added = new Map<string, string>();

/**
 * `mimetypes.add_type(type, ext)`: from now on, files ending in `ext` (with its dot; matched
 * case-insensitively) are `type`.
 */
export function add_type(type: string, ext: string): void {
  added.set(ext.toLowerCase(), type);
  typesByExtension.clear();
}

/**
 * The type for an extension (`.html`, already lower-cased), or null if none is known. Every file
 * response asks, with the few extensions a site has: each answer is kept (at most
 * `TYPES_KEPT`, the table emptied when full, and by every `add_type`).
 */
export function typeForExtension(ext: string): string | null {
  return remembered(typesByExtension, ext, TYPES_KEPT, lookUpType);
}

const typesByExtension = new Map<string, string | null>();
const TYPES_KEPT = 256;

/** `typeForExtension` without the memo: the tables, in their order. */
function lookUpType(ext: string): string | null {
  const own = added.get(ext);
  if (own !== undefined) return own;
  if (Object.hasOwn(DECISIONS, ext)) return DECISIONS[ext]!;
  if (Object.hasOwn(PYTHON_314, ext)) return PYTHON_314[ext]!;
  if (ext.length < 2) return null;
  const name = ext.slice(1);
  const types = mimeTable();
  return Object.hasOwn(types, name) ? types[name]! : null;
}

/**
 * `mimetypes.guess_file_type(path)`: `[type, encoding]`, either of which may be null.
 * 1. while the extension (lower-cased) is in `suffix_map`, expand it (`.tgz` → `.tar.gz`);
 * 2. if the extension is in `encodings_map` (case-sensitive), that is the encoding, and the
 *    extension before it is the one typed (`a.tar.gz` → `.tar`);
 * 3. the type of the lower-cased extension.
 */
export function guess_file_type(path: string): [string | null, string | null] {
  let [base, ext] = splitext(path);
  while (Object.hasOwn(suffix_map, ext.toLowerCase())) {
    [base, ext] = splitext(base + suffix_map[ext.toLowerCase()]!);
  }
  let encoding: string | null = null;
  if (Object.hasOwn(encodings_map, ext)) {
    encoding = encodings_map[ext]!;
    [base, ext] = splitext(base);
  }
  return [typeForExtension(ext.toLowerCase()), encoding];
}
