/**
 * Memory: nothing a client sends is buffered without bound, and nothing sent to a client that does
 * not read piles up. Smaller versions of the soak script's figures (bench/soak.ts): a 200 MB
 * upload nobody reads, 50 stalled readers of a 100 MiB file; RSS growth is held under a bound.
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
import { serve, sleep, type Running } from "./helpers.js";
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
