/**
 * The QR code (`--qr`, features/qr.ts): what is printed, read back into a bitmap and decoded by
 * a real decoder (`zbarimg`, Debian's zbar-tools, installed when missing or skipped with the
 * reason), must hold the URL exactly; the network URL chosen as the banner's first `Network:` line.
 * (The SVG on the page is decoded from Chromium's screenshot in share_browser.test.ts.)
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QUIET_ZONE, lanHost, lanUrl, qrMatrix, qrSvg, qrTerminal } from "../src/features/qr.js";
import { killAll, startServer, stop } from "./cli_process.js";
import { ensureTools, zbarDecode as decode } from "./archive_fixture.js";

let dir = "";
let missing = "";

before(() => {
  dir = fs.mkdtempSync(join(tmpdir(), "simplehttp-qr-"));
  missing = ensureTools({ zbarimg: "zbar-tools" });
  if (missing) process.stdout.write(`QR decoding skipped: ${missing}\n`);
});
after(() => {
  killAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Half blocks back to modules: [top light, bottom light] per character. */
const LIGHT: Readonly<Record<string, [boolean, boolean]>> = { " ": [false, false], "\u2580": [true, false], "\u2584": [false, true], "\u2588": [true, true] };

/** The printed lines as rows of pixels (true: light), two rows per line. */
function halfBlocksToBitmap(lines: readonly string[]): boolean[][] {
  const rows: boolean[][] = [];
  for (const line of lines) {
    const chars = [...line];
    const top: boolean[] = [];
    const bottom: boolean[] = [];
    for (const char of chars) {
      const light = LIGHT[char];
      assert.ok(light, `only half blocks and spaces are printed, not ${JSON.stringify(char)}`);
      top.push(light[0]);
      bottom.push(light[1]);
    }
    rows.push(top, bottom);
  }
  return rows;
}

/** A plain PBM (P1: 1 is black) of the bitmap, each module `scale` pixels square. */
function pbm(bitmap: boolean[][], scale = 6): string {
  const width = bitmap[0]!.length * scale;
  const lines = [`P1`, `${width} ${bitmap.length * scale}`];
  for (const row of bitmap) {
    const pixels = row.flatMap((light) => new Array<string>(scale).fill(light ? "0" : "1")).join(" ");
    for (let i = 0; i < scale; i++) lines.push(pixels);
  }
  return lines.join("\n") + "\n";
}

function decodePrinted(text: string, name: string): string {
  const file = join(dir, name);
  fs.writeFileSync(file, pbm(halfBlocksToBitmap(text.split("\n").filter((line) => line !== ""))));
  return decode(file);
}

test("the half blocks hold the matrix with a quiet zone of 4 light modules, two rows a line", () => {
  const url = "http://192.168.1.20:8000/";
  const matrix = qrMatrix(url);
  const lines = qrTerminal(url).split("\n").filter(Boolean);
  const bitmap = halfBlocksToBitmap(lines);
  const size = matrix.length + 2 * QUIET_ZONE;
  assert.equal(lines.length, Math.ceil(size / 2));
  for (const line of lines) assert.equal([...line].length, size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const inside = y >= QUIET_ZONE && y < size - QUIET_ZONE && x >= QUIET_ZONE && x < size - QUIET_ZONE;
      const dark = inside && matrix[y - QUIET_ZONE]![x - QUIET_ZONE]!;
      assert.equal(bitmap[y]![x], !dark, `module ${x},${y}`);
    }
  }
});

test("zbarimg decodes the printed code to the URL, for IPv4, IPv6 and HTTPS URLs and a long path", (t) => {
  if (missing) return t.skip(missing);
  const urls = ["http://192.168.1.20:8000/", "https://[2001:db8::5]:8443/", "http://10.0.0.7:8000/photos/2026%20summer/%C3%A9t%C3%A9/"];
  urls.forEach((url, index) => assert.equal(decodePrinted(qrTerminal(url), `t${index}.pbm`), url));
});

test("the SVG is one white square and one path of dark modules, nothing the page's policy would block", () => {
  const svg = qrSvg("http://192.168.1.20:8000/");
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" viewBox="0 0 33 33" role="img" aria-label="http:\/\/192.168.1.20:8000\/" shape-rendering="crispEdges"><path fill="#fff" d="M0 0h33v33H0z"\/><path fill="#000" d="(M\d+ \d+h\d+v1h-\d+z)+"\/><\/svg>$/);
  assert.ok(!/style=|<script|on\w+=/.test(svg));
});

test("the network host: the first non-internal IPv4 address for a wildcard bind, else the address bound", () => {
  const interfaces = {
    lo: [{ address: "127.0.0.1", family: "IPv4", internal: true }],
    eth0: [{ address: "fe80::1", family: "IPv6", internal: false }, { address: "192.168.1.20", family: "IPv4", internal: false }],
    wlan0: [{ address: "10.0.0.7", family: "IPv4", internal: false }],
  } as unknown as NodeJS.Dict<import("node:os").NetworkInterfaceInfo[]>;
  assert.equal(lanHost("::", interfaces), "192.168.1.20");
  assert.equal(lanHost("0.0.0.0", interfaces), "192.168.1.20");
  assert.equal(lanHost("10.0.0.7", interfaces), "10.0.0.7");
  assert.equal(lanHost("::", { lo: interfaces["lo"] }), "localhost");
  assert.equal(lanUrl("HTTPS", ["2001:db8::5", 8443], interfaces), "https://[2001:db8::5]:8443/");
});

test("simplehttp --qr prints, after the banner and the features, a code zbarimg reads as the URL it prints under it", async (t) => {
  const server = await startServer(["--qr", "-b", "127.0.0.1", "0"], { cwd: dir });
  try {
    const url = `http://127.0.0.1:${server.port}/`;
    const stdout = server.proc.stdout();
    assert.ok(stdout.includes("  Features: QR code\n\n"), stdout);
    const code = stdout.slice(stdout.indexOf("\n\n") + 2, stdout.lastIndexOf(`  ${url}\n`));
    assert.ok(stdout.endsWith(`  ${url}\n`));
    assert.equal(code, qrTerminal(url));
    if (missing) return t.skip(missing);
    assert.equal(decodePrinted(code, "cli.pbm"), url);
  } finally {
    await stop(server.proc);
  }
});

test("bound to every interface, the code holds this machine's first network address (the banner's first Network line)", async (t) => {
  const server = await startServer(["--qr", "0"], { cwd: dir });
  try {
    const expected = lanUrl("http", ["::", server.port]);
    const stdout = server.proc.stdout();
    assert.ok(stdout.endsWith(`  ${expected}\n`), stdout);
    if (!expected.includes("localhost")) assert.ok(stdout.includes(`  Network:  ${expected}\n`));
    if (missing) return t.skip(missing);
    const code = stdout.slice(stdout.indexOf("\n\n") + 2, stdout.lastIndexOf(`  ${expected}\n`));
    assert.equal(decodePrinted(code, "wild.pbm"), expected);
  } finally {
    await stop(server.proc);
  }
});
