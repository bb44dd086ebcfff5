/**
 * Uploads (src/features/upload.ts), as raw requests: PUT and its answers, every refusal, the
 * listings' form, and the faults — a client that vanishes or stalls, a full disk, a shutdown,
 * concurrent uploads to one name — none of which leaves a file or a temporary file behind.
 */
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { open as openFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { CGIHTTPRequestHandler } from "../src/server/cgi_handler.js";
import { percentFormat } from "../src/py/format.js";
import { openUploadCount, TEMP_PREFIX } from "../src/features/atomic_write.js";
import { badName, describeSize, parseSize } from "../src/features/upload.js";
import { UPLOAD_FOOTER, UPLOAD_SCRIPT, UPLOAD_SCRIPT_HASH, UPLOAD_STYLE, UPLOAD_STYLE_HASH } from "../src/features/upload_page.js";
import { forgetSnapshots } from "../src/features/rich_listing.js";
import { exchange, serve, type Running } from "./helpers.js";
import { collect, openSocket, parseResponses, waitFor as poll, type Response } from "./hostile.js";

let root = "";
let count = 0;
const logged: string[] = [];

before(() => {
  root = mkdtempSync(join(tmpdir(), "simplehttp-upload-"));
});

after(() => rmSync(root, { recursive: true, force: true }));

/** A fresh served folder with `files` in it. */
function site(files: Record<string, string> = {}): string {
  const dir = join(root, `site${++count}`);
  mkdirSync(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

type Options = Partial<
  Pick<SimpleHTTPRequestHandler, "upload" | "upload_overwrite" | "upload_mkdir" | "upload_max" | "dotfiles" | "follow_symlinks" | "listing" | "timeout" | "body_timeout">
>;

/** A handler class serving `dir` over HTTP/1.1 with uploads on (and `options`), logging to `logged`. */
function uploader(dir: string, options: Options = {}, Base: typeof SimpleHTTPRequestHandler<any> = SimpleHTTPRequestHandler) {
  const Handler = class extends Base {
    override log_message(format: string, ...args: unknown[]) {
      logged.push(percentFormat(format, args));
    }
  };
  Object.assign(Handler, { upload: true, protocol_version: "HTTP/1.1", ...options });
  return Handler.with_directory(dir);
}

async function withServer(dir: string, options: Options, run: (server: Running) => Promise<void>, Base?: typeof SimpleHTTPRequestHandler<any>) {
  const server = await serve(uploader(dir, options, Base));
  try {
    await run(server);
  } finally {
    await server.close();
  }
}

/** One request on its own connection; its (first) response. */
async function request(port: number, head: string, body: Buffer | string = ""): Promise<Response> {
  const reply = await exchange(port, Buffer.concat([Buffer.from(head + "\r\n", "latin1"), Buffer.from(body)]), { timeoutMs: 10_000 });
  const { responses, error } = parseResponses(reply);
  assert.ok(responses.length > 0, `no response (${error}): ${JSON.stringify(reply.toString("latin1").slice(0, 300))}`);
  return responses[responses.length - 1]!;
}

/** `PUT path` with `body`, `Connection: close`, and `headers`. */
function put(port: number, path: string, body: Buffer | string, headers: string[] = []): Promise<Response> {
  const length = Buffer.byteLength(body);
  const lines = [`PUT ${path} HTTP/1.1`, "Host: 127.0.0.1", `Content-Length: ${length}`, "Connection: close", ...headers];
  return request(port, lines.join("\r\n") + "\r\n", body);
}

/** Waits until `condition` holds; fails naming `what` after 10 s. */
async function waitFor(condition: () => boolean, what: string): Promise<void> {
  assert.ok(await poll(condition), `timed out waiting for ${what}`);
}

/** The names in `dir`, our temporary files included. */
const names = (dir: string) => readdirSync(dir).sort();
const temps = (dir: string) => readdirSync(dir, { recursive: true }).filter((name) => String(name).includes(TEMP_PREFIX));

describe("PUT", () => {
  test("a new file: 201 Created, Location, a line saying what was written; logged after Python's request line", async () => {
    const dir = site({ "dir/old.txt": "old" });
    await withServer(dir, {}, async ({ port }) => {
      logged.length = 0;
      const body = Buffer.alloc(1048576, 7);
      const response = await put(port, "/dir/a.bin", body);
      assert.equal(response.statusLine, "HTTP/1.1 201 Created");
      assert.equal(response.headers.get("location"), "/dir/a.bin");
      assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
      assert.equal(response.body.toString(), "uploaded /dir/a.bin (1048576 bytes)\n");
      assert.deepEqual(readFileSync(join(dir, "dir", "a.bin")), body);
      assert.deepEqual(logged, ['"PUT /dir/a.bin HTTP/1.1" 201 -', "uploaded /dir/a.bin (1048576 bytes)"]);
      assert.deepEqual(temps(dir), []);
    });
  });

  test("names are taken as serving reads them: percent-decoded, UTF-8, Location re-quoted", async () => {
    const dir = site();
    await withServer(dir, {}, async ({ port }) => {
      const response = await put(port, "/na%C3%AFve%20caf%C3%A9.txt?x=1#y", "accents");
      assert.equal(response.status, 201);
      assert.equal(response.headers.get("location"), "/na%C3%AFve%20caf%C3%A9.txt");
      assert.equal(readFileSync(join(dir, "naïve café.txt"), "utf8"), "accents");
      assert.equal((await put(port, "/100%25%20sure.txt", "x")).status, 201);
      assert.ok(existsSync(join(dir, "100% sure.txt")));
    });
  });

  test("a chunked body is written decoded; an empty body makes an empty file", async () => {
    const dir = site();
    await withServer(dir, {}, async ({ port }) => {
      const chunked = await request(port, "PUT /c.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
      assert.equal(chunked.status, 201);
      assert.equal(readFileSync(join(dir, "c.txt"), "utf8"), "hello world");
      assert.equal((await put(port, "/empty", "")).status, 201);
      assert.equal(readFileSync(join(dir, "empty"), "utf8"), "");
    });
  });

  test("an existing name is 409 and the file stays as it was; with upload_overwrite it is replaced: 204", async () => {
    const dir = site({ "a.txt": "old" });
    await withServer(dir, {}, async ({ port }) => {
      const refused = await put(port, "/a.txt", "new");
      assert.equal(refused.statusLine, "HTTP/1.1 409 A file of that name exists");
      assert.equal(refused.headers.get("connection"), "close");
      assert.equal(readFileSync(join(dir, "a.txt"), "utf8"), "old");
    });
    await withServer(dir, { upload_overwrite: true }, async ({ port }) => {
      logged.length = 0;
      const replaced = await put(port, "/a.txt", "new");
      assert.equal(replaced.statusLine, "HTTP/1.1 204 No Content");
      assert.equal(replaced.headers.get("content-length"), undefined);
      assert.equal(readFileSync(join(dir, "a.txt"), "utf8"), "new");
      assert.deepEqual(logged, ['"PUT /a.txt HTTP/1.1" 204 -', "uploaded /a.txt (3 bytes)"]);
    });
  });

  test("upload_overwrite replaces regular files only: a directory, a link, a FIFO are 409", async () => {
    const dir = site({ "sub/x": "x", "target.txt": "t" });
    symlinkSync(join(dir, "target.txt"), join(dir, "link.txt"));
    spawnSync("mkfifo", [join(dir, "fifo")]);
    await withServer(dir, { upload_overwrite: true }, async ({ port }) => {
      assert.equal((await put(port, "/sub", "x")).statusLine, "HTTP/1.1 409 A directory of that name exists");
      assert.equal((await put(port, "/link.txt", "x")).statusLine, "HTTP/1.1 409 A file of that name exists and is not a regular file");
      if (existsSync(join(dir, "fifo"))) assert.equal((await put(port, "/fifo", "x")).status, 409);
    });
    assert.ok(lstatSync(join(dir, "link.txt")).isSymbolicLink());
    assert.equal(readFileSync(join(dir, "target.txt"), "utf8"), "t");
  });

  test("a URL ending in / names no file: 400", async () => {
    const dir = site({ "dir/x": "x" });
    await withServer(dir, {}, async ({ port }) => {
      assert.equal((await put(port, "/dir/", "x")).statusLine, "HTTP/1.1 400 Bad file name: PUT needs one after the directory (/dir/NAME)");
    });
  });

  test("bad names are 400, and nothing is written: backslash, NUL, control characters, dot segments, our temporary names, over 255 bytes", async () => {
    const dir = site({ "dir/x": "x" });
    await withServer(dir, {}, async ({ port }) => {
      const cases: [string, string][] = [
        ["/a%5Cb", "a backslash"],
        ["/a%00b", "a control character"],
        ["/a%0Ab", "a control character"],
        ["/a%7Fb", "a control character"],
        ["/a%C2%85b", "a control character"],
        ["/dir/../x", "a dot segment"],
        ["/dir/./x", "a dot segment"],
        ["/dir/%2E%2E/x", "a dot segment"],
        ["/..", "a dot segment"],
        [`/${TEMP_PREFIX}1-0123456789abcdef.part`, "the name of the server's temporary files"],
        [`/${"é".repeat(128)}`, "longer than 255 bytes"],
        ["/a%ED%A0%80b", "not UTF-8"],
      ];
      for (const [path, why] of cases) {
        const response = await put(port, path, "x");
        assert.equal(response.statusLine, `HTTP/1.1 400 Bad file name: ${why}`, path);
      }
      const absolute = await put(port, "http://127.0.0.1/x", "x");
      assert.equal(absolute.statusLine, "HTTP/1.1 400 Bad request path");
    });
    assert.deepEqual(names(dir), ["dir"]);
    assert.deepEqual(names(join(dir, "dir")), ["x"]);
  });

  test("a name of 255 bytes is fine", async () => {
    const dir = site();
    await withServer(dir, {}, async ({ port }) => {
      assert.equal((await put(port, `/${"a".repeat(255)}`, "x")).status, 201);
    });
  });

  test("a missing directory is 409; with upload_mkdir it is made, and a failed upload removes what it made", async () => {
    const dir = site();
    await withServer(dir, {}, async ({ port }) => {
      assert.equal((await put(port, "/a/b/c.txt", "x")).statusLine, "HTTP/1.1 409 No such directory");
    });
    assert.deepEqual(names(dir), []);
    await withServer(dir, { upload_mkdir: true, upload_max: 10 }, async ({ port }) => {
      assert.equal((await put(port, "/a/b/c.txt", "x")).status, 201);
      assert.equal(readFileSync(join(dir, "a", "b", "c.txt"), "utf8"), "x");
      // A chunked body over the limit fails after the directories were made: they go too.
      const tooBig = await request(port, "PUT /p/q/r.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n", "10\r\n0123456789abcdef\r\n0\r\n\r\n");
      assert.equal(tooBig.status, 413);
      assert.deepEqual(names(dir), ["a"]);
      // Each directory made is a name checked like any other.
      assert.equal((await put(port, "/a/%5C/c.txt", "x")).status, 400);
      assert.equal((await put(port, "/a/b/c.txt/d", "x")).statusLine, "HTTP/1.1 409 Not a directory");
    });
  });

  test("never through a link that leads out, whether links are followed or not; a link inside is fine", async () => {
    const outside = site();
    const dir = site({ "real/x": "x" });
    symlinkSync(outside, join(dir, "out"));
    symlinkSync(join(dir, "real"), join(dir, "in"));
    for (const follow_symlinks of [true, false]) {
      await withServer(dir, { follow_symlinks, upload_mkdir: true }, async ({ port }) => {
        assert.equal((await put(port, "/out/evil.txt", "x")).statusLine, "HTTP/1.1 403 Outside the served directory");
        assert.equal((await put(port, "/out/new/evil.txt", "x")).status, 403);
        assert.equal((await put(port, `/in/ok-${follow_symlinks}.txt`, "x")).status, 201);
      });
    }
    assert.deepEqual(names(outside), []);
    assert.deepEqual(names(join(dir, "real")), ["ok-false.txt", "ok-true.txt", "x"]);
  });

  test("dotfiles = false: a dot name at any depth is 403, /.well-known/ is not", async () => {
    const dir = site({ ".well-known/x": "x", "dir/x": "x" });
    await withServer(dir, { dotfiles: false, upload_mkdir: true }, async ({ port }) => {
      for (const path of ["/.env", "/dir/.hidden", "/.git/config", "/dir/%2Egit/x", "/dir/.well-known/x"]) {
        assert.equal((await put(port, path, "x")).statusLine, "HTTP/1.1 403 Names starting with a dot are not accepted", path);
      }
      assert.equal((await put(port, "/.well-known/security.txt", "x")).status, 201);
    });
    assert.deepEqual(names(dir), [".well-known", "dir"]);
  });

  test("upload_max: a Content-Length over it is 413 before any byte is read; a chunked body over it is cut at the limit; null is no limit", async () => {
    const dir = site();
    await withServer(dir, { upload_max: 1000 }, async ({ port }) => {
      // Only the head is sent: the answer cannot wait for a body.
      const socket = await openSocket(port);
      const reply = collect(socket);
      socket.write("PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
      const data = await reply.closed;
      assert.match(data.toString("latin1"), /^HTTP\/1\.1 413 Upload larger than 1000 bytes\r\n/);
      const chunked = await request(port, "PUT /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n", "3e9\r\n" + "a".repeat(1001) + "\r\n0\r\n\r\n");
      assert.equal(chunked.status, 413);
      assert.equal((await put(port, "/fits", "a".repeat(1000))).status, 201);
    });
    await withServer(dir, { upload_max: null }, async ({ port }) => {
      assert.equal((await put(port, "/any", Buffer.alloc(3 << 20))).status, 201);
    });
    assert.deepEqual(names(dir), ["any", "fits"]);
  });

  test("from a browser on another site (Origin not this host) it is 403; from this one, or from a script with no Origin, it is accepted", async () => {
    const dir = site();
    await withServer(dir, {}, async ({ port }) => {
      const host = `127.0.0.1:${port}`;
      const head = (origin: string) => [`Origin: ${origin}`];
      assert.equal((await put(port, "/evil.txt", "x", head("https://evil.example"))).statusLine, "HTTP/1.1 403 Uploads from another site are refused");
      assert.equal((await put(port, "/evil.txt", "x", head("null"))).status, 403);
      assert.equal((await put(port, "/evil.txt", "x", head(`http://127.0.0.1:${port + 1}`))).status, 403);
      const same = await request(port, `PUT /ok.txt HTTP/1.1\r\nHost: ${host}\r\nOrigin: http://${host}\r\nContent-Length: 1\r\nConnection: close\r\n`, "x");
      assert.equal(same.status, 201);
    });
    assert.deepEqual(names(dir), ["ok.txt"]);
  });

  test("Expect: 100-continue: a refused upload gets its answer instead of 100 Continue; an accepted one gets 100, then 201", async () => {
    const dir = site({ "taken.txt": "x" });
    await withServer(dir, {}, async ({ port }) => {
      const refusedSocket = await openSocket(port);
      const refused = collect(refusedSocket);
      refusedSocket.write("PUT /taken.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
      assert.match((await refused.closed).toString("latin1"), /^HTTP\/1\.1 409 A file of that name exists\r\n/);

      const socket = await openSocket(port);
      const reply = collect(socket);
      socket.write("PUT /new.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n");
      await waitFor(() => reply.data().length > 0, "100 Continue");
      assert.equal(reply.data().toString("latin1"), "HTTP/1.1 100 Continue\r\n\r\n");
      socket.write("hello");
      assert.match((await reply.closed).toString("latin1"), /HTTP\/1\.1 201 Created/);
    });
    assert.equal(readFileSync(join(dir, "new.txt"), "utf8"), "hello");
  });

  test("keep-alive: after a 201 the connection serves the next request", async () => {
    const dir = site();
    await withServer(dir, {}, async ({ port }) => {
      const data = await exchange(port, "PUT /k.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nokGET /k.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      const { responses } = parseResponses(data);
      assert.deepEqual(responses.map((response) => response.status), [201, 200]);
      assert.equal(responses[1]!.body.toString(), "ok");
    });
  });

  test("without upload, PUT and POST are Python's 501", async () => {
    const dir = site();
    await withServer(dir, { upload: false }, async ({ port }) => {
      assert.equal((await put(port, "/x", "x")).statusLine, "HTTP/1.1 501 Unsupported method ('PUT')");
      const post = await request(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n", "x");
      assert.equal(post.statusLine, "HTTP/1.1 501 Unsupported method ('POST')");
    });
    assert.deepEqual(names(dir), []);
  });

  test("CGIHTTPRequestHandler: no upload into a CGI directory (a .py there would run)", async () => {
    const dir = site({ "cgi-bin/x": "x", "sub/x": "x" });
    await withServer(
      dir,
      { upload_mkdir: true },
      async ({ port }) => {
        for (const path of ["/cgi-bin/evil.py", "/htbin/evil.py", "/cgi-bin/sub/evil.py"]) {
          assert.equal((await put(port, path, "print()")).statusLine, "HTTP/1.1 403 Uploads into a CGI directory are refused", path);
        }
        assert.equal((await put(port, "/sub/fine.py", "print()")).status, 201);
      },
      CGIHTTPRequestHandler,
    );
    assert.deepEqual(names(join(dir, "cgi-bin")), ["x"]);
    assert.ok(!existsSync(join(dir, "htbin")));
  });
});

/** A multipart/form-data body of `files` (field, file name, content) and text `fields`. */
function multipart(files: [field: string, filename: string, content: string | Buffer][], fields: [string, string][] = []) {
  const boundary = "----simplehttpTestBoundary";
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  for (const [field, filename, content] of files) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`));
    parts.push(Buffer.from(content), Buffer.from("\r\n"));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

/** `POST path` of `form`, `Connection: close`, with `headers`. */
function post(port: number, path: string, form: { body: Buffer; type: string }, headers: string[] = []): Promise<Response> {
  const lines = [`POST ${path} HTTP/1.1`, "Host: 127.0.0.1", `Content-Type: ${form.type}`, `Content-Length: ${form.body.length}`, "Connection: close", ...headers];
  return request(port, lines.join("\r\n") + "\r\n", form.body);
}

describe("POST of a form", () => {
  test("each file is written into the directory under its own name: 201, a line per file, Location for a single new one; fields are ignored", async () => {
    const dir = site({ "dir/old.txt": "old" });
    await withServer(dir, {}, async ({ port }) => {
      logged.length = 0;
      const form = multipart([["file", "a.bin", Buffer.alloc(70_000, 3)], ["file", "naïve café.txt", "accents"]], [["note", "hello"]]);
      const response = await post(port, "/dir/", form);
      assert.equal(response.statusLine, "HTTP/1.1 201 Created");
      assert.equal(response.body.toString(), "uploaded /dir/a.bin (70000 bytes)\nuploaded /dir/naïve café.txt (7 bytes)\n");
      assert.equal(response.headers.get("location"), undefined, "two files: no single Location");
      assert.deepEqual(readFileSync(join(dir, "dir", "a.bin")), Buffer.alloc(70_000, 3));
      assert.equal(readFileSync(join(dir, "dir", "naïve café.txt"), "utf8"), "accents");
      assert.deepEqual(logged, ['"POST /dir/ HTTP/1.1" 201 -', "uploaded /dir/a.bin (70000 bytes)", "uploaded /dir/naïve café.txt (7 bytes)"]);
      const one = await post(port, "/dir", multipart([["f", "one.txt", "1"]]));
      assert.equal(one.status, 201);
      assert.equal(one.headers.get("location"), "/dir/one.txt");
      assert.deepEqual(temps(dir), []);
    });
  });

  test("a browser's form (it accepts HTML) goes back to the listing: 303 See Other, its sort kept", async () => {
    const dir = site({ "dir/x": "x" });
    await withServer(dir, {}, async ({ port }) => {
      const accept = ["Accept: text/html,application/xhtml+xml,*/*;q=0.8", `Origin: http://127.0.0.1:${port}`].map((line) => line);
      const response = await request(
        port,
        [`POST /dir/?sort=size&order=desc HTTP/1.1`, `Host: 127.0.0.1:${port}`, `Content-Type: ${multipart([]).type}`, ...accept, `Content-Length: ${multipart([["file", "b.txt", "b"]]).body.length}`, "Connection: close", ""].join("\r\n"),
        multipart([["file", "b.txt", "b"]]).body,
      );
      assert.equal(response.statusLine, "HTTP/1.1 303 See Other");
      assert.equal(response.headers.get("location"), "/dir/?sort=size&order=desc");
      assert.equal(readFileSync(join(dir, "dir", "b.txt"), "utf8"), "b");
    });
  });

  test("with upload_overwrite, a form that only replaces files is 200", async () => {
    const dir = site({ "a.txt": "old" });
    await withServer(dir, { upload_overwrite: true }, async ({ port }) => {
      const response = await post(port, "/", multipart([["file", "a.txt", "new"]]));
      assert.equal(response.statusLine, "HTTP/1.1 200 OK");
      assert.equal(readFileSync(join(dir, "a.txt"), "utf8"), "new");
    });
  });

  test("one refused file refuses the form: none of its files is written", async () => {
    const dir = site({ "taken.txt": "old" });
    await withServer(dir, {}, async ({ port }) => {
      const response = await post(port, "/", multipart([["file", "fresh.txt", "fresh"], ["file", "taken.txt", "new"]]));
      assert.equal(response.statusLine, "HTTP/1.1 409 A file of that name exists");
      const twice = await post(port, "/", multipart([["file", "same.txt", "1"], ["file", "same.txt", "2"]]));
      assert.equal(twice.statusLine, "HTTP/1.1 409 The form names a file twice");
      const bad = await post(port, "/", multipart([["file", "ok.txt", "1"], ["file", `${TEMP_PREFIX}1-0123456789abcdef.part`, "2"]]));
      assert.equal(bad.statusLine, "HTTP/1.1 400 Bad file name: the name of the server's temporary files");
    });
    assert.deepEqual(names(dir), ["taken.txt"]);
    assert.equal(readFileSync(join(dir, "taken.txt"), "utf8"), "old");
  });

  test("a file name with a path keeps its last part (as browsers send them, Windows' too)", async () => {
    const dir = site();
    await withServer(dir, {}, async ({ port }) => {
      assert.equal((await post(port, "/", multipart([["file", "C:\\Users\\me\\win.txt", "w"], ["file", "../../etc/unix.txt", "u"]]))).status, 201);
    });
    assert.deepEqual(names(dir), ["unix.txt", "win.txt"]);
  });

  test("a form cut short leaves none of its files and no temporary file", async () => {
    const dir = site();
    await withServer(dir, {}, async ({ port }) => {
      const form = multipart([["file", "first.txt", "complete"], ["file", "second.bin", Buffer.alloc(200_000)]]);
      const cut = form.body.subarray(0, form.body.length - 100_000);
      const reply = await exchange(port, Buffer.concat([Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: ${form.type}\r\nContent-Length: ${form.body.length}\r\n\r\n`), cut]), { end: true });
      assert.match(reply.toString("latin1"), /^HTTP\/1\.1 400 /);
      await waitFor(() => openUploadCount() === 0, "the uploads to end");
      assert.deepEqual(names(dir), []);
    });
  });

  test("no file chosen (the part a form sends with an empty name) is 400; a body that is not a form is 415", async () => {
    const dir = site();
    await withServer(dir, {}, async ({ port }) => {
      assert.equal((await post(port, "/", multipart([["file", "", ""]], [["x", "y"]]))).statusLine, "HTTP/1.1 400 No file in the form");
      const text = await request(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n", "hello");
      assert.equal(text.status, 415);
    });
    assert.deepEqual(names(dir), []);
  });

  test("upload_max: a form longer than it (plus 1 MiB of framing) is 413 before the body; a file over it is 413 while it streams", async () => {
    const dir = site();
    await withServer(dir, { upload_max: 1000 }, async ({ port }) => {
      const socket = await openSocket(port);
      const reply = collect(socket);
      socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: ${multipart([]).type}\r\nContent-Length: ${1000 + 1024 * 1024 + 1}\r\n\r\n`);
      assert.match((await reply.closed).toString("latin1"), /^HTTP\/1\.1 413 Upload larger than 1000 bytes\r\n/);
      const response = await post(port, "/", multipart([["file", "small.txt", "s"], ["file", "big.bin", Buffer.alloc(1001)]]));
      assert.equal(response.statusLine, "HTTP/1.1 413 Upload larger than 1000 bytes");
      await waitFor(() => openUploadCount() === 0, "the uploads to end");
    });
    assert.deepEqual(names(dir), []);
  });

  test("a POST to a file, a missing directory or another site is refused", async () => {
    const dir = site({ "a.txt": "a" });
    await withServer(dir, {}, async ({ port }) => {
      assert.equal((await post(port, "/a.txt", multipart([["f", "x", "x"]]))).statusLine, "HTTP/1.1 409 Not a directory");
      assert.equal((await post(port, "/missing/", multipart([["f", "x", "x"]]))).statusLine, "HTTP/1.1 409 No such directory");
      assert.equal((await post(port, "/", multipart([["f", "x", "x"]]), ["Origin: https://evil.example"])).status, 403);
    });
    assert.deepEqual(names(dir), ["a.txt"]);
  });

  test("a subclass's own do_POST wins over the upload one; PUT still uploads", async () => {
    const dir = site();
    class Own extends SimpleHTTPRequestHandler {
      async do_POST() {
        this.send_response(200);
        this.send_header("Content-Length", "4");
        await this.end_headers();
        await this.wfile.write(Buffer.from("mine"));
      }
    }
    await withServer(dir, {}, async ({ port }) => {
      const response = await post(port, "/", multipart([["f", "x.txt", "x"]]));
      assert.equal(response.body.toString(), "mine");
      assert.equal((await put(port, "/y.txt", "y")).status, 201);
    }, Own);
    assert.deepEqual(names(dir), ["y.txt"]);
  });

  test("Expect: 100-continue to a subclass's own do_POST is not judged as an upload (no 403 for its Origin, no 413 for its size)", async () => {
    const dir = site();
    class Own extends SimpleHTTPRequestHandler {
      async do_POST() {
        const body = await this.body_bytes({ limit: 10 << 20 });
        this.send_response(200);
        this.send_header("Content-Length", String(String(body.length).length));
        await this.end_headers();
        await this.wfile.write(Buffer.from(String(body.length)));
      }
    }
    await withServer(dir, { upload_max: 10 }, async ({ port }) => {
      const socket = await openSocket(port);
      const reply = collect(socket);
      socket.write("POST /api HTTP/1.1\r\nHost: x\r\nOrigin: https://elsewhere.example\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n");
      await waitFor(() => reply.data().length > 0, "100 Continue");
      assert.equal(reply.data().toString("latin1"), "HTTP/1.1 100 Continue\r\n\r\n");
      socket.write(Buffer.alloc(2_000_000));
      assert.match((await reply.closed).toString("latin1"), /HTTP\/1\.1 200 OK[\s\S]*\r\n\r\n2000000$/);
    }, Own);
  });

  test("CGIHTTPRequestHandler: a form posted outside the CGI directories is received", async () => {
    const dir = site({ "up/x": "x" });
    await withServer(dir, {}, async ({ port }) => {
      assert.equal((await post(port, "/up/", multipart([["f", "y.txt", "y"]]))).status, 201);
    }, CGIHTTPRequestHandler);
    assert.equal(readFileSync(join(dir, "up", "y.txt"), "utf8"), "y");
  });
});

describe("faults leave nothing behind", () => {
  test("a client that vanishes mid-upload: no file, no temporary file, one log line", async () => {
    const dir = site();
    await withServer(dir, {}, async ({ port }) => {
      logged.length = 0;
      const socket = await openSocket(port);
      socket.write("PUT /gone.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n");
      socket.write(Buffer.alloc(3_000_000));
      await waitFor(() => temps(dir).length === 1, "the temporary file");
      socket.resetAndDestroy();
      await waitFor(() => openUploadCount() === 0 && temps(dir).length === 0, "the temporary file to go");
      assert.deepEqual(names(dir), []);
      await waitFor(() => logged.some((line) => line.includes("PUT /gone.bin")), "the log line");
      // The reset usually reaches the server as one (a line of its own); when the kernel had
      // already handed over the end of the stream, it reads as a body cut short (a 400).
      const reset = ['Connection reset by peer while receiving "PUT /gone.bin HTTP/1.1"'];
      const cutShort = [/^code 400, message the client closed the connection \d+ bytes before the end of the body$/, /^"PUT \/gone\.bin HTTP\/1\.1" 400 -$/];
      if (logged.length === 1) assert.deepEqual(logged, reset);
      else assert.ok(logged.length === 2 && cutShort.every((pattern, i) => pattern.test(logged[i]!)), logged.join("\n"));
    });
  });

  test("a client that closes early (fewer bytes than Content-Length): 400, nothing written", async () => {
    const dir = site();
    await withServer(dir, {}, async ({ port }) => {
      const reply = await exchange(port, "PUT /short.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly 15 bytes..", { end: true });
      assert.match(reply.toString("latin1"), /^HTTP\/1\.1 400 the client closed the connection 85 bytes before the end of the body\r\n/);
      await waitFor(() => openUploadCount() === 0, "the upload to end");
      assert.deepEqual(names(dir), []);
    });
  });

  test("a client that stops sending mid-upload is cut off by body_timeout, logged once: nothing written (PUT, and a form mid-file)", async () => {
    const dir = site();
    await withServer(dir, { body_timeout: 0.4 }, async ({ port }) => {
      logged.length = 0;
      const put = await openSocket(port);
      const putReply = collect(put);
      put.write("PUT /stalled.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + "a".repeat(50_000));
      const form = multipart([["file", "first.txt", "complete"], ["file", "second.bin", Buffer.alloc(100_000)]]);
      const post = await openSocket(port);
      const postReply = collect(post);
      post.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: ${form.type}\r\nContent-Length: ${form.body.length}\r\n\r\n`);
      post.write(form.body.subarray(0, form.body.length - 50_000));
      await Promise.all([putReply.closed, postReply.closed]);
      await waitFor(() => openUploadCount() === 0, "the uploads to end");
      assert.deepEqual(names(dir), []);
      assert.deepEqual(logged.filter((line) => line.startsWith("Request timed out")).sort(), [
        'Request timed out: the client stopped sending for 0.4 seconds while receiving "POST / HTTP/1.1"',
        'Request timed out: the client stopped sending for 0.4 seconds while receiving "PUT /stalled.bin HTTP/1.1"',
      ]);
    });
  });

  test("a client that stalls mid-upload is cut off by Python's socket timeout too: nothing written", async () => {
    const dir = site();
    await withServer(dir, { timeout: 0.3 }, async ({ port }) => {
      logged.length = 0;
      const socket = await openSocket(port);
      const reply = collect(socket);
      socket.write("PUT /stalled.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + "a".repeat(500));
      await reply.closed;
      await waitFor(() => openUploadCount() === 0, "the upload to end");
      assert.deepEqual(names(dir), []);
      assert.ok(logged.some((line) => line.startsWith("Request timed out")), logged.join("\n"));
    });
  });

  test("a form that stalls in the middle of a file is cut off by the timeout: nothing written", async () => {
    const dir = site();
    await withServer(dir, { timeout: 0.3 }, async ({ port }) => {
      const form = multipart([["file", "first.txt", "complete"], ["file", "second.bin", Buffer.alloc(100_000)]]);
      const socket = await openSocket(port);
      const reply = collect(socket);
      socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: ${form.type}\r\nContent-Length: ${form.body.length}\r\n\r\n`);
      socket.write(form.body.subarray(0, form.body.length - 50_000));
      await reply.closed;
      await waitFor(() => openUploadCount() === 0, "the uploads to end");
      assert.deepEqual(names(dir), []);
    });
  });

  test("the server closing mid-upload (graceful_close, its grace over): nothing written", async () => {
    const dir = site();
    const server = await serve(uploader(dir));
    const socket = await openSocket(server.port);
    const reply = collect(socket);
    socket.write("PUT /closing.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + "a".repeat(1000));
    await waitFor(() => temps(dir).length === 1, "the temporary file");
    await server.server.graceful_close(0.2);
    await reply.closed;
    await waitFor(() => openUploadCount() === 0, "the upload to end");
    assert.deepEqual(names(dir), []);
  });

  test("a full disk: 507 Insufficient Storage, nothing left (a 1 MiB tmpfs, or an injected ENOSPC)", async (t) => {
    const mountpoint = site();
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountpoint]).status === 0;
    t.after(() => {
      if (mounted) spawnSync("umount", [mountpoint]);
    });
    const restore = mounted ? () => {} : await injectWriteError("ENOSPC");
    try {
      await withServer(mountpoint, {}, async ({ port }) => {
        const response = await put(port, "/big.bin", Buffer.alloc(3 << 20));
        assert.equal(response.statusLine, "HTTP/1.1 507 Insufficient Storage: the disk is full");
        await waitFor(() => openUploadCount() === 0, "the upload to end");
        assert.deepEqual(names(mountpoint), []);
        // The server is fine: a small file still fits.
        assert.equal((await put(port, "/small.txt", "fits")).status, mounted ? 201 : 507);
      });
    } finally {
      restore();
    }
    if (!mounted) t.diagnostic("no tmpfs (not root?): the disk-full error was injected into FileHandle.writev");
  });

  test("two uploads to one name at once: the second is 409 at once, the first is written whole", async () => {
    const dir = site();
    await withServer(dir, {}, async ({ port }) => {
      const first = await openSocket(port);
      const firstReply = collect(first);
      first.write("PUT /same.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n");
      first.write(Buffer.alloc(1_000_000, 0x61));
      await waitFor(() => temps(dir).length === 1, "the first upload to start");
      const second = await put(port, "/same.bin", Buffer.alloc(2_000_000, 0x62));
      assert.equal(second.statusLine, "HTTP/1.1 409 Another upload to this name is in progress");
      first.write(Buffer.alloc(1_000_000, 0x61));
      assert.match((await firstReply.closed).toString("latin1"), /^HTTP\/1\.1 201 /);
      assert.deepEqual(readFileSync(join(dir, "same.bin")), Buffer.alloc(2_000_000, 0x61));
      assert.deepEqual(names(dir), ["same.bin"]);
    });
  });

  test("many uploads at once to different names: each file is its own bytes", async () => {
    const dir = site();
    await withServer(dir, {}, async ({ port }) => {
      const bodies = Array.from({ length: 8 }, (_, i) => Buffer.alloc(300_000 + i, i + 1));
      const responses = await Promise.all(bodies.map((body, i) => put(port, `/f${i}`, body)));
      assert.deepEqual(responses.map((response) => response.status), Array(8).fill(201));
      bodies.forEach((body, i) => assert.ok(readFileSync(join(dir, `f${i}`)).equals(body)));
    });
  });
});

describe("memory", () => {
  test("a 256 MiB upload streams to disk: RSS grows by less than 64 MiB", async () => {
    const dir = site();
    await withServer(dir, {}, async ({ port }) => {
      const size = 256 * 1024 * 1024;
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      const socket = await openSocket(port);
      const reply = collect(socket);
      socket.write(`PUT /big.bin HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`);
      const chunk = Buffer.alloc(1 << 20, 0x5a);
      const hash = createHash("sha256");
      for (let sent = 0; sent < size; sent += chunk.length) {
        hash.update(chunk);
        if (!socket.write(chunk)) await new Promise((resolve) => socket.once("drain", resolve));
      }
      assert.match((await reply.closed).toString("latin1"), /^HTTP\/1\.1 201 /);
      clearInterval(sampler);
      const growth = (peak - before) / (1024 * 1024);
      assert.ok(growth < 64, `RSS grew by ${growth.toFixed(1)} MiB`);
      const file = await openFile(join(dir, "big.bin"));
      const onDisk = createHash("sha256");
      for await (const piece of file.createReadStream()) onDisk.update(piece as Buffer);
      assert.equal(onDisk.digest("hex"), hash.digest("hex"));
    });
  });
});

describe("the listings' form", () => {
  test("without upload, Python's listing is Python's; with it, the form, its style and script come before </body>, and our temporary files are not listed", async () => {
    const dir = site({ "a.txt": "a", [`${TEMP_PREFIX}1-0123456789abcdef.part`]: "partial" });
    let plain = "";
    await withServer(dir, { upload: false }, async ({ port }) => {
      plain = (await request(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n")).body.toString();
    });
    assert.ok(!plain.includes("<form") && plain.includes(TEMP_PREFIX));
    assert.ok(plain.endsWith("</ul>\n<hr>\n</body>\n</html>\n"));
    await withServer(dir, {}, async ({ port }) => {
      const page = (await request(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n")).body.toString();
      assert.ok(page.endsWith(`</ul>\n<hr>\n${UPLOAD_FOOTER}</body>\n</html>\n`));
      assert.ok(!page.includes(TEMP_PREFIX));
      assert.equal(page.replace(UPLOAD_FOOTER, ""), plain.replace(/<li><a href="\.simplehttp[^\n]*\n/, ""));
      assert.match(page, /<form id="upload" method="post" enctype="multipart\/form-data"><input type="file" name="file" multiple/);
    });
  });

  test("the rich listing carries the form, and its policy names the form's style and script by hash and lets the form post here", async () => {
    const dir = site({ "a.txt": "a" });
    forgetSnapshots();
    await withServer(dir, { listing: "rich" }, async ({ port }) => {
      const response = await request(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
      const page = response.body.toString();
      const policy = response.headers.get("content-security-policy")!;
      assert.ok(page.includes(`<style>${UPLOAD_STYLE}</style>`) && page.includes(`<script>${UPLOAD_SCRIPT}</script>`));
      assert.ok(page.indexOf(`<script>${UPLOAD_SCRIPT}`) < page.lastIndexOf("<script>"), "before the page's own script");
      assert.ok(page.includes('<form id="upload"'));
      assert.match(policy, new RegExp(`style-src [^;]*${escape(UPLOAD_STYLE_HASH)}`));
      assert.match(policy, new RegExp(`script-src [^;]*${escape(UPLOAD_SCRIPT_HASH)}`));
      assert.match(policy, /form-action 'self'/);
      // JSON is the same listing, no form in it.
      const json = await request(port, "GET /?format=json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
      assert.deepEqual(JSON.parse(json.body.toString()).map((item: { name: string }) => item.name), ["a.txt"]);
    });
    await withServer(dir, { listing: "rich", upload: false }, async ({ port }) => {
      const response = await request(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
      assert.ok(!response.body.toString().includes("<form"));
      assert.match(response.headers.get("content-security-policy")!, /form-action 'none'/);
    });
  });

  test("the hashes are those of the texts sent", () => {
    const sha = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
    assert.equal(UPLOAD_STYLE_HASH, sha(UPLOAD_STYLE));
    assert.equal(UPLOAD_SCRIPT_HASH, sha(UPLOAD_SCRIPT));
  });
});

describe("sizes and names", () => {
  test("parseSize reads bytes and K/M/G/T (powers of 1024, any case, B or iB after); 0 is no limit", () => {
    const cases: [string, number | null][] = [
      ["0", null],
      ["1", 1],
      ["1024", 1024],
      ["1K", 1024],
      ["1k", 1024],
      ["10KB", 10240],
      ["10KiB", 10240],
      ["500M", 500 * 1024 ** 2],
      ["1G", 1024 ** 3],
      ["1.5G", 1.5 * 1024 ** 3],
      [" 2T ", 2 * 1024 ** 4],
      ["7B", 7],
    ];
    for (const [text, bytes] of cases) assert.equal(parseSize(text), bytes, text);
    for (const text of ["", "-1", "1X", "G", "1 GB GB", "0x10", "1e3"]) assert.throws(() => parseSize(text), RangeError, text);
  });

  test("describeSize names a size in its largest exact unit", () => {
    assert.deepEqual([1, 2, 1024, 1536, 1024 ** 3, 3 * 1024 ** 2].map(describeSize), ["1 byte", "2 bytes", "1 KiB", "1536 bytes", "1 GiB", "3 MiB"]);
  });

  test("badName accepts plain and unicode names, and names the reason for the others", () => {
    for (const name of ["a.txt", "naïve café", "日本語.txt", " spaced ", "...", ".hidden", "a".repeat(255)]) assert.equal(badName(name), null, name);
    assert.deepEqual(["", ".", "..", "a/b", "a\\b", "a\0b", "a\x1bb", "a".repeat(256)].map(badName), [
      "empty",
      "a dot segment",
      "a dot segment",
      "a slash",
      "a backslash",
      "a control character",
      "a control character",
      "longer than 255 bytes",
    ]);
  });
});

/** `escape` for a RegExp. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Makes every `FileHandle.writev` fail with `code` (as a full disk does) until the returned
 * function is called.
 */
async function injectWriteError(code: string): Promise<() => void> {
  const probe = await openFile(join(root, "probe"), "w");
  const prototype = Object.getPrototypeOf(probe) as { writev: (...args: unknown[]) => Promise<unknown> };
  await probe.close();
  const original = prototype.writev;
  prototype.writev = async () => {
    throw Object.assign(new Error(`${code}: injected`), { code, syscall: "write" });
  };
  return () => {
    prototype.writev = original;
  };
}


