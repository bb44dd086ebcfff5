/**
 * The `posixpath` functions `http.server` uses, on strings, exactly as Python computes them
 * (Node's `path.posix` normalises where Python does not, e.g. in `join`).
 */

export const sep = "/";
export const curdir = ".";
export const pardir = "..";

/**
 * `posixpath.normpath`: collapses repeated slashes and `.` parts, resolves `..` lexically (never
 * above the root of an absolute path), and keeps exactly two leading slashes (POSIX allows them
 * a meaning of their own) but collapses three or more to one.
 */
export function normpath(path: string): string {
  if (path === "") return curdir;
  let initialSlashes = path.startsWith("/") ? 1 : 0;
  if (initialSlashes && path.startsWith("//") && !path.startsWith("///")) initialSlashes = 2;
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === curdir) continue;
    if (part !== pardir || (!initialSlashes && parts.length === 0) || (parts.length > 0 && parts[parts.length - 1] === pardir)) {
      parts.push(part);
    } else if (parts.length > 0) {
      parts.pop();
    }
  }
  const joined = "/".repeat(initialSlashes) + parts.join("/");
  return joined || curdir;
}

/** `posixpath.join(a, ...parts)`: an absolute part starts over; no normalisation. */
export function join(a: string, ...parts: string[]): string {
  let path = a;
  for (const part of parts) {
    if (part.startsWith("/")) path = part;
    else if (path === "" || path.endsWith("/")) path += part;
    else path += "/" + part;
  }
  return path;
}

/**
 * `posixpath.splitext`: `[root, ext]` where `ext` is the last dot and what follows it in the last
 * path component, unless that dot only leads the name (`.bashrc` has no extension). `a.` → `[a, .]`.
 */
export function splitext(path: string): [string, string] {
  const slash = path.lastIndexOf("/");
  const dot = path.lastIndexOf(".");
  if (dot > slash) {
    // Leading dots of the file name do not start an extension.
    let i = slash + 1;
    while (i < dot && path[i] === ".") i++;
    if (i < dot) return [path.slice(0, dot), path.slice(dot)];
  }
  return [path, ""];
}

/** `posixpath.dirname`: everything before the last slash, trailing slashes dropped (unless all slashes). */
export function dirname(path: string): string {
  const head = path.slice(0, path.lastIndexOf("/") + 1);
  if (head && head !== "/".repeat(head.length)) return head.replace(/\/+$/, "");
  return head;
}
