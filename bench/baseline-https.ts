/**
 * Peer "node:https": a bare `node:https` server answering every request with the same 1 KiB body,
 * with the benchmark's certificate. The floor for any HTTPS server on Node.
 * Usage: node baseline-https.js PORT CERT KEY
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:https";

const [portArg, cert, key] = process.argv.slice(2);
const body = Buffer.alloc(1024, "x");

const server = createServer({ cert: readFileSync(cert!), key: readFileSync(key!) }, (_req, res) => {
  res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(portArg), "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
