/**
 * Faults cost one connection at most and one log entry, and the server goes on serving: an
 * exception in a handler, a file removed or a directory made unreadable under a request, a client
 * that resets or closes mid-response, a CGI script that crashes or hangs.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket } from "node:net";
import { BaseHTTPRequestHandler } from "../src/server/base_handler.js";
import { SimpleHTTPRequestHandler, type FileLike } from "../src/server/simple_handler.js";
import { CGIHTTPRequestHandler } from "../src/server/cgi_handler.js";
import { ThreadingHTTPServer } from "../src/server/http_server.js";
import { percentFormat } from "../src/py/format.js";
import { captureStderr, exchange, serve, splitReply, type Running } from "./helpers.js";
import { collect, openFds, openSocket, waitFor } from "./hostile.js";

const SIZE = 8 * 1024 * 1024;
let root = "";
let site: Running;
const logged: string[] = [];

/** Serves `root` over HTTP/1.1; its log lines go to `logged`. */
class Files extends SimpleHTTPRequestHandler {
  override protocol_version = "HTTP/1.1";
  constructor(...args: ConstructorParameters<typeof SimpleHTTPRequestHandler>) {
    super(args[0], args[1], args[2], { directory: root });
  }
  override log_message(format: string, ...args: unknown[]) {
    logged.push(percentFormat(format, args));
  }
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), "simplehttp-faults-"));
  writeFileSync(join(root, "big.bin"), Buffer.alloc(SIZE, 0x61));
  writeFileSync(join(root, "small.txt"), "small\n");
  site = await serve(Files);
});

after(async () => {
  await site.close();
  rmSync(root, { recursive: true, force: true });
});

const SMALL = /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nsmall\n$/;

/** The server still answers. */
async function stillServing(port = site.port): Promise<void> {
  const reply = await exchange(port, "GET /small.txt HTTP/1.1\r\nConnection: close\r\n\r\n");
  assert.match(reply.toString("latin1"), SMALL);
}

/** Requests /big.bin, and once `after` bytes arrived, ends the connection with `how`. */
async function abandonMidFile(how: (socket: Socket) => void, after = 1024 * 1024): Promise<void> {
  const socket = await openSocket(site.port);
  const reply = collect(socket);
  let received = 0;
  let done = false;
  socket.on("data", (chunk: Buffer) => {
    received += chunk.length;
    if (received > after && !done) {
      done = true;
      how(socket);
    }
  });
  socket.write("GET /big.bin HTTP/1.1\r\n\r\n");
  await reply.closed;
}

test("a client that resets mid-file costs one log line, no traceback; the file is closed, the server serves on", async () => {
  const fds = openFds();
  logged.length = 0;
  const stderr = captureStderr();
  try {
    await abandonMidFile((socket) => socket.resetAndDestroy());
    assert.ok(await waitFor(() => site.server._handlers.size === 0), "the handler finished");
  } finally {
    stderr.restore();
  }
  assert.equal(stderr.text(), "", "nothing but the log line (no traceback block)");
  assert.equal(logged.length, 2);
  assert.equal(logged[0], '"GET /big.bin HTTP/1.1" 200 -');
  assert.match(logged[1]!, /^(Connection reset by peer|Broken pipe) while sending "GET \/big\.bin HTTP\/1\.1"$/);
  if (fds >= 0) assert.ok(await waitFor(() => openFds() <= fds), `descriptors: ${fds} before, ${openFds()} after`);
  await stillServing();
});

test("a client that closes mid-file (FIN, no reset) also costs one line", async () => {
  logged.length = 0;
  const stderr = captureStderr();
  try {
    await abandonMidFile((socket) => socket.destroy());
    assert.ok(await waitFor(() => site.server._handlers.size === 0));
  } finally {
    stderr.restore();
  }
  assert.equal(stderr.text(), "");
  assert.equal(logged.length, 2);
  assert.match(logged[1]!, /^(Connection reset by peer|Broken pipe) while sending "GET \/big\.bin HTTP\/1\.1"$/);
  await stillServing();
});

test("a reset in the middle of the request headers is one line; a reset between requests is none", async () => {
  logged.length = 0;
  const partial = await openSocket(site.port);
  const partialReply = collect(partial);
  partial.write("GET /small.txt HTTP/1.1\r\nHost: x\r\n");
  await waitFor(() => site.server._handlers.size === 1);
  await new Promise((resolve) => setTimeout(resolve, 50));
  partial.resetAndDestroy();
  await partialReply.closed;
  assert.ok(await waitFor(() => logged.length === 1));
  assert.equal(logged[0], "Connection reset by peer while reading a request");

  logged.length = 0;
  const idle = await openSocket(site.port);
  const idleReply = collect(idle);
  idle.write("GET /small.txt HTTP/1.1\r\n\r\n");
  assert.ok(await waitFor(() => SMALL.test(idleReply.data().toString("latin1"))));
  idle.resetAndDestroy();
  assert.ok(await waitFor(() => site.server._handlers.size === 0));
  assert.deepEqual(logged, ['"GET /small.txt HTTP/1.1" 200 -']);
});

test("an exception in a handler: Python's traceback block once, that connection closed, the server serves on", async () => {
  class Failing extends BaseHTTPRequestHandler {
    do_GET() {
      throw new RangeError("handler bug");
    }
  }
  const running = await serve(Failing);
  const stderr = captureStderr();
  let reply: Buffer;
  try {
    reply = await exchange(running.port, "GET / HTTP/1.1\r\n\r\n");
  } finally {
    stderr.restore();
    await running.close();
  }
  assert.equal(reply.length, 0, "no response");
  const text = stderr.text();
  assert.equal(text.match(/Exception occurred during processing of request from/g)?.length, 1);
  assert.match(text, /RangeError: handler bug/);
  assert.equal(text.match(/^-{40}$/gm)?.length, 2);
});

test("a file removed after its headers were sent is still sent whole (the open file outlives the name)", async () => {
  writeFileSync(join(root, "doomed.txt"), "doomed content\n");
  class Removing extends Files {
    override async send_head(): Promise<FileLike | null> {
      const file = await super.send_head();
      unlinkSync(join(root, "doomed.txt"));
      return file;
    }
  }
  const running = await serve(Removing);
  try {
    const reply = await exchange(running.port, "GET /doomed.txt HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert.equal(splitReply(reply).body.toString(), "doomed content\n");
  } finally {
    await running.close();
  }
});

test("a file removed between translate_path and open is a 404, as Python answers a failed open", async () => {
  writeFileSync(join(root, "gone.txt"), "x");
  class Racing extends Files {
    override translate_path(path: string): string {
      const translated = super.translate_path(path);
      rmSync(join(root, "gone.txt"), { force: true });
      return translated;
    }
  }
  const running = await serve(Racing);
  try {
    const reply = await exchange(running.port, "GET /gone.txt HTTP/1.1\r\n\r\n");
    assert.match(reply.toString("latin1"), /^HTTP\/1\.1 404 File not found\r\n/);
    await stillServing(running.port);
  } finally {
    await running.close();
  }
});

test("a directory that vanishes or turns unreadable before its listing: 404 No permission to list directory", async () => {
  mkdirSync(join(root, "vanishing"));
  class Vanishing extends Files {
    override list_directory(path: string): Promise<FileLike | null> {
      rmSync(path, { recursive: true, force: true });
      return super.list_directory(path);
    }
  }
  const running = await serve(Vanishing);
  try {
    const reply = await exchange(running.port, "GET /vanishing/ HTTP/1.1\r\n\r\n");
    assert.match(reply.toString("latin1"), /^HTTP\/1\.1 404 No permission to list directory\r\n/);
  } finally {
    await running.close();
  }
});

test("a directory made unreadable (chmod 0) gets 404 No permission to list directory", async (t) => {
  if (process.getuid?.() === 0) {
    t.skip("root reads any directory");
    return;
  }
  mkdirSync(join(root, "locked"));
  chmodSync(join(root, "locked"), 0);
  try {
    const reply = await exchange(site.port, "GET /locked/ HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert.match(reply.toString("latin1"), /^HTTP\/1\.1 404 No permission to list directory\r\n/);
  } finally {
    chmodSync(join(root, "locked"), 0o755);
  }
});

// ---------------------------------------------------------------------------------------------
// CGI scripts (existing behaviour, under faults)

function cgiSite(): string {
  const cgiRoot = mkdtempSync(join(tmpdir(), "simplehttp-faults-cgi-"));
  mkdirSync(join(cgiRoot, "cgi-bin"));
  const scripts: Record<string, string> = {
    "crash.sh": "#!/bin/sh\nprintf 'Content-type: text/plain\\n\\nhalf'\nkill -SEGV $$\n",
    "hang.sh": "#!/bin/sh\nprintf 'Content-type: text/plain\\n\\n'\nexec sleep 60\n",
  };
  for (const [name, body] of Object.entries(scripts)) {
    writeFileSync(join(cgiRoot, "cgi-bin", name), body);
    chmodSync(join(cgiRoot, "cgi-bin", name), 0o755);
  }
  chmodSync(cgiRoot, 0o755);
  chmodSync(join(cgiRoot, "cgi-bin"), 0o755);
  return cgiRoot;
}

test("a CGI script that crashes: its output so far, one log line, the server serves on", async () => {
  const cgiRoot = cgiSite();
  const lines: string[] = [];
  class Cgi extends CGIHTTPRequestHandler {
    static override cgi_timeout = 5;
    override log_message(format: string, ...args: unknown[]) {
      lines.push(percentFormat(format, args));
    }
  }
  const running = await serve(Cgi.with_directory(cgiRoot), ThreadingHTTPServer as never);
  try {
    const reply = await exchange(running.port, "GET /cgi-bin/crash.sh HTTP/1.0\r\n\r\n", { timeoutMs: 10_000 });
    assert.match(reply.toString("latin1"), /^HTTP\/1\.0 200 Script output follows\r\n[\s\S]*half$/);
    assert.deepEqual(lines.slice(1), ["CGI script exit code -11 (killed by SIGSEGV)"]);
    assert.match((await exchange(running.port, "GET / HTTP/1.0\r\n\r\n")).toString("latin1"), /^HTTP\/1\.0 200 OK/);
  } finally {
    await running.close();
    rmSync(cgiRoot, { recursive: true, force: true });
  }
});

test("a CGI script that hangs is killed at cgi_timeout: one log line, the connection closed", async () => {
  const cgiRoot = cgiSite();
  const lines: string[] = [];
  class Cgi extends CGIHTTPRequestHandler {
    static override cgi_timeout = 0.5;
    override log_message(format: string, ...args: unknown[]) {
      lines.push(percentFormat(format, args));
    }
  }
  const running = await serve(Cgi.with_directory(cgiRoot), ThreadingHTTPServer as never);
  try {
    const started = Date.now();
    const reply = await exchange(running.port, "GET /cgi-bin/hang.sh HTTP/1.0\r\n\r\n", { timeoutMs: 15_000 });
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds < 10, `closed after ${seconds} s`);
    assert.match(reply.toString("latin1"), /^HTTP\/1\.0 200 Script output follows\r\n/);
    assert.deepEqual(lines.slice(1), ["CGI script timed out after 0.5 seconds and was killed with SIGTERM"]);
  } finally {
    await running.close();
    rmSync(cgiRoot, { recursive: true, force: true });
  }
});
