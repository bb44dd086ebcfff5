/**
 * UDPServer, ThreadingUDPServer and DatagramRequestHandler as Python's socketserver defines them:
 * `[data, socket]` as the request, `rfile`/`wfile` over the datagram, the reply sent by
 * `finish()`, `max_packet_size`; UnixDatagramServer refused with the reason.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket as UDPSocket } from "node:dgram";
import {
  DatagramRequestHandler,
  DatagramSocket,
  ThreadingUDPServer,
  ThreadingUnixDatagramServer,
  UDPServer,
  UnixDatagramServer,
} from "../src/socketserver/index.js";
import { captureStderr, sleep } from "./helpers.js";

/** `self.wfile.write(self.rfile.readline().upper())`, Python's echo example. */
class Upper extends DatagramRequestHandler {
  override async handle() {
    const line = await this.rfile.readline();
    this.wfile.write(Buffer.from(line.toString().toUpperCase()));
  }
}

/** A client socket that resolves each datagram it receives in turn. */
async function client(type: "udp4" | "udp6" = "udp4"): Promise<{ socket: UDPSocket; send(data: string | Buffer, port: number, host?: string): Promise<Buffer> }> {
  const socket = createSocket(type);
  await new Promise<void>((resolve) => socket.bind(0, type === "udp4" ? "127.0.0.1" : "::1", resolve));
  const replies: Buffer[] = [];
  const waiting: ((data: Buffer) => void)[] = [];
  socket.on("message", (data) => {
    const wake = waiting.shift();
    if (wake) wake(data);
    else replies.push(data);
  });
  return {
    socket,
    send(data, port, host = type === "udp4" ? "127.0.0.1" : "::1") {
      socket.send(data, port, host);
      const queued = replies.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no reply")), 3000);
        waiting.push((reply) => {
          clearTimeout(timer);
          resolve(reply);
        });
      });
    },
  };
}

async function serving<S extends UDPServer>(server: S, run: (port: number) => Promise<void>): Promise<void> {
  await server.ready;
  const loop = server.serve_forever(0.05);
  try {
    await run(server.server_address[1]);
  } finally {
    await server.shutdown();
    await loop;
    await server.server_close();
  }
}

test("a UDPServer answers each datagram with what the handler wrote to wfile", async () => {
  const { socket, send } = await client();
  try {
    await serving(new UDPServer(["127.0.0.1", 0], Upper), async (port) => {
      assert.equal((await send("hello\nworld", port)).toString(), "HELLO\n");
      assert.equal((await send("again", port)).toString(), "AGAIN");
    });
  } finally {
    socket.close();
  }
});

test("request is [data, socket]; packet, socket and client_address are set; socket.sendto replies", async () => {
  const seen: unknown[] = [];
  class Inspect extends DatagramRequestHandler {
    override async handle() {
      const [data, socket] = this.request;
      seen.push(data.toString(), socket === this.socket, this.packet === data, this.socket instanceof DatagramSocket, this.client_address);
      await this.socket.sendto("direct", this.client_address);
    }
  }
  const { socket, send } = await client();
  try {
    await serving(new UDPServer(["127.0.0.1", 0], Inspect), async (port) => {
      const first = await send("ping", port);
      assert.equal(first.toString(), "direct");
      // finish() then sends wfile's content, empty here: an empty datagram, as Python sends.
      const second = await send("ignored", port).catch(() => null);
      assert.ok(second !== null);
      assert.deepEqual(seen.slice(0, 5), ["ping", true, true, true, ["127.0.0.1", socket.address().port]]);
    });
  } finally {
    socket.close();
  }
});

test("an empty wfile still sends an (empty) datagram back, as Python's finish() does", async () => {
  class Silent extends DatagramRequestHandler {}
  const { socket, send } = await client();
  try {
    await serving(new UDPServer(["127.0.0.1", 0], Silent), async (port) => {
      assert.equal((await send("x", port)).length, 0);
    });
  } finally {
    socket.close();
  }
});

test("a datagram longer than max_packet_size is cut to it, as recvfrom(max_packet_size) cuts it", async () => {
  class Length extends DatagramRequestHandler {
    override async handle() {
      this.wfile.write(String((await this.rfile.read()).length));
    }
  }
  class Small extends UDPServer {
    static override max_packet_size = 100;
  }
  const { socket, send } = await client();
  try {
    await serving(new Small(["127.0.0.1", 0], Length), async (port) => {
      assert.equal((await send(Buffer.alloc(5000), port)).toString(), "100");
      assert.equal((await send(Buffer.alloc(60), port)).toString(), "60");
    });
    assert.equal(new UDPServer(["127.0.0.1", 0], Length, false).max_packet_size, 8192);
  } finally {
    socket.close();
  }
});

test("a ThreadingUDPServer handles a datagram while another handler still waits", async () => {
  class Slow extends DatagramRequestHandler {
    override async handle() {
      const text = (await this.rfile.read()).toString();
      if (text === "slow") await sleep(300);
      this.wfile.write(text);
    }
  }
  const { socket, send } = await client();
  try {
    await serving(new ThreadingUDPServer(["127.0.0.1", 0], Slow), async (port) => {
      const slow = send("slow", port);
      const fast = send("fast", port);
      // The fast reply comes first: the client's queue hands replies out in arrival order.
      assert.equal((await slow).toString(), "fast");
      assert.equal((await fast).toString(), "slow");
    });
  } finally {
    socket.close();
  }
});

test("UDP over IPv6 and a bad address or a taken port are refused as for TCP", async (t) => {
  const { socket, send } = await client("udp6").catch(() => ({ socket: null, send: null }) as never);
  if (!socket) return t.skip("no IPv6 loopback");
  try {
    await serving(new UDPServer(["::1", 0], Upper), async (port) => {
      assert.equal((await send("six", port)).toString(), "SIX");
    });
  } finally {
    socket.close();
  }
  assert.throws(() => new UDPServer(8000 as never, Upper), { name: "TypeError" });
  const first = new UDPServer(["127.0.0.1", 0], Upper);
  await first.ready;
  try {
    const second = new UDPServer(["127.0.0.1", first.server_address[1]], Upper);
    await assert.rejects(second.ready, { message: `cannot bind 127.0.0.1 port ${first.server_address[1]}: address already in use` });
  } finally {
    await first.server_close();
  }
});

test("a handler that throws is reported by handle_error and the server goes on", async () => {
  class Faulty extends DatagramRequestHandler {
    override async handle() {
      const text = (await this.rfile.read()).toString();
      if (text === "boom") throw new Error("boom");
      this.wfile.write(text);
    }
  }
  const log = captureStderr();
  const { socket, send } = await client();
  try {
    await serving(new UDPServer(["127.0.0.1", 0], Faulty), async (port) => {
      await send("boom", port); // finish() still runs and sends the empty wfile
      assert.equal((await send("fine", port)).toString(), "fine");
    });
    assert.match(log.text(), /Exception occurred during processing of request from \('127\.0\.0\.1', \d+\)\nError: boom/);
  } finally {
    socket.close();
    log.restore();
  }
});

test("UnixDatagramServer is refused at construction: Node.js has no Unix datagram sockets", () => {
  for (const Server of [UnixDatagramServer, ThreadingUnixDatagramServer]) {
    assert.throws(() => new Server("/tmp/x.sock", Upper), {
      name: "TypeError",
      message: /^UnixDatagramServer is not available: Node\.js has no Unix-domain datagram sockets \(node:dgram is UDP only\)\. Use UnixStreamServer/,
    });
  }
});
