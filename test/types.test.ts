/**
 * The public surface as a TypeScript user sees it: the declarations in dist/ show Python's names
 * and hide our internals (`@internal`, `stripInternal`), and a program written against them
 * type-checks, with the internals out of reach.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const declarations = join(root, "dist", "src");

/** Every `.d.ts` under dist/src, with its text. */
function declarationFiles(dir = declarations): [string, string][] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".d.ts"))
    .map((entry) => {
      const path = join(entry.parentPath, entry.name);
      return [path.slice(declarations.length + 1), readFileSync(path, "utf8")];
    });
}

test("no member named with a leading underscore is declared but Python's _headers_buffer and _create_context", () => {
  const found: string[] = [];
  for (const [name, text] of declarationFiles()) {
    for (const match of text.matchAll(/^\s+(?:readonly\s+|static\s+|abstract\s+)*(_\w+)/gm)) found.push(`${name}: ${match[1]}`);
  }
  assert.deepEqual(found.sort(), ["server/base_handler.d.ts: _headers_buffer", "server/https_server.d.ts: _create_context"]);
});

test("what ThreadingMixIn adds is written out once, not once per threading class", () => {
  const declared = declarationFiles().flatMap(([name, text]) => (text.match(/process_request_thread\(/g) ?? []).map(() => name));
  assert.deepEqual(declared, ["socketserver/servers.d.ts"]);
});

test("a program type-checks against the declarations, and the internals are out of its reach", async () => {
  const dir = mkdtempSync(join(tmpdir(), "simplehttp-types-"));
  try {
    const entry = JSON.stringify(join(declarations, "index.js"));
    const sockets = JSON.stringify(join(declarations, "socketserver", "index.js"));
    writeFileSync(
      join(dir, "program.ts"),
      `import { ThreadingHTTPServer, SimpleHTTPRequestHandler, BaseHTTPRequestHandler, percentFormat } from ${entry};
import { ThreadingTCPServer, StreamRequestHandler } from ${sockets};
class Hello extends BaseHTTPRequestHandler {
  async do_GET(): Promise<void> {
    this.send_response(200);
    this._headers_buffer.push("X-Seen: yes\\r\\n");
    await this.end_headers();
    for await (const chunk of this.body({ limit: 1024 })) void chunk;
    this.log_message("%s", percentFormat("%d", [1]));
  }
}
const web = new ThreadingHTTPServer(["127.0.0.1", 0], Hello);
web.daemon_threads = true;
const files = new ThreadingHTTPServer(["127.0.0.1", 0], SimpleHTTPRequestHandler);
const echo = new ThreadingTCPServer(["127.0.0.1", 0], class extends StreamRequestHandler {});
echo.block_on_close = false;
// @ts-expect-error an internal of BaseServer
web._pending;
// @ts-expect-error an internal of BaseServer
files._serveLoop(0.5);
// @ts-expect-error an internal of ThreadingMixIn
echo._threads;
void [web.server_close(), files.server_close(), echo.server_close()];
`,
    );
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    const args = [tsc, "--ignoreConfig", "--noEmit", "--strict", "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext",
      "--types", "node", "--typeRoots", join(root, "node_modules", "@types"), join(dir, "program.ts")];
    const result = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(process.execPath, args, { encoding: "utf8", cwd: dir }, (error, stdout, stderr) => resolve({ code: error ? 1 : 0, out: stdout + stderr }));
    });
    assert.equal(result.code, 0, result.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
