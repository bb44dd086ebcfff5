/**
 * Peer "node:net": a bare `node:net` server writing one canned 1 KiB response per request it
 * sees (one per blank line ending a header block), closing when the request asked to. No parser,
 * no headers object: the floor for any server on Node's sockets, as simplehttp is.
 * Usage: node baseline-net.js PORT
 */
import { createServer, type Socket } from "node:net";

const port = Number(process.argv[2]);
const body = "x".repeat(1024);
const reply = Buffer.from(
  `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
);
const closing = Buffer.from(
  `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
);

/** Counts complete request heads in the stream; the tail is kept for heads split across reads. */
function serve(socket: Socket): void {
  let tail = "";
  socket.setNoDelay(true);
  socket.on("data", (chunk: Buffer) => {
    if (socket.writableEnded) return;
    const text = tail + chunk.toString("latin1");
    const heads = text.split("\r\n\r\n");
    tail = heads.pop() ?? "";
    for (const head of heads) {
      if (/^connection:\s*close/im.test(head)) {
        socket.end(closing);
        return;
      }
      socket.write(reply);
    }
  });
  socket.on("error", () => socket.destroy());
}

const server = createServer(serve);
server.listen(port, "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
