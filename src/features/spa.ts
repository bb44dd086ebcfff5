/**
 * Single-page applications (the command line's `--spa FILE`, the class attribute `spa = "FILE"`):
 * a GET or HEAD of a missing path without an extension is answered with FILE.
 *
 * Not Python; off by default (`spa = null`). See docs/FEATURES.md.
 */
import * as posixpath from "../py/posixpath.js";

/**
 * The file to serve instead of a missing `path` (a translated path, see `translate_path`): `spa`
 * under `directory` when the last segment of `path` has no extension (`/app/settings`), else null
 * (`/missing.js` stays a 404).
 */
export function spaFallback(path: string, directory: string, spa: string): string | null {
  const [, ext] = posixpath.splitext(path.replace(/\/+$/, ""));
  return ext === "" ? posixpath.join(directory, spa) : null;
}
