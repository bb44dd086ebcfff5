/**
 * Debian's Chromium for the browser tests (browser.test.ts, share_browser.test.ts), driven by
 * playwright-core (never a browser download): installed when missing and we are root (as in CI,
 * where `.ci/run` also installs it), else the tests skip and say why.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { BrowserContext, Page } from "playwright-core";
import { startServer, stop, type Running } from "./cli_process.js";

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


/** One Chromium for a test file: started in `before`, a fresh page per test, closed in `after`. */
export class BrowserSession {
  browser: BrowserContext | null = null;
  /** Why there is no browser (the tests then skip with it); "" when there is one. */
  unavailable = "";

  /** Installs Chromium if need be and starts it on a new, empty profile under `root`. */
  async start(root: string): Promise<void> {
    this.unavailable = ensureChromium();
    if (this.unavailable) {
      process.stdout.write(`browser tests skipped: ${this.unavailable}\n`);
      return;
    }
    const { chromium } = await import("playwright-core");
    try {
      // A new, empty profile: nothing from another run, and --user-data-dir is playwright's to set.
      this.browser = await chromium.launchPersistentContext(mkdtempSync(join(root, "profile-")), {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        acceptDownloads: true,
      });
    } catch (error) {
      this.unavailable = `${CHROMIUM} does not start: ${(error as Error).message.split("\n")[0]}`;
      process.stdout.write(`browser tests skipped: ${this.unavailable}\n`);
    }
  }

  /** A fresh page, closed when the test ends; null (the test skipped) when there is no browser. */
  async newPage(t: TestContext): Promise<Page | null> {
    if (!this.browser) {
      t.skip(this.unavailable);
      return null;
    }
    const page = await this.browser.newPage();
    t.after(() => page.close());
    return page;
  }

  async close(): Promise<void> {
    await this.browser?.close();
  }
}

/** Serves `args` with the binary until the test ends. */
export async function serving(t: TestContext, args: readonly string[]): Promise<Running> {
  const server = await startServer(args);
  t.after(() => stop(server.proc));
  return server;
}
