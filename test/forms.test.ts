/**
 * `form()`: multipart/form-data and urlencoded bodies parsed as they stream in (busboy), with real
 * bodies — built here byte by byte, and sent by curl -F — limits answered 413, malformed bodies
 * 400, other types 415, and memory flat for a large upload (bench/soak.ts measures 1 GB).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Socket } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { captureStderr, exchange, hasCommand, serve, sleep, splitReply, type Running } from "./helpers.js";
import { FormReporter, UploadHandler, temporaryFolder, type SeenPart } from "./forms_fixture.js";
import type { RequestHandlerClass } from "../src/socketserver/servers.js";
import type { FormOptions } from "../src/server/forms.js";

/** Runs curl without blocking the event loop (the server under test runs in this process). */
function curl(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("curl", args, { encoding: "utf8" }, (error, stdout, stderr) => {
      resolve({ status: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const BOUNDARY = "----simplehttpFormBoundary7MA4YWxk";

type Part = { name: string; value: string | Buffer; filename?: string; type?: string };

/** A multipart/form-data body as a browser writes it. */
function multipart(parts: Part[], boundary = BOUNDARY): Buffer {
  const pieces: Buffer[] = [];
  for (const { name, value, filename, type } of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${name}"`;
    if (filename !== undefined) head += `; filename="${filename}"`;
    head += "\r\n";
    if (type) head += `Content-Type: ${type}\r\n`;
    pieces.push(Buffer.from(head + "\r\n"), Buffer.from(value), Buffer.from("\r\n"));
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(pieces);
}

function post(body: Buffer, type = `multipart/form-data; boundary=${BOUNDARY}`, extra = ""): Buffer {
  return Buffer.concat([Buffer.from(`POST /upload HTTP/1.1\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n${extra}\r\n`), body]);
}

async function withServer<T>(Handler: RequestHandlerClass, run: (running: Running, log: ReturnType<typeof captureStderr>) => Promise<T>): Promise<T> {
  const log = captureStderr();
  const running = await serve(Handler);
  try {
    return await run(running, log);
  } finally {
    await running.close();
    log.restore();
  }
}

function withOptions(options: FormOptions): typeof FormReporter {
  return class extends FormReporter {
    static override options = options;
  };
}

test("fields arrive as strings and files as streams, in the order sent", async () => {
  await withServer(FormReporter, async ({ port }) => {
    const body = multipart([
      { name: "title", value: "Holiday photos" },
      { name: "files", value: Buffer.alloc(70_000, 1), filename: "beach.jpg", type: "image/jpeg" },
      { name: "files", value: "plain text\n", filename: "notes.txt", type: "text/plain" },
      { name: "agree", value: "yes" },
    ]);
    const reply = await exchange(port, post(body));
    assert.match(splitReply(reply).head, /^HTTP\/1\.1 200 OK/);
    const parts = JSON.parse(splitReply(reply).body.toString()) as SeenPart[];
    assert.deepEqual(parts, [
      { type: "field", name: "title", value: "Holiday photos", mimeType: "text/plain" },
      { type: "file", name: "files", filename: "beach.jpg", mimeType: "image/jpeg", size: 70_000 },
      { type: "file", name: "files", filename: "notes.txt", mimeType: "text/plain", size: 11 },
      { type: "field", name: "agree", value: "yes", mimeType: "text/plain" },
    ]);
  });
});

test("a file name keeps its UTF-8 letters and loses any directories the client put in it", async () => {
  await withServer(FormReporter, async ({ port }) => {
    const body = multipart([
      { name: "a", value: "x", filename: "naïve café.txt" },
      { name: "b", value: "y", filename: "../../etc/passwd" },
      { name: "c", value: "z", filename: "C:\\Users\\me\\evil.bat" },
    ]);
    const parts = JSON.parse(splitReply(await exchange(port, post(body))).body.toString()) as SeenPart[];
    assert.deepEqual(parts.map((part) => part.filename), ["naïve café.txt", "passwd", "evil.bat"]);
  });
});

test("an urlencoded form gives its fields the same way", async () => {
  await withServer(FormReporter, async ({ port }) => {
    const body = Buffer.from("q=caf%C3%A9+au+lait&n=1&empty=");
    const parts = JSON.parse(splitReply(await exchange(port, post(body, "application/x-www-form-urlencoded"))).body.toString()) as SeenPart[];
    assert.deepEqual(
      parts.map(({ name, value }) => [name, value]),
      [["q", "café au lait"], ["n", "1"], ["empty", ""]],
    );
  });
});

test("a form sent chunked is parsed the same", async () => {
  await withServer(FormReporter, async ({ port }) => {
    const body = multipart([{ name: "f", value: "0123456789", filename: "d.bin" }]);
    const half = body.length >> 1;
    const chunked = `${half.toString(16)}\r\n${body.subarray(0, half).toString("latin1")}\r\n${(body.length - half).toString(16)}\r\n${body.subarray(half).toString("latin1")}\r\n0\r\n\r\n`;
    const request = `POST / HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked}`;
    const parts = JSON.parse(splitReply(await exchange(port, Buffer.from(request, "latin1"))).body.toString()) as SeenPart[];
    assert.deepEqual(parts, [{ type: "file", name: "f", filename: "d.bin", mimeType: "text/plain", size: 10 }]);
  });
});

test("curl -F uploads fields and files that arrive intact", async (t) => {
  if (!(await hasCommand("curl"))) return t.skip("curl is not installed");
  const folder = temporaryFolder("simplehttp-curl-form-");
  try {
    writeFileSync(join(folder, "data.bin"), Buffer.alloc(200_000, 7));
    await withServer(FormReporter, async ({ port }) => {
      const result = await curl(["-sS", "-F", "title=from curl", "-F", `files=@${join(folder, "data.bin")};type=application/x-test`, `http://127.0.0.1:${port}/upload`]);
      assert.equal(result.status, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), [
        { type: "field", name: "title", value: "from curl", mimeType: "text/plain" },
        { type: "file", name: "files", filename: "data.bin", mimeType: "application/x-test", size: 200_000 },
      ]);
    });
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test("an upload handler writes curl's files atomically into its folder and never replaces one (409)", async (t) => {
  if (!(await hasCommand("curl"))) return t.skip("curl is not installed");
  const served = temporaryFolder("simplehttp-upload-");
  const source = temporaryFolder("simplehttp-upload-source-");
  try {
    writeFileSync(join(source, "report.pdf"), Buffer.alloc(3_000_000, 0x25));
    await withServer(UploadHandler.with_directory(served), async ({ port }) => {
      const upload = () => curl(["-sS", "-w", "%{http_code}", "-F", `f=@${join(source, "report.pdf")}`, `http://127.0.0.1:${port}/`]);
      const first = await upload();
      assert.equal(first.stdout, "report.pdf\n201");
      assert.deepEqual(readFileSync(join(served, "report.pdf")), readFileSync(join(source, "report.pdf")));
      const second = await upload();
      assert.match(second.stdout, /409$/);
      assert.deepEqual(readdirSync(served), ["report.pdf"]); // no temporary file left behind
    });
  } finally {
    rmSync(served, { recursive: true, force: true });
    rmSync(source, { recursive: true, force: true });
  }
});

test("a file larger than fileSize is 413, and the upload handler leaves no partial file", async () => {
  const served = temporaryFolder("simplehttp-upload-limit-");
  class Small extends UploadHandler {
    override form(options = {}) {
      return super.form({ ...options, fileSize: 1000 });
    }
  }
  try {
    await withServer(Small.with_directory(served), async ({ port }, log) => {
      const reply = await exchange(port, post(multipart([{ name: "f", value: Buffer.alloc(5000), filename: "big.bin" }])));
      assert.match(reply.toString("latin1"), /^HTTP\/1\.0 413 Form too large: file "big\.bin" is larger than 1000 bytes\r\n/);
      await sleep(20);
      assert.match(log.text(), /code 413, message Form too large: file "big\.bin" is larger than 1000 bytes/);
      assert.deepEqual(readdirSync(served), []);
    });
  } finally {
    rmSync(served, { recursive: true, force: true });
  }
});

test("too many files, too many fields, a field too long or a body over limit are each 413 with the reason", async () => {
  const cases: [Parameters<typeof withOptions>[0], Part[], string][] = [
    [{ files: 2 }, [1, 2, 3].map((i) => ({ name: "f", value: "x", filename: `${i}.txt` })), "Form too large: more than 2 files"],
    [{ fields: 2 }, [1, 2, 3].map((i) => ({ name: `f${i}`, value: "x" })), "Form too large: more than 2 fields"],
    [{ fieldSize: 10 }, [{ name: "essay", value: "x".repeat(11) }], 'Form too large: field "essay" is longer than 10 bytes'],
    [{ fieldNameSize: 5 }, [{ name: "longname", value: "x" }], "Form too large: a field name is longer than 5 bytes"],
    [{ parts: 2 }, [1, 2, 3].map((i) => ({ name: `f${i}`, value: "x" })), "Form too large: more than 2 parts"],
    [{ limit: 100 }, [{ name: "f", value: "x".repeat(200) }], "Request body larger than 100 bytes"],
  ];
  for (const [options, parts, message] of cases) {
    await withServer(withOptions(options), async ({ port }) => {
      const reply = await exchange(port, post(multipart(parts)));
      assert.equal(splitReply(reply).head.split("\r\n")[0], `HTTP/1.1 413 ${message}`, JSON.stringify(options));
    });
  }
});

test("a malformed body is 400, a body that is no form 415", async () => {
  await withServer(FormReporter, async ({ port }) => {
    const cut = multipart([{ name: "f", value: "0123456789", filename: "x" }]).subarray(0, 80);
    const truncated = await exchange(port, post(cut));
    assert.match(truncated.toString("latin1"), /^HTTP\/1\.1 400 Malformed form body \(Unexpected end of form\)\r\n/);
    const noBoundary = await exchange(port, post(Buffer.from("x"), "multipart/form-data"));
    assert.match(noBoundary.toString("latin1"), /^HTTP\/1\.1 400 Malformed form body \(Multipart: Boundary not found\)\r\n/);
    const json = await exchange(port, post(Buffer.from("{}"), "application/json"));
    assert.match(json.toString("latin1"), /^HTTP\/1\.1 415 Unsupported form type "application\/json": expected multipart\/form-data or application\/x-www-form-urlencoded\r\n/);
    const none = await exchange(port, Buffer.from("POST / HTTP/1.1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"));
    assert.match(none.toString("latin1"), /^HTTP\/1\.1 415 No Content-Type/);
  });
});

test("a handler that stops after the first part leaves the connection usable or closed, never confused", async () => {
  class FirstOnly extends FormReporter {
    override async do_POST() {
      for await (const part of this.form()) {
        await this.reply(200, "text/plain", part.name);
        break;
      }
    }
  }
  await withServer(FirstOnly, async ({ port }) => {
    const body = multipart([{ name: "one", value: "1" }, { name: "two", value: Buffer.alloc(100_000), filename: "t" }]);
    const request = post(body, undefined, "").toString("latin1").replace("Connection: close\r\n", "");
    const reply = await exchange(port, Buffer.from(request + "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", "latin1"));
    const text = reply.toString("latin1");
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\none/);
    // The rest of the form was skipped (under drain_limit), so the GET is answered as a request.
    assert.match(text, /HTTP\/1\.1 200 OK\r\n[^]*<form method="post"/);
  });
});

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const MiB = 1 << 20;

test("memory stays flat for a 256 MiB upload streamed through form() (bench/soak.ts measures 1 GB)", async (t) => {
  await withServer(FormReporter, async ({ port }) => {
    const size = 256 * MiB;
    const head = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="f"; filename="big.bin"\r\n\r\n`;
    const tail = `\r\n--${BOUNDARY}--\r\n`;
    const length = head.length + size + tail.length;
    gc();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const socket = new Socket();
      await new Promise<void>((resolve, reject) => socket.once("error", reject).connect(port, "127.0.0.1", resolve));
      const chunks: Buffer[] = [];
      socket.on("data", (data) => chunks.push(data));
      const closed = new Promise((resolve) => socket.once("close", resolve));
      socket.write(`POST / HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n${head}`);
      const chunk = Buffer.alloc(MiB, 0x41);
      for (let sent = 0; sent < size; sent += MiB) {
        if (!socket.write(chunk)) await new Promise((resolve) => socket.once("drain", resolve));
      }
      socket.end(tail);
      await closed;
      const parts = JSON.parse(splitReply(Buffer.concat(chunks)).body.toString()) as SeenPart[];
      assert.equal(parts[0]?.size, size);
    } finally {
      clearInterval(sampler);
    }
    const growth = (peak - before) / MiB;
    t.diagnostic(`a ${size / MiB} MiB upload through form(): RSS grew by ${growth.toFixed(1)} MiB`);
    assert.ok(growth < 64, `RSS grew by ${growth.toFixed(1)} MiB for a ${size / MiB} MiB upload`);
  });
});

