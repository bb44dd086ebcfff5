/** The examples in README.md and docs/PORTING.md must run exactly as printed. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { sleep } from "./helpers.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const workDir = join(root, "dist", "readme-check");

/** The `index`-th fenced block of `language` in a Markdown file. */
function firstBlock(markdown: string, language: string, index = 0): string {
  const blocks = [...markdown.matchAll(new RegExp("```" + language + "\\n([\\s\\S]*?)```", "g"))];
  assert.ok(blocks[index], `${language} block number ${index + 1}`);
  return blocks[index]![1]!;
}

/** Compiles one TypeScript file as a user would (tsc, NodeNext, ES2022) and returns the .js path. */
function compile(name: string, source: string): string {
  mkdirSync(workDir, { recursive: true });
  const file = join(workDir, `${name}.ts`);
  writeFileSync(file, source);
  execFileSync(join(root, "node_modules", ".bin", "tsc"), [
    "--ignoreConfig", "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext", "--strict",
    "--skipLibCheck", "--types", "node", "--lib", "es2023,esnext.disposable", "--rootDir", workDir, "--outDir", workDir, file,
  ]);
  return join(workDir, `${name}.js`);
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen({ port, host: "0.0.0.0", exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** Sends raw bytes to port 8000 and collects the reply until the server closes (or `until` holds). */
function request(data: string | Buffer, until?: (text: string) => boolean): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let text = "";
    const socket = connect(8000, "127.0.0.1", () => socket.write(data));
    socket.on("data", (chunk) => {
      text += chunk.toString("latin1");
      if (until?.(text)) socket.destroy();
    });
    socket.on("close", () => resolve(text));
    socket.setTimeout(5000, () => socket.destroy(new Error("no reply")));
    socket.on("error", reject);
  });
}

/**
 * Runs a compiled example, waits until port 8000 answers `first`, runs `more` (further requests),
 * and stops it; resolves with the first reply and the example's stderr.
 */
async function runExample(script: string, first: string, more?: () => Promise<void>): Promise<{ reply: string; stderr: string }> {
  const child = spawn(process.execPath, [script], { cwd: workDir });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const reply = await request(first);
        await more?.();
        await sleep(100);
        return { reply, stderr };
      } catch (error) {
        if (attempt > 100 || child.exitCode !== null) throw new Error(`example did not serve: ${stderr}`, { cause: error });
        await sleep(100);
      }
    }
  } finally {
    // Wait for the exit: the next example binds the same port.
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
  }
}

test("the README's first handler compiles with tsc and serves as printed", async (t) => {
  if (!(await portIsFree(8000))) return t.skip("port 8000 is in use, and the example binds it as printed");
  const script = compile("readme", firstBlock(readFileSync(join(root, "README.md"), "utf8"), "ts"));
  const { reply, stderr } = await runExample(script, "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n");
  assert.match(reply, /^HTTP\/1\.0 200 OK\r\nServer: BaseHTTP\/0\.6 Node\.js\/[\d.]+\r\nDate: .+ GMT\r\n/);
  assert.ok(reply.endsWith("Content-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\nHello from /x\n"));
  assert.match(stderr, /^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4} \d\d:\d\d:\d\d\] "GET \/x HTTP\/1\.1" 200 -\n$/);
});

test("the README's SimpleHTTPRequestHandler port serves as printed", async (t) => {
  if (!(await portIsFree(8000))) return t.skip("port 8000 is in use, and the example binds it as printed");
  const script = compile("readme_simple", firstBlock(readFileSync(join(root, "README.md"), "utf8"), "ts", 1));
  mkdirSync(join(workDir, "public", "sub"), { recursive: true });
  writeFileSync(join(workDir, "public", "app.log"), "started\n");
  const log = await runExample(script, "GET /app.log HTTP/1.0\r\n\r\n");
  assert.match(log.reply, /^HTTP\/1\.0 200 OK\r\n/);
  assert.match(log.reply, /\r\nContent-type: text\/plain\r\nContent-Length: 8\r\nLast-Modified: [^\r]+\r\nCache-Control: no-store\r\n\r\nstarted\n$/);
  const listing = await runExample(script, "GET /sub/ HTTP/1.0\r\n\r\n");
  assert.match(listing.reply, /^HTTP\/1\.0 403 Listing forbidden\r\n/);
});

test("the PORTING.md echo handler compiles with tsc and echoes a POST body", async (t) => {
  const porting = join(root, "docs", "PORTING.md");
  if (!(await portIsFree(8000))) return t.skip("port 8000 is in use, and the example binds it as printed");
  const script = compile("porting", firstBlock(readFileSync(porting, "utf8"), "ts"));
  const { reply } = await runExample(script, "POST /e HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
  assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(reply.endsWith("Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"));
});

test("the README's new-handler example streams a body, parses an upload, and stops an event stream when the client leaves", async (t) => {
  if (!(await portIsFree(8000))) return t.skip("port 8000 is in use, and the example binds it as printed");
  const script = compile("readme_new", firstBlock(readFileSync(join(root, "README.md"), "utf8"), "ts", 2));
  const chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n6\r\none\ntw\r\n5\r\no\nthr\r\n3\r\nee\n\r\n0\r\n\r\n";
  let upload = "";
  let events = "";
  const { reply, stderr } = await runExample(script, chunked, async () => {
    const boundary = "XyZ";
    const form =
      `--${boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nHoliday\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="photo"; filename="beach.jpg"\r\nContent-Type: image/jpeg\r\n\r\n${"j".repeat(48213)}\r\n` +
      `--${boundary}--\r\n`;
    upload = await request(`POST /upload HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${form.length}\r\nConnection: close\r\n\r\n${form}`);
    events = await request("GET /events HTTP/1.1\r\nHost: x\r\n\r\n", (text) => text.includes("data: 2\n\n"));
  });
  assert.match(reply, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n3 lines\n$/);
  assert.match(upload, /\r\n\r\ntitle=Holiday\nphoto: beach\.jpg, 48213 bytes\n$/);
  assert.match(events, /^HTTP\/1\.1 200 OK\r\n[^]*Content-Type: text\/event-stream\r\n\r\ndata: 1\n\ndata: 2\n\n/);
  // The client left after two events: the handler stopped then (no exception, no third write).
  await sleep(200);
  assert.doesNotMatch(stderr, /Exception|Traceback/);
  assert.match(stderr, /"GET \/events HTTP\/1\.1" 200 -\n/);
});

test("the README's handler without a socket runs one request on BytesIO files", () => {
  const script = compile("readme_bytesio", firstBlock(readFileSync(join(root, "README.md"), "utf8"), "ts", 3));
  const result = spawnSync(process.execPath, [script], { cwd: workDir, encoding: "latin1" });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^HTTP\/1\.0 200 OK\r\nServer: BaseHTTP\/0\.6 Node\.js\/[\d.]+\r\nDate: [^\r]+ GMT\r\nContent-Length: 14\r\n\r\nHello from \/x\n$/);
  assert.match(result.stderr, /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/x HTTP\/1\.1" 200 -\n$/);
});
