/**
 * Peer "node:http": a bare `node:http` server answering every request with the same 1 KiB body.
 * The floor for any server on Node's own HTTP stack. Usage: node baseline-http.js PORT
 */
import { createServer } from "node:http";

const port = Number(process.argv[2]);
const body = Buffer.alloc(1024, "x");

const server = createServer((_req, res) => {
  res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
