/**
 * Debian's Chromium for the browser tests (browser.test.ts, share_browser.test.ts), driven by
 * playwright-core (never a browser download): installed when missing and we are root (as in CI,
 * where `.ci/run` also installs it), else the tests skip and say why.
 */
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";

export const CHROMIUM = "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** Installing Chromium with apt may take minutes on a fresh machine. */
export const INSTALL_TIMEOUT_MS = 15 * 60_000;


/** Installs Debian's chromium when it is missing and we may (root, apt-get); returns why not otherwise. */
export function ensureChromium(): string {
  if (existsSync(CHROMIUM)) return "";
  if (process.platform !== "linux" || process.getuid?.() !== 0) return `${CHROMIUM} is missing, and only root can install it`;
  const hasApt = spawnSync("sh", ["-c", "command -v apt-get"]).status === 0;
  if (!hasApt) return `${CHROMIUM} is missing, and there is no apt-get to install it`;
  process.stdout.write("installing Debian's chromium for the browser tests (apt-get)\n");
  const install = spawnSync("sh", ["-c", "apt-get update && apt-get install -y chromium"], {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    stdio: ["ignore", "ignore", "pipe"],
    timeout: INSTALL_TIMEOUT_MS,
  });
  if (existsSync(CHROMIUM)) return "";
  if (install.status === 0) return `apt-get installed chromium, but ${CHROMIUM} is still missing`;
  const why = install.error?.message || install.stderr?.toString().trim().split("\n").pop() || `status ${install.status}`;
  return `chromium could not be installed: ${why}`;
}

