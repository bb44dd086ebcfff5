/** The examples in README.md and ../shared/PORTING.md must run exactly as printed. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { spawn, execFileSync } from "node:child_process";
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

/** Runs a compiled example, waits for port 8000, performs `request`, and stops it. */
async function runExample(script: string, request: string): Promise<{ reply: string; stderr: string }> {
  const child = spawn(process.execPath, [script], { cwd: workDir });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const reply = await new Promise<string>((resolve, reject) => {
          let text = "";
          const socket = connect(8000, "127.0.0.1", () => socket.write(request));
          socket.on("data", (chunk) => (text += chunk));
          socket.on("close", () => resolve(text));
          socket.setTimeout(5000, () => socket.destroy(new Error("no reply")));
          socket.on("error", reject);
        });
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
  const porting = join(root, "..", "shared", "PORTING.md");
  if (!existsSync(porting)) return t.skip("../shared/PORTING.md is not beside this checkout");
  if (!(await portIsFree(8000))) return t.skip("port 8000 is in use, and the example binds it as printed");
  const script = compile("porting", firstBlock(readFileSync(porting, "utf8"), "ts"));
  const { reply } = await runExample(script, "POST /e HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
  assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(reply.endsWith("Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"));
});
