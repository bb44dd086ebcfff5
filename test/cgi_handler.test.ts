/** CGIHTTPRequestHandler over loopback: paths, errors, environment, argv, body, output, logs, timeouts. */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { chmod, cp, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CGIHTTPRequestHandler,
  CGI_DEPRECATION_MESSAGE,
  IndexError,
  _url_collapse_path,
  executable,
  nobody_uid,
} from "../src/server/cgi_handler.js";
import type { Address } from "../src/socketserver/address.js";
import { percentFormat } from "../src/py/format.js";
import { captureStderr, hasCommand, masked, serve, sleep, type Running } from "./helpers.js";
import { killAll, launch, stop, waitFor } from "./cli_process.js";
import { waitFor as waitUntil } from "./hostile.js";

const FIXTURES = fileURLToPath(new URL("../../test/fixtures/", import.meta.url));
const LONG = { timeout: 120_000 };

// ---------------------------------------------------------------------------------------------
// Fixtures: copied into a fresh folder that `nobody` can traverse (git keeps only the x bit).

async function makeSite(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "simplehttp-cgi-"));
  await cp(join(FIXTURES, "cgi-site"), root, { recursive: true });
  await cp(join(FIXTURES, "cgi-bin"), join(root, "cgi-bin"), { recursive: true });
  await openUp(root);
  await chmod(join(root, "cgi-bin", "noexec.sh"), 0o644);
  return root;
}

/** chmod 755 on every directory and script, 644 on other files. */
async function openUp(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await openUp(path);
    else await chmod(path, /\.(sh|py)$/.test(entry.name) ? 0o755 : 0o644);
  }
}

// ---------------------------------------------------------------------------------------------
// Handlers and servers.

const logs: string[] = [];

type Ctor = new (request: Socket, client_address: Address, server: any) => CGIHTTPRequestHandler;

/** A CGI handler serving `root`, logging into `logs` instead of stderr. */
function handlerFor(root: string): Ctor {
  return class extends CGIHTTPRequestHandler {
    constructor(request: Socket, client_address: Address, server: any) {
      super(request, client_address, server, { directory: root });
    }
    override log_message(format: string, ...args: unknown[]): void {
      logs.push(percentFormat(format, args));
    }
  };
}

let root: string;
let Handler: Ctor;
let site: Running;
const extraServers: Running[] = [];

before(async () => {
  root = await makeSite();
  Handler = handlerFor(root);
  site = await serve(Handler);
});

after(async () => {
  killAll();
  await site?.close();
  for (const server of extraServers) await server.close();
  if (root) await rm(root, { recursive: true, force: true });
});

async function serveExtra(HandlerClass: Ctor): Promise<Running> {
  const running = await serve(HandlerClass);
  extraServers.push(running);
  return running;
}

interface Talk {
  reply: Buffer;
  /** True when the server closed the connection (false: we gave up waiting). */
  closed: boolean;
}

/** Sends raw bytes, collects the reply until the server closes (or `timeoutMs`). */
function talk(port: number, data: string | Buffer, timeoutMs = 60_000): Promise<Talk> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, "127.0.0.1");
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply: Buffer.concat(chunks), closed });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on("connect", () => socket.write(data));
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("end", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("error", (error: NodeJS.ErrnoException) => (error.code === "ECONNRESET" ? finish(true) : reject(error)));
  });
}

/** A request with `headers` (`Name: value` lines) and an optional body. */
function requestBytes(method: string, target: string, headers: string[] = [], body?: Buffer | string): Buffer {
  const head = [`${method} ${target} HTTP/1.0`, ...headers, "", ""].join("\r\n");
  return Buffer.concat([Buffer.from(head, "latin1"), body === undefined ? Buffer.alloc(0) : Buffer.from(body)]);
}

async function fetchRaw(target: string, options: { method?: string; headers?: string[]; body?: Buffer | string; port?: number } = {}) {
  const { reply, closed } = await talk(options.port ?? site.port, requestBytes(options.method ?? "GET", target, options.headers, options.body));
  assert.ok(closed, `the server closed the connection after ${target}`);
  return reply;
}

/** The server's part (status line, Server, Date) and the script's output after it. */
function cgiParts(reply: Buffer): { status: string; head: string; output: Buffer } {
  const text = reply.toString("latin1");
  const date = text.search(/^Date: .*\r\n/m);
  assert.ok(date >= 0, `a Date header in ${JSON.stringify(text.slice(0, 200))}`);
  const end = text.indexOf("\r\n", date) + 2;
  return { status: text.slice(0, text.indexOf("\r\n")), head: text.slice(0, end), output: reply.subarray(end) };
}

/** The body the script printed after its own header block. */
function scriptBody(reply: Buffer): string {
  const output = cgiParts(reply).output.toString("latin1");
  const blank = output.indexOf("\n\n");
  assert.ok(blank >= 0, `a blank line after the script's headers in ${JSON.stringify(output.slice(0, 200))}`);
  return output.slice(blank + 2);
}

/** `KEY=value` lines as a map (the first occurrence wins). */
function keyValues(body: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of body.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0 && !map.has(line.slice(0, eq))) map.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return map;
}

async function envOf(target: string, headers: string[] = [], method = "GET", body?: string): Promise<Map<string, string>> {
  const reply = await fetchRaw(target, { headers, method, body });
  assert.equal(cgiParts(reply).status, "HTTP/1.0 200 Script output follows");
  return keyValues(scriptBody(reply));
}

function statusLine(reply: Buffer): string {
  const text = reply.toString("latin1");
  return text.slice(0, text.indexOf("\r\n"));
}

/** True while `pid` exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/**
 * Waits (10 s at most) for `pid` to be gone. A process closes its files before it becomes a
 * zombie, so the end of the reply can come a moment before the process is marked dead.
 */
async function gone(pid: number): Promise<boolean> {
  for (let waited = 0; waited < 10_000 && alive(pid); waited += 50) await sleep(50);
  return !alive(pid);
}

const isRoot = process.geteuid?.() === 0;

/** nobody's uid and gid from /etc/passwd. */
function nobodyFromPasswd(): { uid: number; gid: number } | null {
  for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
    const fields = line.split(":");
    if (fields[0] === "nobody") return { uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// _url_collapse_path and is_cgi.

test("_url_collapse_path() matches Python's test_url_collapse_path vector table", () => {
  const vectors: [string, string | typeof IndexError][] = [
    ["", "//"],
    ["..", IndexError],
    ["/.//..", IndexError],
    ["/", "//"],
    ["//", "//"],
    ["/\\", "//\\"],
    ["/.//", "//"],
    ["cgi-bin/file1.py", "/cgi-bin/file1.py"],
    ["/cgi-bin/file1.py", "/cgi-bin/file1.py"],
    ["a", "//a"],
    ["/a", "//a"],
    ["//a", "//a"],
    ["./a", "//a"],
    ["./C:/", "/C:/"],
    ["/a/b", "/a/b"],
    ["/a/b/", "/a/b/"],
    ["/a/b/.", "/a/b/"],
    ["/a/b/c/..", "/a/b/"],
    ["/a/b/c/../d", "/a/b/d"],
    ["/a/b/c/../d/e/../f", "/a/b/d/f"],
    ["/a/b/c/../d/e/../../f", "/a/b/f"],
    ["/a/b/c/../d/e/.././././..//f", "/a/b/f"],
    ["../a/b/c/../d/e/.././././..//f", IndexError],
    ["/a/b/c/../d/e/../../../f", "/a/f"],
    ["/a/b/c/../d/e/../../../../f", "//f"],
    ["/a/b/c/../d/e/../../../../../f", IndexError],
    ["/a/b/c/../d/e/../../../../f/..", "//"],
    ["/a/b/c/../d/e/../../../../f/../.", "//"],
  ];
  for (const [path, expected] of vectors) {
    if (typeof expected === "string") {
      assert.equal(_url_collapse_path(path), expected, `path = ${JSON.stringify(path)}`);
    } else {
      assert.throws(() => _url_collapse_path(path), expected, `path = ${JSON.stringify(path)}`);
    }
  }
});

test("_url_collapse_path() keeps the query aside, decodes %2f and throws a RangeError named IndexError", () => {
  assert.equal(_url_collapse_path("/cgi-bin%2ffile1.py"), "/cgi-bin/file1.py");
  assert.equal(_url_collapse_path("/a/../b?x=/../../y"), "//b?x=/../../y");
  assert.equal(_url_collapse_path("/a/b?"), "/a/b");
  const error = (() => {
    try {
      _url_collapse_path("/..");
    } catch (caught) {
      return caught;
    }
    return null;
  })();
  assert.ok(error instanceof RangeError);
  assert.equal((error as Error).name, "IndexError");
});

function bareHandler(path: string, Class: Ctor = Handler): CGIHTTPRequestHandler {
  const handler = new Class({} as Socket, ["127.0.0.1", 0], {});
  handler.path = path;
  return handler;
}

test("is_cgi() accepts a cgi directory followed by '/', and sets cgi_info", () => {
  const cases: [string, [string, string] | null][] = [
    ["/cgi-bin/x.py", ["/cgi-bin", "x.py"]],
    ["/cgi-bin/x.py/more/info?q=1", ["/cgi-bin", "x.py/more/info?q=1"]],
    ["/cgi-bin/", ["/cgi-bin", ""]],
    ["/htbin/a", ["/htbin", "a"]],
    ["/cgi-bin%2fx.py", ["/cgi-bin", "x.py"]],
    ["cgi-bin/x.py", ["/cgi-bin", "x.py"]],
    ["/a/../cgi-bin/./x.py", ["/cgi-bin", "x.py"]],
    ["/cgi-bin", null],
    ["/cgi-binx/y", null],
    ["/a/cgi-bin/x", null],
    ["/x.py?/cgi-bin/y", null],
  ];
  for (const [path, info] of cases) {
    const handler = bareHandler(path);
    assert.equal(handler.is_cgi(), info !== null, path);
    if (info) assert.deepEqual(handler.cgi_info, info, path);
  }
  assert.throws(() => bareHandler("/../cgi-bin/x").is_cgi(), IndexError);
});

test("class attributes: cgi_directories, have_fork, rbufsize, cgi_timeout (static and per instance)", () => {
  assert.deepEqual(CGIHTTPRequestHandler.cgi_directories, ["/cgi-bin", "/htbin"]);
  assert.equal(CGIHTTPRequestHandler.have_fork, process.platform !== "win32");
  assert.equal(CGIHTTPRequestHandler.rbufsize, 0);
  assert.equal(CGIHTTPRequestHandler.cgi_timeout, 60);
  const handler = bareHandler("/");
  assert.equal(handler.cgi_directories, CGIHTTPRequestHandler.cgi_directories);
  assert.equal(handler.have_fork, CGIHTTPRequestHandler.have_fork);
  assert.equal(handler.rbufsize, 0);
  assert.equal(handler.cgi_timeout, 60);
  class Short extends (Handler as typeof CGIHTTPRequestHandler) {
    static override cgi_timeout = 5;
    static override cgi_directories = ["/scripts"];
  }
  const short = bareHandler("/scripts/a", Short as unknown as Ctor);
  assert.equal(short.cgi_timeout, 5);
  assert.equal(short.is_cgi(), true);
});

test("is_python(), is_executable(), executable() and nobody_uid()", () => {
  const handler = bareHandler("/");
  assert.equal(handler.is_python("/cgi-bin/a.py"), true);
  assert.equal(handler.is_python("/cgi-bin/a.PYW"), true);
  assert.equal(handler.is_python("/cgi-bin/a.sh"), false);
  assert.equal(handler.is_python("/cgi-bin/py"), false);
  assert.equal(handler.is_executable(join(root, "cgi-bin", "env.sh")), true);
  assert.equal(executable(join(root, "cgi-bin", "env.sh")), true);
  assert.equal(executable(join(root, "no-such-file")), false);
  if (!isRoot) assert.equal(executable(join(root, "cgi-bin", "noexec.sh")), false);
  const nobody = nobodyFromPasswd();
  if (nobody) assert.equal(nobody_uid(), nobody.uid);
  else assert.ok(nobody_uid() > 0);
});

// ---------------------------------------------------------------------------------------------
// Running scripts.

test("GET runs a script: 200 Script output follows, Server, Date, then the script's own bytes", LONG, async () => {
  const reply = await fetchRaw("/cgi-bin/hello.py");
  assert.equal(
    masked(reply),
    "HTTP/1.0 200 Script output follows\r\nServer: <server>\r\nDate: <date>\r\nContent-type: text/html\n\nHello World\n",
  );
  assert.match(reply.toString("latin1"), /^Server: SimpleHTTP\/0\.6 Node\.js\/\d/m);
  assert.deepEqual(logs.slice(-1), ['"GET /cgi-bin/hello.py HTTP/1.0" 200 -']);
});

test("HEAD runs the script too and sends its whole output", LONG, async () => {
  const reply = await fetchRaw("/cgi-bin/hello.py", { method: "HEAD" });
  assert.equal(masked(reply), "HTTP/1.0 200 Script output follows\r\nServer: <server>\r\nDate: <date>\r\nContent-type: text/html\n\nHello World\n");
});

test("a path without a leading slash runs the script (issue2254)", LONG, async () => {
  assert.equal(scriptBody(await fetchRaw("cgi-bin/hello.py")), "Hello World\n");
});

test("%2f counts as a separator in the CGI check (test_urlquote_decoding_in_cgi_check)", LONG, async () => {
  assert.equal(scriptBody(await fetchRaw("/cgi-bin%2fhello.py")), "Hello World\n");
});

test("a script in a nested directory runs, with the rest as PATH_INFO (issue21323)", LONG, async () => {
  const env = keyValues(scriptBody(await fetchRaw("/cgi-bin/child-dir/nested.sh/extra/p%20th?x=1")));
  assert.equal(env.get("SCRIPT_NAME"), "/cgi-bin/child-dir/nested.sh");
  assert.equal(env.get("PATH_INFO"), "/extra/p th");
  assert.equal(env.get("QUERY_STRING"), "x=1");
});

test("a query with several '?' and with runs of slashes reaches QUERY_STRING untouched", LONG, async () => {
  assert.equal(scriptBody(await fetchRaw("/cgi-bin/query.py?a=b?c=d")), "a=b?c=d\n");
  assert.equal(scriptBody(await fetchRaw("/cgi-bin/query.py?k=aa%2F%2Fbb&//q//p//=//a//b//")), "k=aa%2F%2Fbb&//q//p//=//a//b//\n");
});

test("cgi_directories extended in a subclass, or on the class itself, adds script directories", LONG, async () => {
  class Sub extends (Handler as typeof CGIHTTPRequestHandler) {
    static override cgi_directories = [...CGIHTTPRequestHandler.cgi_directories, "/sub/dir/cgi-bin"];
  }
  const sub = await serveExtra(Sub as unknown as Ctor);
  assert.equal(scriptBody(await fetchRaw("/sub/dir/cgi-bin/file5.sh", { port: sub.port })), "file5\n");
  // The base class serves it as a file.
  const asFile = await fetchRaw("/sub/dir/cgi-bin/file5.sh");
  assert.match(asFile.toString("latin1"), /^HTTP\/1\.0 200 OK\r\n/);
  assert.match(asFile.toString("latin1"), /Runs only when/);
  // Python's test_cgi_path_in_sub_directories appends to the class's own list.
  CGIHTTPRequestHandler.cgi_directories.push("/sub/dir/cgi-bin");
  try {
    assert.equal(scriptBody(await fetchRaw("/sub/dir/cgi-bin/file5.sh")), "file5\n");
  } finally {
    CGIHTTPRequestHandler.cgi_directories.pop();
  }
  assert.deepEqual(CGIHTTPRequestHandler.cgi_directories, ["/cgi-bin", "/htbin"]);
});

test("paths outside the CGI directories are served as files; nocgi.py is not run", LONG, async () => {
  const reply = await fetchRaw("/nocgi.py");
  assert.match(reply.toString("latin1"), /^HTTP\/1\.0 200 OK\r\n/);
  assert.match(reply.toString("latin1"), /print\("Hello World"\)/);
  assert.match((await fetchRaw("/plain.txt")).toString("latin1"), /\r\n\r\nplain text\n$/);
});

// ---------------------------------------------------------------------------------------------
// No spelling runs a file outside the CGI directories (issue 11, item 3).

/**
 * Dot segments as a client may spell them: once, twice and three times percent-encoded, in
 * either case, half-encoded, and with the hex digits of a `%2e` encoded themselves.
 */
const DOT_DOTS = [
  "..", "%2e%2e", "%2E%2E", "%2e.", ".%2E", "%252e%252e", "%252E%252E", "%252e.", ".%252E",
  "%25%32%65%25%32%65", "%%32%65%%32%65", "%25252e%25252e", "%2525%32%65%2525%32%65",
];
/** Separators: slashes encoded once or twice, backslashes, doubled slashes, `;` parameters, `.` segments. */
const SEPARATORS = ["/", "%2f", "%2F", "%252f", "%252F", "\\", "%5c", "%5C", "%255c", "//", "/./", "/%2e/", "/%252e/", ";/", "/;x/"];
/** Where the climb starts, with D standing for a dot segment and S for a separator. */
const ESCAPE_FORMS = [
  "/cgi-binSDSoutside.sh",
  "/cgi-binSDSsubSoutside.sh",
  "/cgi-bin/subSDSDSoutside.sh",
  "/htbinSDSoutside.sh",
  "/cgi-bin/inside.shSDSDSoutside.sh",
  "/cgi-bin/DSoutside.sh;x",
  "/subSDScgi-binSDSoutside.sh",
];

/** Every escape spelling, each with and without a query. */
function escapeTargets(forms = ESCAPE_FORMS, dots = DOT_DOTS, separators = SEPARATORS): string[] {
  const targets: string[] = [];
  for (const form of forms) {
    for (const dot of dots) {
      for (const sep of separators) {
        const target = form.replace(/S/g, sep).replace(/D/g, dot);
        targets.push(target, `${target}?arg`);
      }
    }
  }
  return targets;
}

/** The fixture with an executable outside the CGI directories, in a fresh folder nobody can traverse. */
async function makeEscapeSite(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "simplehttp-cgi-escape-"));
  await cp(join(FIXTURES, "cgi-escape"), dir, { recursive: true });
  await openUp(dir);
  return dir;
}

/** Sends one request and resolves with the whole reply (plain TCP, or TLS). */
type Send = (request: string) => Promise<Buffer>;

const plainSender = (port: number): Send => async (request) => (await talk(port, request, 20_000)).reply;

function tlsSender(port: number): Send {
  return (request) =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = tlsConnect({ port, host: "127.0.0.1", rejectUnauthorized: false }, () => socket.write(request));
      const timer = setTimeout(() => socket.destroy(), 20_000);
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("close", () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      });
      socket.on("error", (error: NodeJS.ErrnoException) => (error.code === "ECONNRESET" ? undefined : reject(error)));
    });
}

/** Sends each target (GET, HEAD, POST in turn) and returns the replies that ran a script outside. */
async function escapes(send: Send, targets: string[], version = "HTTP/1.0"): Promise<string[]> {
  const ran: string[] = [];
  const methods = ["GET", "HEAD", "POST"];
  for (let i = 0; i < targets.length; i++) {
    const method = methods[i % methods.length]!;
    const extra = method === "POST" ? "Content-Length: 0\r\n" : "";
    const reply = await send(`${method} ${targets[i]} ${version}\r\nHost: x\r\nConnection: close\r\n${extra}\r\n`);
    const text = reply.toString("latin1");
    if (text.includes("EXECUTED-OUTSIDE")) ran.push(`${method} ${targets[i]} → ${text.slice(0, text.indexOf("\r\n"))}`);
  }
  return ran;
}

test("no spelling of a climb out of cgi-bin runs a file outside the CGI directories (HTTP/1.0 and HTTP/1.1)", LONG, async () => {
  const dir = await makeEscapeSite();
  try {
    for (const version of ["HTTP/1.0", "HTTP/1.1"]) {
      const Escaping = class extends (handlerFor(dir) as unknown as typeof CGIHTTPRequestHandler) {
        static override protocol_version = version;
      };
      const running = await serveExtra(Escaping as unknown as Ctor);
      const targets = escapeTargets();
      assert.ok(targets.length > 2000);
      assert.deepEqual(await escapes(plainSender(running.port), targets, version), []);
      // The scripts inside still run, whatever the spelling that reaches them.
      for (const target of ["/cgi-bin/inside.sh", "/cgi-bin/sub/inside.sh", "/htbin/inside.sh", "/cgi-bin%2finside.sh", "/cgi-bin/sub/../inside.sh", "/cgi-bin/sub/%2e%2e/inside.sh"]) {
        const { reply } = await talk(running.port, `GET ${target} ${version}\r\nHost: x\r\nConnection: close\r\n\r\n`);
        assert.match(reply.toString("latin1"), /EXECUTED-INSIDE/, target);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("through the command line: --cgi with --workers 2, over TLS with -p HTTP/1.1 and over plain HTTP/1.0", LONG, async () => {
  const dir = await makeEscapeSite();
  const tls = (name: string) => join(FIXTURES, "tls", name);
  const targets = escapeTargets(ESCAPE_FORMS.slice(0, 2));
  try {
    const modes: [string[], (port: number) => Send, string][] = [
      [["--workers", "2", "--tls-cert", tls("cert.pem"), "--tls-key", tls("key.pem"), "-p", "HTTP/1.1"], tlsSender, "HTTP/1.1"],
      [["--workers", "2"], plainSender, "HTTP/1.0"],
    ];
    for (const [args, sender, version] of modes) {
      const proc = launch(["--cgi", "-b", "127.0.0.1", "-d", dir, ...args, "0"]);
      try {
        await waitFor(() => /port (\d+)/.test(proc.stdout()) || proc.hasExited(), "the banner", proc);
        const send = sender(Number(/port (\d+)/.exec(proc.stdout())![1]));
        assert.deepEqual(await escapes(send, targets, version), [], args.join(" "));
        assert.match((await send(`GET /cgi-bin/inside.sh ${version}\r\nHost: x\r\nConnection: close\r\n\r\n`)).toString("latin1"), /EXECUTED-INSIDE/);
      } finally {
        await stop(proc);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a raw '#' ends the path for is_cgi() as for translate_path: /cgi-bin/x.sh#/../.. runs x.sh, never serves its source", LONG, async () => {
  const dir = await makeEscapeSite();
  try {
    const running = await serveExtra(handlerFor(dir));
    for (const target of ["/cgi-bin/inside.sh#/../..", "/cgi-bin/inside.sh#/..", "/cgi-bin/inside.sh#x"]) {
      const reply = (await fetchRaw(target, { port: running.port })).toString("latin1");
      assert.match(reply, /^HTTP\/1\.0 200 Script output follows\r\n/, target);
      assert.match(reply, /EXECUTED-INSIDE/, target);
      assert.ok(!reply.includes('printf "EXECUTED'), `${target} served the script's source`);
    }
    // A '#' in the query is part of QUERY_STRING, as in Python.
    const env = await envOf("/cgi-bin/env.sh?a#b");
    assert.equal(env.get("QUERY_STRING"), "a#b");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a twice-encoded climb is judged and run from one decoding: /cgi-bin/%252e%252e/x names the script '%2e%2e'", LONG, async () => {
  const dir = await makeEscapeSite();
  try {
    const running = await serveExtra(handlerFor(dir));
    const reply = await fetchRaw("/cgi-bin/%252e%252e/outside.sh?arg", { port: running.port });
    assert.equal(statusLine(reply), "HTTP/1.0 404 No such CGI script ('/cgi-bin/%2e%2e')");
    // Once decoded, it is the file outside.sh is, served as a file; it does not run either.
    const served = (await fetchRaw("/cgi-bin/%2e%2e/outside.sh", { port: running.port })).toString("latin1");
    assert.match(served, /^HTTP\/1\.0 200 OK\r\n/);
    assert.match(served, /printf "EXECUTED-%s %s\\n" OUTSIDE/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Errors.

function errorPage(code: number, message: string, explain: string): string {
  const escaped = message.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return `<p>Error code: ${code}</p>\n        <p>Message: ${escaped}.</p>\n        <p>Error code explanation: ${code} - ${explain}.</p>`;
}

test("404 No such CGI script, with the script name in Python's repr", LONG, async () => {
  const reply = await fetchRaw("/cgi-bin/nothere.sh");
  const text = masked(reply);
  assert.ok(
    text.startsWith(
      "HTTP/1.0 404 No such CGI script ('/cgi-bin/nothere.sh')\r\nServer: <server>\r\nDate: <date>\r\nConnection: close\r\nContent-Type: text/html;charset=utf-8\r\nContent-Length: ",
    ),
    text,
  );
  assert.ok(text.includes(errorPage(404, "No such CGI script ('/cgi-bin/nothere.sh')", "Nothing matches the given URI")));
  assert.equal(statusLine(await fetchRaw("///////////nocgi.py/../cgi-bin/nothere.sh")), "HTTP/1.0 404 No such CGI script ('/cgi-bin/nothere.sh')");
  assert.equal(statusLine(await fetchRaw("/cgi-bin/it's")), `HTTP/1.0 404 No such CGI script ("/cgi-bin/it's")`);
});

test("403 for a directory and for a script that is not executable", LONG, async () => {
  assert.equal(statusLine(await fetchRaw("/cgi-bin/")), "HTTP/1.0 403 CGI script is not a plain file ('/cgi-bin/')");
  assert.equal(statusLine(await fetchRaw("/cgi-bin/child-dir")), "HTTP/1.0 403 CGI script is not a plain file ('/cgi-bin/child-dir')");
  // Mode 644: even root may not execute a file without any x bit.
  const reply = await fetchRaw("/cgi-bin/noexec.sh");
  assert.equal(statusLine(reply), "HTTP/1.0 403 CGI script is not executable ('/cgi-bin/noexec.sh')");
  assert.ok(masked(reply).includes(errorPage(403, "CGI script is not executable ('/cgi-bin/noexec.sh')", "Request forbidden -- authorization will not help")));
  assert.ok(!reply.toString("latin1").includes("should not run"));
});

test("/cgi-bin is redirected to /cgi-bin/ (it is not a CGI path); /cgi-bin/ is a 403", LONG, async () => {
  assert.equal(
    masked(await fetchRaw("/cgi-bin?x=1")),
    "HTTP/1.0 301 Moved Permanently\r\nServer: <server>\r\nDate: <date>\r\nLocation: /cgi-bin/?x=1\r\nContent-Length: 0\r\n\r\n",
  );
  assert.match(statusLine(await fetchRaw("/cgi-bin/")), /^HTTP\/1\.0 403 /);
});

test("POST outside the CGI directories is 501 Can only POST to CGI scripts", LONG, async () => {
  const reply = await fetchRaw("/plain.txt", { method: "POST", headers: ["Content-Length: 3"], body: "abc" });
  assert.equal(statusLine(reply), "HTTP/1.0 501 Can only POST to CGI scripts");
  assert.ok(reply.toString("latin1").includes(errorPage(501, "Can only POST to CGI scripts", "Server does not support this operation")));
});

test("a path above the root gets 400 Bad request path (Python drops the connection)", LONG, async () => {
  for (const [method, target] of [
    ["GET", "/.."],
    ["HEAD", "/../cgi-bin/hello.py"],
    ["POST", "/a/../../cgi-bin/hello.py"],
  ] as const) {
    const reply = await fetchRaw(target, { method });
    assert.equal(statusLine(reply), `HTTP/1.0 400 Bad request path ('${target}')`);
    assert.ok(!reply.toString("latin1").includes("Hello World"));
  }
  assert.ok(logs.includes(`code 400, message Bad request path ('/..')`));
});

// ---------------------------------------------------------------------------------------------
// The environment.

test("the CGI environment: every variable of the table", LONG, async () => {
  const env = await envOf("/cgi-bin/env.sh/a%20b/c?x=1&y=%41+z", [
    "Host: example",
    "Authorization: Basic " + Buffer.from("username:pass").toString("base64"),
    "Content-Type: Application/JSON; charset=x",
    "Content-Length: 0",
    "Referer: http://ref/",
    "Accept: text/html",
    "ACCEPT: text/plain",
    "User-Agent: tester/1.0",
    "Cookie: a=1",
    "Cookie: ",
    "Cookie: b=2",
  ]);
  assert.equal(env.get("SERVER_SOFTWARE"), bareHandler("/").version_string());
  assert.equal(env.get("SERVER_NAME"), (site.server as unknown as { server_name: string }).server_name);
  assert.equal(env.get("GATEWAY_INTERFACE"), "CGI/1.1");
  assert.equal(env.get("SERVER_PROTOCOL"), "HTTP/1.0");
  assert.equal(env.get("SERVER_PORT"), String(site.port));
  assert.equal(env.get("REQUEST_METHOD"), "GET");
  assert.equal(env.get("PATH_INFO"), "/a b/c");
  assert.equal(env.get("PATH_TRANSLATED"), join(root, "a b", "c"));
  assert.equal(env.get("SCRIPT_NAME"), "/cgi-bin/env.sh");
  assert.equal(env.get("QUERY_STRING"), "x=1&y=%41+z");
  assert.equal(env.get("REMOTE_ADDR"), "127.0.0.1");
  assert.equal(env.get("REMOTE_HOST"), "");
  assert.equal(env.get("AUTH_TYPE"), "Basic");
  assert.equal(env.get("REMOTE_USER"), "username");
  assert.equal(env.get("CONTENT_TYPE"), "Application/JSON; charset=x");
  assert.equal(env.get("CONTENT_LENGTH"), "0");
  assert.equal(env.get("HTTP_REFERER"), "http://ref/");
  assert.equal(env.get("HTTP_ACCEPT"), "text/html,text/plain");
  assert.equal(env.get("HTTP_USER_AGENT"), "tester/1.0");
  assert.equal(env.get("HTTP_COOKIE"), "a=1, b=2");
  assert.equal(env.get("HTTP_HOST"), undefined, "other headers are not passed");
});

test("the CGI environment without optional headers: defaults and empty values", LONG, async () => {
  const env = await envOf("/cgi-bin/env.sh");
  assert.equal(env.get("CONTENT_TYPE"), "text/plain");
  assert.equal(env.get("PATH_INFO"), "");
  assert.equal(env.get("PATH_TRANSLATED"), root);
  assert.equal(env.get("HTTP_ACCEPT"), "");
  for (const key of ["QUERY_STRING", "REMOTE_HOST", "CONTENT_LENGTH", "HTTP_USER_AGENT", "HTTP_COOKIE", "HTTP_REFERER"]) {
    assert.equal(env.get(key), "", key);
  }
  for (const key of ["AUTH_TYPE", "REMOTE_USER"]) assert.equal(env.get(key), undefined, key);
});

test("SERVER_PROTOCOL is the server's protocol_version and REQUEST_METHOD the command", LONG, async () => {
  class Http11 extends (Handler as typeof CGIHTTPRequestHandler) {
    static override protocol_version = "HTTP/1.1";
  }
  const server = await serveExtra(Http11 as unknown as Ctor);
  const { reply } = await talk(server.port, "POST /cgi-bin/env.sh HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
  const env = keyValues(scriptBody(reply));
  assert.equal(env.get("SERVER_PROTOCOL"), "HTTP/1.1");
  assert.equal(env.get("REQUEST_METHOD"), "POST");
  assert.equal(statusLine(reply), "HTTP/1.1 200 Script output follows");
});

test("Authorization: AUTH_TYPE for any two-word value, REMOTE_USER only for valid Basic user:pass", LONG, async () => {
  const b64 = (text: string) => Buffer.from(text, "latin1").toString("base64");
  const cases: [string, string | undefined, string | undefined][] = [
    ["Bearer abc", "Bearer", undefined],
    ["basic " + b64("jo:secret"), "basic", "jo"],
    ["BASIC " + b64("jo:").replace(/=+$/, "") + "===", "BASIC", "jo"],
    ["Basic " + b64("a:b:c"), "Basic", undefined],
    ["Basic " + b64("nocolon"), "Basic", undefined],
    ["Basic !!!" + b64("x:y"), "Basic", "x"],
    ["Basic " + b64("x:y").slice(0, -1), "Basic", undefined],
    ["Basic " + b64("\xe9:y"), "Basic", undefined],
    ["Basic eDo=Og==", "Basic", "x"], // a complete pad ends the input: "x:", not "x::"
    ["Basic eD=p5", "Basic", "x"], // a pad inside a quad is skipped: "x:y"
    ["Basic ab=cd", "Basic", undefined], // not ASCII once decoded
    ["Basic a b", undefined, undefined],
    ["Basic", undefined, undefined],
  ];
  for (const [value, authType, user] of cases) {
    const env = await envOf("/cgi-bin/env.sh", [`Authorization: ${value}`]);
    assert.equal(env.get("AUTH_TYPE"), authType, value);
    assert.equal(env.get("REMOTE_USER"), user, value);
  }
});

test("the server's own environment is passed on and not altered; setdefault keeps inherited values", LONG, async () => {
  const saved = { ...process.env };
  process.env.SIMPLEHTTP_CGI_MARK = "inherited";
  process.env.SERVER_SOFTWARE = "Test CGI Server";
  process.env.HTTP_REFERER = "from-the-server";
  try {
    const env = await envOf("/cgi-bin/env.sh");
    assert.equal(env.get("SIMPLEHTTP_CGI_MARK"), "inherited");
    assert.equal(env.get("SERVER_SOFTWARE"), bareHandler("/").version_string());
    assert.equal(env.get("HTTP_REFERER"), "from-the-server");
    assert.equal(process.env.SERVER_SOFTWARE, "Test CGI Server");
    assert.equal(process.env.SIMPLEHTTP_CGI_MARK, "inherited");
    assert.equal(process.env.QUERY_STRING, saved.QUERY_STRING);
  } finally {
    for (const key of ["SIMPLEHTTP_CGI_MARK", "SERVER_SOFTWARE", "HTTP_REFERER"]) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  }
});

test("HTTP_ACCEPT joins every Accept header with ',' (test_accept)", LONG, async () => {
  const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
  assert.equal((await envOf("/cgi-bin/env.sh", [`Accept: ${browser}`])).get("HTTP_ACCEPT"), browser);
  assert.equal((await envOf("/cgi-bin/env.sh", [])).get("HTTP_ACCEPT"), "");
  assert.equal((await envOf("/cgi-bin/env.sh", ["Accept: text/html", "ACCEPT: text/plain"])).get("HTTP_ACCEPT"), "text/html,text/plain");
});

test("argv: the query, '+' as space, when it has no '=' (an empty argument when there is no query)", LONG, async () => {
  const argv = async (target: string) => scriptBody(await fetchRaw(target));
  assert.equal(await argv("/cgi-bin/argv.sh"), "ARGC=1\nARG=[]\n");
  assert.equal(await argv("/cgi-bin/argv.sh?"), "ARGC=1\nARG=[]\n");
  assert.equal(await argv("/cgi-bin/argv.sh?a+b%20c"), "ARGC=1\nARG=[a b%20c]\n");
  assert.equal(await argv("/cgi-bin/argv.sh?x=y"), "ARGC=0\n");
  assert.equal(await argv("/cgi-bin/argv.sh?a+b?c"), "ARGC=1\nARG=[a b?c]\n");
});

test("the script runs as nobody (uid and gid) when the server is root, else as the server's user; cwd is the server's", LONG, async () => {
  const env = await envOf("/cgi-bin/env.sh");
  if (isRoot) {
    const nobody = nobodyFromPasswd();
    assert.ok(nobody, "a nobody account");
    assert.equal(env.get("UID"), String(nobody.uid));
    assert.equal(env.get("GID"), String(nobody.gid));
  } else {
    assert.equal(env.get("UID"), String(process.getuid!()));
    assert.equal(env.get("GID"), String(process.getgid!()));
  }
  const cwd = spawnSync("pwd", ["-P"], { encoding: "utf8" }).stdout.trim();
  assert.equal(env.get("CWD"), cwd);
});

// ---------------------------------------------------------------------------------------------
// The request body.

test("POST: the body reaches the script's stdin (test_post)", LONG, async () => {
  const body = "spam=1&eggs=python&bacon=123456";
  const reply = await fetchRaw("/cgi-bin/echo.py", {
    method: "POST",
    headers: ["Content-Type: application/x-www-form-urlencoded", `Content-Length: ${body.length}`],
    body,
  });
  assert.equal(cgiParts(reply).output.toString("latin1"), `Content-type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
});

test("POST: a body larger than 1 MiB arrives whole and in order", LONG, async () => {
  const body = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >> 11)) & 0xff;
  const reply = await fetchRaw("/cgi-bin/echo.py", { method: "POST", headers: [`Content-Length: ${body.length}`], body });
  const output = cgiParts(reply).output;
  const head = `Content-type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`;
  assert.equal(output.subarray(0, head.length).toString("latin1"), head);
  assert.ok(output.subarray(head.length).equals(body), "the echoed body equals the sent body");
});

test("stdin holds exactly Content-Length bytes, then the end of input", LONG, async () => {
  const reply = await fetchRaw("/cgi-bin/count.sh", { method: "POST", headers: ["Content-Length: 5"], body: "12345EXTRA BYTES" });
  assert.equal(scriptBody(reply), "BYTES=5\n");
  assert.equal(scriptBody(await fetchRaw("/cgi-bin/count.sh")), "BYTES=0\n");
  // A malformed Content-Length is refused before any script runs (request framing, docs/SECURITY.md).
  const malformed = await fetchRaw("/cgi-bin/count.sh", { headers: ["Content-Length: nonsense"] });
  assert.match(malformed.toString("latin1"), /^HTTP\/1\.0 400 Bad Content-Length \('nonsense'\)\r\n/);
});

test("a body larger than the script reads is read and dropped; the server goes on serving", LONG, async () => {
  const body = Buffer.alloc(2 * 1024 * 1024, "abcdefghij");
  const reply = await fetchRaw("/cgi-bin/short-read.sh", { method: "POST", headers: [`Content-Length: ${body.length}`], body });
  assert.equal(scriptBody(reply), "abcdefghij\n");
  // A script that reads nothing at all.
  const ignored = await fetchRaw("/cgi-bin/hello.py", { method: "POST", headers: [`Content-Length: ${body.length}`], body });
  assert.equal(scriptBody(ignored), "Hello World\n");
  assert.equal(scriptBody(await fetchRaw("/cgi-bin/hello.py")), "Hello World\n");
  assert.match((await fetchRaw("/plain.txt")).toString("latin1"), /plain text\n$/);
});

// ---------------------------------------------------------------------------------------------
// Output, logs, connection.

test("the output is streamed as the script writes it, not collected first", LONG, async () => {
  const release = join(root, "release-stream");
  const socket = connect(site.port, "127.0.0.1");
  try {
    let earlyPieces = false;
    const received = await new Promise<string>((resolve, reject) => {
      let text = "";
      socket.on("connect", () => socket.write("GET /cgi-bin/stream.sh/release-stream HTTP/1.0\r\n\r\n"));
      socket.on("data", (chunk) => {
        text += chunk.toString("latin1");
        // The script waits for this file before its last piece: the pieces before it must
        // reach us while it is still running.
        if (text.includes("piece 2\n") && !earlyPieces) {
          earlyPieces = !text.includes("piece 3");
          void writeFile(release, "");
        }
      });
      socket.on("close", () => resolve(text));
      socket.on("error", reject);
    });
    assert.ok(earlyPieces, "pieces 1 and 2 arrived while the script was waiting, before piece 3");
    assert.ok(received.endsWith("\n\npiece 1\npiece 2\npiece 3\n"), received);
  } finally {
    socket.destroy();
    await writeFile(release, "");
  }
});

test("large output arrives whole (written with backpressure)", LONG, async () => {
  const size = 5 * 1024 * 1024;
  const { reply, closed } = await talk(site.port, `GET /cgi-bin/big.sh?${size} HTTP/1.0\r\n\r\n`);
  assert.ok(closed);
  const body = scriptBody(reply);
  assert.equal(body.length, size);
  assert.ok(/^x+$/.test(body));
});

test("a non-zero exit is logged as CGI script exit code N; a signal death names the signal", LONG, async () => {
  logs.length = 0;
  assert.equal(scriptBody(await fetchRaw("/cgi-bin/fail.sh")), "failing\n");
  assert.deepEqual(logs, ['"GET /cgi-bin/fail.sh HTTP/1.0" 200 -', "CGI script exit code 3"]);
  logs.length = 0;
  assert.equal(scriptBody(await fetchRaw("/cgi-bin/signal.sh")), "signalled\n");
  assert.deepEqual(logs, ['"GET /cgi-bin/signal.sh HTTP/1.0" 200 -', "CGI script exit code -15 (killed by SIGTERM)"]);
  logs.length = 0;
  await fetchRaw("/cgi-bin/hello.py");
  assert.deepEqual(logs, ['"GET /cgi-bin/hello.py HTTP/1.0" 200 -'], "a zero exit logs nothing more");
});

test("the script's stderr goes to the log, one log_error line per line", LONG, async () => {
  logs.length = 0;
  assert.equal(scriptBody(await fetchRaw("/cgi-bin/stderr.sh")), "ok\n");
  assert.deepEqual(logs, ['"GET /cgi-bin/stderr.sh HTTP/1.0" 200 -', "first problem", "second problem", "no newline at end"]);
});

test("stderr lines reach the real stderr in the log format", LONG, async () => {
  const Plain = class extends CGIHTTPRequestHandler {
    constructor(request: Socket, client_address: Address, server: any) {
      super(request, client_address, server, { directory: root });
    }
  };
  const server = await serveExtra(Plain);
  const captured = captureStderr();
  try {
    await fetchRaw("/cgi-bin/stderr.sh", { port: server.port });
  } finally {
    captured.restore();
  }
  const lines = captured.lines();
  assert.match(lines[1] ?? "", /^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4} \d\d:\d\d:\d\d\] first problem$/);
  assert.deepEqual(lines.slice(2).map((line) => line.replace(/^.*?\] /, "")), ["second problem", "no newline at end"]);
});

test("the connection closes after a CGI reply, even with HTTP/1.1 keep-alive", LONG, async () => {
  class Http11 extends (Handler as typeof CGIHTTPRequestHandler) {
    static override protocol_version = "HTTP/1.1";
  }
  const server = await serveExtra(Http11 as unknown as Ctor);
  const two = "GET /cgi-bin/hello.py HTTP/1.1\r\nHost: x\r\n\r\nGET /plain.txt HTTP/1.1\r\nHost: x\r\n\r\n";
  const { reply, closed } = await talk(server.port, two);
  assert.ok(closed, "closed by the server");
  const text = reply.toString("latin1");
  assert.equal(text.match(/HTTP\/1\.1 /g)?.length, 1, text);
  assert.ok(text.endsWith("Hello World\n"));
  // A file on the same server still keeps the connection open.
  const files = await talk(server.port, "GET /plain.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /plain.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  assert.equal(files.reply.toString("latin1").match(/HTTP\/1\.1 200 OK/g)?.length, 2);
});

test("HTTP/0.9: the script runs and the reply is its body alone", LONG, async () => {
  logs.length = 0;
  const { reply, closed } = await talk(site.port, "GET /cgi-bin/hello.py\r\n");
  assert.ok(closed);
  assert.equal(reply.toString("latin1"), "Hello World\n");
  assert.deepEqual(logs, ['"GET /cgi-bin/hello.py" 200 -']);
  const env = keyValues((await talk(site.port, "GET /cgi-bin/env.sh?q\r\n")).reply.toString("latin1"));
  assert.equal(env.get("CONTENT_TYPE"), "text/plain");
  assert.equal(env.get("ARG1"), "q");
  assert.equal(env.get("SERVER_PROTOCOL"), "HTTP/1.0");
  // CRLF-terminated script headers are dropped as well.
  assert.equal((await talk(site.port, "GET /cgi-bin/echo.py\r\n")).reply.length, 0);
  assert.equal((await talk(site.port, "GET /cgi-bin/big.sh?3\r\n")).reply.toString("latin1"), "xxx");
});

test("have_fork = false: Python's other path (python3 -u for .py, the raw query as argument, a command: log line)", LONG, async () => {
  class NoFork extends (Handler as typeof CGIHTTPRequestHandler) {
    static override have_fork = false;
  }
  const server = await serveExtra(NoFork as unknown as Ctor);
  logs.length = 0;
  assert.equal(scriptBody(await fetchRaw("/cgi-bin/argv.sh?a+b", { port: server.port })), "ARGC=1\nARG=[a+b]\n");
  assert.equal(logs[1], `command: ${join(root, "cgi-bin", "argv.sh")} a+b`);
  if (await hasCommand("python3")) {
    logs.length = 0;
    assert.equal(scriptBody(await fetchRaw("/cgi-bin/query.py?x", { port: server.port })), "x\n");
    assert.equal(logs[1], `command: python3 -u ${join(root, "cgi-bin", "query.py")} x`);
  }
});

// ---------------------------------------------------------------------------------------------
// Timeouts and failures.

function pidsIn(reply: Buffer): number[] {
  const env = keyValues(scriptBody(reply));
  return [Number(env.get("PID")), Number(env.get("CHILD"))];
}

test("cgi_timeout: a hanging script and its children are killed, and one line is logged", LONG, async () => {
  class Quick extends (Handler as typeof CGIHTTPRequestHandler) {
    static override cgi_timeout = 3;
  }
  const server = await serveExtra(Quick as unknown as Ctor);
  logs.length = 0;
  const { reply, closed } = await talk(server.port, "GET /cgi-bin/hang.sh HTTP/1.0\r\n\r\n");
  assert.ok(closed, "the reply ended");
  const pids = pidsIn(reply);
  assert.ok(pids.every((pid) => Number.isInteger(pid) && pid > 0), String(pids));
  for (const pid of pids) assert.ok(await gone(pid), `process ${pid} is gone`);
  assert.deepEqual(logs, ['"GET /cgi-bin/hang.sh HTTP/1.0" 200 -', "CGI script timed out after 3 seconds and was killed with SIGTERM"]);
});

test("cgi_timeout: a script that ignores SIGTERM gets SIGKILL after a grace period", LONG, async () => {
  class Quick extends (Handler as typeof CGIHTTPRequestHandler) {
    static override cgi_timeout = 1.5;
  }
  const server = await serveExtra(Quick as unknown as Ctor);
  logs.length = 0;
  const { reply, closed } = await talk(server.port, "GET /cgi-bin/stubborn.sh HTTP/1.0\r\n\r\n");
  assert.ok(closed);
  for (const pid of pidsIn(reply)) assert.ok(await gone(pid), `process ${pid} is gone`);
  assert.deepEqual(logs.slice(1), ["CGI script timed out after 1.5 seconds and was killed with SIGKILL"]);
});

test("cgi_timeout: a background child left holding the output is ended at the timeout", LONG, async () => {
  class Quick extends (Handler as typeof CGIHTTPRequestHandler) {
    static override cgi_timeout = 3;
  }
  const server = await serveExtra(Quick as unknown as Ctor);
  logs.length = 0;
  const { reply, closed } = await talk(server.port, "GET /cgi-bin/daemon.sh HTTP/1.0\r\n\r\n");
  assert.ok(closed);
  const child = Number(keyValues(scriptBody(reply)).get("CHILD"));
  assert.ok(child > 0);
  assert.ok(await gone(child), `process ${child} is gone`);
  assert.deepEqual(logs.slice(1), ["CGI script timed out after 3 seconds and was killed with SIGTERM"]);
});

test("cgi_timeout: a client that never sends its declared body does not hold the script forever", LONG, async () => {
  class Quick extends (Handler as typeof CGIHTTPRequestHandler) {
    static override cgi_timeout = 1;
  }
  const server = await serveExtra(Quick as unknown as Ctor);
  logs.length = 0;
  // echo.py waits for 100 bytes that never come.
  const { closed } = await talk(server.port, "POST /cgi-bin/echo.py HTTP/1.0\r\nContent-Length: 100\r\n\r\nonly this");
  assert.ok(closed);
  assert.match(logs.at(-1) ?? "", /^CGI script timed out after 1 second and was killed with SIG(TERM|KILL)$/);
});

test("body_timeout: a body that stops arriving ends the script before its stdin closes; nothing half-written is kept", LONG, async () => {
  class Quick extends (Handler as typeof CGIHTTPRequestHandler) {
    static override body_timeout = 0.5;
  }
  const server = await serveExtra(Quick as unknown as Ctor);
  const uploads = await mkdtemp(join(tmpdir(), "simplehttp-uploads-"));
  await chmod(uploads, 0o777); // the script runs as nobody
  process.env.UPLOAD_DIR = uploads;
  logs.length = 0;
  try {
    // upload.sh copies its stdin to a temporary file, renamed once stdin ends.
    const { reply, closed } = await talk(server.port, "POST /cgi-bin/upload.sh?up HTTP/1.0\r\nContent-Length: 100\r\n\r\nonly this", 10_000);
    assert.ok(closed, "the connection was cut off");
    assert.ok(await waitUntil(() => logs.some((line) => line.startsWith("CGI script ended")), 5000), logs.join("\n"));
    assert.deepEqual(logs.slice(1), [
      'Request timed out: the client stopped sending for 0.5 seconds while receiving "POST /cgi-bin/upload.sh?up HTTP/1.0"',
      "CGI script ended with SIGTERM: its request body was cut off",
    ]);
    assert.equal(masked(reply), "HTTP/1.0 200 Script output follows\r\nServer: <server>\r\nDate: <date>\r\n");
    assert.deepEqual((await readdir(uploads)).filter((name) => !name.endsWith(".part")), [], "no upload saved");
  } finally {
    delete process.env.UPLOAD_DIR;
    await rm(uploads, { recursive: true, force: true });
  }
});

test("body_timeout: a body sent slowly but steadily is passed whole", LONG, async () => {
  class Quick extends (Handler as typeof CGIHTTPRequestHandler) {
    static override body_timeout = 0.5;
  }
  const server = await serveExtra(Quick as unknown as Ctor);
  logs.length = 0;
  const socket = await new Promise<Socket>((resolve) => {
    const s: Socket = connect(server.port, "127.0.0.1", () => resolve(s));
  });
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise((resolve) => socket.on("close", resolve));
  socket.write("POST /cgi-bin/echo.py HTTP/1.0\r\nContent-Length: 10\r\n\r\n");
  for (const byte of "0123456789") {
    await sleep(200); // 2 s in all, four times the timeout, but never 0.5 s without a byte
    socket.write(byte);
  }
  await closed;
  assert.match(Buffer.concat(chunks).toString("latin1"), /\r\n\r\n0123456789$/);
  assert.ok(!logs.some((line) => line.includes("timed out")), logs.join("\n"));
});

test("a script that cannot be executed is logged as exit code 127 with the reason", LONG, async () => {
  const broken = join(root, "cgi-bin", "broken.sh");
  await writeFile(broken, "#!/nonexistent/interpreter\n");
  await chmod(broken, 0o755);
  try {
    logs.length = 0;
    const reply = await fetchRaw("/cgi-bin/broken.sh");
    assert.equal(masked(reply), "HTTP/1.0 200 Script output follows\r\nServer: <server>\r\nDate: <date>\r\n");
    assert.match(logs.at(-1) ?? "", /^CGI script exit code 127 \(could not execute: E[A-Z]+\)$/);
    // A NUL in the environment (PATH_INFO) cannot be passed to exec, as in Python.
    logs.length = 0;
    await fetchRaw("/cgi-bin/env.sh/a%00b");
    assert.deepEqual(logs, ['"GET /cgi-bin/env.sh/a%00b HTTP/1.0" 200 -', "CGI script exit code 127 (could not execute: ERR_INVALID_ARG_VALUE)"]);
    assert.equal(scriptBody(await fetchRaw("/cgi-bin/hello.py")), "Hello World\n");
  } finally {
    await rm(broken, { force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// The deprecation warning.

test("constructing the handler emits the DeprecationWarning once per process", LONG, () => {
  const moduleUrl = new URL("../src/server/cgi_handler.js", import.meta.url).href;
  const script = [
    `import { CGIHTTPRequestHandler, CGI_DEPRECATION_MESSAGE } from ${JSON.stringify(moduleUrl)};`,
    `const seen = [];`,
    `process.on("warning", (w) => seen.push(w.name + ": " + w.message));`,
    `for (let i = 0; i < 3; i++) new CGIHTTPRequestHandler({}, ["127.0.0.1", 0], {}, { directory: "/" });`,
    `setImmediate(() => console.log(JSON.stringify(seen)));`,
  ].join("\n");
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), [`DeprecationWarning: ${CGI_DEPRECATION_MESSAGE}`]);
  const shown = result.stderr.split("\n").filter((line) => line.includes(CGI_DEPRECATION_MESSAGE));
  assert.equal(shown.length, 1, result.stderr);
  assert.match(shown[0]!, /^\(node:\d+\) DeprecationWarning: 'http\.server\.CGIHTTPRequestHandler' is deprecated and slated for removal in Python 3\.15$/);
  assert.equal(CGI_DEPRECATION_MESSAGE, "'http.server.CGIHTTPRequestHandler' is deprecated and slated for removal in Python 3.15");
});

// ---------------------------------------------------------------------------------------------
// Against Python: the same fixture served by `python3 -m http.server --cgi`.

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function startPython(dir: string): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = spawn("python3", ["-u", "-m", "http.server", "--cgi", "-b", "127.0.0.1", String(port), "-d", dir], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`python3 did not start: ${out}`)), 60_000);
    child.stdout!.on("data", (chunk) => {
      out += chunk;
      if (out.includes("Serving HTTP")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`python3 exited with ${code}: ${out}`));
    });
  });
  child.stderr!.resume();
  return { child, port };
}

/**
 * Known differences, normalised: the error page of the local Python (3.11) has no `<style>`
 * block, which 3.14 (and we) have, so the block is dropped and Content-Length masked.
 */
function normalise(reply: Buffer): string {
  return masked(reply)
    .replace(/ {8}<style type="text\/css">\n[^]*?<\/style>\n/, "")
    .replace(/^(Content-Length: )\d+(\r\n\r\n<!DOCTYPE HTML>)/m, "$1<n>$2");
}

test("differential: the same CGI requests answered byte for byte as python3 -m http.server --cgi", LONG, async (t) => {
  if (!(await hasCommand("python3"))) {
    t.skip("python3 is not on PATH");
    console.log("# skipped the differential CGI test: python3 is not on PATH");
    return;
  }
  const pyRoot = await makeSite();
  const OursHandler = class extends CGIHTTPRequestHandler {
    constructor(request: Socket, client_address: Address, server: any) {
      super(request, client_address, server, { directory: pyRoot });
    }
    override log_message(): void {}
  };
  let python: ChildProcess | null = null;
  const ours = await serveExtra(OursHandler);
  try {
    const started = await startPython(pyRoot);
    python = started.child;
    const body = "spam=1&eggs=python&bacon=123456";
    const requests = [
      "GET /cgi-bin/hello.py HTTP/1.0\r\n\r\n",
      "HEAD /cgi-bin/hello.py HTTP/1.0\r\n\r\n",
      "GET cgi-bin/hello.py HTTP/1.0\r\n\r\n",
      "GET /cgi-bin%2fhello.py HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /cgi-bin/query.py?a=b?c=d HTTP/1.0\r\n\r\n",
      "GET /cgi-bin/query.py?k=aa%2F%2Fbb&//q//p//=//a//b// HTTP/1.0\r\n\r\n",
      "GET /cgi-bin/argv.sh HTTP/1.0\r\n\r\n",
      "GET /cgi-bin/argv.sh?a+b%20c HTTP/1.0\r\n\r\n",
      "GET /cgi-bin/argv.sh?x=y HTTP/1.0\r\n\r\n",
      "GET /cgi-bin/child-dir/nested.sh/x/y%20z?q HTTP/1.0\r\n\r\n",
      `POST /cgi-bin/echo.py HTTP/1.0\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      "GET /cgi-bin/fail.sh HTTP/1.0\r\n\r\n",
      "GET /cgi-bin/stderr.sh HTTP/1.0\r\n\r\n",
      "GET /cgi-bin/nothere.sh HTTP/1.0\r\n\r\n",
      "GET ///////////nocgi.py/../cgi-bin/nothere.sh HTTP/1.0\r\n\r\n",
      "GET /cgi-bin/noexec.sh HTTP/1.0\r\n\r\n",
      "GET /cgi-bin/ HTTP/1.0\r\n\r\n",
      "GET /cgi-bin/child-dir HTTP/1.0\r\n\r\n",
      "GET /cgi-bin HTTP/1.0\r\n\r\n",
      "POST /plain.txt HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
      "GET /plain.txt HTTP/1.0\r\n\r\n",
    ];
    for (const request of requests) {
      const [fromPython, fromUs] = await Promise.all([talk(started.port, request), talk(ours.port, request)]);
      const theirs = fromPython.reply.toString("latin1").replace(/^Last-Modified: .*\r$/m, "Last-Modified: <mtime>\r");
      const mine = fromUs.reply.toString("latin1").replace(/^Last-Modified: .*\r$/m, "Last-Modified: <mtime>\r");
      assert.ok(fromUs.reply.length > 0, request);
      assert.equal(normalise(Buffer.from(mine, "latin1")), normalise(Buffer.from(theirs, "latin1")), request);
    }
    // Known difference: Python throws on a path above the root and sends nothing at all.
    const [pythonUp, oursUp] = await Promise.all([talk(started.port, "GET /.. HTTP/1.0\r\n\r\n"), talk(ours.port, "GET /.. HTTP/1.0\r\n\r\n")]);
    assert.equal(pythonUp.reply.length, 0);
    assert.equal(statusLine(oursUp.reply), "HTTP/1.0 400 Bad request path ('/..')");
    // Known difference: Python decodes the path twice and runs nocgi.py, outside cgi-bin.
    const escape = "GET /cgi-bin/%252e%252e/nocgi.py HTTP/1.0\r\n\r\n";
    const [pythonEscape, oursEscape] = await Promise.all([talk(started.port, escape), talk(ours.port, escape)]);
    assert.equal(statusLine(pythonEscape.reply), "HTTP/1.0 200 Script output follows");
    assert.match(pythonEscape.reply.toString("latin1"), /Hello World/);
    assert.equal(statusLine(oursEscape.reply), "HTTP/1.0 404 No such CGI script ('/cgi-bin/%2e%2e')");
  } finally {
    python?.kill();
    await rm(pyRoot, { recursive: true, force: true });
  }
});
