/**
 * Confinement to the served directory beyond `translate_path`: the command line's
 * `--no-follow-symlinks`, the class attribute `follow_symlinks = false` (Python follows every link).
 *
 * `translate_path` alone keeps every request inside `directory` lexically: `..`, encoded
 * separators and drive letters never climb out. Symbolic links inside the directory are followed
 * wherever they point, as Python documents. With `follow_symlinks = false` a path is also
 * resolved (`realpath`) and refused when it lands outside the directory's own real path.
 *
 * The check is not atomic: someone who can change the served tree could swap a link between the
 * check and the open. It guards against links that are there, not against a local attacker.
 */
import { realpath } from "node:fs/promises";
import { fsencode } from "../py/codecs.js";

const SLASH = 0x2f;

/**
 * True when `path` exists and its real path lies outside the real path of `directory`. A path
 * that does not resolve (missing, a NUL in it, a loop) is left to the caller's usual 404.
 */
export async function resolvesOutside(path: string, directory: string): Promise<boolean> {
  let real: Buffer;
  try {
    real = await realpath(fsencode(path), { encoding: "buffer" });
  } catch {
    return false;
  }
  let root: Buffer;
  try {
    root = await realpath(fsencode(directory), { encoding: "buffer" });
  } catch {
    return true; // the directory itself is gone: nothing can be inside it
  }
  return !isWithin(real, root);
}

/** Whether the real path `real` is `root` or below it. */
export function isWithin(real: Buffer, root: Buffer): boolean {
  if (root.length === 1 && root[0] === SLASH) return true;
  if (real.length === root.length) return real.equals(root);
  return real.length > root.length && real[root.length] === SLASH && real.subarray(0, root.length).equals(root);
}
