/**
 * The reliability flags of the command line (`--header-timeout`, `--keepalive-timeout`,
 * `--write-timeout`, `--max-connections`, `--shutdown-grace`, `--no-follow-symlinks`) and how it
 * stops: Ctrl-C and SIGTERM close gracefully — Python's message at once, the requests in flight
 * finished, idle connections closed, exit 0 — and a second Ctrl-C exits at once. Each test runs
 * the built binary; timings are loose (the machine is small and shared).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BANNER, MAIN, TIMEOUT, killAll, request, testUsageErrors, run, startServer, stop, waitFor, withServer, type Proc } from "./cli_process.js";
import { parseCommandLine, UsageError, type CommandLine } from "../src/cli/options.js";
import { chooseServer, handlerClassFor } from "../src/cli/server.js";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { BaseServer } from "../src/socketserver/servers.js";

const KEYBOARD_INTERRUPT = "\nKeyboard interrupt received, exiting.\n";
/** Large enough that a client that does not read leaves most of it unsent (socket buffers hold a few MiB). */
const BIG_SIZE = 32 * 1024 * 1024;

let base: string;
let root: string;
before(() => {
  base = mkdtempSync(join(tmpdir(), "simplehttp-cli-reliability-"));
  root = join(base, "site");
  const outside = join(base, "outside");
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(root, "a.txt"), "hello\n");
  writeFileSync(join(root, "big.bin"), Buffer.alloc(BIG_SIZE, 0x61));
  writeFileSync(join(outside, "secret.txt"), "the secret\n");
  symlinkSync(join(outside, "secret.txt"), join(root, "out.txt")); // a link out of the directory
  symlinkSync("a.txt", join(root, "in.txt")); // a link inside it
  // A CGI script that takes a second; it says on stderr (the log) when it has started.
  mkdirSync(join(root, "cgi-bin"));
  writeFileSync(join(root, "cgi-bin", "slow.sh"), "#!/bin/sh\necho started >&2\nsleep 1\necho 'Content-Type: text/plain'\necho\necho done\n", {
    mode: 0o755,
  });
  // A CGI script that reads its whole request body before it answers.
  writeFileSync(join(root, "cgi-bin", "read.sh"), "#!/bin/sh\ncat >/dev/null\necho 'Content-Type: text/plain'\necho\necho read\n", { mode: 0o755 });
  // As root, scripts run as nobody, who must be able to reach them.
  for (const dir of [base, root, join(root, "cgi-bin")]) chmodSync(dir, 0o755);
});
after(() => {
  killAll();
  killGroups();
  rmSync(base, { recursive: true, force: true });
});

/** The options every test serves with: loopback, a free port, the fixture directory. */
const at = (...args: string[]) => ["-b", "127.0.0.1", "-d", root, ...args, "0"];

// ---------------------------------------------------------------------------------------------
// Clients

function openConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.off("error", reject);
      socket.on("error", () => {});
      resolve(socket);
    });
    socket.on("error", reject);
  });
}

/** Everything `socket` receives, and when the server closed it. */
function collect(socket: Socket) {
  const chunks: Buffer[] = [];
  let closedAt = 0;
  const closed = new Promise<void>((resolve) =>
    socket.on("close", () => {
      closedAt = Date.now();
      resolve();
    }),
  );
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  return { data: () => Buffer.concat(chunks), closed, closedAt: () => closedAt };
}

/** The body of a whole HTTP/1.0 reply. */
function bodyOf(reply: Buffer): Buffer {
  const end = reply.indexOf("\r\n\r\n");
  assert.ok(end >= 0, `no end of headers in ${JSON.stringify(reply.subarray(0, 200).toString("latin1"))}`);
  return reply.subarray(end + 4);
}

/**
 * A GET of `/big.bin` whose reply the client leaves unread (the socket stays paused) until
 * `read()`; resolves once the server has logged the request, so its reply is in flight.
 */
async function slowReader(server: { port: number; proc: Proc }) {
  const socket = await openConnection(server.port);
  socket.pause();
  socket.write("GET /big.bin HTTP/1.0\r\n\r\n");
  await waitFor(() => server.proc.stderr().includes('"GET /big.bin HTTP/1.0" 200'), "the reply to start", server.proc);
  return {
    socket,
    /** Reads the whole reply, to the server's close. */
    read(): Promise<Buffer> {
      const reply = collect(socket);
      socket.resume();
      return reply.closed.then(() => reply.data());
    },
  };
}

/**
 * A slowloris client: a request line, then a header line every 200 ms, never the blank line.
 * Resolves with the seconds until the server closed the connection.
 */
async function slowloris(port: number): Promise<number> {
  const socket = await openConnection(port);
  const started = Date.now();
  const reply = collect(socket);
  socket.write("GET /a.txt HTTP/1.0\r\n");
  const timer = setInterval(() => socket.writable && socket.write("X-Slow: yes\r\n"), 200);
  try {
    await reply.closed;
  } finally {
    clearInterval(timer);
  }
  return (reply.closedAt() - started) / 1000;
}

/** A delay, for a client that takes its time. */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// A server in a process group of its own, to send a signal to every process as a terminal does

const groups = new Set<ChildProcess>();

function killGroups(): void {
  for (const child of groups) {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // gone
    }
  }
}

/** The live (not zombie) processes of process group `pgid`, from Linux's /proc. */
function groupMembers(pgid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // `pid (comm) state ppid pgrp …`; comm may hold spaces and parentheses.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === pgid && state !== "Z") found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Starts the binary as a terminal's foreground job would run it (its own process group). */
async function startGroup(args: readonly string[]) {
  const child = spawn(process.execPath, [MAIN, ...args], { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  groups.add(child);
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => {
      done = true;
      resolve({ code, signal });
    }),
  );
  const proc: Proc = { child, stdout: () => out, stderr: () => err, exited, hasExited: () => done };
  await waitFor(() => BANNER.test(out) || done, "the banner", proc, 60_000);
  const match = BANNER.exec(out);
  if (!match) assert.fail(`exited without a banner: ${err}`);
  return {
    proc,
    port: Number(match[2]),
    banner: match[0],
    /** Ctrl-C in a terminal: SIGINT to every process of the group. */
    interrupt: () => process.kill(-child.pid!, "SIGINT"),
    async kill() {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // gone
      }
      await exited;
      groups.delete(child);
    },
  };
}

// ---------------------------------------------------------------------------------------------

describe("usage errors: Python's usage, one error line, exit status 2", () => {
  const cases: [args: string[], message: string][] = [
    [["--header-timeout", "x"], "argument --header-timeout: invalid float value: 'x'"],
    [["--header-timeout", ""], "argument --header-timeout: invalid float value: ''"],
    [["--keepalive-timeout", "1..5"], "argument --keepalive-timeout: invalid float value: '1..5'"],
    [["--write-timeout=1_"], "argument --write-timeout: invalid float value: '1_'"],
    [["--shutdown-grace", "ten"], "argument --shutdown-grace: invalid float value: 'ten'"],
    [["--header-timeout", "-1"], "argument --header-timeout: -1 is not a number of seconds (0 or more)"],
    [["--keepalive-timeout=-0.5"], "argument --keepalive-timeout: -0.5 is not a number of seconds (0 or more)"],
    [["--write-timeout=-inf"], "argument --write-timeout: -inf is not a number of seconds (0 or more)"],
    [["--shutdown-grace", "-3"], "argument --shutdown-grace: -3 is not a number of seconds (0 or more)"],
    [["--write-timeout", "nan"], "argument --write-timeout: nan is not a number of seconds"],
    [["--shutdown-grace", "inf"], "argument --shutdown-grace: inf seconds is too long (at most 2147483)"],
    [["--header-timeout", "1e9"], "argument --header-timeout: 1e9 seconds is too long (at most 2147483)"],
    [["--max-connections", "many"], "argument --max-connections: invalid int value: 'many'"],
    [["--max-connections", "2.5"], "argument --max-connections: invalid int value: '2.5'"],
    [["--max-connections", "0"], "argument --max-connections: 0 is not a number of connections (1 or more)"],
    [["--max-connections=-4"], "argument --max-connections: -4 is not a number of connections (1 or more)"],
    [["--header-timeout"], "argument --header-timeout: expected one argument"],
    [["--shutdown-grace", "--cors"], "argument --shutdown-grace: expected one argument"],
    // argparse reads `-1e3` as an option, not a number, so the flag lacks its value.
    [["--keepalive-timeout", "-1e3"], "argument --keepalive-timeout: expected one argument"],
    [["--no-follow-symlinks=yes"], "argument --no-follow-symlinks: ignored explicit argument 'yes'"],
    // New prefixes shared with earlier additions: argparse calls these ambiguous.
    [["--hea", "X-A: b"], "ambiguous option: --hea could match --header, --header-timeout"],
    [["--s"], "ambiguous option: --s could match --spa, --shutdown-grace, --search, --search-max, --search-time"],
    [["--no"], "ambiguous option: --no could match --no-cache, --no-dotfiles, --no-follow-symlinks"],
    // An error comes in argparse's order: the flag's before a later bad port.
    [["--max-connections", "x", "abc"], "argument --max-connections: invalid int value: 'x'"],
    [["--body-timeout", "soon"], "argument --body-timeout: invalid float value: 'soon'"],
    [["--body-timeout", "-2"], "argument --body-timeout: -2 is not a number of seconds (0 or more)"],
    [["--max-header-size", "1k"], "argument --max-header-size: invalid int value: '1k'"],
    [["--max-header-size", "0"], "argument --max-header-size: 0 is not a number of bytes (1 or more)"],
    [["--max-header-memory=-1"], "argument --max-header-memory: -1 is not a number of bytes (1 or more)"],
    [["--max", "5"], "ambiguous option: --max could match --max-connections, --max-header-size, --max-header-memory"],
  ];
  testUsageErrors(cases);
});

describe("parseCommandLine: the reliability flags (in-process)", () => {
  const cases: [args: string[], expected: Partial<CommandLine>][] = [
    [["--header-timeout", "0.5"], { header_timeout: 0.5 }],
    [["--header-timeout= 1_0.25 "], { header_timeout: 10.25 }],
    [["--keepalive-timeout", "2"], { keepalive_timeout: 2 }],
    [["--write-timeout", "1e2"], { write_timeout: 100 }],
    [["--write-timeout", ".5"], { write_timeout: 0.5 }],
    // 0: no limit (null), as 0 disables Node's own HTTP timeouts.
    [["--header-timeout", "0", "--keepalive-timeout=0.0", "--write-timeout", "-0"], { header_timeout: null, keepalive_timeout: null, write_timeout: null }],
    [["--max-connections", "1"], { max_connections: 1 }],
    [["--max-connections", " 1_000 "], { max_connections: 1000 }],
    [["--shutdown-grace", "0"], { shutdown_grace: 0 }],
    [["--shutdown-grace", "2.5"], { shutdown_grace: 2.5 }],
    [["--no-follow-symlinks"], { follow_symlinks: false }],
    // Unambiguous abbreviations, as argparse reads them.
    [["--keep", "3", "--wr=4", "--max-c", "5", "--shut", "6", "--no-f"], { keepalive_timeout: 3, write_timeout: 4, max_connections: 5, shutdown_grace: 6, follow_symlinks: false }],
    [["--body-timeout", "0.5"], { body_timeout: 0.5 }],
    [["--body-timeout", "0"], { body_timeout: null }],
    [["--max-header-size", "8192", "--max-header-memory", " 1_000_000 "], { max_header_size: 8192, max_header_memory: 1_000_000 }],
    [["--bo", "2", "--max-header-s", "1", "--max-header-m", "2"], { body_timeout: 2, max_header_size: 1, max_header_memory: 2 }],
    [["--header-t", "7"], { header_timeout: 7 }],
  ];
  for (const [args, expected] of cases) {
    test(`[${args.map((arg) => JSON.stringify(arg)).join(", ")}]`, () => {
      const command = parseCommandLine(args, "/cwd") as CommandLine;
      const given = Object.fromEntries(
        (
          [
            "header_timeout",
            "keepalive_timeout",
            "write_timeout",
            "body_timeout",
            "max_connections",
            "max_header_size",
            "max_header_memory",
            "shutdown_grace",
            "follow_symlinks",
          ] as const
        )
          .filter((name) => name in command)
          .map((name) => [name, command[name]]),
      );
      assert.deepEqual(given, expected);
    });
  }

  test("not given, they are absent: the library's defaults stay in force", () => {
    const command = parseCommandLine([], "/cwd") as CommandLine;
    for (const name of ["header_timeout", "keepalive_timeout", "write_timeout", "body_timeout", "max_connections", "max_header_size", "max_header_memory", "shutdown_grace", "follow_symlinks"]) {
      assert.equal(name in command, false, name);
    }
    const Handler = handlerClassFor(command);
    assert.deepEqual(
      [Handler.header_timeout, Handler.keepalive_timeout, Handler.write_timeout, Handler.body_timeout, Handler.max_header_size, Handler.follow_symlinks],
      [30, 5, 60, 60, 1 << 20, true],
    );
  });

  test("given, they are class attributes of the run's handler subclass; the library's class is untouched", () => {
    const command = parseCommandLine(
      ["--header-timeout", "1.5", "--keepalive-timeout", "0", "--write-timeout", "7", "--no-follow-symlinks"],
      "/cwd",
    ) as CommandLine;
    const Handler = handlerClassFor(command);
    assert.deepEqual([Handler.header_timeout, Handler.keepalive_timeout, Handler.write_timeout, Handler.follow_symlinks], [1.5, null, 7, false]);
    assert.deepEqual(
      [SimpleHTTPRequestHandler.header_timeout, SimpleHTTPRequestHandler.keepalive_timeout, SimpleHTTPRequestHandler.write_timeout, SimpleHTTPRequestHandler.follow_symlinks],
      [30, 5, 60, true],
    );
  });

  test("--max-connections and --shutdown-grace are set on the server the run creates", async () => {
    const command = parseCommandLine(["-d", root, "--max-connections", "3", "--shutdown-grace", "0.25"], "/cwd") as CommandLine;
    const server = chooseServer(command).createServer(["127.0.0.1", 0]);
    try {
      await server.ready;
      assert.deepEqual([server.max_connections, server.shutdown_grace], [3, 0.25]);
      assert.equal(server._connectionLimits().handled, 3);
      assert.deepEqual([BaseServer.max_connections, BaseServer.shutdown_grace], [10_000, 10]);
    } finally {
      await server.server_close();
    }
    const plain = chooseServer(parseCommandLine(["-d", root], "/cwd") as CommandLine).createServer(["127.0.0.1", 0]);
    try {
      await plain.ready;
      assert.deepEqual([plain.max_connections, plain.shutdown_grace], [10_000, 10]);
    } finally {
      await plain.server_close();
    }
  });

  test("--body-timeout and --max-header-size are set on the handler, --max-header-memory on the server", async () => {
    const command = parseCommandLine(["-d", root, "--body-timeout", "2", "--max-header-size", "4096", "--max-header-memory", "65536"], "/cwd") as CommandLine;
    const Handler = handlerClassFor(command);
    assert.deepEqual([Handler.body_timeout, Handler.max_header_size], [2, 4096]);
    assert.deepEqual([SimpleHTTPRequestHandler.body_timeout, SimpleHTTPRequestHandler.max_header_size], [60, 1 << 20]);
    const server = chooseServer(command).createServer(["127.0.0.1", 0]);
    try {
      await server.ready;
      assert.equal(server.max_header_memory, 65536);
      assert.equal(BaseServer.max_header_memory, 128 * 1024 * 1024);
    } finally {
      await server.server_close();
    }
    // With --workers, each process has its share of the run's budget (the default's, or the flag's).
    for (const [args, share] of [[[], 64 * 1024 * 1024], [["--max-header-memory", "3000"], 1000]] as const) {
      const workers = parseCommandLine(["-d", root, "--workers", args.length ? "3" : "2", ...args], "/cwd") as CommandLine;
      const worker = chooseServer(workers, { shared_listen: true, print_warnings: false }).createServer(["127.0.0.1", 0]);
      try {
        assert.equal(worker.max_header_memory, share);
      } finally {
        await worker.server_close();
      }
    }
  });

  test("a huge --max-connections is accepted (the server fits it to the open-files limit)", () => {
    assert.throws(() => parseCommandLine(["--max-connections", "0"]), UsageError);
    const command = parseCommandLine(["--max-connections", "1" + "0".repeat(30)], "/cwd") as CommandLine;
    assert.equal(command.max_connections, Number.MAX_SAFE_INTEGER);
  });
});

describe("each flag takes effect", () => {
  test("--header-timeout 0.5 cuts a slowloris client off in about half a second, logged once", TIMEOUT, async () => {
    await withServer(at("--header-timeout", "0.5"), async ({ port, proc }) => {
      const seconds = await slowloris(port);
      assert.ok(seconds < 10, `closed after ${seconds} s`);
      await waitFor(() => proc.stderr().includes("Request timed out"), "the log line", proc);
      const lines = proc.stderr().split("\n").filter(Boolean);
      assert.equal(lines.length, 1, proc.stderr());
      assert.match(lines[0]!, /^127\.0\.0\.1 - - \[.+\] Request timed out: no complete request line and headers within 0\.5 seconds$/);
    });
  });

  test("--keepalive-timeout 0.5 with -p HTTP/1.1 closes an idle connection, silently", TIMEOUT, async () => {
    const server = await startServer(at("-p", "HTTP/1.1", "--keepalive-timeout", "0.5"));
    try {
      const socket = await openConnection(server.port);
      const reply = collect(socket);
      socket.write("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
      await waitFor(() => reply.data().toString("latin1").endsWith("\r\n\r\nhello\n"), "the reply", server.proc);
      const answered = Date.now();
      await reply.closed;
      const seconds = (reply.closedAt() - answered) / 1000;
      // The default (5 s) would keep it open longer than this.
      assert.ok(seconds < 4, `closed after ${seconds} s idle`);
      server.proc.child.kill("SIGTERM");
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
      // The request's line, and nothing about the idle connection's close.
      const lines = server.proc.stderr().split("\n").filter(Boolean);
      assert.equal(lines.length, 1, server.proc.stderr());
      assert.match(lines[0]!, /"GET \/a\.txt HTTP\/1\.1" 200 -$/);
    } finally {
      await stop(server.proc);
    }
  });

  test("--write-timeout 0.5 drops a client that stops reading, logged once", TIMEOUT, async () => {
    await withServer(at("--write-timeout", "0.5"), async (server) => {
      const reader = await slowReader(server);
      try {
        const line = 'Request timed out: the client stopped reading for 0.5 seconds while sending "GET /big.bin HTTP/1.0"';
        await waitFor(() => server.proc.stderr().includes(line), "the write timeout", server.proc);
        const reply = await reader.read();
        assert.ok(bodyOf(reply).length < BIG_SIZE, "the reply was cut short");
        assert.equal(server.proc.stderr().split(line).length, 2, "logged once");
      } finally {
        reader.socket.destroy();
      }
    });
  });

  test("--no-follow-symlinks answers 404 for a link out of the directory; by default it is followed", TIMEOUT, async () => {
    await withServer(at(), async ({ port }) => {
      const reply = await request(port, "/out.txt");
      assert.match(reply.status, /^HTTP\/1\.0 200 /);
      assert.equal(reply.body.toString(), "the secret\n");
    });
    await withServer(at("--no-follow-symlinks"), async ({ port }) => {
      const refused = await request(port, "/out.txt");
      assert.equal(refused.status, "HTTP/1.0 404 File not found");
      assert.ok(!refused.body.toString().includes("the secret"));
      // A link that stays inside is still served.
      const inside = await request(port, "/in.txt");
      assert.match(inside.status, /^HTTP\/1\.0 200 /);
      assert.equal(inside.body.toString(), "hello\n");
    });
  });

  test("--max-connections 1: a second connection waits until the first is done", TIMEOUT, async () => {
    await withServer(at("--max-connections", "1"), async ({ port, proc }) => {
      const first = await openConnection(port);
      const firstReply = collect(first);
      first.write("GET /a.txt HTTP/1.0\r\n"); // unfinished: the first holds the only slot
      await sleep(200);
      const second = await openConnection(port);
      const secondReply = collect(second);
      second.write("GET /a.txt HTTP/1.0\r\n\r\n");
      try {
        await sleep(1000);
        assert.equal(secondReply.data().length, 0, "the second connection is not served while the first is");
        assert.equal(proc.stderr(), "");
        first.write("\r\n");
        await firstReply.closed;
        assert.ok(firstReply.data().toString("latin1").endsWith("\r\n\r\nhello\n"));
        await secondReply.closed;
        assert.ok(secondReply.data().toString("latin1").endsWith("\r\n\r\nhello\n"), secondReply.data().toString("latin1"));
      } finally {
        first.destroy();
        second.destroy();
      }
    });
  });

  test("--max-connections 10 --header-timeout 2: behind 110 silent connections a client is served within about 2 s", TIMEOUT, async () => {
    await withServer(at("--max-connections", "10", "--header-timeout", "2"), async ({ port, proc }) => {
      const silent = await Promise.all(Array.from({ length: 110 }, () => openConnection(port)));
      try {
        const started = Date.now();
        const reply = await request(port, "/a.txt");
        const seconds = (Date.now() - started) / 1000;
        assert.equal(reply.status, "HTTP/1.0 200 OK");
        // Each header deadline runs from accept: the queue does not add (110 / 10) x 2 s = 22 s.
        assert.ok(seconds < 5, `served after ${seconds} s`);
        await waitFor(() => proc.stderr().split("Request timed out").length - 1 === 110, "110 timed-out connections logged", proc);
        const timedOut = proc.stderr().split("\n").filter((line) => line.includes("Request timed out"));
        assert.ok(timedOut.every((line) => line.endsWith("Request timed out: no complete request line and headers within 2 seconds")));
      } finally {
        for (const socket of silent) socket.destroy();
      }
    });
  });

  test("--body-timeout 0.5 with --cgi -p HTTP/1.1: a request body that stops arriving is cut off, logged once", TIMEOUT, async () => {
    await withServer(at("--cgi", "-p", "HTTP/1.1", "--body-timeout", "0.5"), async ({ port, proc }) => {
      const socket = await openConnection(port);
      const reply = collect(socket);
      try {
        socket.write("POST /cgi-bin/read.sh HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nsome of it");
        await waitFor(() => reply.closedAt() > 0, "the connection cut off", proc);
        await waitFor(() => proc.stderr().includes("CGI script ended"), "the script ended", proc);
        const lines = proc.stderr().split("\n").filter((line) => line && !line.includes("DeprecationWarning"));
        assert.deepEqual(
          lines.map((line) => line.replace(/^127\.0\.0\.1 - - \[[^\]]+\] /, "")),
          [
            '"POST /cgi-bin/read.sh HTTP/1.1" 200 -',
            'Request timed out: the client stopped sending for 0.5 seconds while receiving "POST /cgi-bin/read.sh HTTP/1.1"',
            "CGI script ended with SIGTERM: its request body was cut off",
          ],
          proc.stderr(),
        );
      } finally {
        socket.destroy();
      }
    });
  });

  test("--max-header-size 1024: a longer request line and headers get 431", TIMEOUT, async () => {
    await withServer(at("--max-header-size", "1024"), async ({ port }) => {
      assert.equal((await request(port, "/a.txt", ["X-Small: " + "a".repeat(900)])).status, "HTTP/1.0 200 OK");
      const refused = await request(port, "/a.txt", ["X-Large: " + "a".repeat(1100)]);
      assert.equal(refused.status, "HTTP/1.0 431 Request Header Fields Too Large");
      assert.match(refused.body.toString(), /got more than 1024 bytes when reading the request line and headers/);
    });
  });

  test("--shutdown-grace 0.5: a request still in flight after the grace is cut, and the process exits 0", TIMEOUT, async () => {
    const server = await startServer(at("--shutdown-grace", "0.5"));
    const reader = await slowReader(server);
    try {
      const signalled = Date.now();
      server.proc.child.kill("SIGTERM");
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
      const seconds = (Date.now() - signalled) / 1000;
      // The default grace would have taken 10 s.
      assert.ok(seconds < 8, `exited after ${seconds} s`);
      const reply = await reader.read();
      assert.ok(reply.length === 0 || bodyOf(reply).length < BIG_SIZE, "the reply was cut short");
    } finally {
      reader.socket.destroy();
      await stop(server.proc);
    }
  });
});

describe("stopping gracefully", () => {
  test("Ctrl-C with an idle keep-alive connection open: Python's message, exit 0 at once", TIMEOUT, async () => {
    // A long grace: only the connections in flight may use it, and there are none.
    const server = await startServer(at("-p", "HTTP/1.1", "--shutdown-grace", "60"));
    const socket = await openConnection(server.port);
    const reply = collect(socket);
    try {
      socket.write("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
      await waitFor(() => reply.data().toString("latin1").endsWith("\r\n\r\nhello\n"), "the reply", server.proc);
      const signalled = Date.now();
      server.proc.child.kill("SIGINT");
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
      const seconds = (Date.now() - signalled) / 1000;
      assert.ok(seconds < 5, `exited after ${seconds} s`);
      assert.equal(server.proc.stdout(), server.banner + KEYBOARD_INTERRUPT);
      await reply.closed; // the idle connection was closed
    } finally {
      socket.destroy();
      await stop(server.proc);
    }
  });

  test("Ctrl-C with a large file going to a slow reader: the message at once, the file whole, then exit 0", TIMEOUT, async () => {
    const server = await startServer(at());
    const reader = await slowReader(server);
    try {
      server.proc.child.kill("SIGINT");
      await waitFor(() => server.proc.stdout().endsWith(KEYBOARD_INTERRUPT), "Python's message", server.proc);
      assert.equal(server.proc.hasExited(), false, "the process waits for the request in flight");
      await sleep(1000); // the client takes its time
      assert.equal(server.proc.hasExited(), false, "the process still waits");
      const reply = await reader.read();
      assert.equal(bodyOf(reply).length, BIG_SIZE, "the whole file");
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
      assert.equal(server.proc.stdout(), server.banner + KEYBOARD_INTERRUPT);
    } finally {
      reader.socket.destroy();
      await stop(server.proc);
    }
  });

  test("SIGTERM while a CGI script sleeps for a second: its reply is whole, exit 0, nothing printed", TIMEOUT, async () => {
    const server = await startServer(at("--cgi"));
    const socket = await openConnection(server.port);
    const reply = collect(socket);
    try {
      socket.write("GET /cgi-bin/slow.sh HTTP/1.0\r\n\r\n");
      await waitFor(() => server.proc.stderr().includes("started"), "the script to start", server.proc);
      server.proc.child.kill("SIGTERM");
      await reply.closed;
      assert.match(reply.data().toString("latin1"), /^HTTP\/1\.0 200 Script output follows\r\n[^]*\r\nContent-Type: text\/plain\n\ndone\n$/);
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
      assert.equal(server.proc.stdout(), server.banner);
    } finally {
      socket.destroy();
      await stop(server.proc);
    }
  });

  test("new connections are refused once stopping has begun", TIMEOUT, async () => {
    const server = await startServer(at());
    const reader = await slowReader(server);
    try {
      server.proc.child.kill("SIGTERM");
      // The listening socket closes at once, while the reply in flight goes on.
      await waitFor(
        () =>
          new Promise<boolean>((resolve) => {
            const probe = connect(server.port, "127.0.0.1");
            probe.on("connect", () => {
              probe.destroy();
              resolve(false);
            });
            probe.on("error", () => resolve(true));
          }),
        "the port to refuse connections",
        server.proc,
      );
      assert.equal(server.proc.hasExited(), false);
      assert.equal(bodyOf(await reader.read()).length, BIG_SIZE);
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
    } finally {
      reader.socket.destroy();
      await stop(server.proc);
    }
  });

  test("a second Ctrl-C exits at once, the request in flight cut (status 130)", TIMEOUT, async () => {
    const server = await startServer(at("--shutdown-grace", "60"));
    const reader = await slowReader(server);
    try {
      server.proc.child.kill("SIGINT");
      await waitFor(() => server.proc.stdout().endsWith(KEYBOARD_INTERRUPT), "Python's message", server.proc);
      await sleep(300);
      assert.equal(server.proc.hasExited(), false, "the first Ctrl-C waits for the request in flight");
      const signalled = Date.now();
      server.proc.child.kill("SIGINT");
      assert.deepEqual(await server.proc.exited, { code: 130, signal: null });
      const seconds = (Date.now() - signalled) / 1000;
      assert.ok(seconds < 10, `exited after ${seconds} s`);
      assert.equal(server.proc.stdout(), server.banner + KEYBOARD_INTERRUPT, "nothing more printed");
      const reply = await reader.read();
      assert.ok(reply.length === 0 || bodyOf(reply).length < BIG_SIZE, "the reply was cut short");
    } finally {
      reader.socket.destroy();
      await stop(server.proc);
    }
  });
});

describe("with --workers 2", { skip: process.platform === "linux" ? false : "reads process groups from Linux's /proc" }, () => {
  test("the flags apply in every worker", TIMEOUT, async () => {
    await withServer(at("--workers", "2", "--no-follow-symlinks", "--header-timeout", "0.5"), async ({ port, proc }) => {
      // Connections go to the workers in turn: four reach both.
      for (let i = 0; i < 4; i++) {
        assert.equal((await request(port, "/out.txt")).status, "HTTP/1.0 404 File not found");
        assert.equal((await request(port, "/in.txt")).body.toString(), "hello\n");
      }
      const cut = await Promise.all([slowloris(port), slowloris(port)]);
      for (const seconds of cut) assert.ok(seconds < 10, `closed after ${seconds} s`);
      await waitFor(() => proc.stderr().split("within 0.5 seconds").length === 3, "two timeout lines", proc);
    });
  });

  test("Ctrl-C to the primary: the message once, the request in flight finished, exit 0", TIMEOUT, async () => {
    const server = await startServer(at("--workers", "2"));
    const reader = await slowReader(server);
    try {
      server.proc.child.kill("SIGINT");
      await waitFor(() => server.proc.stdout().endsWith(KEYBOARD_INTERRUPT), "Python's message", server.proc);
      await sleep(1000);
      assert.equal(server.proc.hasExited(), false, "the primary waits for its workers");
      assert.equal(bodyOf(await reader.read()).length, BIG_SIZE, "the whole file");
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
      assert.equal(server.proc.stdout(), server.banner + KEYBOARD_INTERRUPT);
    } finally {
      reader.socket.destroy();
      await stop(server.proc);
    }
  });

  test("Ctrl-C in a terminal (SIGINT to every process): the request in flight finished, exit 0", TIMEOUT, async () => {
    const server = await startGroup(at("--workers", "2"));
    const reader = await slowReader(server);
    try {
      server.interrupt();
      await waitFor(() => server.proc.stdout().endsWith(KEYBOARD_INTERRUPT), "Python's message", server.proc);
      await sleep(1000);
      assert.equal(server.proc.hasExited(), false, "the workers wait for the request in flight");
      assert.equal(bodyOf(await reader.read()).length, BIG_SIZE, "the whole file");
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
      assert.equal(server.proc.stdout(), server.banner + KEYBOARD_INTERRUPT);
      assert.equal(server.proc.stderr().includes("worker"), false, server.proc.stderr());
    } finally {
      reader.socket.destroy();
      await server.kill();
    }
  });

  test("a second Ctrl-C in a terminal ends every process at once (status 130)", TIMEOUT, async () => {
    const server = await startGroup(at("--workers", "2", "--shutdown-grace", "60"));
    const reader = await slowReader(server);
    try {
      server.interrupt();
      await waitFor(() => server.proc.stdout().endsWith(KEYBOARD_INTERRUPT), "Python's message", server.proc);
      await sleep(300);
      assert.equal(server.proc.hasExited(), false);
      const signalled = Date.now();
      server.interrupt();
      assert.deepEqual(await server.proc.exited, { code: 130, signal: null });
      const seconds = (Date.now() - signalled) / 1000;
      assert.ok(seconds < 10, `exited after ${seconds} s`);
      await waitFor(() => groupMembers(server.proc.child.pid!).length === 0, "every worker gone", server.proc, 10_000);
    } finally {
      reader.socket.destroy();
      await server.kill();
    }
  });
});
