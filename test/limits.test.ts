/**
 * Connection limits: past `max_connections`, connections wait (paused, unread) rather than being
 * refused; past the accept queue too, they are closed, with one log line; the limits fit the
 * process's descriptor limit; running out of descriptors on accept backs off and recovers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { BaseHTTPRequestHandler } from "../src/server/base_handler.js";
import { HTTPServer, ThreadingHTTPServer } from "../src/server/http_server.js";
import { TCPServer } from "../src/socketserver/servers.js";
import { connectionLimits, openFileLimit } from "../src/socketserver/admission.js";
import { captureStderr, exchange, hasCommand, serve, sleep, type ServerClass } from "./helpers.js";
import { collect, messages, openSocket, waitFor } from "./hostile.js";

/** GET /hold waits until `release()`; anything else answers at once. */
class Holding extends BaseHTTPRequestHandler {
  static gates: (() => void)[] = [];
  static entered = 0;

  async do_GET() {
    if (this.path === "/hold") {
      Holding.entered++;
      await new Promise<void>((resolve) => Holding.gates.push(resolve));
    }
    this.send_response(200);
    this.send_header("Content-Length", "2");
    this.end_headers();
    await this.wfile.write("ok");
  }

  override log_message() {}
}

function release(): void {
  Holding.gates.shift()?.();
}

/** A ThreadingHTTPServer with small limits. */
function limited(max: number, queue: number): ServerClass {
  class Limited extends ThreadingHTTPServer {
    static override max_connections = max;
    override request_queue_size = queue;
  }
  return Limited as unknown as ServerClass;
}

test("past max_connections a connection waits, unread, and is served when a slot frees", async () => {
  Holding.gates = [];
  Holding.entered = 0;
  const running = await serve(Holding, limited(3, 10));
  try {
    const held = await Promise.all([1, 2, 3].map(() => openSocket(running.port)));
    const heldReplies = held.map(collect);
    for (const socket of held) socket.write("GET /hold HTTP/1.0\r\n\r\n");
    assert.ok(await waitFor(() => Holding.entered === 3));

    const waiting = await openSocket(running.port);
    const reply = collect(waiting);
    waiting.write("GET /now HTTP/1.0\r\n\r\n");
    await sleep(300);
    assert.equal(reply.data().length, 0, "not served while three are handled");
    assert.equal(reply.isClosed(), false, "not refused either");
    assert.equal(running.server._pending.length, 1);

    release(); // one handled connection finishes…
    assert.match((await reply.closed).toString("latin1"), /^HTTP\/1\.0 200 OK[\s\S]*ok$/); // …and the waiting one is served
    release();
    release();
    for (const heldReply of heldReplies) assert.match((await heldReply.closed).toString("latin1"), /ok$/);
  } finally {
    while (Holding.gates.length) release();
    await running.close();
  }
});

test("past max_connections and the accept queue, new connections are closed at once, logged once", async () => {
  Holding.gates = [];
  Holding.entered = 0;
  const running = await serve(Holding, limited(2, 2));
  const stderr = captureStderr();
  try {
    const held = await Promise.all([1, 2].map(() => openSocket(running.port)));
    for (const socket of held) socket.write("GET /hold HTTP/1.0\r\n\r\n");
    assert.ok(await waitFor(() => Holding.entered === 2));
    const queued = await Promise.all([1, 2].map(() => openSocket(running.port)));
    const queuedReplies = queued.map(collect);
    for (const socket of queued) socket.write("GET /later HTTP/1.0\r\n\r\n");
    assert.ok(await waitFor(() => running.server._pending.length === 2));

    const refused = await Promise.all([1, 2, 3].map(() => openSocket(running.port)));
    const refusedReplies = refused.map(collect);
    for (const refusedReply of refusedReplies) assert.equal((await refusedReply.closed).length, 0);

    release();
    release();
    for (const queuedReply of queuedReplies) assert.match((await queuedReply.closed).toString("latin1"), /ok$/);
  } finally {
    stderr.restore();
    while (Holding.gates.length) release();
    await running.close();
  }
  assert.deepEqual(messages(stderr.lines()), ["Too many connections (2 handled, 2 waiting): 1 connection closed"]);
});

test("connectionLimits: the attributes when descriptors are plenty, cut down to fit a small limit", () => {
  assert.deepEqual(connectionLimits(10_000, 1024, Infinity), { handled: 10_000, open: 11_024 });
  assert.deepEqual(connectionLimits(10_000, 1024, 1_048_576), { handled: 10_000, open: 11_024 });
  for (const fdLimit of [64, 256, 1024, 20_000]) {
    const { handled, open } = connectionLimits(10_000, 1024, fdLimit);
    const waiting = open - handled;
    assert.ok(handled >= 1);
    assert.ok(2 * handled + waiting <= fdLimit - 32, `fd limit ${fdLimit}: ${handled} handled, ${waiting} waiting`);
  }
  assert.equal(connectionLimits(10_000, 1024, 10).handled, 1, "at least one connection is always handled");
});

test("the descriptor limit is read from /proc/self/limits", (t) => {
  let text: string;
  try {
    text = readFileSync("/proc/self/limits", "latin1");
  } catch {
    t.skip("no /proc/self/limits");
    return;
  }
  const soft = /^Max open files\s+(\S+)/m.exec(text)![1]!;
  assert.equal(openFileLimit(), soft === "unlimited" ? Infinity : Number(soft));
});

test("HTTPServer's backlog and accept queue are 1024 (Python's 5 stays on TCPServer)", async () => {
  const http = new HTTPServer(["127.0.0.1", 0], Holding);
  const tcp = new TCPServer(["127.0.0.1", 0], Holding);
  try {
    await Promise.all([http.ready, tcp.ready]);
    assert.equal(http.request_queue_size, 1024);
    assert.equal(tcp.request_queue_size, 5);
    assert.equal(ThreadingHTTPServer.max_connections, 10_000);
  } finally {
    await http.server_close();
    await tcp.server_close();
  }
});

test("accept() failing with EMFILE again and again in one burst stops listening briefly, then listens again", async () => {
  const running = await serve(Holding);
  const stderr = captureStderr();
  try {
    const emfile = () => Object.assign(new Error("accept EMFILE"), { code: "EMFILE" });
    for (let i = 0; i < 100; i++) running.server.socket.emit("error", emfile()); // libuv's retry loop, with nothing to free
    assert.equal(running.server.socket.listening, false, "stopped listening");
    assert.ok(await waitFor(() => running.server.socket.listening, 5000), "listening again");
    assert.equal(running.server.server_address[1], running.port);
    const reply = await exchange(running.port, "GET / HTTP/1.0\r\n\r\n");
    assert.match(reply.toString("latin1"), /ok$/);
  } finally {
    stderr.restore();
    await running.close();
  }
  assert.equal(stderr.lines().length, 1, "one log line for the episode");
  assert.match(messages(stderr.lines())[0]!, /^Accepting a connection failed \(EMFILE: too many open files\)/);
});

// ---------------------------------------------------------------------------------------------
// A real descriptor shortage, in a child process limited to 64 descriptors

const INDEX = fileURLToPath(new URL("../src/index.js", import.meta.url));

/**
 * The child serves on an ephemeral port and obeys lines on stdin: `hog` opens /dev/null until
 * no descriptor is left, `free` closes them, `exit` closes the server gracefully. It prints the
 * port, `hogged N`, `freed`, and a `tick` every 50 ms (proof that its event loop is not stuck).
 */
const CHILD = `
import { BaseHTTPRequestHandler, ThreadingHTTPServer } from ${JSON.stringify(INDEX)};
import { openSync, closeSync } from "node:fs";
import { createInterface } from "node:readline";
class H extends BaseHTTPRequestHandler {
  do_GET() {
    this.send_response(200);
    this.send_header("Content-Length", "2");
    this.end_headers();
    return this.wfile.write("ok");
  }
  log_message() {}
}
const server = new ThreadingHTTPServer(["127.0.0.1", 0], H);
await server.ready;
const loop = server.serve_forever(0.05);
console.log("port " + server.server_address[1]);
const ticker = setInterval(() => console.log("tick"), 50);
let hogged = [];
createInterface({ input: process.stdin }).on("line", async (line) => {
  if (line === "hog") {
    try { for (;;) hogged.push(openSync("/dev/null", "r")); } catch {}
    console.log("hogged " + hogged.length);
  } else if (line === "free") {
    for (const fd of hogged) closeSync(fd);
    hogged = [];
    console.log("freed");
  } else if (line === "exit") {
    clearInterval(ticker);
    await server.graceful_close(1);
    await loop;
    process.stdin.destroy();
  }
});
`;

/** Starts the child under `prlimit --nofile=64:64` (or `ulimit -n 64`). */
async function limitedChild() {
  const node = process.execPath;
  const args = ["--input-type=module", "-e", CHILD];
  const child = (await hasCommand("prlimit"))
    ? spawn("prlimit", ["--nofile=64:64", node, ...args], { stdio: ["pipe", "pipe", "pipe"] })
    : spawn("sh", ["-c", 'ulimit -n 64 && exec "$0" "$@"', node, ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const ticks: number[] = [];
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
    for (const line of String(chunk).split("\n")) if (line === "tick") ticks.push(Date.now());
  });
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const line = async (pattern: RegExp) => {
    assert.ok(await waitFor(() => pattern.test(stdout), 10_000), `child printed ${pattern}; stdout: ${stdout.slice(-300)} stderr: ${stderr}`);
    return pattern.exec(stdout)!;
  };
  const port = Number((await line(/port (\d+)/))[1]);
  return {
    port,
    send: (command: string) => child.stdin.write(command + "\n"),
    line,
    ticks,
    exited,
    stderr: () => stderr,
    kill: () => child.kill("SIGKILL"),
  };
}

/** The longest gap between two ticks since `from`. */
function longestGap(ticks: number[], from: number): number {
  const since = ticks.filter((t) => t >= from);
  let gap = 0;
  for (let i = 1; i < since.length; i++) gap = Math.max(gap, since[i]! - since[i - 1]!);
  return gap;
}

test("with 64 descriptors, a flood of connections is held to the limits, not to EMFILE, and the server recovers", async () => {
  const child = await limitedChild();
  try {
    const flood = await Promise.all(Array.from({ length: 80 }, () => openSocket(child.port).catch(() => null)));
    const open = flood.filter((socket) => socket !== null);
    const replies = open.map((socket) => collect(socket!));
    await sleep(500);
    const stillOpen = replies.filter((reply) => !reply.isClosed()).length;
    assert.ok(stillOpen >= 1 && stillOpen <= 40, `${stillOpen} of 80 connections held open`);
    for (const socket of open) socket!.destroy();
    await sleep(200);
    const reply = await exchange(child.port, "GET / HTTP/1.0\r\n\r\n");
    assert.match(reply.toString("latin1"), /^HTTP\/1\.0 200 OK[\s\S]*ok$/);
    child.send("exit");
    assert.equal(await child.exited, 0);
    assert.match(child.stderr(), /Too many connections \(\d+ handled, \d+ waiting\)/);
    assert.doesNotMatch(child.stderr(), /Error|Exception/);
  } finally {
    child.kill();
  }
});

test("EMFILE on accept (every descriptor taken): the server neither crashes nor spins, and recovers", async () => {
  const child = await limitedChild();
  try {
    child.send("hog");
    await child.line(/hogged (\d+)/);
    const from = Date.now();
    const attempts = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const socket = await openSocket(child.port).catch(() => null);
        if (!socket) return "refused";
        socket.write("GET / HTTP/1.0\r\n\r\n");
        const reply = collect(socket);
        const closed = await Promise.race([reply.closed.then(() => true), sleep(3000).then(() => false)]);
        socket.destroy();
        return closed ? "closed" : "hung";
      }),
    );
    assert.ok(!attempts.includes("hung"), `attempts: ${attempts.join(",")}`);
    await sleep(300);
    assert.ok(longestGap(child.ticks, from) < 1000, "the event loop kept turning");
    child.send("free");
    await child.line(/freed/);
    const reply = await exchange(child.port, "GET / HTTP/1.0\r\n\r\n");
    assert.match(reply.toString("latin1"), /^HTTP\/1\.0 200 OK[\s\S]*ok$/);
    child.send("exit");
    assert.equal(await child.exited, 0);
    assert.doesNotMatch(child.stderr(), /Exception|TypeError|RangeError/);
  } finally {
    child.kill();
  }
});
