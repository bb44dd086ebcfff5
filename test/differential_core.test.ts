/**
 * Differential test of the core: the same BaseHTTPRequestHandler subclass, written once in Python
 * and once in TypeScript, is sent the same raw requests; the replies must be the same bytes with
 * Server and Date masked.
 *
 * The local python3 is 3.11 while we implement 3.14 (+ gh-54930). The known differences are
 * normalised on the Python side, explicitly and only these:
 *   1. Error page: 3.14 added a `<style>` block to DEFAULT_ERROR_MESSAGE (Content-Length grows).
 *   2. Phrases renamed after 3.11: 414 `Request-URI Too Long` → `URI Too Long` (413, 416 and 422
 *      also changed, but no request here produces them).
 *   3. gh-54930: for malformed request lines (bad version, bad syntax, bad HTTP/0.9 type, HTTP/2+)
 *      3.11 sends the error page without a status line and headers; we send both. The missing
 *      head is rebuilt from the page before comparing.
 *   4. HTTP/0.9: 3.11 reads header lines after `GET /path` until a blank line, 3.14 reads none.
 *      The HTTP/0.9 requests here end with a blank line so both answer at once.
 * No request here has a malformed header line (no colon, a space before it, a bare CR): Python
 * reads on past one, we answer 400 (docs/DIFFERENCES.md; test/framing.test.ts).
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BaseHTTPRequestHandler } from "../src/server/base_handler.js";
import { exchange, hasCommand, masked, serve, type Running } from "./helpers.js";

const PYTHON_HANDLER = String.raw`
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Mirror(BaseHTTPRequestHandler):
    protocol_version = sys.argv[1]

    def reply(self, body, with_body=True):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self):
        self.reply(("path=%s\n" % self.path).encode("latin-1"))

    def do_HEAD(self):
        if self.path.startswith("/err/"):
            self.send_error(int(self.path[5:]))
        else:
            self.reply(b"path=" + self.path.encode("latin-1") + b"\n", False)

    def do_POST(self):
        self.reply(self.rfile.read(int(self.headers["Content-Length"])))

    def do_ERR(self):
        self.send_error(int(self.path[1:]))

    def log_message(self, format, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Mirror)
print(server.server_address[1], flush=True)
server.serve_forever()
`;

/** The same handler in TypeScript. */
function mirror(protocol: string) {
  return class Mirror extends BaseHTTPRequestHandler {
    override protocol_version = protocol;

    reply(body: Buffer, withBody = true) {
      this.send_response(200);
      this.send_header("Content-Type", "text/plain");
      this.send_header("Content-Length", String(body.length));
      this.end_headers();
      return withBody ? this.wfile.write(body) : Promise.resolve();
    }

    do_GET() {
      return this.reply(Buffer.from(`path=${this.path}\n`, "latin1"));
    }

    do_HEAD() {
      if (this.path.startsWith("/err/")) return this.send_error(Number(this.path.slice(5)));
      return this.reply(Buffer.from(`path=${this.path}\n`, "latin1"), false);
    }

    async do_POST() {
      await this.reply(await this.rfile.read(Number(this.headers.get("Content-Length"))));
    }

    do_ERR() {
      return this.send_error(Number(this.path.slice(1)));
    }

    override log_message() {}
  };
}

interface Case {
  name: string;
  protocol: "HTTP/1.0" | "HTTP/1.1" | "foo";
  request: string;
}

const headers = (n: number) => "X-Header: value\r\n".repeat(n);

const CASES: Case[] = [
  { name: "a plain HTTP/1.0 GET", protocol: "HTTP/1.0", request: "GET /a?b=c HTTP/1.0\r\nHost: x\r\n\r\n" },
  { name: "an HTTP/1.1 GET to an HTTP/1.0 server", protocol: "HTTP/1.0", request: "GET / HTTP/1.1\r\nHost: x\r\n\r\n" },
  { name: "a HEAD", protocol: "HTTP/1.0", request: "HEAD /h HTTP/1.0\r\n\r\n" },
  { name: "an unknown method: 501", protocol: "HTTP/1.0", request: "FOO / HTTP/1.0\r\n\r\n" },
  { name: "a lower-case method: 501", protocol: "HTTP/1.0", request: "get / HTTP/1.0\r\n\r\n" },
  { name: "version FUBAR: 400", protocol: "HTTP/1.0", request: "GET / FUBAR\r\n\r\n" },
  { name: "version HTTP/9.9.9: 400", protocol: "HTTP/1.0", request: "GET / HTTP/9.9.9\r\n\r\n" },
  { name: "version HTTP/-9_9_9.+9_9_9: 400", protocol: "HTTP/1.0", request: "GET / HTTP/-9_9_9.+9_9_9\r\n\r\n" },
  { name: "an 11-digit minor version: 400", protocol: "HTTP/1.0", request: "GET / HTTP/1.01111111111\r\n\r\n" },
  { name: "a superscript version: 400", protocol: "HTTP/1.0", request: "GET / HTTP/\xb9.\xb9\r\n\r\n" },
  { name: "three words with a valid version: Bad request syntax", protocol: "HTTP/1.0", request: "GET / x HTTP/1.1\r\n\r\n" },
  { name: "four words ending in a non-version: Bad request version", protocol: "HTTP/1.0", request: "GET / HTTP/1.1 extra\r\n\r\n" },
  { name: "one word: Bad request syntax", protocol: "HTTP/1.0", request: "GET\r\n" },
  { name: "a two-word POST: Bad HTTP/0.9 request type", protocol: "HTTP/1.0", request: "POST /x\r\n" },
  { name: "HTTP/2.0: 505", protocol: "HTTP/1.0", request: "GET / HTTP/2.0\r\n\r\n" },
  { name: "a bare CRLF: nothing", protocol: "HTTP/1.0", request: "\r\n" },
  { name: "an HTTP/0.9 GET (blank line sent for 3.11)", protocol: "HTTP/1.0", request: "GET /nine\r\n\r\n" },
  { name: "leading slashes collapse", protocol: "HTTP/1.0", request: "GET //evil//x HTTP/1.0\r\n\r\n" },
  { name: "a \\r\\r\\n line end", protocol: "HTTP/1.0", request: "GET /r HTTP/1.0\r\r\n\r\n" },
  { name: "Latin-1 whitespace separators", protocol: "HTTP/1.0", request: "GET\x1c/w\xa0HTTP/1.0\r\n\r\n" },
  { name: "a NUL in the path", protocol: "HTTP/1.0", request: "GET /a\x00b HTTP/1.0\r\n\r\n" },
  { name: "99 headers", protocol: "HTTP/1.0", request: "GET / HTTP/1.0\r\n" + headers(99) + "\r\n" },
  { name: "100 headers: 431", protocol: "HTTP/1.0", request: "GET / HTTP/1.0\r\n" + headers(100) + "\r\n" },
  { name: "a 65537-byte header line: 431", protocol: "HTTP/1.0", request: "GET / HTTP/1.0\r\nX: " + "a".repeat(65532) + "\r\n\r\n" },
  { name: "a 65537-byte request line: 414", protocol: "HTTP/1.0", request: "GET /" + "a".repeat(65532) + "\r\n" },
  { name: "send_error(999)", protocol: "HTTP/1.0", request: "ERR /999 HTTP/1.0\r\n\r\n" },
  { name: "send_error(204): no body", protocol: "HTTP/1.0", request: "ERR /204 HTTP/1.0\r\n\r\n" },
  { name: "send_error for HEAD: no body", protocol: "HTTP/1.0", request: "HEAD /err/404 HTTP/1.0\r\n\r\n" },
  { name: "a HEAD with a bad version still gets the page", protocol: "HTTP/1.0", request: "HEAD / HTTP/2.0\r\n\r\n" },
  {
    name: "keep-alive: pipelined HTTP/1.1 requests",
    protocol: "HTTP/1.1",
    request: "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nConnection: close\r\n\r\n",
  },
  {
    name: "keep-alive: HTTP/1.0 with Connection: keep-alive",
    protocol: "HTTP/1.1",
    request: "GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\nGET /3 HTTP/1.0\r\n\r\n",
  },
  {
    name: "keep-alive: 'close, TE' is not close",
    protocol: "HTTP/1.1",
    request: "GET /1 HTTP/1.1\r\nConnection: close, TE\r\n\r\nGET /2 HTTP/1.1\r\nConnection: close\r\n\r\n",
  },
  {
    name: "100-continue",
    protocol: "HTTP/1.1",
    request: "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\nping",
  },
  {
    name: "HTTP/1.10 gets 100-continue, HTTP/01.01 does not",
    protocol: "HTTP/1.1",
    request:
      "POST / HTTP/1.10\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi" +
      "POST / HTTP/01.01\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nho",
  },
  { name: "an error on a keep-alive connection closes it", protocol: "HTTP/1.1", request: "ERR /404 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n" },
  {
    name: "protocol_version 'foo' keeps connections alive",
    protocol: "foo",
    request: "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nConnection: close\r\n\r\n",
  },
];

// ---------------------------------------------------------------------------------------------
// Normalising 3.11's replies to 3.14 + gh-54930

const STYLE_311 = '        <meta charset="utf-8">\n        <title>';
const STYLE_314 =
  '        <meta charset="utf-8">\n        <style type="text/css">\n            :root {\n' +
  "                color-scheme: light dark;\n            }\n        </style>\n        <title>";
const PAGE_START = "<!DOCTYPE HTML>";

function unescapeHtml(text: string): string {
  return text.replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
}

/** 3.11's phrases that 3.14 renamed (RFC 9110). */
const RENAMED: [string, string][] = [
  ["Request-URI Too Long", "URI Too Long"],
  ["Request Entity Too Large", "Content Too Large"],
  ["Requested Range Not Satisfiable", "Range Not Satisfiable"],
  ["Unprocessable Entity", "Unprocessable Content"],
];

const ERROR_HEAD = /^(\S+ \d{3} (.*))\r\n([\s\S]*?Content-Type: text\/html;charset=utf-8\r\nContent-Length: )(\d+)\r\n\r\n/m;

/** Turns a (masked, Latin-1) 3.11 reply into what 3.14 with gh-54930 sends. */
function normalise311(reply: string, protocol: string): string {
  // 1 and 2 for a reply with a head: the page (sent or not, for HEAD) grows by the <style> block
  // and changes by the length of a renamed phrase shown as its message.
  reply = reply.replace(ERROR_HEAD, (_, statusLine: string, reason: string, middle: string, length: string) => {
    let growth = STYLE_314.length - STYLE_311.length;
    for (const [old, renamed] of RENAMED) {
      if (reason === old) {
        growth += renamed.length - old.length;
        statusLine = statusLine.replace(old, renamed);
      }
    }
    return `${statusLine}\r\n${middle}${Number(length) + growth}\r\n\r\n`;
  });
  // 1 and 2 in the page itself.
  reply = reply.replace(STYLE_311, STYLE_314);
  for (const [old, renamed] of RENAMED) reply = reply.replaceAll(`<p>Message: ${old}.</p>`, `<p>Message: ${renamed}.</p>`);
  // 3. gh-54930: a page with no head gets the head 3.14 + gh-54930 sends. The page is UTF-8 and
  // the status line Latin-1, so the message is decoded from the page's bytes.
  if (reply.startsWith(PAGE_START)) {
    const code = /<p>Error code: (\d+)<\/p>/.exec(reply)![1];
    const pageMessage = unescapeHtml(/<p>Message: (.*)\.<\/p>/.exec(reply)![1]!);
    const message = Buffer.from(pageMessage, "latin1").toString("utf8");
    const length = Buffer.byteLength(reply, "latin1");
    reply =
      `${protocol} ${code} ${message}\r\nServer: <server>\r\nDate: <date>\r\nConnection: close\r\n` +
      `Content-Type: text/html;charset=utf-8\r\nContent-Length: ${length}\r\n\r\n` +
      reply;
  }
  return reply;
}

// ---------------------------------------------------------------------------------------------
// The servers

interface PythonServer {
  child: ChildProcess;
  port: number;
}

const hasPython = await hasCommand("python3");
const scratch = mkdtempSync(join(tmpdir(), "simplehttp-diff-"));
const script = join(scratch, "mirror.py");
writeFileSync(script, PYTHON_HANDLER);

const pythons = new Map<string, Promise<PythonServer>>();
const ours = new Map<string, Promise<Running>>();

function startPython(protocol: string): Promise<PythonServer> {
  return new Promise((resolve, reject) => {
    const child = spawn("python3", [script, protocol], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.on("data", (chunk) => {
      out += chunk;
      const line = /^(\d+)\n/.exec(out);
      if (line) resolve({ child, port: Number(line[1]) });
    });
    child.stderr!.on("data", (chunk) => (err += chunk));
    child.on("exit", (code) => reject(new Error(`python3 exited (${code}): ${err}`)));
    child.on("error", reject);
  });
}

function pythonServer(protocol: string): Promise<PythonServer> {
  if (!pythons.has(protocol)) pythons.set(protocol, startPython(protocol));
  return pythons.get(protocol)!;
}

function ourServer(protocol: string): Promise<Running> {
  if (!ours.has(protocol)) ours.set(protocol, serve(mirror(protocol)));
  return ours.get(protocol)!;
}

after(async () => {
  for (const started of pythons.values()) {
    const { child } = await started.catch(() => ({ child: null }));
    if (!child || child.exitCode !== null) continue;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
  for (const running of ours.values()) await (await running).close();
  rmSync(scratch, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// The comparisons

test("the normalisation rebuilds 3.14's head for a 3.11 headless error page", () => {
  const page311 = `${PAGE_START}\n<html lang="en">\n    <head>\n${STYLE_311}Error response</title>\n    </head>\n    <body>\n        <p>Error code: 400</p>\n        <p>Message: Bad request syntax ('a&lt;b').</p>\n    </body>\n</html>\n`;
  const normalised = normalise311(page311, "HTTP/1.0");
  assert.ok(normalised.startsWith("HTTP/1.0 400 Bad request syntax ('a<b')\r\nServer: <server>\r\n"));
  assert.ok(normalised.includes(STYLE_314));
  const length = Number(/Content-Length: (\d+)/.exec(normalised)![1]);
  assert.equal(length, normalised.length - normalised.indexOf(PAGE_START));
});

for (const { name, protocol, request } of CASES) {
  test(`same bytes as Python (${protocol}): ${name}`, async (t) => {
    if (!hasPython) return t.skip("python3 is not on PATH");
    const data = Buffer.from(request, "latin1");
    const [python, node] = await Promise.all([pythonServer(protocol), ourServer(protocol)]);
    const [theirs, mine] = await Promise.all([exchange(python.port, data), exchange(node.port, data)]);
    const expected = normalise311(masked(theirs), protocol);
    assert.equal(masked(mine), expected);
    if (request.startsWith("GET /") || request.startsWith("POST")) assert.ok(mine.length > 0, "a reply was expected");
  });
}
