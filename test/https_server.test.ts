import { test } from "node:test";
import assert from "node:assert/strict";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { connect as netConnect } from "node:net";
import { fileURLToPath } from "node:url";
import { BaseHTTPRequestHandler } from "../src/server/base_handler.js";
import { HTTPSServer, ThreadingHTTPSServer, type HTTPSOptions } from "../src/server/https_server.js";
import { captureStderr, hasCommand, sleep } from "./helpers.js";

const fixture = (name: string) => fileURLToPath(new URL(`../../test/fixtures/tls/${name}`, import.meta.url));
const PASSWORD = "simplehttp-test";

class Hello extends BaseHTTPRequestHandler {
  override protocol_version = "HTTP/1.1";
  do_GET() {
    const body = `hello ${this.path}`;
    this.send_response(200);
    this.send_header("Content-Length", body.length);
    this.end_headers();
    return this.wfile.write(body);
  }
}

type ServerClass = typeof HTTPSServer | typeof ThreadingHTTPSServer;

async function start(options: HTTPSOptions, ServerClass: ServerClass = ThreadingHTTPSServer, setup?: (s: HTTPSServer) => void) {
  const server = new ServerClass(["127.0.0.1", 0], Hello, true, options);
  setup?.(server);
  await server.ready;
  const loop = server.serve_forever(0.05);
  return {
    server,
    port: server.server_port,
    async close() {
      await server.shutdown();
      await loop;
      await server.server_close();
    },
  };
}

const basic: HTTPSOptions = { certfile: fixture("cert.pem"), keyfile: fixture("key.pem") };

/** Opens a TLS connection, sends `requests`, and collects the reply until `done(reply)` or close. */
function tlsExchange(port: number, requests: string, done: (reply: string) => boolean = () => false) {
  return new Promise<{ reply: string; socket: TLSSocket }>((resolve, reject) => {
    let reply = "";
    const socket = tlsConnect({ port, host: "127.0.0.1", rejectUnauthorized: false, ALPNProtocols: ["h2", "http/1.1"] }, () => {
      socket.write(requests);
    });
    const finish = () => {
      socket.destroy();
      resolve({ reply, socket });
    };
    socket.on("data", (chunk) => {
      reply += chunk.toString("latin1");
      if (done(reply)) finish();
    });
    socket.on("close", finish);
    socket.on("error", reject);
  });
}

test("an HTTPSServer answers a GET over TLS and negotiates http/1.1 by ALPN", async () => {
  const log = captureStderr();
  const running = await start(basic);
  try {
    const { reply, socket } = await tlsExchange(running.port, "GET /a HTTP/1.0\r\n\r\n");
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(reply.endsWith("\r\n\r\nhello /a"));
    assert.equal(socket.alpnProtocol, "http/1.1");
  } finally {
    await running.close();
    log.restore();
  }
});

test("the key may live inside certfile, and an encrypted key takes a password string or function", async () => {
  const log = captureStderr();
  try {
    for (const options of [
      { certfile: fixture("combined.pem") },
      { certfile: fixture("cert.pem"), keyfile: fixture("key-encrypted.pem"), password: PASSWORD },
      { certfile: fixture("cert.pem"), keyfile: fixture("key-encrypted.pem"), password: () => PASSWORD },
    ]) {
      const running = await start(options);
      try {
        const { reply } = await tlsExchange(running.port, "GET /k HTTP/1.0\r\n\r\n");
        assert.ok(reply.endsWith("hello /k"), JSON.stringify(options));
      } finally {
        await running.close();
      }
    }
  } finally {
    log.restore();
  }
});

test("keep-alive works over TLS: two requests on one connection", async () => {
  const log = captureStderr();
  const running = await start(basic);
  try {
    const { reply } = await tlsExchange(
      running.port,
      "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
      (text) => text.includes("hello /2"),
    );
    assert.equal(reply.match(/HTTP\/1\.1 200 OK/g)?.length, 2);
    assert.ok(reply.includes("hello /1") && reply.includes("hello /2"));
  } finally {
    await running.close();
    log.restore();
  }
});

test("a client that connects and stays silent does not block another, even on a serial server", async () => {
  const log = captureStderr();
  const running = await start(basic, HTTPSServer);
  const silent = netConnect(running.port, "127.0.0.1");
  try {
    await sleep(50);
    const { reply } = await tlsExchange(running.port, "GET /other HTTP/1.0\r\n\r\n");
    assert.ok(reply.endsWith("hello /other"));
  } finally {
    silent.destroy();
    await running.close();
    log.restore();
  }
});

test("a silent client is dropped after handshake_timeout with one log line", async () => {
  const log = captureStderr();
  const running = await start(basic, ThreadingHTTPSServer, (server) => {
    server.handshake_timeout = 0.2;
  });
  try {
    const closed = await new Promise<boolean>((resolve) => {
      const silent = netConnect(running.port, "127.0.0.1");
      silent.on("error", () => {});
      silent.on("close", () => resolve(true));
      setTimeout(() => {
        silent.destroy();
        resolve(false);
      }, 5000);
    });
    assert.ok(closed, "the server closed the silent connection");
    assert.deepEqual(log.lines().map((line) => line.replace(/^.*\] /, "")), ["TLS handshake timed out"]);
  } finally {
    await running.close();
    log.restore();
  }
});

test("plain HTTP on the TLS port is logged as one line, and the server keeps serving", async () => {
  const log = captureStderr();
  const running = await start(basic);
  try {
    await new Promise<void>((resolve) => {
      const plain = netConnect(running.port, "127.0.0.1", () => plain.write("GET / HTTP/1.0\r\n\r\n"));
      plain.on("error", () => resolve());
      plain.on("close", () => resolve());
    });
    const lines = log.lines();
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4} \d\d:\d\d:\d\d\] TLS handshake failed: plain HTTP request on the HTTPS port$/);
    const { reply } = await tlsExchange(running.port, "GET /still HTTP/1.0\r\n\r\n");
    assert.ok(reply.endsWith("hello /still"));
  } finally {
    await running.close();
    log.restore();
  }
});

test("a wrong password, a key that does not match, a file that is no key, or a missing file rejects ready in the command line's words, the OpenSSL error as cause, and frees the port", async () => {
  const cases: [HTTPSOptions, string, RegExp][] = [
    [{ certfile: fixture("cert.pem"), keyfile: fixture("key-encrypted.pem"), password: "wrong" }, "cannot decrypt the TLS key (wrong or missing password)", /bad decrypt/i],
    [{ certfile: fixture("cert.pem"), keyfile: fixture("other-key.pem") }, "the TLS key does not match the certificate", /key values mismatch/i],
    [{ certfile: fixture("cert.pem"), keyfile: fixture("README.md") }, "the TLS key file holds no private key OpenSSL can read", /DECODER routines::unsupported/],
    [{ certfile: fixture("missing.pem") }, `no such file: ${fixture("missing.pem")}`, /ENOENT/],
  ];
  for (const [options, message, cause] of cases) {
    const server = new ThreadingHTTPSServer(["127.0.0.1", 0], Hello, true, options);
    await assert.rejects(server.ready, (error: Error & { code?: string }) => {
      assert.equal(error.message, message);
      assert.match(String((error.cause as Error).message), cause);
      assert.equal(error.code, (error.cause as NodeJS.ErrnoException).code);
      return true;
    });
    assert.equal(server.socket.listening, false);
  }
});

test("curl fetches a file over HTTPS", async (t) => {
  if (!(await hasCommand("curl"))) return t.skip("curl is not installed");
  const log = captureStderr();
  const running = await start(basic);
  try {
    const result = await new Promise<string>((resolve) => {
      // A synchronous spawn would block the event loop the server runs on.
      import("node:child_process").then(({ execFile }) =>
        execFile("curl", ["-sk", "--http1.1", `https://127.0.0.1:${running.port}/curl`], (_e, stdout) => resolve(stdout)),
      );
    });
    assert.equal(result, "hello /curl");
  } finally {
    await running.close();
    log.restore();
  }
});

// ---------------------------------------------------------------------------------------------
// TLS renegotiation (issue 11, item 6): TLS 1.2 only (TLS 1.3 has none).

interface Renegotiation {
  /** Renegotiations the server completed before the connection ended. */
  completed: number;
  /** Whether the server closed the connection. */
  closed: boolean;
  /** The reply to the request sent before renegotiating. */
  reply: string;
}

/**
 * Connects with TLS 1.2, sends `request` and reads its reply (or, for null, sends nothing), then
 * renegotiates up to `attempts` times, one after the other, as long as the server goes along.
 */
function renegotiate(port: number, request: string | null, attempts: number): Promise<Renegotiation> {
  return new Promise((resolve, reject) => {
    let reply = "";
    let completed = 0;
    let closed = false;
    let settled = false;
    const socket = tlsConnect({ port, host: "127.0.0.1", rejectUnauthorized: false, maxVersion: "TLSv1.2" }, () => {
      if (request === null) next();
      else socket.write(request);
    });
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ completed, closed, reply });
    };
    const timer = setTimeout(finish, 20_000);
    const next = () => {
      if (completed >= attempts || socket.destroyed) return finish();
      const started = socket.renegotiate({ rejectUnauthorized: false }, (error) => {
        if (error) return setTimeout(finish, 200);
        completed++;
        next();
      });
      if (!started) finish();
    };
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      const first = reply === "";
      reply += chunk;
      if (first) setImmediate(next);
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      closed = true;
      finish();
    });
    socket.on("secureConnect", () => {
      if (socket.getProtocol() !== "TLSv1.2") reject(new Error(`negotiated ${socket.getProtocol()}`));
    });
  });
}

test("TLS renegotiation is refused: the first attempt closes the connection, logged once; others are served", async () => {
  const requests = [
    "GET /before HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET /before HTTP/1.1\r\nHost: x\r\n\r\n",
    null, // before any request
  ];
  for (const request of requests) {
    const version = request?.slice(12, 20) ?? "no request";
    const log = captureStderr();
    const running = await start(basic);
    try {
      const result = await renegotiate(running.port, request, 50);
      if (request) assert.match(result.reply, /hello \/before$/);
      assert.equal(result.completed, 0, `${version}: renegotiations the server went along with`);
      assert.ok(result.closed, `${version}: the server closed the connection`);
      await sleep(100);
      const lines = log.lines().map((line) => line.replace(/^127\.0\.0\.1 - - \[[^\]]*\] /, ""));
      assert.deepEqual(
        lines.filter((line) => !line.startsWith('"GET')),
        ["TLS renegotiation refused: connection closed"],
        version,
      );
      const { reply } = await tlsExchange(running.port, "GET /after HTTP/1.0\r\n\r\n");
      assert.ok(reply.endsWith("hello /after"));
    } finally {
      await running.close();
      log.restore();
    }
  }
});

test("TLS renegotiation on a serial HTTPSServer, in the middle of a keep-alive connection, is refused the same way", async () => {
  const log = captureStderr();
  const running = await start(basic, HTTPSServer);
  try {
    const result = await renegotiate(running.port, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", 5);
    assert.equal(result.completed, 0);
    assert.ok(result.closed);
    const { reply } = await tlsExchange(running.port, "GET /next HTTP/1.0\r\n\r\n");
    assert.ok(reply.endsWith("hello /next"), "the serial server's loop was freed");
    assert.equal(log.lines().filter((line) => line.includes("renegotiation")).length, 1);
  } finally {
    await running.close();
    log.restore();
  }
});

test("openssl s_client -tls1_2 with R: the server closes the connection at the renegotiation", async (t) => {
  if (!(await hasCommand("openssl"))) return t.skip("openssl is not on PATH");
  const { spawn } = await import("node:child_process");
  const log = captureStderr();
  const running = await start(basic);
  try {
    const client = spawn("openssl", ["s_client", "-connect", `127.0.0.1:${running.port}`, "-tls1_2", "-quiet", "-no_ign_eof"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    client.stdout.on("data", (chunk) => (output += chunk));
    client.stderr.on("data", (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => client.on("close", (code) => resolve(code)));
    const timer = setTimeout(() => client.kill(), 20_000);
    await sleep(500);
    // s_client renegotiates on a line holding just R (its -quiet mode still reads commands: -no_ign_eof).
    for (let i = 0; i < 5 && client.exitCode === null; i++) {
      client.stdin.write("R\n");
      await sleep(200);
    }
    client.stdin.end();
    await exited;
    clearTimeout(timer);
    assert.equal(log.lines().filter((line) => line.includes("TLS renegotiation refused")).length, 1, output);
  } finally {
    await running.close();
    log.restore();
  }
});

test("through the command line with --workers 2 and -p HTTP/1.1: each renegotiating connection is closed and logged once", { timeout: 60_000 }, async () => {
  const { launch, stop, waitFor } = await import("./cli_process.js");
  const proc = launch(["--workers", "2", "-p", "HTTP/1.1", "--tls-cert", fixture("cert.pem"), "--tls-key", fixture("key.pem"), "-b", "127.0.0.1", "-d", fixture(""), "0"]);
  try {
    await waitFor(() => /port (\d+)/.test(proc.stdout()) || proc.hasExited(), "the banner", proc);
    const port = Number(/port (\d+)/.exec(proc.stdout())![1]);
    // Connections go to the workers in turn: four reach both.
    for (let i = 0; i < 4; i++) {
      const result = await renegotiate(port, "GET /README.md HTTP/1.1\r\nHost: x\r\n\r\n", 20);
      assert.match(result.reply, /^HTTP\/1\.1 200 OK\r\n/);
      assert.equal(result.completed, 0);
      assert.ok(result.closed);
    }
    await waitFor(() => proc.stderr().split("TLS renegotiation refused: connection closed").length === 5, "four log lines", proc, 10_000);
  } finally {
    await stop(proc);
  }
});

/** A handler that records every `write()` its TLS socket sees while `body` is sent. */
class Recorded extends BaseHTTPRequestHandler {
  override protocol_version = "HTTP/1.1";
  static writes: number[] = [];
  static parts: (string | Buffer)[] = [];
  do_GET() {
    const socket = this.connection as TLSSocket & { write: (...args: any[]) => boolean };
    const write = socket.write;
    socket.write = (...args: any[]) => {
      Recorded.writes.push(typeof args[0] === "string" ? Buffer.byteLength(args[0], args[1]) : args[0].length);
      return write.apply(socket, args);
    };
    const body = Buffer.concat(Recorded.parts.map((part) => (typeof part === "string" ? Buffer.from(part) : part)));
    this.send_response(200);
    this.send_header("Content-Length", body.length);
    this.end_headers();
    // Strings (UTF-8) and bytes, small and large, not awaited: the writer keeps them in order.
    for (const part of Recorded.parts) void this.wfile.write(part);
    return this.wfile.flush();
  }
}

async function recordedExchange(parts: (string | Buffer)[]): Promise<{ body: Buffer; writes: number[]; expected: Buffer }> {
  Recorded.parts = parts;
  Recorded.writes = [];
  const expected = Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part) : part)));
  const server = new ThreadingHTTPSServer(["127.0.0.1", 0], Recorded, true, basic);
  await server.ready;
  const loop = server.serve_forever(0.05);
  const log = captureStderr();
  try {
    const { reply } = await tlsExchange(server.server_port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", (text) => {
      const head = text.indexOf("\r\n\r\n");
      return head >= 0 && text.length - head - 4 >= expected.length;
    });
    const raw = Buffer.from(reply, "latin1");
    return { body: raw.subarray(raw.indexOf("\r\n\r\n") + 4), writes: Recorded.writes, expected };
  } finally {
    log.restore();
    await server.shutdown();
    await loop;
    await server.server_close();
  }
}

test("over TLS, the status line, headers and a small body reach the TLS socket as one write", async () => {
  const { body, writes, expected } = await recordedExchange(["caf\u00e9 ", Buffer.from("small body")]);
  assert.deepEqual(body, expected);
  assert.equal(writes.length, 1, `writes: ${writes.join(", ")}`);
});

test("over TLS, small and large writes arrive whole and in order", async () => {
  const large = Buffer.alloc(200 * 1024);
  for (let i = 0; i < large.length; i++) large[i] = (i * 7) & 0xff;
  const parts = ["\u00e9t\u00e9 ", Buffer.from("a"), large, "tail \u2713", Buffer.alloc(20_000, 0x62), Buffer.from("end")];
  const { body, writes, expected } = await recordedExchange(parts);
  assert.equal(body.length, expected.length);
  assert.ok(body.equals(expected), "the body is the parts, in order");
  // Joined where small, passed through where large: fewer writes than parts, every byte once.
  assert.ok(writes.length < parts.length + 1, `writes: ${writes.join(", ")}`);
  assert.equal(writes.reduce((a, b) => a + b, 0) > expected.length, true);
});

test("over TLS, files of every size class are served whole (pooled read buffers are not reused while held)", async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { SimpleHTTPRequestHandler } = await import("../src/server/simple_handler.js");
  const root = mkdtempSync(join(tmpdir(), "simplehttp-tls-files-"));
  const sizes = [0, 1, 5 * 1024, 16 * 1024 - 1, 70 * 1024, 1024 * 1024 + 3];
  const files = sizes.map((size, n) => {
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 31 + n) & 0xff;
    writeFileSync(join(root, `f${n}.bin`), data);
    return data;
  });
  class Files extends SimpleHTTPRequestHandler {
    override protocol_version = "HTTP/1.1";
    override log_message() {}
  }
  const server = new ThreadingHTTPSServer(["127.0.0.1", 0], Files.with_directory(root), true, basic);
  await server.ready;
  const loop = server.serve_forever(0.05);
  try {
    const requests = sizes.map((_, n) => `GET /f${n}.bin HTTP/1.1\r\nHost: x\r\n\r\n`).join("");
    const total = files.reduce((sum, data) => sum + data.length, 0);
    const { reply } = await tlsExchange(server.server_port, requests, (text) => text.length > total && (text.match(/HTTP\/1\.1 200/g)?.length ?? 0) === sizes.length && text.endsWith(files.at(-1)!.subarray(-3).toString("latin1")));
    let rest = Buffer.from(reply, "latin1");
    for (const data of files) {
      const head = rest.indexOf("\r\n\r\n");
      assert.ok(head > 0);
      const length = Number(/Content-Length: (\d+)/.exec(rest.subarray(0, head).toString("latin1"))![1]);
      assert.equal(length, data.length);
      assert.ok(rest.subarray(head + 4, head + 4 + length).equals(data), `a file of ${data.length} bytes arrives whole`);
      rest = rest.subarray(head + 4 + length);
    }
    assert.equal(rest.length, 0);
  } finally {
    await server.shutdown();
    await loop;
    await server.server_close();
    rmSync(root, { recursive: true, force: true });
  }
});
