/**
 * What the command line prints after Python's banner when our flags are given (src/cli/startup.ts):
 * the URLs for each kind of bind, the features line, the warnings.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { NetworkInterfaceInfo } from "node:os";
import { parseCommandLine, type CommandLine } from "../src/cli/options.js";
import { featureNames, networkAddresses, startupText, startupWarnings, urlsToOpen } from "../src/cli/startup.js";

const info = (address: string, family: "IPv4" | "IPv6", internal = false, scopeid = 0) =>
  ({ address, family, internal, scopeid, netmask: "", mac: "00:00:00:00:00:00", cidr: null }) as NetworkInterfaceInfo;

/** A machine with loopback, a LAN address of each family, a link-local IPv6 and a second IPv4. */
const INTERFACES: NodeJS.Dict<NetworkInterfaceInfo[]> = {
  lo: [info("127.0.0.1", "IPv4", true), info("::1", "IPv6", true)],
  eth0: [info("2001:db8::5", "IPv6"), info("192.168.1.20", "IPv4"), info("fe80::1", "IPv6", false, 2)],
  wlan0: [info("10.0.0.7", "IPv4")],
};

const command = (...args: string[]) => parseCommandLine(args, "/srv") as CommandLine;

describe("the URLs to open", () => {
  test("all interfaces (::): localhost, then each LAN address, IPv4 first, IPv6 bracketed, no link-local", () => {
    assert.deepEqual(urlsToOpen("HTTP", ["::", 8000], INTERFACES), [
      ["Local", "http://localhost:8000/"],
      ["Network", "http://192.168.1.20:8000/"],
      ["Network", "http://10.0.0.7:8000/"],
      ["Network", "http://[2001:db8::5]:8000/"],
    ]);
  });

  test("0.0.0.0 (IPv4 only): no IPv6 address", () => {
    assert.deepEqual(urlsToOpen("HTTPS", ["0.0.0.0", 8443], INTERFACES), [
      ["Local", "https://localhost:8443/"],
      ["Network", "https://192.168.1.20:8443/"],
      ["Network", "https://10.0.0.7:8443/"],
    ]);
  });

  test("a loopback bind: localhost only", () => {
    assert.deepEqual(urlsToOpen("HTTP", ["127.0.0.1", 8000], INTERFACES), [["Local", "http://localhost:8000/"]]);
    assert.deepEqual(urlsToOpen("HTTP", ["::1", 8000], INTERFACES), [["Local", "http://localhost:8000/"]]);
  });

  test("one address: that address", () => {
    assert.deepEqual(urlsToOpen("HTTP", ["192.168.1.20", 80], INTERFACES), [["Network", "http://192.168.1.20:80/"]]);
    assert.deepEqual(urlsToOpen("HTTP", ["2001:db8::5", 80], INTERFACES), [["Network", "http://[2001:db8::5]:80/"]]);
  });

  test("networkAddresses skips internal and link-local addresses", () => {
    assert.deepEqual(networkAddresses(true, INTERFACES), ["192.168.1.20", "10.0.0.7", "2001:db8::5"]);
  });
});

describe("the lines after the banner", () => {
  test("nothing without our flags: Python's banner stands alone", () => {
    assert.equal(startupText(command("-b", "::", "-p", "HTTP/1.1", "--cgi"), "HTTP", ["::", 8000], INTERFACES), "");
  });

  test("--dev: localhost, then the features", () => {
    assert.equal(
      startupText(command("--dev"), "HTTP", ["127.0.0.1", 8000], INTERFACES),
      "  Local:    http://localhost:8000/\n  Features: live reload, no-cache, CORS, rich listing, charset utf-8\n",
    );
  });

  test("any of our flags: the URLs, and the features when one is on", () => {
    assert.equal(
      startupText(command("--cors"), "HTTP", ["::", 8000], INTERFACES),
      "  Local:    http://localhost:8000/\n  Network:  http://192.168.1.20:8000/\n  Network:  http://10.0.0.7:8000/\n" +
        "  Network:  http://[2001:db8::5]:8000/\n  Features: CORS\n",
    );
  });

  test("featureNames, in a fixed order", () => {
    assert.deepEqual(
      featureNames(command("--workers", "2", "--spa", "--etag", "--cache", "60", "--no-dotfiles", "-H", "A: b", "--header-timeout", "0", "--compress")),
      ["cache max-age=60", "dotfiles hidden", "ETags", "compression", "SPA fallback to index.html", "1 extra header", "2 workers", "header timeout off"],
    );
  });
});

describe("warnings", () => {
  test("a --spa file that is not there", () => {
    assert.equal(
      startupWarnings(command("-d", "/nonexistent-dir", "--spa", "shell.html")),
      "simplehttp: warning: --spa: shell.html is not a file in /nonexistent-dir; missing paths will get 404\n",
    );
    assert.equal(startupWarnings(command("--cors")), "");
  });
});
