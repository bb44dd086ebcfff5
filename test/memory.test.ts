/**
 * Memory: nothing a client sends is buffered without bound, and nothing sent to a client that does
 * not read piles up. Smaller versions of the soak script's figures (bench/soak.ts): a 200 MB
 * upload nobody reads, 50 stalled readers of a 100 MiB file; and of bench/attacks.ts's: 200
 * connections holding nearly 1 MB of unfinished headers each. RSS growth is held under a bound.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, rmSync, ftruncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Socket } from "node:net";
import { BaseHTTPRequestHandler } from "../src/server/base_handler.js";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { ThreadingHTTPServer } from "../src/server/http_server.js";
import { exchange, serve, sleep, type Running, type ServerClass } from "./helpers.js";
import { collect, openFds, openSocket, waitFor } from "./hostile.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function rss(): number {
  gc();
  return process.memoryUsage().rss / (1024 * 1024);
}

/** The highest RSS (MiB) seen while `work` runs, sampled every 50 ms. */
async function peakRssDuring(work: Promise<unknown>): Promise<number> {
  let peak = rss();
  let done = false;
  void work.finally(() => (done = true));
  while (!done) {
    peak = Math.max(peak, process.memoryUsage().rss / (1024 * 1024));
    await sleep(50);
  }
  await work;
  return peak;
}

const MiB = 1024 * 1024;
const BOUND_MIB = 64;

let root = "";
let files: Running;

class Quiet extends SimpleHTTPRequestHandler {
  override log_message() {}
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), "simplehttp-memory-"));
  const fd = openSync(join(root, "big.bin"), "w");
  ftruncateSync(fd, 100 * MiB); // sparse: 100 MiB to send, nothing on the disk
  closeSync(fd);
  files = await serve(Quiet.with_directory(root));
});

after(async () => {
  await files.close();
  rmSync(root, { recursive: true, force: true });
});

/**
 * Sends `request` then `size` bytes of body as fast as the server takes them, going on after the
 * server's reply and FIN (half-open, as a hostile client would); resolves once all is sent or the
 * server cut the connection.
 */
async function upload(port: number, request: string, size: number): Promise<{ sent: number; reply: string }> {
  const socket = new Socket({ allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.connect(port, "127.0.0.1", resolve);
  });
  const reply = collect(socket);
  const chunk = Buffer.alloc(MiB, 0x62);
  let sent = 0;
  socket.write(request);
  while (sent < size && !socket.destroyed && !reply.isClosed()) {
    const ok = socket.write(chunk);
    sent += chunk.length;
    if (!ok) await Promise.race([new Promise((resolve) => socket.once("drain", resolve)), reply.closed]);
  }
  socket.end();
  const timer = setTimeout(() => socket.destroy(), 10_000);
  await reply.closed;
  clearTimeout(timer);
  return { sent, reply: reply.data().toString("latin1") };
}

test("a 200 MB upload to a handler that does not read it leaves RSS flat (POST → 501, then close)", async () => {
  const start = rss();
  const peak = await peakRssDuring(
    upload(files.port, `POST /big.bin HTTP/1.1\r\nContent-Length: ${200 * MiB}\r\n\r\n`, 200 * MiB).then(({ reply, sent }) => {
      assert.match(reply, /^HTTP\/1\.0 501 Unsupported method \('POST'\)/);
      assert.ok(sent > 0);
    }),
  );
  assert.ok(peak - start < BOUND_MIB, `RSS grew ${(peak - start).toFixed(1)} MiB`);
});

test("a 200 MB body on a kept-alive GET is not drained (over drain_limit): answered, then closed, RSS flat", async () => {
  class KeepAlive extends Quiet {
    override protocol_version = "HTTP/1.1";
  }
  const running = await serve(KeepAlive.with_directory(root));
  try {
    const start = rss();
    const peak = await peakRssDuring(
      upload(running.port, `GET /missing HTTP/1.1\r\nContent-Length: ${200 * MiB}\r\n\r\n`, 200 * MiB).then(({ reply }) => {
        assert.match(reply, /^HTTP\/1\.1 404 File not found/);
      }),
    );
    assert.ok(peak - start < BOUND_MIB, `RSS grew ${(peak - start).toFixed(1)} MiB`);
  } finally {
    await running.close();
  }
});

test("a handler that does not read holds at most about 64 KiB of the client's body", async () => {
  let pending = -1;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  class Waits extends BaseHTTPRequestHandler {
    async do_POST() {
      await sleep(500); // the client keeps sending meanwhile
      pending = this.rfile.pending;
      await gate;
      this.send_error(413);
    }
    override log_message() {}
  }
  const running = await serve(Waits);
  try {
    const sending = upload(running.port, `POST / HTTP/1.0\r\nContent-Length: ${50 * MiB}\r\n\r\n`, 50 * MiB);
    assert.ok(await waitFor(() => pending >= 0));
    release();
    await sending;
    assert.ok(pending <= 64 * 1024 + 64 * 1024, `${pending} bytes buffered`);
  } finally {
    await running.close();
  }
});

test("endless header bytes are cut off at Python's limits (431), RSS flat", async () => {
  const start = rss();
  const peak = await peakRssDuring(
    (async () => {
      // One endless header line, then endless short header lines.
      for (const piece of ["X: " + "a".repeat(MiB), "X: a\r\n".repeat(MiB / 6)]) {
        const socket = await openSocket(files.port);
        const reply = collect(socket);
        socket.write("GET / HTTP/1.0\r\n");
        for (let i = 0; i < 20 && !reply.isClosed(); i++) {
          socket.write(piece);
          await sleep(5);
        }
        assert.match((await reply.closed).toString("latin1"), /^HTTP\/1\.0 431 /);
        socket.destroy();
      }
    })(),
  );
  assert.ok(peak - start < BOUND_MIB, `RSS grew ${(peak - start).toFixed(1)} MiB`);
});

test("50 clients that stop reading a 100 MiB file leave RSS flat; their descriptors are freed when they go", async () => {
  const fdsBefore = openFds();
  const start = rss();
  const sockets: Socket[] = [];
  for (let i = 0; i < 50; i++) {
    const socket = await openSocket(files.port);
    let received = 0;
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > 64 * 1024) socket.pause(); // then stop reading
    });
    socket.on("error", () => {});
    socket.write("GET /big.bin HTTP/1.0\r\n\r\n");
    sockets.push(socket);
  }
  await sleep(1500); // every response is stalled by now
  const during = rss();
  assert.ok(during - start < BOUND_MIB, `RSS grew ${(during - start).toFixed(1)} MiB with 50 stalled readers`);
  for (const socket of sockets) socket.destroy();
  if (fdsBefore >= 0) {
    assert.ok(await waitFor(() => openFds() <= fdsBefore, 10_000), `descriptors: ${fdsBefore} before, ${openFds()} after`);
  }
  assert.ok(await waitFor(() => files.server._handlers.size === 0, 10_000), "every handler finished");
});

test("200 connections holding ~1 MB of unfinished headers each stay within the server's header budget (431), RSS bounded", async () => {
  const BUDGET = 8 * MiB;
  class Budgeted extends ThreadingHTTPServer {
    override max_header_memory = BUDGET;
  }
  class Hello extends BaseHTTPRequestHandler {
    override protocol_version = "HTTP/1.1";
    do_GET() {
      this.send_response(200);
      this.send_header("Content-Length", "6");
      this.end_headers();
      return this.wfile.write("hello\n");
    }
    override log_message() {}
  }
  const running = await serve(Hello, Budgeted as unknown as ServerClass);
  const line = Buffer.from("X-Padding: " + "a".repeat(65_000 - 13) + "\r\n", "latin1");
  const attackers: Socket[] = [];
  const replies: ReturnType<typeof collect>[] = [];
  try {
    const start = rss();
    // A normal client, served all along.
    let done = false;
    const latencies: number[] = [];
    const normal = (async () => {
      while (!done) {
        const started = Date.now();
        const reply = await exchange(running.port, "GET / HTTP/1.0\r\n\r\n");
        assert.match(reply.toString("latin1"), /^HTTP\/1\.1 200 OK\r\n[\s\S]*hello\n$/);
        latencies.push(Date.now() - started);
        await sleep(100);
      }
    })();
    const peak = await peakRssDuring(
      Promise.all(
        Array.from({ length: 200 }, async () => {
          const socket = await openSocket(running.port);
          attackers.push(socket);
          const reply = collect(socket);
          replies.push(reply);
          socket.write("GET / HTTP/1.1\r\nHost: x\r\n");
          // 15 lines: under max_header_size (1 MiB), so only the server-wide budget stops them.
          for (let i = 0; i < 15 && !reply.isClosed(); i++) {
            if (!socket.write(line)) await Promise.race([new Promise((resolve) => socket.once("drain", resolve)), reply.closed]);
          }
        }),
      ).then(() => sleep(500)),
    );
    const held = running.server._headerBytes;
    done = true;
    await normal;
    // What is held: the budget, plus at most the 64 KiB every head may have and a line in flight.
    assert.ok(held <= BUDGET + 200 * 2 * 65_536, `${held} bytes held`);
    assert.ok(peak - start < 160, `RSS grew ${(peak - start).toFixed(1)} MiB`);
    const refused = replies.filter((reply) => reply.data().toString("latin1").startsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert.ok(refused.length >= 150, `${refused.length} of 200 refused`);
    assert.match(
      refused[0]!.data().toString("latin1"),
      /<p>Error code explanation: 431 - got more than 65536 bytes when reading the request line and headers, while unfinished requests hold more than 8388608 bytes.<\/p>/,
    );
    // How many requests fit in the attack depends on the machine; each must be quick.
    assert.ok(latencies.length >= 1 && Math.max(...latencies) < 2000, `normal requests took ${latencies.join(", ")} ms`);
  } finally {
    for (const socket of attackers) socket.destroy();
    await running.close();
  }
  assert.ok(await waitFor(() => running.server._headerBytes === 0, 5000), `${running.server._headerBytes} bytes still counted`);
});
