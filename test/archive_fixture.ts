/**
 * Shared by the archive tests and bench/archive.ts: a tree to archive, an HTTP download that
 * streams, the real tools (`unzip`, `bsdtar`, `tar`) installed when missing (root, apt-get) or
 * skipped with the reason, and a byte-for-byte comparison of an extracted archive with its tree.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { join } from "node:path";

/** What `ensureTools` could not get, by tool; empty when all are there. */
export function ensureTools(tools: Record<string, string>): string {
  const missing = () => Object.keys(tools).filter((tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0);
  let absent = missing();
  if (absent.length === 0) return "";
  const packages = [...new Set(absent.map((tool) => tools[tool]!))];
  if (process.platform === "linux" && process.getuid?.() === 0 && spawnSync("sh", ["-c", "command -v apt-get"]).status === 0) {
    process.stdout.write(`installing ${packages.join(", ")} for the archive tests (apt-get)\n`);
    spawnSync("sh", ["-c", `apt-get update && apt-get install -y ${packages.join(" ")}`], {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      stdio: "ignore",
      timeout: 10 * 60_000,
    });
    absent = missing();
  }
  return absent.length === 0 ? "" : `${absent.join(", ")} missing (Debian: ${packages.join(", ")}), and could not be installed`;
}

/** The archive tools and their Debian packages. */
export const ARCHIVE_TOOLS = { unzip: "unzip", bsdtar: "libarchive-tools", tar: "tar" };

/** Runs a command; its status and output (UTF-8 locale, so names print as they are). */
export function runTool(command: string, args: readonly string[], cwd?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { cwd, env: { ...process.env, LC_ALL: "C.UTF-8" }, maxBuffer: 256 * 1024 * 1024 });
  return { status: result.status, stdout: result.stdout?.toString("utf8") ?? "", stderr: result.stderr?.toString("utf8") ?? "" };
}

export interface Download {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A GET over HTTP/1.1 (`agent: false`: a connection of its own), the whole body. */
export function download(port: number, path: string, headers: Record<string, string> = {}, method = "GET"): Promise<Download> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Every regular file under `dir` (following links), as relative path → content. */
export function treeFiles(dir: string, prefix = ""): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of fs.readdirSync(dir).sort()) {
    const full = join(dir, name);
    const stats = fs.statSync(full);
    if (stats.isDirectory()) for (const [path, data] of treeFiles(full, prefix + name + "/")) files.set(path, data);
    else if (stats.isFile()) files.set(prefix + name, fs.readFileSync(full));
  }
  return files;
}

/** Writes `files` (relative path → content) under `dir`. */
export function writeTree(dir: string, files: Record<string, string | Buffer>): void {
  for (const [path, content] of Object.entries(files)) {
    fs.mkdirSync(join(dir, path, ".."), { recursive: true });
    fs.writeFileSync(join(dir, path), content);
  }
}

/**
 * The general-purpose flags, names and Unix modes of a zip's central-directory records, read
 * from where its end record says the directory starts (no ZIP64 here: small archives).
 */
export function zipCentralRecords(zip: Buffer): { flags: number; name: string; externalMode: number }[] {
  const end = zip.lastIndexOf("PK\x05\x06", undefined, "latin1");
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const records: { flags: number; name: string; externalMode: number }[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`no central-directory record at ${at}`);
    const flags = zip.readUInt16LE(at + 8);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const externalMode = zip.readUInt32LE(at + 38) >>> 16;
    records.push({ flags, name: zip.subarray(at + 46, at + 46 + nameLength).toString("utf8"), externalMode });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return records;
}

/** What zbarimg (Debian's zbar-tools) reads in an image: the one code's text. */
export function zbarDecode(file: string): string {
  const result = runTool("zbarimg", ["--raw", "-q", file]);
  if (result.status !== 0) throw new Error(`zbarimg found no code in ${file} (status ${result.status}): ${result.stderr}`);
  return result.stdout.replace(/\n$/, "");
}
