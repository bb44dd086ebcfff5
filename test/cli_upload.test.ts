/**
 * The command line's `--upload`, `--upload-overwrite`, `--upload-mkdir`, `--upload-max`, `--auth`,
 * `--auth-file` and `--auth-scope`: how they are read, their usage errors and startup lines and
 * warnings, and the built binary receiving files — with curl, under `--watch`, `--workers`, TLS and
 * `--dev`, and when it is stopped or killed mid-upload.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as tlsConnect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PYTHON_USAGE, TIMEOUT, killAll, request, run, startServer, stop, testUsageErrors, waitFor, withServer } from "./cli_process.js";
import { parseCommandLine, type CommandLine } from "../src/cli/options.js";
import { exposureWarnings, featureNames } from "../src/cli/startup.js";
import { handlerClassFor } from "../src/cli/server.js";
import { LiveReloadHub } from "../src/features/livereload.js";
import { TEMP_PREFIX, isUploadTemp } from "../src/features/atomic_write.js";
import { exchange } from "./helpers.js";
import { collect, openSocket } from "./hostile.js";

let root: string;
let count = 0;
before(() => {
  root = mkdtempSync(join(tmpdir(), "simplehttp-cli-upload-"));
});
after(() => {
  killAll();
  rmSync(root, { recursive: true, force: true });
});

/** A fresh, empty folder to serve. */
function folder(): string {
  const dir = join(root, `served${++count}`);
  mkdirSync(dir);
  return dir;
}

const tlsFixture = (name: string) => fileURLToPath(new URL(`../../test/fixtures/tls/${name}`, import.meta.url));
const basic = (pair: string) => `Authorization: Basic ${Buffer.from(pair).toString("base64")}`;
const temps = (dir: string) => readdirSync(dir, { recursive: true }).map(String).filter((name) => isUploadTemp(name));

/** `PUT path` over HTTP/1.0 with `body`; the raw reply. */
async function put(port: number, path: string, body: string | Buffer, extra: string[] = []): Promise<string> {
  const head = [`PUT ${path} HTTP/1.0`, `Content-Length: ${Buffer.byteLength(body)}`, ...extra, "", ""].join("\r\n");
  return (await exchange(port, Buffer.concat([Buffer.from(head), Buffer.from(body)]), { timeoutMs: 20_000 })).toString("latin1");
}

describe("reading the flags (in-process)", () => {
  const base = parseCommandLine([], "/cwd") as CommandLine;
  const cases: [string[], Partial<CommandLine>][] = [
    [["--upload"], { upload: true }],
    [["--upload", "--upload-overwrite", "--upload-mkdir", "--upload-max", "500M"], { upload: true, upload_overwrite: true, upload_mkdir: true, upload_max: 500 * 1024 ** 2 }],
    [["--upload", "--upload-max=0"], { upload: true, upload_max: null }],
    [["--auth", "a:b", "--auth=c:d:e"], { auth: ["a:b", "c:d:e"] }],
    [["--auth", "a:b", "--auth-scope", "uploads"], { auth: ["a:b"], auth_scope: "uploads" }],
  ];
  for (const [args, expected] of cases) {
    test(`[${args.join(" ")}]`, () => {
      assert.deepEqual(parseCommandLine(args, "/cwd"), { ...base, additions: true, ...expected });
    });
  }

  test("--auth-file adds its lines to --auth's pairs", () => {
    const file = join(folder(), "users");
    writeFileSync(file, "# readers\nreader:one\n\nwriter:two\n");
    const command = parseCommandLine(["--auth", "a:b", "--auth-file", file], "/cwd") as CommandLine;
    assert.deepEqual(command.auth, ["a:b", "reader:one", "writer:two"]);
  });

  test("the handler class carries them as class attributes", () => {
    const Handler = handlerClassFor(parseCommandLine(["--upload", "--upload-overwrite", "--upload-max", "1K", "--auth", "a:b", "--auth-scope", "uploads"], "/cwd") as CommandLine);
    assert.deepEqual(
      [Handler.upload, Handler.upload_overwrite, Handler.upload_mkdir, Handler.upload_max, Handler.auth, Handler.auth_scope],
      [true, true, false, 1024, ["a:b"], "uploads"],
    );
    const Plain = handlerClassFor(base);
    assert.deepEqual([Plain.upload, Plain.upload_max, Plain.auth], [false, 1024 ** 3, null]);
  });

  test("the features line names them", () => {
    const names = (args: string[]) => featureNames(parseCommandLine(args, "/cwd") as CommandLine);
    assert.deepEqual(names(["--upload"]), ["uploads (at most 1 GiB)"]);
    assert.deepEqual(names(["--upload", "--upload-overwrite", "--upload-mkdir", "--upload-max", "0", "--auth", "a:b"]), ["uploads (overwrite, mkdir, no size limit)", "basic auth"]);
    assert.deepEqual(names(["--auth", "a:b", "--auth-scope", "uploads"]), ["basic auth for uploads"]);
  });

  test("the warnings: writable by anyone, and clear text, unless bound to this machine alone", () => {
    const warnings = (args: string[]) => exposureWarnings(parseCommandLine(args, "/srv") as CommandLine);
    assert.deepEqual(warnings(["--upload", "-b", "127.0.0.1"]), []);
    assert.deepEqual(warnings(["--upload", "-b", "localhost"]), []);
    assert.deepEqual(warnings(["--upload", "--dev"]), []);
    assert.deepEqual(warnings(["--upload"]), [
      "--upload without --auth on every interface: anyone who can reach this machine can write files into /srv",
      "--upload without TLS on every interface: passwords and files cross the network in clear text (use --tls-cert, or -b 127.0.0.1)",
    ]);
    assert.deepEqual(warnings(["--auth", "a:b", "-b", "192.0.2.1"]), [
      "--auth without TLS on 192.0.2.1: passwords and files cross the network in clear text (use --tls-cert, or -b 127.0.0.1)",
    ]);
    assert.deepEqual(warnings(["--upload", "--auth", "a:b", "--tls-cert", "c.pem"]), []);
    assert.deepEqual(warnings(["--etag"]), []);
  });
});

describe("usage errors", () => {
  const authFile = join(mkdtempSync(join(tmpdir(), "simplehttp-auth-file-")), "users");
  writeFileSync(authFile, "good:pair\nsecret-without-colon\n");
  testUsageErrors([
    [["--upload-max", "5M"], "--upload-max requires --upload to be set"],
    [["--upload-overwrite"], "--upload-overwrite requires --upload to be set"],
    [["--upload-mkdir"], "--upload-mkdir requires --upload to be set"],
    [["--upload", "--upload-max", "5X"], 'argument --upload-max: invalid size "5X" (expected bytes, or a number with K, M, G or T)'],
    [["--auth", "nopassword"], "argument --auth: invalid credentials (expected USER:PASSWORD)"],
    [["--auth", "user:"], "argument --auth: invalid credentials (the password is empty)"],
    [["--auth-scope", "uploads"], "--auth-scope requires --auth or --auth-file to be set"],
    [["--auth", "a:b", "--auth-scope", "some"], "argument --auth-scope: invalid choice: 'some' (choose from all, uploads)"],
    [["--auth-file", "/nonexistent"], "argument --auth-file: cannot read [Errno 2] No such file or directory: '/nonexistent'"],
    [["--auth-file", authFile], `argument --auth-file: ${authFile}: line 2: expected USER:PASSWORD`],
    [["--up"], "ambiguous option: --up could match --upload, --upload-overwrite, --upload-mkdir, --upload-max"],
  ]);

  test("an error about credentials never repeats them", TIMEOUT, async () => {
    const result = await run(["--auth", "hunter2"]);
    assert.equal(result.code, 2);
    assert.ok(!result.stderr.includes("hunter2"));
    assert.ok(result.stderr.startsWith(PYTHON_USAGE));
  });
});

describe("the binary receiving files", () => {
  test("--upload: the startup lines name it, a PUT is written and logged; bound to loopback, no warning", TIMEOUT, async () => {
    const dir = folder();
    await withServer(["--upload", "-b", "127.0.0.1", "-d", dir, "0"], async ({ port, startup, proc }) => {
      assert.match(startup, /Features: uploads \(at most 1 GiB\)\n$/);
      const reply = await put(port, "/a.bin", "payload");
      assert.match(reply, /^HTTP\/1\.0 201 Created\r\n/);
      assert.equal(readFileSync(join(dir, "a.bin"), "utf8"), "payload");
      await waitFor(() => proc.stderr().includes("uploaded /a.bin (7 bytes)"), "the log line", proc);
      assert.match(proc.stderr(), /"PUT \/a\.bin HTTP\/1\.0" 201 -\n.* uploaded \/a\.bin \(7 bytes\)\n/);
      assert.ok(!proc.stderr().includes("warning"));
    });
  });

  test("with curl: -T to a directory URL, -T to a path, -F for a form, -u for --auth; a second -T of one name is 409", TIMEOUT, async (t) => {
    if (spawnSync("sh", ["-c", "command -v curl"]).status !== 0) return t.skip("curl is not installed");
    const dir = folder();
    const source = join(root, "from-curl.txt");
    writeFileSync(source, "sent by curl\n");
    await withServer(["--upload", "--auth", "me:pw", "-b", "127.0.0.1", "-d", dir, "0"], async ({ port }) => {
      const curl = (...args: string[]) => spawnSync("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", ...args], { encoding: "utf8" }).stdout;
      assert.equal(curl("-u", "me:pw", "-T", source, `http://127.0.0.1:${port}/`), "201");
      assert.equal(curl("-u", "me:pw", "-T", source, `http://127.0.0.1:${port}/renamed.txt`), "201");
      assert.equal(curl("-u", "me:pw", "-T", source, `http://127.0.0.1:${port}/`), "409");
      assert.equal(curl("-T", source, `http://127.0.0.1:${port}/other.txt`), "401");
      assert.equal(curl("-u", "me:pw", "-F", `file=@${source};filename=form one.txt`, "-F", `file=@${source};filename=form two.txt`, `http://127.0.0.1:${port}/`), "201");
    });
    assert.deepEqual(readdirSync(dir).sort(), ["form one.txt", "form two.txt", "from-curl.txt", "renamed.txt"]);
    assert.equal(readFileSync(join(dir, "renamed.txt"), "utf8"), "sent by curl\n");
  });

  test("--upload --watch: an upload reloads the pages", TIMEOUT, async () => {
    const dir = folder();
    await withServer(["--upload", "--watch", "-b", "127.0.0.1", "-d", dir, "0"], async ({ port }) => {
      const socket = await openSocket(port);
      const stream = collect(socket);
      socket.write("GET /__simplehttp/livereload HTTP/1.1\r\nHost: x\r\n\r\n");
      await waitFor(() => stream.data().includes("retry: 1000"), "the event stream");
      await new Promise((resolve) => setTimeout(resolve, 300)); // the watcher is running
      assert.match(await put(port, "/new.html", "<p>new</p>"), /^HTTP\/1\.0 201 /);
      await waitFor(() => stream.data().includes("event: reload"), "a reload event");
      socket.destroy();
    });
  });

  test("--watch ignores our temporary files: writing one reloads nothing, renaming it into place does", TIMEOUT, async () => {
    const dir = folder();
    let reloads = 0;
    const hub = new LiveReloadHub(dir, { debounceMs: 20, ignore: isUploadTemp });
    hub.subscribe({ send: (text) => (reloads += text.includes("reload") ? 1 : 0), end: () => {} });
    hub.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      writeFileSync(join(dir, `${TEMP_PREFIX}1-0123456789abcdef.part`), "partial");
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.equal(reloads, 0);
      writeFileSync(join(dir, "done.txt"), "done");
      await waitFor(() => reloads === 1, "a reload");
    } finally {
      hub.close();
    }
  });

  test("--workers 2 --upload --auth: each worker checks and writes", TIMEOUT, async () => {
    const dir = folder();
    await withServer(["--workers", "2", "--upload", "--auth", "me:pw", "-b", "127.0.0.1", "-d", dir, "0"], async ({ port }) => {
      for (let i = 0; i < 6; i++) {
        assert.match(await put(port, `/f${i}.txt`, `file ${i}`, [basic("me:pw")]), /^HTTP\/1\.0 201 /);
        assert.match(await put(port, `/g${i}.txt`, "x"), /^HTTP\/1\.0 401 /);
      }
    });
    assert.deepEqual(readdirSync(dir).sort(), ["f0.txt", "f1.txt", "f2.txt", "f3.txt", "f4.txt", "f5.txt"]);
  });

  test("--tls-cert --upload --auth: uploads over HTTPS, no clear-text warning", TIMEOUT, async () => {
    const dir = folder();
    const proc = (await startServerHttps(["--upload", "--auth", "me:pw", "--tls-cert", tlsFixture("cert.pem"), "--tls-key", tlsFixture("key.pem"), "-d", dir]))!;
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        let text = "";
        const socket = tlsConnect({ port: proc.port, host: "127.0.0.1", rejectUnauthorized: false }, () =>
          socket.write(`PUT /secure.txt HTTP/1.0\r\n${basic("me:pw")}\r\nContent-Length: 6\r\n\r\nsecret`),
        );
        socket.on("data", (chunk) => (text += chunk));
        socket.on("close", () => resolve(text));
        socket.on("error", reject);
      });
      assert.match(reply, /^HTTP\/1\.0 201 Created\r\n/);
      assert.equal(readFileSync(join(dir, "secure.txt"), "utf8"), "secret");
      assert.ok(!proc.stderr().includes("clear text"), proc.stderr());
      assert.ok(!proc.stderr().includes("without --auth"));
    } finally {
      await proc.stop();
    }
  });

  test("--dev --upload: the rich listing carries the form; an upload from another site is 403", TIMEOUT, async () => {
    const dir = folder();
    await withServer(["--dev", "--upload", "-d", dir, "-b", "127.0.0.1", "0"], async ({ port }) => {
      const listing = await request(port, "/");
      assert.ok(listing.body.toString().includes('<form id="upload"'));
      assert.match(listing.headers["content-security-policy"]!, /form-action 'self'/);
      assert.match(await put(port, "/x.txt", "x", ["Origin: https://evil.example", `Host: 127.0.0.1:${port}`]), /^HTTP\/1\.0 403 Uploads from another site are refused\r\n/);
      assert.match(await put(port, "/x.txt", "x", [`Origin: http://127.0.0.1:${port}`, `Host: 127.0.0.1:${port}`]), /^HTTP\/1\.0 201 /);
    });
  });

  test("on all interfaces without --auth or TLS: the two warnings, once, on stderr", TIMEOUT, async () => {
    const dir = folder();
    await withServer(["--upload", "-d", dir, "0"], async ({ proc }) => {
      await waitFor(() => proc.stderr().includes("clear text"), "the warnings", proc);
      assert.equal(
        proc.stderr(),
        `simplehttp: warning: --upload without --auth on every interface: anyone who can reach this machine can write files into ${dir}\n` +
          "simplehttp: warning: --upload without TLS on every interface: passwords and files cross the network in clear text (use --tls-cert, or -b 127.0.0.1)\n",
      );
    });
  });

  test("SIGTERM mid-upload (its grace over): the process exits 0 and leaves no temporary file", TIMEOUT, async () => {
    const dir = folder();
    const server = await startServer(["--upload", "--shutdown-grace", "0.3", "-b", "127.0.0.1", "-d", dir, "0"]);
    try {
      const socket = await openSocket(server.port);
      socket.on("error", () => {});
      socket.write("PUT /big.bin HTTP/1.0\r\nContent-Length: 10000000\r\n\r\n");
      socket.write(Buffer.alloc(2_000_000));
      await waitFor(() => temps(dir).length === 1, "the temporary file", server.proc);
      server.proc.child.kill("SIGTERM");
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
      assert.deepEqual(readdirSync(dir), []);
      socket.destroy();
    } finally {
      await stop(server.proc);
    }
  });

  test("killed mid-upload (SIGKILL): the next start removes the temporary file left, and says so", TIMEOUT, async () => {
    const dir = folder();
    const first = await startServer(["--upload", "-b", "127.0.0.1", "-d", dir, "0"]);
    const socket = await openSocket(first.port);
    socket.on("error", () => {});
    socket.write("PUT /big.bin HTTP/1.0\r\nContent-Length: 10000000\r\n\r\n");
    socket.write(Buffer.alloc(1_000_000));
    await waitFor(() => temps(dir).length === 1, "the temporary file", first.proc);
    await stop(first.proc); // SIGKILL: no exit hook runs
    socket.destroy();
    assert.equal(temps(dir).length, 1);
    await withServer(["--upload", "-b", "127.0.0.1", "-d", dir, "0"], async ({ proc }) => {
      await waitFor(() => proc.stderr().includes("unfinished upload"), "the sweep's line", proc);
      assert.equal(proc.stderr(), "simplehttp: removed 1 unfinished upload left by a server that stopped mid-upload\n");
      assert.deepEqual(readdirSync(dir), []);
    });
  });

  test("--body-timeout: an upload that stops arriving is cut off, logged once, and leaves nothing", TIMEOUT, async () => {
    const dir = folder();
    await withServer(["--upload", "--body-timeout", "0.5", "-b", "127.0.0.1", "-d", dir, "0"], async ({ port, proc }) => {
      const socket = await openSocket(port);
      const reply = collect(socket);
      socket.write("PUT /slow.bin HTTP/1.0\r\nContent-Length: 1000000\r\n\r\n" + "x".repeat(1000));
      await reply.closed;
      await waitFor(() => proc.stderr().includes("Request timed out"), "the timeout's line", proc);
      assert.match(proc.stderr(), /Request timed out: the client stopped sending for 0\.5 seconds while receiving "PUT \/slow\.bin HTTP\/1\.0"\n/);
      assert.deepEqual(readdirSync(dir), []);
    });
  });

  test("--quiet: no upload line either", TIMEOUT, async () => {
    const dir = folder();
    await withServer(["--upload", "--quiet", "-b", "127.0.0.1", "-d", dir, "0"], async ({ port, proc }) => {
      assert.match(await put(port, "/q.txt", "q"), /^HTTP\/1\.0 201 /);
      assert.ok(existsSync(join(dir, "q.txt")));
      assert.equal(proc.stderr(), "");
    });
  });
});

/** Starts the binary with HTTPS on 127.0.0.1; its port, stderr, and a stop. */
async function startServerHttps(args: string[]) {
  const { launch } = await import("./cli_process.js");
  const proc = launch(["-b", "127.0.0.1", ...args, "0"]);
  const banner = /^Serving HTTPS on 127\.0\.0\.1 port (\d+) /;
  await waitFor(() => banner.test(proc.stdout()) || proc.hasExited(), "the HTTPS banner", proc);
  const match = banner.exec(proc.stdout());
  assert.ok(match, proc.stderr());
  return { port: Number(match[1]), stderr: proc.stderr, stop: () => stop(proc) };
}
