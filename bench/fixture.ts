/**
 * The served tree, built in a fresh temp dir: files of 1 KiB, 64 KiB, 1 MiB and 100 MiB of fixed
 * incompressible bytes, a directory of 1000 entries, a 100 KiB JavaScript file (compressible, the
 * same every run) alone in `js/` and with its precompressed `.gz` and `.br` in `pre/`, and a TLS
 * certificate every TLS peer serves (ECDSA P-256 made with openssl; the test suite's RSA one
 * when openssl is missing).
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, mkdirSync, openSync, writeSync, closeSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants as zlib, gzipSync } from "node:zlib";

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** The files served, by URL path, with their sizes. */
export const FILES = {
  "/1k.bin": KiB,
  "/64k.bin": 64 * KiB,
  "/1m.bin": MiB,
  "/100m.bin": 100 * MiB,
} as const;

export type FilePath = keyof typeof FILES;

export const LISTING_PATH = "/dir1000/";
export const LISTING_ENTRIES = 1000;
export const MISSING_PATH = "/no-such-file.bin";
/** The JavaScript file compressed on the fly (nothing beside it). */
export const SCRIPT_PATH = "/js/app.js";
/** The same file with `app.js.gz` and `app.js.br` beside it (`--precompressed`, `gzip_static`). */
export const PRECOMPRESSED_PATH = "/pre/app.js";
export const SCRIPT_SIZE = 100 * KiB;

export interface Fixture {
  /** The temp dir: logs, configs and profiles go here too. */
  root: string;
  /** The served directory (`root/www`). */
  www: string;
  /** The TLS certificate and key every TLS peer serves. */
  tls: { cert: string; key: string; kind: string };
}

/** 1 MiB of xorshift bytes: deterministic, incompressible. */
export function noise(size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let x = 0x9e3779b9;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf.writeUInt32LE(x >>> 0, i);
  }
  return buf;
}

/** Writes `size` bytes made of repeated 1 MiB noise blocks (or its prefix). */
function writeFile(path: string, size: number, block: Buffer): void {
  const fd = openSync(path, "w");
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(block.length, size - done);
      done += writeSync(fd, block, 0, n);
    }
  } finally {
    closeSync(fd);
  }
}

function writeListing(dir: string): void {
  mkdirSync(dir);
  for (let i = 0; i < LISTING_ENTRIES; i++) {
    writeFileSync(join(dir, `entry-${String(i).padStart(4, "0")}.txt`), `entry ${i}\n`);
  }
}

const WORDS = (
  "value index state props render update element handler request response options config " +
  "result callback promise buffer length count target source event listener module export " +
  "default return const let function async await throw error message status header cache"
).split(" ");

/**
 * `size` bytes of JavaScript-like text: functions built from a small vocabulary by a fixed
 * pseudo-random sequence, so it compresses about as well as real bundles (3–5×), the same bytes
 * every run.
 */
export function scriptText(size: number): Buffer {
  let x = 0x2545f491;
  const next = (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  const word = () => WORDS[next(WORDS.length)]!;
  const parts: string[] = [];
  let length = 0;
  for (let i = 0; length < size; i++) {
    const second = word();
    const name = `${word()}${second[0]!.toUpperCase()}${second.slice(1)}${i}`;
    const body = `  const ${word()} = ${word()}.${word()}(${word()}, ${next(1000)});\n  if (${word()} > ${next(100)}) return ${word()}(${word()}.${word()});\n`;
    const text = `export function ${name}(${word()}, ${word()}) {\n${body}  return "${word()} ${word()}";\n}\n\n`;
    parts.push(text);
    length += text.length;
  }
  return Buffer.from(parts.join("").slice(0, size), "latin1");
}

function writeScripts(www: string): void {
  const script = scriptText(SCRIPT_SIZE);
  for (const dir of ["js", "pre"]) {
    mkdirSync(join(www, dir));
    writeFileSync(join(www, dir, "app.js"), script);
  }
  writeFileSync(join(www, "pre", "app.js.gz"), gzipSync(script, { level: 9 }));
  writeFileSync(join(www, "pre", "app.js.br"), brotliCompressSync(script, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } }));
}

/** An ECDSA P-256 certificate for localhost, or the test suite's RSA one without openssl. */
function makeCertificate(root: string): Fixture["tls"] {
  const cert = join(root, "cert.pem");
  const key = join(root, "key.pem");
  try {
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
      { stdio: "ignore" },
    );
    return { cert, key, kind: "ECDSA P-256, self-signed (openssl)" };
  } catch {
    const tests = fileURLToPath(new URL("../../test/fixtures/tls/", import.meta.url));
    copyFileSync(join(tests, "cert.pem"), cert);
    copyFileSync(join(tests, "key.pem"), key);
    return { cert, key, kind: "RSA 2048, the test suite's (openssl missing)" };
  }
}

/** Builds the fixture in a new temp dir. */
export function buildFixture(): Fixture {
  const root = mkdtempSync(join(tmpdir(), "simplehttp-bench-"));
  const www = join(root, "www");
  mkdirSync(www);
  const block = noise(MiB);
  for (const [path, size] of Object.entries(FILES)) writeFile(join(www, path), size, block);
  writeListing(join(www, LISTING_PATH));
  writeScripts(www);
  return { root, www, tls: makeCertificate(root) };
}

export function removeFixture(fixture: Fixture): void {
  rmSync(fixture.root, { recursive: true, force: true });
}
