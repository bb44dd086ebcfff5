/** `--open`: the URL a browser should open for the address served, and the platform's opener. */
import type { Address } from "../socketserver/address.js";
import { PROG } from "./options.js";

/** Wildcard addresses: a browser cannot go to them, but reaches the server at `localhost`. */
const WILDCARDS = new Set(["::", "0.0.0.0", ""]);

/** `http://localhost:8000/` for a wildcard address; else the address itself (IPv6 in brackets). */
export function browserUrl(scheme: string, [host, port]: Address): string {
  const urlHost = WILDCARDS.has(host) ? "localhost" : host.includes(":") ? `[${host}]` : host;
  return `${scheme.toLowerCase()}://${urlHost}:${port}/`;
}

/** The command that opens a URL in the default browser on this platform. */
export function openerCommand(url: string, platform: NodeJS.Platform = process.platform): [string, string[]] {
  if (platform === "darwin") return ["open", [url]];
  // `start` is a cmd builtin; its first quoted argument is a window title.
  if (platform === "win32") return ["cmd", ["/c", "start", '""', url.replaceAll("&", "^&")]];
  return ["xdg-open", [url]];
}

/**
 * Opens `url` in a browser, detached: the opener outlives nothing and holds no terminal. A
 * missing or failing opener is one line on stderr, once (a spawn error may be followed by an
 * exit); the server goes on serving.
 */
export function openBrowser(url: string, env: NodeJS.ProcessEnv = process.env): void {
  const [command, args] = openerCommand(url);
  let complained = false;
  const complain = (why: string) => {
    if (complained) return;
    complained = true;
    process.stderr.write(`${PROG}: could not open a browser (${why}); the URL is ${url}\n`);
  };
  let child;
  try {
    // Loaded here, for `--open` alone: node:child_process costs every other run 1.6 MB.
    child = process.getBuiltinModule("node:child_process").spawn(command, args, { detached: true, stdio: "ignore", windowsHide: true });
  } catch (error) {
    complain(`${command}: ${(error as Error).message}`);
    return;
  }
  child.on("error", (error: NodeJS.ErrnoException) => {
    complain(error.code === "ENOENT" ? `${command} not found` : `${command}: ${error.message}`);
  });
  child.on("exit", (code) => {
    if (code !== null && code !== 0) complain(`${command} exited with status ${code}${noDisplay(env)}`);
  });
  child.unref();
}

/**
 * Why an opener most often fails on Linux: no graphical session (an SSH login, a container).
 * `xdg-open` then looks for a text browser, finds none, and exits with status 3.
 */
function noDisplay(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string {
  if (platform !== "linux" || env["DISPLAY"] || env["WAYLAND_DISPLAY"]) return "";
  return ": no display, DISPLAY and WAYLAND_DISPLAY are not set";
}
