/**
 * UnixStreamServer and ThreadingUnixStreamServer: a stream server on a socket file, HTTP over it
 * (what runs behind a reverse proxy), Python's `client_address` of `""`; and the forking classes,
 * refused at construction with the alternatives.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ForkingMixIn,
  ForkingTCPServer,
  ForkingUDPServer,
  ForkingUnixStreamServer,
  StreamRequestHandler,
  TCPServer,
  ThreadingUnixStreamServer,
  UnixStreamServer,
} from "../src/socketserver/index.js";
import { BaseHTTPRequestHandler } from "../src/server/base_handler.js";
import { captureStderr, hasCommand } from "./helpers.js";

const folder = mkdtempSync(join(tmpdir(), "simplehttp-unix-"));
process.on("exit", () => rmSync(folder, { recursive: true, force: true }));
let serial = 0;
const socketPath = () => join(folder, `s${serial++}.sock`);

/** Sends `data` to the socket file and collects the reply until the server closes. */
function exchangeUnix(path: string, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = "";
    const socket = connect(path, () => socket.end(data));
    socket.on("data", (chunk) => (reply += chunk.toString("latin1")));
    socket.on("close", () => resolve(reply));
    socket.on("error", reject);
  });
}

class Echo extends StreamRequestHandler {
  override async handle() {
    const line = await this.rfile.readline();
    await this.wfile.write(Buffer.from(`${JSON.stringify(this.client_address)} ${line.toString().toUpperCase()}`));
  }
}

test("a UnixStreamServer serves a stream handler on its socket file; client_address is \"\" as in Python", async () => {
  const path = socketPath();
  const server = new UnixStreamServer(path, Echo);
  await server.ready;
  const loop = server.serve_forever(0.05);
  try {
    assert.equal(server.server_address, path);
    assert.equal(server.address_family, "AF_UNIX");
    assert.ok(server instanceof TCPServer);
    assert.equal(await exchangeUnix(path, "hello\n"), '"" HELLO\n');
  } finally {
    await server.shutdown();
    await loop;
    await server.server_close();
  }
  assert.equal(existsSync(path), false, "server_close() removes the socket file");
});

test("HTTP over a Unix socket: ThreadingUnixStreamServer with a BaseHTTPRequestHandler, fetched by curl --unix-socket", async (t) => {
  class Hello extends BaseHTTPRequestHandler {
    async do_GET() {
      const body = Buffer.from(`Hello from ${this.path}\n`);
      this.send_response(200);
      this.send_header("Content-Length", body.length);
      await this.end_headers();
      await this.wfile.write(body);
    }
  }
  const path = socketPath();
  const log = captureStderr();
  const server = new ThreadingUnixStreamServer(path, Hello);
  await server.ready;
  const loop = server.serve_forever(0.05);
  try {
    const raw = await exchangeUnix(path, "GET /raw HTTP/1.0\r\n\r\n");
    assert.match(raw, /^HTTP\/1\.0 200 OK\r\n[^]*\r\n\r\nHello from \/raw\n$/);
    if (await hasCommand("curl")) {
      const body = await new Promise<string>((resolve, reject) =>
        execFile("curl", ["-sS", "--unix-socket", path, "http://localhost/curl"], (error, stdout) => (error ? reject(error) : resolve(stdout))),
      );
      assert.equal(body, "Hello from /curl\n");
    } else {
      t.diagnostic("curl is not installed: only the raw request was made");
    }
    // Python's address_string() raises IndexError on "" here; the log names the peer unix: as nginx does.
    assert.match(log.text(), /^unix: - - \[[^\]]+\] "GET \/raw HTTP\/1\.0" 200 -\n/);
  } finally {
    await server.shutdown();
    await loop;
    await server.server_close();
    log.restore();
  }
});

test("a path that is already a file is EADDRINUSE in the command line's words, as Python's bind fails", async () => {
  const path = socketPath();
  writeFileSync(path, "");
  const server = new UnixStreamServer(path, Echo);
  await assert.rejects(server.ready, (error: Error & { code?: string }) => {
    assert.equal(error.message, `cannot bind ${path}: address already in use`);
    assert.equal(error.code, "EADDRINUSE");
    return true;
  });
  assert.equal(existsSync(path), true, "the file that was there is left alone");
});

test("server_address of a Unix server must be a non-empty path of at most 107 bytes", () => {
  assert.throws(() => new UnixStreamServer(["127.0.0.1", 80] as never, Echo), {
    name: "TypeError",
    message: 'server_address of a Unix socket server must be a path such as "/run/app.sock"; got an array of 2 ("127.0.0.1", 80)',
  });
  assert.throws(() => new UnixStreamServer("", Echo), { name: "TypeError" });
  assert.throws(() => new UnixStreamServer("/tmp/" + "x".repeat(200), Echo), { name: "RangeError", message: /longer than a Unix socket path may be \(107 bytes\)/ });
});

test("an exception in a Unix-socket handler is reported with Python's block, the empty address printed as Python prints it", async () => {
  class Faulty extends StreamRequestHandler {
    override handle() {
      throw new Error("boom");
    }
  }
  const path = socketPath();
  const log = captureStderr();
  const server = new UnixStreamServer(path, Faulty);
  await server.ready;
  const loop = server.serve_forever(0.05);
  try {
    await exchangeUnix(path, "x");
    assert.match(log.text(), /Exception occurred during processing of request from \nError: boom/);
  } finally {
    await server.shutdown();
    await loop;
    await server.server_close();
    log.restore();
  }
});

test("the forking servers are refused at construction, naming ThreadingMixIn and --workers", () => {
  for (const [Server, name] of [
    [ForkingTCPServer, "ForkingTCPServer"],
    [ForkingUDPServer, "ForkingUDPServer"],
    [ForkingUnixStreamServer, "ForkingUnixStreamServer"],
    [class MyForkingServer extends ForkingMixIn(TCPServer) {}, "MyForkingServer"],
  ] as const) {
    assert.throws(() => new (Server as new (...args: unknown[]) => unknown)(["127.0.0.1", 0], Echo), {
      name: "TypeError",
      message: new RegExp(`^${name} is not supported: Node\\.js cannot fork\\(\\) a running process.*ThreadingMixIn.*--workers`),
    });
  }
});
