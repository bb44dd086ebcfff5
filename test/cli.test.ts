/**
 * The `simplehttp` command line, run as users run it: the built binary in a child process.
 * (The argument parser is also checked in-process, where its edge cases are cheap to list.)
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, connect, type Server } from "node:net";
import { lookup } from "node:dns/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { exchange, splitReply } from "./helpers.js";
import {
  BANNER,
  MAIN,
  PYTHON_USAGE,
  killAll,
  launch as launchProcess,
  run as runProcess,
  startServer as startServerProcess,
  stop,
  testUsageErrors,
  waitFor,
  withServer as withServerProcess,
  type Running,
} from "./cli_process.js";
import { parseCommandLine, UsageError, type CommandLine } from "../src/cli/options.js";

const TIMEOUT = { timeout: 30_000 };

const HELP = `${PYTHON_USAGE}
positional arguments:
  port                  bind to this port (default: 8000)

options:
  -h, --help            show this help message and exit
  --cgi                 run as CGI server
  -b, --bind ADDRESS    bind to this address (default: all interfaces)
  -d, --directory DIRECTORY
                        serve this directory (default: current directory)
  -p, --protocol VERSION
                        conform to this HTTP version (default: HTTP/1.0)
  --tls-cert PATH       path to the TLS certificate chain file
  --tls-key PATH        path to the TLS key file
  --tls-password-file PATH
                        path to the password file for the TLS key
`;

/** `--help` is Python's help, byte for byte, then the section of additions (test/cli_features.test.ts). */
const ADDITIONS_TITLE = "\nbeyond python -m http.server:\n";
function assertHelp(stdout: string): void {
  assert.equal(stdout.slice(0, HELP.length), HELP);
  assert.ok(stdout.slice(HELP.length).startsWith(ADDITIONS_TITLE), stdout.slice(HELP.length));
}

const LOG_DATE = String.raw`\[\d{2}/[A-Z][a-z]{2}/\d{4} \d{2}:\d{2}:\d{2}\]`;

let root: string;
let served: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), "simplehttp-cli-"));
  served = join(root, "served");
  mkdirSync(served);
  writeFileSync(join(served, "a.txt"), "hello\n");
  writeFileSync(join(root, "b.txt"), "from the cwd\n");
});
after(() => rmSync(root, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// Child processes (cli_process.ts), run in `root` unless a test says otherwise: the tests that
// serve the current directory rely on it. Every one is killed after the file.

after(killAll);

const launch = (args: readonly string[], cwd = root) => launchProcess(args, { cwd });
const run = (args: readonly string[], cwd = root, script?: string) => runProcess(args, { cwd, script });
const startServer = (args: readonly string[]) => startServerProcess(args, { cwd: root });
const withServer = (args: readonly string[], body: (server: Running) => Promise<void>) => withServerProcess(args, body, { cwd: root });

async function get(port: number, path: string, host = "127.0.0.1") {
  const reply = await exchange(port, `GET ${path} HTTP/1.0\r\n\r\n`, { host, timeoutMs: 15_000 });
  const { head, body } = splitReply(reply);
  return { status: head.split("\r\n")[0], head, body: body.toString("utf8") };
}

function expectedBanner(host: string, port: number): string {
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return `Serving HTTP on ${host} port ${port} (http://${urlHost}:${port}/) ...\n`;
}

async function canListen(host: string, port: number, options: { ipv6Only?: boolean } = {}): Promise<boolean> {
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host, port, exclusive: true, ...options }, resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

const ipv6Loopback = canListen("::1", 0);

// ---------------------------------------------------------------------------------------------

describe("simplehttp --help", () => {
  for (const flag of ["-h", "--help"]) {
    test(`${flag} prints argparse's help for prog simplehttp on stdout and exits 0`, TIMEOUT, async () => {
      const result = await run([flag]);
      assertHelp(result.stdout);
      assert.equal(result.stderr, "");
      assert.equal(result.code, 0);
    });
  }

  test("help wins over an unknown option and a surplus argument after it", TIMEOUT, async () => {
    const result = await run(["--foo", "1", "2", "-h"]);
    assertHelp(result.stdout);
    assert.equal(result.code, 0);
  });
});

describe("usage errors: usage and one error line on stderr, exit status 2", () => {
  const cases: [args: string[], message: string][] = [
    [["abc"], "argument port: invalid int value: 'abc'"],
    [["--foo"], "unrecognized arguments: --foo"],
    [["8001", "--foo", "x", "--bar"], "unrecognized arguments: --foo x --bar"],
    [["-b"], "argument -b/--bind: expected one argument"],
    [["--bind"], "argument -b/--bind: expected one argument"],
    [["-d"], "argument -d/--directory: expected one argument"],
    [["-p", "--cgi"], "argument -p/--protocol: expected one argument"],
    [["--tls"], "ambiguous option: --tls could match --tls-cert, --tls-key, --tls-password-file"],
    [["--cgi=yes"], "argument --cgi: ignored explicit argument 'yes'"],
    [["--tls-key", "key.pem"], "--tls-key requires --tls-cert to be set"],
    [["--tls-password-file", "pw"], "--tls-password-file requires --tls-cert to be set"],
    [["70000"], "argument port: 70000 is not a port number (0 to 65535)"],
  ];
  testUsageErrors(cases, { cwd: root });

  test("an unreadable --tls-password-file gives Python's message", TIMEOUT, async () => {
    const result = await run(["--tls-cert", "cert.pem", "--tls-password-file", "/nonexistent"]);
    assert.equal(
      result.stderr,
      `${PYTHON_USAGE}simplehttp: error: Failed to read TLS password file: [Errno 2] No such file or directory: '/nonexistent'\n`,
    );
    assert.equal(result.code, 2);
  });
});

describe("--tls-cert, --tls-key, --tls-password-file: HTTPS", () => {
  const tlsFixture = (name: string) => fileURLToPath(new URL(`../../test/fixtures/tls/${name}`, import.meta.url));
  const HTTPS_BANNER = /^Serving HTTPS on 127\.0\.0\.1 port (\d+) \(https:\/\/127\.0\.0\.1:\1\/\) \.\.\.\n/;

  async function httpsGet(port: number, path: string): Promise<string> {
    const { connect: tlsConnect } = await import("node:tls");
    return new Promise((resolve, reject) => {
      let reply = "";
      const socket = tlsConnect({ port, host: "127.0.0.1", rejectUnauthorized: false }, () => socket.write(`GET ${path} HTTP/1.0\r\n\r\n`));
      socket.on("data", (chunk) => (reply += chunk));
      socket.on("close", () => resolve(reply));
      socket.on("error", reject);
    });
  }

  async function serveHttps(args: readonly string[], body: (port: number) => Promise<void>) {
    const proc = launch(["-b", "127.0.0.1", "-d", served, ...args, "0"]);
    try {
      await waitFor(() => HTTPS_BANNER.test(proc.stdout()) || proc.hasExited(), "the HTTPS banner", proc);
      const match = HTTPS_BANNER.exec(proc.stdout());
      assert.ok(match, `no HTTPS banner; stderr: ${proc.stderr()}`);
      await body(Number(match[1]));
    } finally {
      await stop(proc);
    }
  }

  test("serves files over TLS with the HTTPS banner", TIMEOUT, async () => {
    await serveHttps(["--tls-cert", tlsFixture("cert.pem"), "--tls-key", tlsFixture("key.pem")], async (port) => {
      const reply = await httpsGet(port, "/a.txt");
      assert.match(reply, /^HTTP\/1\.0 200 OK\r\n/);
      assert.ok(reply.endsWith("\r\n\r\nhello\n"));
    });
  });

  test("an encrypted key opens with --tls-password-file", TIMEOUT, async () => {
    const args = ["--tls-cert", tlsFixture("cert.pem"), "--tls-key", tlsFixture("key-encrypted.pem"), "--tls-password-file", tlsFixture("password.txt")];
    await serveHttps(args, async (port) => {
      assert.ok((await httpsGet(port, "/a.txt")).endsWith("hello\n"));
    });
  });

  const failures: [string, string[], string][] = [
    ["a wrong password", ["--tls-key", "key-encrypted.pem", "--tls-password-file", "wrong.txt"], "cannot decrypt the TLS key (wrong or missing password)"],
    ["a key that does not match", ["--tls-key", "other-key.pem"], "the TLS key does not match the certificate"],
  ];
  for (const [what, extra, message] of failures) {
    test(`${what} is one clear line and exit status 1`, TIMEOUT, async () => {
      writeFileSync(join(root, "wrong.txt"), "not the password\n");
      const args = ["--tls-cert", tlsFixture("cert.pem"), ...extra.map((a) => (a.startsWith("--") ? a : a.endsWith(".pem") ? tlsFixture(a) : join(root, a))), "0"];
      const result = await run(args);
      assert.equal(result.stderr, `simplehttp: error: ${message}\n`);
      assert.equal(result.stdout, "");
      assert.equal(result.code, 1);
    });
  }
});

describe("--cgi", () => {
  test("runs scripts in cgi-bin and prints Python's deprecation warning once", TIMEOUT, async () => {
    const site = mkdtempSync(join(tmpdir(), "simplehttp-cli-cgi-"));
    try {
      // As root, scripts run as nobody, who must be able to reach them.
      mkdirSync(join(site, "cgi-bin"));
      writeFileSync(join(site, "cgi-bin", "hi.sh"), "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"hi $QUERY_STRING\"\n", { mode: 0o755 });
      chmodSync(site, 0o755);
      chmodSync(join(site, "cgi-bin"), 0o755);
      await withServer(["--cgi", "-b", "127.0.0.1", "-d", site, "0"], async ({ port, proc }) => {
        for (const query of ["a=1", "b=2"]) {
          const reply = (await exchange(port, `GET /cgi-bin/hi.sh?${query} HTTP/1.0\r\n\r\n`)).toString();
          assert.match(reply, /^HTTP\/1\.0 200 Script output follows\r\n/);
          assert.ok(reply.endsWith(`\r\nContent-Type: text/plain\n\nhi ${query}\n`), reply);
        }
        const warnings = proc.stderr().split("\n").filter((line) => line.includes("Warning"));
        assert.deepEqual(warnings, [
          "DeprecationWarning: 'http.server.CGIHTTPRequestHandler' is deprecated and slated for removal in Python 3.15",
        ]);
      });
    } finally {
      rmSync(site, { recursive: true, force: true });
    }
  });
});

describe("startup failures: one line on stderr, exit status 1", () => {
  test("a port in use", TIMEOUT, async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: "127.0.0.1", port: 0, exclusive: true }, resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const result = await run(["-b", "127.0.0.1", String(port)]);
      assert.equal(result.stderr, `simplehttp: error: cannot bind 127.0.0.1 port ${port}: address already in use\n`);
      assert.equal(result.stdout, "");
      assert.equal(result.code, 1);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  test("a directory that does not exist (Python would start and answer 404)", TIMEOUT, async () => {
    const missing = join(root, "missing");
    const result = await run(["-d", missing, "0"]);
    assert.equal(result.stderr, `simplehttp: error: cannot serve ${missing}: no such directory\n`);
    assert.equal(result.stdout, "");
    assert.equal(result.code, 1);
  });

  test("a file given as the directory", TIMEOUT, async () => {
    const file = join(root, "b.txt");
    const result = await run(["-d", file, "0"]);
    assert.equal(result.stderr, `simplehttp: error: cannot serve ${file}: not a directory\n`);
    assert.equal(result.code, 1);
  });

  test("an address that does not resolve", TIMEOUT, async () => {
    const result = await run(["-b", "no-such-host.invalid", "0"]);
    assert.match(result.stderr, /^simplehttp: error: cannot resolve no-such-host\.invalid: [^\n]+\n$/);
    assert.equal(result.stdout, "");
    assert.equal(result.code, 1);
  });

  test("an address that is not this host's", TIMEOUT, async () => {
    const result = await run(["-b", "192.0.2.1", "0"]); // TEST-NET-1: never assigned locally
    assert.equal(result.stderr, "simplehttp: error: cannot bind 192.0.2.1 port 0: address not available on this host\n");
    assert.equal(result.code, 1);
  });
});

describe("serving", () => {
  test("port 0: the banner names the port the OS gave, and it serves", TIMEOUT, async () => {
    await withServer(["-b", "127.0.0.1", "0"], async ({ banner, port }) => {
      assert.ok(port > 0);
      assert.equal(banner, expectedBanner("127.0.0.1", port));
      const reply = await get(port, "/b.txt");
      assert.equal(reply.status, "HTTP/1.0 200 OK");
      assert.equal(reply.body, "from the cwd\n");
    });
  });

  test("--bind=ADDRESS works as -b ADDRESS does", TIMEOUT, async () => {
    await withServer(["--bind=127.0.0.1", "0"], async ({ banner, port }) => {
      assert.equal(banner, expectedBanner("127.0.0.1", port));
    });
  });

  test("-b ::1: the banner brackets the IPv6 host in the URL", TIMEOUT, async (t) => {
    if (!(await ipv6Loopback)) return t.skip("IPv6 loopback (::1) is not available on this host");
    await withServer(["-b", "::1", "0"], async ({ banner, port }) => {
      assert.equal(banner, `Serving HTTP on ::1 port ${port} (http://[::1]:${port}/) ...\n`);
      const reply = await get(port, "/b.txt", "::1");
      assert.equal(reply.status, "HTTP/1.0 200 OK");
    });
  });

  test("-b localhost binds the first address the name resolves to", TIMEOUT, async () => {
    const { address } = await lookup("localhost");
    await withServer(["-b", "localhost", "0"], async ({ banner, port }) => {
      assert.equal(banner, expectedBanner(address, port));
      assert.equal((await get(port, "/b.txt", address)).body, "from the cwd\n");
    });
  });

  test("no -b: one dual-stack socket on ::, reached over IPv4 and IPv6", TIMEOUT, async (t) => {
    await withServer(["0"], async ({ banner, host, port, proc }) => {
      if (host === "0.0.0.0") {
        assert.equal(banner, expectedBanner("0.0.0.0", port));
        return t.skip("this host has no IPv6: the server fell back to 0.0.0.0");
      }
      assert.equal(banner, `Serving HTTP on :: port ${port} (http://[::]:${port}/) ...\n`);
      assert.equal((await get(port, "/b.txt", "127.0.0.1")).body, "from the cwd\n");
      await waitFor(() => proc.stderr().includes("::ffff:127.0.0.1 - - ["), "the IPv4 request's log line", proc);
      if (!(await ipv6Loopback)) return t.skip("IPv6 loopback (::1) is not available on this host");
      assert.equal((await get(port, "/b.txt", "::1")).body, "from the cwd\n");
      await waitFor(() => proc.stderr().includes("\n::1 - - ["), "the IPv6 request's log line", proc);
    });
  });

  test("no port: port 8000, as Python", TIMEOUT, async (t) => {
    if (!(await canListen("::", 8000, { ipv6Only: false })) && !(await canListen("0.0.0.0", 8000))) {
      return t.skip("port 8000 is in use on this machine");
    }
    const proc = launch([]);
    try {
      await waitFor(() => BANNER.test(proc.stdout()) || proc.hasExited(), "the banner", proc);
      if (proc.hasExited() && proc.stderr().includes("address already in use")) {
        return t.skip("port 8000 was taken by another process meanwhile");
      }
      const match = BANNER.exec(proc.stdout());
      assert.ok(match);
      assert.equal(match[2], "8000");
      assert.equal((await get(8000, "/b.txt")).body, "from the cwd\n");
    } finally {
      await stop(proc);
    }
  });

  test("-d serves that directory, not the cwd", TIMEOUT, async () => {
    await withServer(["-b", "127.0.0.1", "-d", served, "0"], async ({ port }) => {
      const file = await get(port, "/a.txt");
      assert.equal(file.status, "HTTP/1.0 200 OK");
      assert.equal(file.body, "hello\n");
      assert.match((await get(port, "/b.txt")).status!, /^HTTP\/1\.0 404 /);
    });
  });

  test("--directory=DIR with a relative path resolves against the cwd", TIMEOUT, async () => {
    await withServer(["-b", "127.0.0.1", "--directory=served", "0"], async ({ port }) => {
      assert.equal((await get(port, "/a.txt")).body, "hello\n");
    });
  });

  test("each request is logged on stderr in Python's format", TIMEOUT, async () => {
    await withServer(["-b", "127.0.0.1", "0"], async ({ port, proc }) => {
      await get(port, "/b.txt");
      await waitFor(() => proc.stderr().includes("\n"), "a log line", proc);
      assert.match(proc.stderr(), new RegExp(`^127\\.0\\.0\\.1 - - ${LOG_DATE} "GET /b\\.txt HTTP/1\\.0" 200 -\\n$`));
      assert.equal(proc.stdout(), expectedBanner("127.0.0.1", port));
    });
  });

  test("-p HTTP/1.1 keeps the connection open for a second request", TIMEOUT, async () => {
    await withServer(["-b", "127.0.0.1", "-p", "HTTP/1.1", "0"], async ({ port }) => {
      const replies = await keepAliveRequests(port, ["/b.txt", "/b.txt"]);
      assert.equal(replies.length, 2);
      for (const reply of replies) {
        assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
        assert.ok(reply.endsWith("\r\n\r\nfrom the cwd\n"));
      }
    });
  });

  test("the default protocol is HTTP/1.0: the connection closes after one reply", TIMEOUT, async () => {
    await withServer(["-b", "127.0.0.1", "0"], async ({ port }) => {
      const reply = await exchange(port, "GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n", { timeoutMs: 15_000 });
      assert.match(reply.toString("latin1"), /^HTTP\/1\.0 200 OK\r\n[^]*\r\n\r\nfrom the cwd\n$/);
    });
  });
});

describe("stopping", () => {
  test("SIGINT prints Python's message on stdout and exits 0", TIMEOUT, async () => {
    const server = await startServer(["-b", "127.0.0.1", "0"]);
    try {
      server.proc.child.kill("SIGINT");
      const exit = await server.proc.exited;
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.equal(server.proc.stdout(), server.banner + "\nKeyboard interrupt received, exiting.\n");
    } finally {
      await stop(server.proc);
    }
  });

  test("SIGINT exits at once even with an idle keep-alive connection open", TIMEOUT, async () => {
    const server = await startServer(["-b", "127.0.0.1", "-p", "HTTP/1.1", "0"]);
    const socket = connect(server.port, "127.0.0.1");
    socket.on("error", () => {});
    try {
      let received = "";
      socket.setEncoding("latin1").on("data", (chunk: string) => (received += chunk));
      socket.write("GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n");
      await waitFor(() => received.endsWith("from the cwd\n"), "the first reply", server.proc);
      server.proc.child.kill("SIGINT");
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
    } finally {
      socket.destroy();
      await stop(server.proc);
    }
  });

  test("SIGTERM shuts down cleanly: exit 0, nothing more printed", TIMEOUT, async () => {
    const server = await startServer(["-b", "127.0.0.1", "0"]);
    try {
      server.proc.child.kill("SIGTERM");
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
      assert.equal(server.proc.stdout(), server.banner);
      assert.equal(server.proc.stderr(), "");
    } finally {
      await stop(server.proc);
    }
  });
});

describe("the module and the bin", () => {
  test("importing main.js runs nothing", TIMEOUT, async () => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", `await import(${JSON.stringify(pathToFileURL(MAIN).href)})`], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let output = "";
      child.stdout!.on("data", (chunk) => (output += chunk));
      child.stderr!.on("data", (chunk) => (output += chunk));
      const code = await new Promise((resolve) => child.on("close", resolve));
      assert.equal(output, "");
      assert.equal(code, 0);
    } finally {
      child.kill("SIGKILL"); // nothing if it has exited
    }
  });

  test("run through a symlink (as npm's bin does), it is still the entry point", TIMEOUT, async () => {
    const link = join(root, "simplehttp");
    symlinkSync(MAIN, link);
    const result = await run(["--help"], root, link);
    assertHelp(result.stdout);
  });
});

describe("parseCommandLine (in-process)", () => {
  const base: CommandLine = { cgi: false, bind: null, directory: "/cwd", protocol: "HTTP/1.0", port: 8000, tls_cert: null, tls_key: null, tls_password_file: null, tls_password: null,
    etag: false, cors: false, headers: [], cache_control: null, compress: false, precompressed: false, spa: null,
    watch: false, open: false, quiet: false, workers: 1, listing: "python", charset: null, dotfiles: true,
    upload: false, upload_overwrite: false, upload_mkdir: false, auth: null, auth_scope: "all",
    allow_delete: false, allow_mkdir: false, allow_move: false, webdav: null, dev: false, additions: false };
  const cases: [args: string[], expected: Partial<CommandLine>][] = [
    [[], {}],
    [["8080"], { port: 8080 }],
    [[" 1_0 "], { port: 10 }],
    [["-b", "::1"], { bind: "::1" }],
    [["-b::1"], { bind: "::1" }],
    [["-b=::1"], { bind: "::1" }],
    [["--bind=::1"], { bind: "::1" }],
    [["--bi", "x"], { bind: "x" }],
    [["--b=x"], { bind: "x" }],
    [["-b", "-"], { bind: "-" }],
    [["-b", "a", "-b", "c"], { bind: "c" }],
    [["-d", "dir", "-p", "HTTP/1.1", "9"], { directory: "dir", protocol: "HTTP/1.1", port: 9 }],
    [["--", "9"], { port: 9 }],
    [["-p", "HTTP/1.1", "--cgi", "5"], { protocol: "HTTP/1.1", cgi: true, port: 5 }],
    [["--tls-c", "c.pem", "--tls-k=k.pem"], { tls_cert: "c.pem", tls_key: "k.pem" }],
  ];
  for (const [args, expected] of cases) {
    test(`[${args.map((arg) => JSON.stringify(arg)).join(", ")}]`, () => {
      assert.deepEqual(parseCommandLine(args, "/cwd"), { ...base, ...expected });
    });
  }

  const errors: [args: string[], message: string][] = [
    [["abc", "-h"], "argument port: invalid int value: 'abc'"],
    [["0x10"], "argument port: invalid int value: '0x10'"],
    [["-b", "-x"], "argument -b/--bind: expected one argument"],
    [["-b", "--"], "argument -b/--bind: expected one argument"],
    [["-hb"], "argument -b/--bind: expected one argument"],
    [["-h=x"], "argument -h/--help: ignored explicit argument 'x'"],
    [["--", "-b"], "argument port: invalid int value: '-b'"],
    [["5", "--", "6"], "unrecognized arguments: 6"],
    [["-x", "--foo=1"], "unrecognized arguments: -x --foo=1"],
    [["-5"], "argument port: -5 is not a port number (0 to 65535)"],
  ];
  for (const [args, message] of errors) {
    test(`[${args.map((arg) => JSON.stringify(arg)).join(", ")}] → ${message}`, () => {
      assert.throws(() => parseCommandLine(args, "/cwd"), (error) => error instanceof UsageError && error.message === message);
    });
  }

  test("-h anywhere before a bad argument asks for help", () => {
    assert.equal(parseCommandLine(["-h", "abc"]), "help");
    assert.equal(parseCommandLine(["5", "abc", "-h"]), "help");
    assert.equal(parseCommandLine(["-hcgi"]), "help");
  });
});

/** Sends requests one after another on one connection; returns each full reply (by Content-Length). */
function keepAliveRequests(port: number, paths: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const replies: string[] = [];
    let buffer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timed out; got ${JSON.stringify(replies)} and ${JSON.stringify(buffer)}`));
    }, 15_000);
    const send = () => socket.write(`GET ${paths[replies.length]} HTTP/1.1\r\nHost: x\r\n\r\n`);
    socket.setEncoding("latin1");
    socket.on("connect", send);
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      const end = buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      const length = Number(/\r\nContent-Length: (\d+)/i.exec(buffer.slice(0, end))?.[1] ?? NaN);
      if (buffer.length < end + 4 + length) return;
      replies.push(buffer.slice(0, end + 4 + length));
      buffer = buffer.slice(end + 4 + length);
      if (replies.length < paths.length) return send();
      clearTimeout(timer);
      socket.destroy();
      resolve(replies);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      if (replies.length < paths.length) reject(new Error(`closed after ${replies.length} replies`));
    });
    socket.on("error", reject);
  });
}
