/**
 * `--workers N`: N processes serving one port. Which process served a connection is read from
 * Linux's /proc — the worker whose file descriptors hold the connection's socket — rather than
 * from anything added to the responses (rule 4).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { execFileSync, spawn } from "node:child_process";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { MAIN, TIMEOUT, killAll, request, run, startServer, stop, waitFor, type Running } from "./cli_process.js";

const LOG_LINE = /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4} \d{2}:\d{2}:\d{2}\] "GET \/a\.txt HTTP\/1\.0" 200 -$/;
const HAS_PROC = (() => {
  try {
    return readdirSync("/proc/self/fd").length > 0 && readFileSync("/proc/net/tcp", "utf8").length > 0;
  } catch {
    return false;
  }
})();

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), "simplehttp-workers-"));
  writeFileSync(join(root, "a.txt"), "hello\n");
});
after(() => {
  killAll();
  rmSync(root, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// What /proc says

/** The pids whose parent is `pid`. */
function childPids(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // `pid (comm) state ppid …`; comm may hold spaces and parentheses, so read after the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found.sort((a, b) => a - b);
}

function isAlive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8")); // a zombie has exited
  } catch {
    return false;
  }
}

/** The socket inodes a process holds open. */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** The inode of the server's side of each IPv4 connection to `serverPort`, by the client's port. */
function serverSideInodes(serverPort: number): Map<number, string> {
  const byClientPort = new Map<number, string>();
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const localPort = parseInt(fields[1]!.split(":")[1]!, 16);
    const remotePort = parseInt(fields[2]!.split(":")[1]!, 16);
    if (localPort === serverPort && fields[9] !== "0") byClientPort.set(remotePort, fields[9]!);
  }
  return byClientPort;
}

/** Which of `pids` holds the server side of each of `sockets` (null: none yet). */
function holders(serverPort: number, sockets: Socket[], pids: number[]): (number | null)[] {
  const inodes = serverSideInodes(serverPort);
  const held = new Map(pids.map((pid) => [pid, socketInodes(pid)]));
  return sockets.map((socket) => {
    const inode = inodes.get(socket.localPort!);
    if (!inode) return null;
    for (const [pid, owned] of held) if (owned.has(inode)) return pid;
    return null;
  });
}

// ---------------------------------------------------------------------------------------------

function openConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => resolve(socket));
    socket.on("error", reject);
  });
}

/** Sends the rest of a request begun on `socket`, and reads the reply to the close. */
function finishRequest(socket: Socket, rest: string): Promise<string> {
  return new Promise((resolve) => {
    let reply = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (reply += chunk));
    socket.on("close", () => resolve(reply));
    socket.write(rest);
  });
}

async function startWorkers(args: readonly string[]): Promise<Running & { workers: number[] }> {
  const server = await startServer(args);
  await waitFor(() => childPids(server.proc.child.pid!).length === 2, "two workers", server.proc);
  return { ...server, workers: childPids(server.proc.child.pid!) };
}

describe("--workers 2", { skip: HAS_PROC ? false : "needs Linux's /proc to see which process serves" }, () => {
  test("two processes share the port, and each serves connections", TIMEOUT, async () => {
    const server = await startWorkers(["-b", "127.0.0.1", "-d", root, "--workers", "2", "0"]);
    const sockets: Socket[] = [];
    try {
      assert.equal(server.proc.stdout(), server.banner);
      // The kernel gives each new connection to whichever worker accepts first (SCHED_NONE), and a
      // worker takes all that wait when it wakes, so one burst may land in one worker: bursts of
      // 8 until both hold some (a burst went all to one worker about one time in five). Requests
      // are left unfinished, so that each connection stays with the worker that took it.
      const served = new Set<number | null>();
      for (let round = 0; round < 25 && served.size < 2; round++) {
        const burst = await Promise.all(Array.from({ length: 8 }, () => openConnection(server.port)));
        for (const socket of burst) socket.write("GET /a.txt HTTP/1.0\r\n");
        sockets.push(...burst);
        await waitFor(() => holders(server.port, burst, server.workers).every((pid) => pid !== null), "each connection to reach a worker", server.proc);
        for (const pid of holders(server.port, burst, server.workers)) served.add(pid);
      }
      assert.deepEqual([...served].sort((a, b) => a! - b!), server.workers, "both workers hold connections");
      const replies = await Promise.all(sockets.map((socket) => finishRequest(socket, "\r\n")));
      for (const reply of replies) assert.match(reply, /^HTTP\/1\.0 200 OK\r\n[^]*\r\n\r\nhello\n$/);
      // One whole line per request on the shared stderr.
      server.proc.child.kill("SIGTERM");
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
      const lines = server.proc.stderr().split("\n").filter(Boolean);
      assert.equal(lines.length, sockets.length, server.proc.stderr());
      for (const line of lines) assert.match(line, LOG_LINE);
    } finally {
      for (const socket of sockets) socket.destroy();
      await stop(server.proc);
    }
  });

  test("log lines stay whole on a shared stderr pipe that its reader drains slowly", TIMEOUT, async () => {
    // stderr is a FIFO read 1000 bytes a millisecond, so the pipe stays nearly full and a write
    // longer than PIPE_BUF goes in parts, between which the other worker's writes can land.
    const fifo = join(mkdtempSync(join(tmpdir(), "workers-fifo-")), "stderr");
    execFileSync("mkfifo", [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, "w");
    const child = spawn(process.execPath, [MAIN, "-b", "127.0.0.1", "-d", root, "--workers", "2", "0"], { stdio: ["ignore", "pipe", writer] });
    closeSync(writer);
    let log = "";
    let ended = false;
    const chunk = Buffer.alloc(1000);
    const drain = setInterval(() => {
      try {
        const n = readSync(reader, chunk, 0, chunk.length, null);
        if (n === 0) ended = true;
        log += chunk.toString("latin1", 0, n);
      } catch {
        // EAGAIN: nothing to read yet
      }
    }, 1);
    try {
      let out = "";
      child.stdout!.setEncoding("utf8").on("data", (text: string) => (out += text));
      await waitFor(() => /port (\d+)/.test(out), "the banner");
      const port = Number(/port (\d+)/.exec(out)![1]);
      const path = "/" + "p".repeat(300);
      const perLoop = 40;
      await Promise.all(Array.from({ length: 16 }, async () => {
        for (let i = 0; i < perLoop; i++) assert.match((await request(port, path)).status, / 404 /);
      }));
      child.kill("SIGTERM");
      await waitFor(() => ended, "stderr to close", undefined, 60_000);
      const lines = log.split("\n").filter(Boolean);
      assert.equal(lines.length, 2 * 16 * perLoop, "the error line and the request line of each 404");
      const whole = /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4} \d{2}:\d{2}:\d{2}\] ("GET \/p{300} HTTP\/1\.0" 404 -|code 404, message File not found)$/;
      const cut = lines.filter((line) => !whole.test(line));
      assert.deepEqual(cut.slice(0, 3), [], `${cut.length} of ${lines.length} lines cut or run together`);
    } finally {
      clearInterval(drain);
      child.kill("SIGKILL");
      closeSync(reader);
      rmSync(dirname(fifo), { recursive: true, force: true });
    }
  });

  test("Ctrl-C (SIGINT): Python's message once, exit 0, every worker gone", TIMEOUT, async () => {
    const server = await startWorkers(["-b", "127.0.0.1", "-d", root, "--workers", "2", "0"]);
    try {
      assert.equal((await request(server.port, "/a.txt")).body.toString(), "hello\n");
      server.proc.child.kill("SIGINT");
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
      assert.equal(server.proc.stdout(), `${server.banner}\nKeyboard interrupt received, exiting.\n`);
      for (const pid of server.workers) assert.equal(isAlive(pid), false, `worker ${pid} still runs`);
    } finally {
      await stop(server.proc);
    }
  });

  test("SIGTERM: exit 0, nothing printed, every worker gone", TIMEOUT, async () => {
    const server = await startWorkers(["-b", "127.0.0.1", "-d", root, "--workers", "2", "0"]);
    try {
      server.proc.child.kill("SIGTERM");
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
      assert.equal(server.proc.stdout(), server.banner);
      assert.equal(server.proc.stderr(), "");
      for (const pid of server.workers) assert.equal(isAlive(pid), false, `worker ${pid} still runs`);
    } finally {
      await stop(server.proc);
    }
  });

  test("a worker that dies is replaced, and the server serves on", TIMEOUT, async () => {
    const server = await startWorkers(["-b", "127.0.0.1", "-d", root, "--workers", "2", "0"]);
    try {
      const [victim, survivor] = server.workers as [number, number];
      process.kill(victim, "SIGKILL");
      await waitFor(() => server.proc.stderr().includes(`simplehttp: worker ${victim} was killed by SIGKILL; starting another\n`), "the primary's line", server.proc);
      await waitFor(() => {
        const now = childPids(server.proc.child.pid!);
        return now.length === 2 && now.includes(survivor) && !now.includes(victim);
      }, "a new worker beside the survivor", server.proc);
      for (let i = 0; i < 4; i++) assert.equal((await request(server.port, "/a.txt")).body.toString(), "hello\n");
    } finally {
      await stop(server.proc);
    }
  });

  test("--cgi: Python's DeprecationWarning once, not once per worker", TIMEOUT, async () => {
    const server = await startWorkers(["-b", "127.0.0.1", "-d", root, "--cgi", "--workers", "2", "0"]);
    try {
      // Sixteen requests at once, which both workers usually share; however many of them handle
      // one, the primary prints the warning once.
      const statuses = await Promise.all(Array.from({ length: 16 }, () => request(server.port, "/a.txt")));
      for (const { status } of statuses) assert.match(status, / 200 /);
      server.proc.child.kill("SIGTERM");
      await server.proc.exited;
      const warnings = server.proc.stderr().split("\n").filter((line) => line.includes("Warning"));
      assert.deepEqual(warnings, [
        "DeprecationWarning: 'http.server.CGIHTTPRequestHandler' is deprecated and slated for removal in Python 3.15",
      ]);
    } finally {
      await stop(server.proc);
    }
  });

  test("a port in use: one error line, exit 1, and no worker left running", TIMEOUT, async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: "127.0.0.1", port: 0, exclusive: true }, resolve));
    const port = (blocker.address() as { port: number }).port;
    const marker = mkdtempSync(join(root, "in-use-"));
    try {
      const result = await run(["-b", "127.0.0.1", "-d", marker, "--workers", "2", String(port)]);
      assert.equal(result.stderr, `simplehttp: error: cannot bind 127.0.0.1 port ${port}: address already in use\n`);
      assert.equal(result.stdout, "");
      assert.equal(result.code, 1);
      await waitFor(() => !processesMentioning(marker), "the workers to be gone");
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

/** True when a running process has `text` in its command line. */
function processesMentioning(text: string): boolean {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text) && isAlive(Number(entry))) return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}
