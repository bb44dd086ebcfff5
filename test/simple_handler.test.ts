/**
 * SimpleHTTPRequestHandler over loopback sockets, with raw bytes, against a copy of
 * test/fixtures/site: SPEC §6 rule by rule (translate_path, redirects, index pages, listings,
 * errors, If-Modified-Since, HEAD, header order), streaming of a large file to slow and vanishing
 * clients, the directory binding, and subclasses that replace one step.
 *
 * The committed tree holds the names that git carries everywhere (spaces, `%`, `&<>"'`, Unicode,
 * nested directories with and without index pages, a directory named index.html, an empty file).
 * What git cannot carry portably is made at test time in the copy: symlinks (to a file, to a
 * directory, dangling), names that are not UTF-8, an empty directory, 300 entries, a sorting
 * corpus, TypeScript-named files (tsconfig would compile them) and an unreadable file.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join, win32 } from "node:path";
import { pathToFileURL } from "node:url";
import { SimpleHTTPRequestHandler, translatePath, BytesIO, FileIO, pooledChunkBytes, type FileLike } from "../src/server/simple_handler.js";
import { formatHttpDate } from "../src/http/dates.js";
import { captureStderr, exchange, masked, serve, splitReply, type Running } from "./helpers.js";
import { buildSite, bytes, removeSite } from "./site_fixture.js";

// ---------------------------------------------------------------------------------------------
// The tree

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

let root = ""; // the temporary directory holding `site/`
let site = ""; // the served copy

// ---------------------------------------------------------------------------------------------
// Requests

class Quiet extends SimpleHTTPRequestHandler {
  override log_message(): void {}
}

let server: Running;

interface RequestOptions {
  method?: string;
  version?: string | null;
  headers?: Record<string, string>;
  port?: number;
}

/** Sends one request (the path as raw Latin-1 bytes) and returns every byte of the reply. */
function request(path: string, options: RequestOptions = {}): Promise<Buffer> {
  const { method = "GET", version = "HTTP/1.0", headers = {}, port = server.port } = options;
  let head = version === null ? `${method} ${path}\r\n` : `${method} ${path} ${version}\r\n`;
  if (version !== null) {
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    head += "\r\n";
  }
  return exchange(port, Buffer.from(head, "latin1"), { timeoutMs: 20000 });
}

/** Status line and headers as `[line, ...headers]`, with Server/Date masked; and the body. */
async function fetch(path: string, options: RequestOptions = {}): Promise<{ head: string[]; body: Buffer; reply: Buffer }> {
  const reply = await request(path, options);
  const { head, body } = splitReply(reply);
  return { head: masked(head).split("\r\n"), body, reply };
}

const mtimeOf = (path: string) => formatHttpDate(fs.statSync(path).mtimeMs / 1000);

function fileHead(path: string, type: string): string[] {
  return [
    "HTTP/1.0 200 OK",
    "Server: <server>",
    "Date: <date>",
    `Content-type: ${type}`,
    `Content-Length: ${fs.statSync(path).size}`,
    `Last-Modified: ${mtimeOf(path)}`,
  ];
}

const ERROR_PAGE = (code: number, message: string, explain: string) => `<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <style type="text/css">
            :root {
                color-scheme: light dark;
            }
        </style>
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: ${code}</p>
        <p>Message: ${message}.</p>
        <p>Error code explanation: ${code} - ${explain}.</p>
    </body>
</html>
`;

function notFound(message = "File not found"): string {
  const body = ERROR_PAGE(404, message, "Nothing matches the given URI");
  return (
    `HTTP/1.0 404 ${message}\r\nServer: <server>\r\nDate: <date>\r\nConnection: close\r\n` +
    `Content-Type: text/html;charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** A listing page, spelled out: `entries` are `[href, display]`, display as raw bytes allowed. */
function listing(title: string | Buffer, entries: [string, string | Buffer][]): Buffer {
  const parts: Buffer[] = [
    Buffer.from(
      '<!DOCTYPE HTML>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
        '<style type="text/css">\n:root {\ncolor-scheme: light dark;\n}\n</style>\n<title>Directory listing for ',
    ),
    Buffer.from(title),
    Buffer.from("</title>\n</head>\n<body>\n<h1>Directory listing for "),
    Buffer.from(title),
    Buffer.from("</h1>\n<hr>\n<ul>\n"),
  ];
  for (const [href, display] of entries) {
    parts.push(Buffer.from(`<li><a href="${href}">`), Buffer.from(display), Buffer.from("</a></li>\n"));
  }
  parts.push(Buffer.from("</ul>\n<hr>\n</body>\n</html>\n"));
  return Buffer.concat(parts);
}

function listingReply(body: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(
      "HTTP/1.0 200 OK\r\nServer: <server>\r\nDate: <date>\r\nContent-type: text/html; charset=utf-8\r\n" +
        `Content-Length: ${body.length}\r\n\r\n`,
    ),
    body,
  ]);
}

/** The reply with Server and Date masked, as bytes (listing bodies may hold raw bytes). */
function maskedBytes(reply: Buffer): Buffer {
  return Buffer.from(masked(reply), "latin1");
}

before(async () => {
  ({ root, site } = buildSite());
  server = await serve(Quiet.with_directory(site));
});

after(async () => {
  await server.close();
  removeSite(root);
});

// ---------------------------------------------------------------------------------------------
// Files

describe("files", () => {
  test("GET sends 200 with Content-type, Content-Length, Last-Modified in that order, then the file", async () => {
    const { head, body } = await fetch("/hello.txt");
    assert.deepEqual(head, fileHead(join(site, "hello.txt"), "text/plain"));
    assert.equal(body.toString(), "hello\n");
  });

  test("the Server header names SimpleHTTP/0.6 and the Node.js version", async () => {
    const reply = await request("/hello.txt");
    assert.match(reply.toString("latin1"), new RegExp(`\r\nServer: SimpleHTTP/0\\.6 Node\\.js/${process.versions.node}\r\n`));
  });

  test("HEAD sends the same headers and no body", async () => {
    const get = await fetch("/hello.txt");
    const head = await fetch("/hello.txt", { method: "HEAD" });
    assert.deepEqual(head.head, get.head);
    assert.equal(head.body.length, 0);
  });

  test("an empty file has Content-Length 0 and no body", async () => {
    const { head, body } = await fetch("/empty.txt");
    assert.deepEqual(head, fileHead(join(site, "empty.txt"), "text/plain"));
    assert.equal(body.length, 0);
  });

  test("names with spaces, %, markup characters and Unicode are reached by their quoted form", async () => {
    const cases: [string, string][] = [
      ["/name%20with%20spaces.txt", "spaces\n"],
      ["/100%25.txt", "percent\n"],
      ["/%26%3C%3E%22%27.txt", "markup\n"],
      ["/&<>\"'.txt", "markup\n"],
      ["/unicod%C3%A9.txt", "accent\n"],
      ["/%E6%97%A5%E6%9C%AC%E8%AA%9E.txt", "nihongo\n"],
      ["/dir%20with%20space/file.txt", "in a spaced dir\n"],
      ["/sub/nested/deep.txt", "deep\n"],
    ];
    for (const [path, content] of cases) {
      const { head, body } = await fetch(path);
      assert.equal(head[0], "HTTP/1.0 200 OK", path);
      assert.equal(body.toString(), content, path);
    }
  });

  test("query and fragment are ignored", async () => {
    const { head, body } = await fetch("/hello.txt?x=1#frag");
    assert.equal(head[0], "HTTP/1.0 200 OK");
    assert.equal(body.toString(), "hello\n");
  });

  test("a symlink to a file is followed", async () => {
    const { head, body } = await fetch("/link.txt");
    assert.deepEqual(head, fileHead(join(site, "hello.txt"), "text/plain"));
    assert.equal(body.toString(), "hello\n");
  });

  test("`..` and encoded `..` cannot leave the directory", async () => {
    assert.equal(masked(await request("/../../etc/passwd")), notFound());
    assert.equal(masked(await request("/%2e%2e/%2e%2e/etc/passwd")), notFound());
    assert.equal((await fetch("/%2e%2e/%2E%2E/hello.txt")).body.toString(), "hello\n");
    assert.equal((await fetch("/sub/../hello.txt")).body.toString(), "hello\n");
  });

  test("a path without a leading slash is served relative to the directory", async () => {
    assert.equal((await fetch("sub/note.txt")).body.toString(), "note\n");
  });

  test("Last-Modified is the modification time truncated to the second", async () => {
    const path = join(site, "sub", "note.txt");
    fs.utimesSync(path, 1000000000.75, 1000000000.75);
    const { head } = await fetch("/sub/note.txt");
    assert.equal(head[5], "Last-Modified: Sun, 09 Sep 2001 01:46:40 GMT");
  });

  test("over HTTP/0.9 only the file's bytes are sent", async () => {
    assert.equal((await request("/hello.txt", { version: null })).toString(), "hello\n");
  });

  test("with protocol HTTP/1.1, files are served one after another on a kept-alive connection", async () => {
    class KeepAlive extends Quiet {
      override protocol_version = "HTTP/1.1";
    }
    const running = await serve(KeepAlive.with_directory(site));
    try {
      const reply = await exchange(
        running.port,
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /sub/nested/deep.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        { timeoutMs: 20000 },
      );
      const text = reply.toString("latin1");
      assert.equal(text.split("HTTP/1.1 200 OK").length - 1, 2);
      assert.ok(text.includes("\r\n\r\nhello\nHTTP/1.1 200 OK\r\n"));
      assert.ok(text.endsWith("\r\n\r\ndeep\n"));
    } finally {
      await running.close();
    }
  });

  test("methods other than GET and HEAD get 501", async () => {
    const reply = masked(await request("/hello.txt", { method: "POST" }));
    assert.ok(reply.startsWith("HTTP/1.0 501 Unsupported method ('POST')\r\n"), reply);
  });
});

// ---------------------------------------------------------------------------------------------
// Errors

describe("errors", () => {
  test("a missing file is 404 File not found, with the 3.14 error page", async () => {
    assert.equal(masked(await request("/nope")), notFound());
    assert.equal(masked(await request("/nope/")), notFound());
  });

  test("a file named with a trailing slash (or %2f, %2F) is 404", async () => {
    assert.equal(masked(await request("/hello.txt/")), notFound());
    assert.equal(masked(await request("/hello.txt%2f")), notFound());
    assert.equal(masked(await request("/hello.txt%2F")), notFound());
  });

  test("HEAD of a missing file gets the headers of the error, no body", async () => {
    const { head, body } = await fetch("/nope", { method: "HEAD" });
    assert.equal(head[0], "HTTP/1.0 404 File not found");
    assert.ok(head.includes("Content-Length: 460"));
    assert.equal(body.length, 0);
  });

  test("a dangling symlink cannot be opened: 404", async () => {
    assert.equal(masked(await request("/dangling")), notFound());
  });

  test("%00 in the path is 404 (Python raises ValueError and answers nothing)", async () => {
    assert.equal(masked(await request("/hello%00.txt")), notFound());
    assert.equal(masked(await request("/sub%00/")), notFound());
  });

  test("a path with an unencodable surrogate is 404 (Python raises and answers nothing)", async () => {
    assert.equal(masked(await request("/%ED%A0%80.txt")), notFound());
  });

  test("an unreadable file is 404", { skip: isRoot && "running as root: chmod 0 does not stop root from reading" }, async () => {
    assert.equal(masked(await request("/secret.txt")), notFound());
  });

  test("under root, the unreadable file is readable (why the test above is skipped)", { skip: !isRoot && "not root" }, async () => {
    assert.equal((await fetch("/secret.txt")).body.toString(), "secret\n");
  });

  test("a directory that cannot be read is 404 No permission to list directory", async () => {
    // list_directory() called on a directory that cannot be opened (a vanished one): the same
    // branch as a permission failure, which root cannot be made to hit.
    class Vanished extends Quiet {
      override list_directory(_path: string): Promise<FileLike | null> {
        return super.list_directory(join(site, "vanished-directory"));
      }
    }
    const running = await serve(Vanished.with_directory(site));
    try {
      assert.equal(masked(await request("/sub/", { port: running.port })), notFound("No permission to list directory"));
    } finally {
      await running.close();
    }
  });

  test("chmod 0 on a directory gives 404 No permission to list directory", { skip: isRoot && "running as root: chmod 0 does not stop root from listing" }, async () => {
    const dir = join(site, "emptydir");
    fs.chmodSync(dir, 0);
    try {
      assert.equal(masked(await request("/emptydir/")), notFound("No permission to list directory"));
    } finally {
      fs.chmodSync(dir, 0o755);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Directories

describe("directory redirects", () => {
  const redirect = (location: string) =>
    `HTTP/1.0 301 Moved Permanently\r\nServer: <server>\r\nDate: <date>\r\nLocation: ${location}\r\nContent-Length: 0\r\n\r\n`;

  test("a directory without its slash is 301 to the slashed URL, with no body even for GET", async () => {
    assert.equal(masked(await request("/sub")), redirect("/sub/"));
    assert.equal(masked(await request("/sub", { method: "HEAD" })), redirect("/sub/"));
    assert.equal(masked(await request("/sub/nested")), redirect("/sub/nested/"));
    assert.equal(masked(await request("/dir%20with%20space")), redirect("/dir%20with%20space/"));
  });

  test("the query and fragment are kept", async () => {
    assert.equal(masked(await request("/sub?hi=1")), redirect("/sub/?hi=1"));
    assert.equal(masked(await request("/emptydir?a=b#c")), redirect("/emptydir/?a=b#c"));
    assert.equal(masked(await request("/sub#only")), redirect("/sub/#only"));
  });

  test("an empty query or fragment loses its delimiter (urlunsplit)", async () => {
    assert.equal(masked(await request("/sub?")), redirect("/sub/"));
    assert.equal(masked(await request("/sub#")), redirect("/sub/"));
  });

  test("a relative path redirects to a relative location", async () => {
    assert.equal(masked(await request("sub")), redirect("sub/"));
    assert.equal(masked(await request("sub?hi=1")), redirect("sub/?hi=1"));
  });

  test("a symlinked directory redirects like a directory", async () => {
    assert.equal(masked(await request("/linkdir")), redirect("/linkdir/"));
  });

  test("the Location never starts with // (gh-87389)", async () => {
    const url = "/python.org/..%2f..%2f..%2f../%0a%0d/../sub";
    assert.equal(masked(await request(url)), redirect(`${url}/`));
    assert.equal(masked(await request(`/${url}`)), redirect(`${url}/`));
    assert.equal(masked(await request(`//${url}`)), redirect(`${url}/`));
    // An absolute URI keeps its scheme and host: the path after it cannot be mistaken for one.
    assert.equal(masked(await request(`https://pypi.org${url}`)), redirect(`https://pypi.org${url}/`));
  });

  /**
   * Request targets a raw client or a proxy can send that reach a directory without its slash,
   * each spelled so that Python's Location would take a browser to another host.
   */
  const HOSTILE_TARGETS = [
    "/\\example.com/..",
    "/\\/example.com/../..",
    "/\\\\example.com/..",
    "//\\example.com/../..",
    "\\\\example.com/..",
    "\\/example.com/../..",
    "/\\example.com/../sub",
    "\x01//example.com/../..",
    "\x01\\\\example.com/../..",
    "\x1b\x7f//example.com/../..",
    "\x01////example.com/../..",
    "http:/example.com/../..",
    "http:example.com/..",
    "https:/example.com/../..",
    "http:\\\\example.com/../..",
    "HTTP:/\\example.com/../..",
    "javascript:alert(1)//..",
    "//example.com/../..",
    "/%5Cexample.com/..",
    "/%5C%5Cexample.com/..",
  ];

  /** What a browser at `base` makes of a Location: the WHATWG URL parser, as browsers have it. */
  const followed = (location: string, base: string) => new URL(location, base);

  test("no Location can be followed to another host: backslashes, leading controls, a scheme without a host", async () => {
    for (const version of ["HTTP/1.0", "HTTP/1.1"]) {
      for (const target of HOSTILE_TARGETS) {
        const reply = await request(target, { version, headers: { Host: "victim.test", Connection: "close" } });
        const head = reply.toString("latin1");
        assert.match(head, /^HTTP\/1\.[01] 301 Moved Permanently\r\n/, JSON.stringify(target));
        const location = /\r\nLocation: ([^\r]*)\r\n/.exec(head)![1]!;
        assert.ok(!location.includes("\\"), `a backslash in ${JSON.stringify(location)}`);
        for (const base of ["http://victim.test/a/b", "https://victim.test/"]) {
          const url = followed(location, base);
          assert.equal(url.host, "victim.test", `${JSON.stringify(target)} → ${JSON.stringify(location)} → ${url.href}`);
        }
      }
    }
  });

  test("a backslash is sent as %5C, which names the same directory when followed", async () => {
    fs.mkdirSync(join(site, "back\\slash"), { recursive: true });
    try {
      assert.equal(masked(await request("/back\\slash")), redirect("/back%5Cslash/"));
      assert.equal(masked(await request("/\\example.com/..")), redirect("/%5Cexample.com/../"));
      assert.match(masked(await request("/back%5Cslash/")), /^HTTP\/1\.0 200 OK\r\n[^]*Directory listing for \/back\\slash\//);
    } finally {
      fs.rmdirSync(join(site, "back\\slash"));
    }
  });

  test("a directory named with %2f or %2F is not redirected (3.14): it is listed", async () => {
    for (const path of ["/sub%2f", "/sub%2F"]) {
      const reply = maskedBytes(await request(path));
      assert.deepEqual(reply, listingReply(listing("/sub/", [["nested/", "nested/"], ["note.txt", "note.txt"]])), path);
    }
  });
});

describe("index pages", () => {
  test("index.html is served for its directory", async () => {
    const { head, body } = await fetch("/withindex/");
    assert.deepEqual(head, fileHead(join(site, "withindex", "index.html"), "text/html"));
    assert.equal(body.toString(), "<h1>index</h1>\n");
  });

  test("index.htm is served when there is no index.html", async () => {
    assert.equal((await fetch("/withhtm/")).body.toString(), "<h1>htm</h1>\n");
  });

  test("index.html comes before index.htm", async () => {
    assert.equal((await fetch("/bothindex/")).body.toString(), "<h1>html wins</h1>\n");
  });

  test("a directory named index.html does not count: the directory is listed", async () => {
    const reply = maskedBytes(await request("/dirindex/"));
    assert.deepEqual(reply, listingReply(listing("/dirindex/", [["index.html/", "index.html/"]])));
  });

  test("index_pages is a class attribute a subclass may change", async () => {
    class OtherIndex extends Quiet {
      static override index_pages = ["other.txt", "index.html"];
    }
    const running = await serve(OtherIndex.with_directory(site));
    try {
      assert.equal((await fetch("/withindex/", { port: running.port })).body.toString(), "other\n");
      assert.equal((await fetch("/bothindex/", { port: running.port })).body.toString(), "<h1>html wins</h1>\n");
    } finally {
      await running.close();
    }
  });
});

describe("listings", () => {
  test("the root listing, byte for byte: sorted by str.lower, / for directories, @ for links", async () => {
    const expected = listing("/", [
      ["%26%3C%3E%22%27.txt", "&amp;&lt;&gt;\"'.txt"],
      ["100%25.txt", "100%.txt"],
      ["apple.txt", "apple.txt"],
      ["bad%ED%B3%BF.txt", bytes("bad", [0xff], ".txt")],
      ["Banana.txt", "Banana.txt"],
      ["bothindex/", "bothindex/"],
      ["dangling", "dangling@"],
      ["dir%20with%20space/", "dir with space/"],
      ["dirindex/", "dirindex/"],
      ["dir%ED%B3%BE/", bytes("dir", [0xfe], "/")],
      ["empty.txt", "empty.txt"],
      ["emptydir/", "emptydir/"],
      ["hello.txt", "hello.txt"],
      ["link.txt", "link.txt@"],
      ["linkdir/", "linkdir@"],
      ["many/", "many/"],
      ["name%20with%20spaces.txt", "name with spaces.txt"],
      ["q%3C%26%3E%22%27dir/", "q&lt;&amp;&gt;\"'dir/"],
      ["secret.txt", "secret.txt"],
      ["sorting/", "sorting/"],
      ["sub/", "sub/"],
      ["ties/", "ties/"],
      ["types/", "types/"],
      ["unicod%C3%A9.txt", "unicod\xe9.txt"],
      ["withhtm/", "withhtm/"],
      ["withindex/", "withindex/"],
      ["Zebra.txt", "Zebra.txt"],
      ["%E6%97%A5%E6%9C%AC%E8%AA%9E.txt", "\u65e5\u672c\u8a9e.txt"],
    ]);
    assert.deepEqual(maskedBytes(await request("/")), listingReply(expected));
  });

  test("an empty directory lists no entries", async () => {
    assert.deepEqual(maskedBytes(await request("/emptydir/")), listingReply(listing("/emptydir/", [])));
  });

  test("the title drops the query and fragment, and shows the path decoded and escaped", async () => {
    const expected = listingReply(listing("/sub/", [["nested/", "nested/"], ["note.txt", "note.txt"]]));
    assert.deepEqual(maskedBytes(await request("/sub/?a=b#c")), expected);
    assert.deepEqual(maskedBytes(await request("/sub/#c?d")), expected);
    const escaped = listingReply(listing("/q&lt;&amp;&gt;\"'dir/", []));
    assert.deepEqual(maskedBytes(await request("/q%3C%26%3E%22%27dir/")), escaped);
    assert.deepEqual(maskedBytes(await request("/q<&>\"'dir/")), escaped);
  });

  test("a symlinked directory is listed under the path requested", async () => {
    const expected = listingReply(listing("/linkdir/", [["nested/", "nested/"], ["note.txt", "note.txt"]]));
    assert.deepEqual(maskedBytes(await request("/linkdir/")), expected);
  });

  test("sorting is by lower-cased code points, stable, with astral characters after U+FFxx", async () => {
    const expected = listing("/sorting/", [
      ["_.txt", "_.txt"],
      ["A.txt", "A.txt"],
      ["b.txt", "b.txt"],
      ["z.txt", "z.txt"],
      ["%C3%89.txt", "\xc9.txt"],
      ["%EF%BC%A1.txt", "\uff21.txt"],
      ["%F0%9F%98%80.txt", "\u{1f600}.txt"],
    ]);
    assert.deepEqual(maskedBytes(await request("/sorting/")), listingReply(expected));
  });

  test("names equal once lower-cased keep the order the file system lists them in (a stable sort)", async () => {
    const dir = fs.opendirSync(join(site, "ties"));
    const raw: string[] = [];
    for (let entry = dir.readSync(); entry; entry = dir.readSync()) raw.push(entry.name);
    dir.closeSync();
    const { body } = await fetch("/ties/");
    const listed = [...body.toString().matchAll(/<li><a href="([^"]+)">/g)].map((m) => m[1]);
    assert.deepEqual(listed, raw);
    assert.equal(listed.length, 4);
  });

  test("300 entries are all listed, in order", async () => {
    const { body } = await fetch("/many/");
    const names = [...body.toString().matchAll(/<li><a href="([^"]+)">/g)].map((m) => m[1]);
    const expected = Array.from({ length: 300 }, (_, i) => `f${i}.txt`).sort();
    assert.deepEqual(names, expected);
  });

  test("a directory whose name is not UTF-8 lists under its raw bytes and round-trips", async () => {
    const title = bytes("/dir", [0xfe], "/");
    assert.deepEqual(maskedBytes(await request("/dir%ED%B3%BE/")), listingReply(listing(title, [["inside.txt", "inside.txt"]])));
    assert.equal((await fetch("/dir%ED%B3%BE/inside.txt")).body.toString(), "inside\n");
  });

  test("a file whose name is not UTF-8 opens through the href the listing gives", async () => {
    assert.equal((await fetch("/bad%ED%B3%BF.txt")).body.toString(), "bad bytes\n");
    // The raw byte itself decodes to U+FFFD, which names another file (as in Python).
    assert.equal(masked(await request("/bad%FF.txt")), notFound());
  });

  test("undecodable escapes in the title become U+FFFD", async () => {
    const expected = listingReply(listing("/sub/\ufffd/../", [["nested/", "nested/"], ["note.txt", "note.txt"]]));
    assert.deepEqual(maskedBytes(await request("/sub/%ff/../")), expected);
  });

  test("a lone surrogate in the title is sent as U+FFFD (Python fails to encode it and sends nothing)", async () => {
    const expected = listingReply(listing("/sub/\ufffd/../", [["nested/", "nested/"], ["note.txt", "note.txt"]]));
    assert.deepEqual(maskedBytes(await request("/sub/%ED%A0%80/../")), expected);
  });

  test("HEAD of a listing sends its headers, with the length of the page, and no body", async () => {
    const get = await fetch("/sub/");
    const head = await fetch("/sub/", { method: "HEAD" });
    assert.deepEqual(head.head, get.head);
    assert.ok(head.head.includes(`Content-Length: ${get.body.length}`));
    assert.equal(head.body.length, 0);
  });
});

// ---------------------------------------------------------------------------------------------
// If-Modified-Since

describe("If-Modified-Since", () => {
  const file = () => join(site, "hello.txt");
  const notModified = "HTTP/1.0 304 Not Modified\r\nServer: <server>\r\nDate: <date>\r\n\r\n";
  const ims = (value: string, extra: Record<string, string> = {}) =>
    request("/hello.txt", { headers: { "If-Modified-Since": value, ...extra } });

  before(() => {
    fs.utimesSync(file(), 1000000000.5, 1000000000.5); // Sun, 09 Sep 2001 01:46:40.5 GMT
  });

  test("the Last-Modified date itself gives 304 with Server and Date only", async () => {
    assert.equal(masked(await ims("Sun, 09 Sep 2001 01:46:40 GMT")), notModified);
  });

  test("a later date gives 304; an earlier one 200", async () => {
    assert.equal(masked(await ims("Sun, 09 Sep 2001 02:46:40 GMT")), notModified);
    const reply = await ims("Sun, 09 Sep 2001 01:46:39 GMT");
    assert.deepEqual(masked(splitReply(reply).head).split("\r\n"), fileHead(file(), "text/plain"));
  });

  test("RFC 850, asctime, +0000, -0000, UT and zone-less dates are compared", async () => {
    for (const value of [
      "Sunday, 09-Sep-01 01:46:40 GMT",
      "Sun Sep  9 01:46:40 2001",
      "Sun, 09 Sep 2001 01:46:40 +0000",
      "Sun, 09 Sep 2001 01:46:40 -0000",
      "Sun, 09 Sep 2001 01:46:40 UT",
      "09 Sep 2001 01:46:40",
    ]) {
      assert.equal(masked(await ims(value)), notModified, value);
    }
  });

  test("a date with another offset is ignored, even if later: 200", async () => {
    const reply = await ims("Mon, 10 Sep 2001 01:46:40 +0100");
    assert.equal(splitReply(reply).body.toString(), "hello\n");
    const est = await ims("Mon, 10 Sep 2001 01:46:40 EST");
    assert.equal(splitReply(est).body.toString(), "hello\n");
  });

  test("an invalid date is ignored: 200", async () => {
    for (const value of ["yesterday", "Sun, 31 Sep 2001 01:46:40 GMT", ""]) {
      const reply = await ims(value);
      assert.equal(splitReply(reply).body.toString(), "hello\n", value);
    }
  });

  test("If-None-Match, whatever its value, disables If-Modified-Since", async () => {
    const reply = await ims("Sun, 09 Sep 2001 02:46:40 GMT", { "If-None-Match": "*" });
    assert.equal(splitReply(reply).body.toString(), "hello\n");
  });

  test("a listing is never 304", async () => {
    const reply = await request("/sub/", { headers: { "If-Modified-Since": "Fri, 01 Jan 9999 00:00:00 GMT" } });
    assert.ok(reply.toString("latin1").startsWith("HTTP/1.0 200 OK\r\n"));
  });

  test("an index page honours it", async () => {
    const reply = await request("/withindex/", { headers: { "If-Modified-Since": "Fri, 01 Jan 9999 00:00:00 GMT" } });
    assert.equal(masked(reply), notModified);
  });
});

// ---------------------------------------------------------------------------------------------
// MIME types over the wire (the table itself is test/mime.test.ts)

test("Content-type comes from extensions_map, then the MIME table, else application/octet-stream", async () => {
  const cases: [string, string][] = [
    ["page.html", "text/html"],
    ["UPPER.HTML", "text/html"],
    ["script.js", "text/javascript"],
    ["module.mjs", "text/javascript"],
    ["common.cjs", "text/javascript"],
    ["source.ts", "application/octet-stream"],
    ["module.mts", "application/octet-stream"],
    ["feed.xml", "application/xml"],
    ["config.yaml", "application/yaml"],
    ["readme.md", "text/markdown"],
    ["notes.TXT", "text/plain"],
    ["archive.tar.gz", "application/gzip"],
    ["archive.tgz", "application/x-tar"],
    ["data.GZ", "application/gzip"],
    ["file.Z", "application/octet-stream"],
    ["file.z", "application/octet-stream"],
    ["file.bz2", "application/x-bzip2"],
    ["file.xz", "application/x-xz"],
    ["script.js.br", "text/javascript"],
    ["noext", "application/octet-stream"],
    [".bashrc", "application/octet-stream"],
    ["trailing.", "application/octet-stream"],
    ["pixel.png", "image/png"],
  ];
  for (const [name, type] of cases) {
    const { head } = await fetch(`/types/${encodeURIComponent(name)}`, { method: "HEAD" });
    assert.equal(head[3], `Content-type: ${type}`, name);
  }
});

// ---------------------------------------------------------------------------------------------
// translate_path

describe("translate_path", () => {
  const handler = (directory?: string | URL) =>
    new SimpleHTTPRequestHandler(null as never, ["127.0.0.1", 0], null as never, directory === undefined ? {} : { directory });

  test("query and fragment are dropped; the fragment first (test_query_arguments)", () => {
    const h = handler("/srv");
    for (const path of ["/filename", "/filename?foo=bar", "/filename?a=b&spam=eggs#zot", "/filename#a?b", "/filename?a#b"]) {
      assert.equal(h.translate_path(path), "/srv/filename", path);
    }
    assert.equal(h.translate_path("?q"), "/srv");
    assert.equal(h.translate_path("#f"), "/srv");
  });

  test("leading slashes collapse (test_start_with_double_slash)", () => {
    assert.equal(handler("/srv").translate_path("//filename"), "/srv/filename");
    assert.equal(handler("/srv").translate_path("//filename?foo=bar"), "/srv/filename");
    assert.equal(handler("/srv").translate_path("//x"), "/srv/x");
  });

  test("`..`, `.` and empty parts never leave the directory", () => {
    const h = handler("/srv");
    assert.equal(h.translate_path("/../../etc/passwd"), "/srv/etc/passwd");
    assert.equal(h.translate_path("/%2e%2e/%2E%2E/etc/passwd"), "/srv/etc/passwd");
    assert.equal(h.translate_path("/%2e%2e/"), "/srv/");
    assert.equal(h.translate_path("/a/./b//c/../d"), "/srv/a/b/d");
    assert.equal(h.translate_path("/x/.."), "/srv");
    assert.equal(h.translate_path("/x/../"), "/srv/");
    assert.equal(h.translate_path("relative/../../up"), "/srv/up");
  });

  test("the trailing slash is taken after decoding, so %2f counts", () => {
    const h = handler("/srv");
    assert.equal(h.translate_path("/"), "/srv/");
    assert.equal(h.translate_path(""), "/srv");
    assert.equal(h.translate_path("/dir/"), "/srv/dir/");
    assert.equal(h.translate_path("/dir%2f"), "/srv/dir/");
    assert.equal(h.translate_path("/dir%2F?x"), "/srv/dir/");
    assert.equal(h.translate_path("/a%2fb"), "/srv/a/b");
    assert.equal(h.translate_path("/dir/%20"), "/srv/dir/ ");
  });

  test("escapes decode as UTF-8, with surrogatepass, else with U+FFFD", () => {
    const h = handler("/srv");
    assert.equal(h.translate_path("/unicod%C3%A9"), "/srv/unicod\xe9");
    assert.equal(h.translate_path("/%ED%B3%BF"), "/srv/\udcff");
    assert.equal(h.translate_path("/%ff.dir"), "/srv/\ufffd.dir");
    assert.equal(h.translate_path("/%00"), "/srv/\x00");
  });

  test("an absolute URI maps under the directory", () => {
    assert.equal(handler("/srv").translate_path("http://host/x"), "/srv/http:/host/x");
  });

  test("a relative directory stays relative; a file: URL becomes its path; the default is the cwd", () => {
    assert.equal(handler("foo").translate_path("/filename"), "foo/filename");
    assert.equal(handler(pathToFileURL("/srv/with space/")).translate_path("/f"), "/srv/with space/f");
    assert.equal(handler().translate_path("/filename"), join(process.cwd(), "filename"));
  });

  test("words with a drive or directory part are skipped (test_windows_colon, with Windows path rules)", () => {
    const ntpath = {
      dirname(path: string): string {
        // ntpath.dirname: the drive plus everything before the last separator, trailing ones dropped.
        const drive = /^[a-zA-Z]:/.test(path) ? path.slice(0, 2) : "";
        const rest = path.slice(drive.length);
        let i = rest.length;
        while (i > 0 && !"/\\".includes(rest[i - 1]!)) i--;
        const head = rest.slice(0, i);
        return drive + (head.replace(/[/\\]+$/, "") || head);
      },
      join: (a: string, b: string) => (/[/\\]$/.test(a) ? a + b : a + "\\" + b),
    };
    assert.equal(ntpath.dirname("c:c:c:foo"), win32.dirname("c:c:c:foo"));
    const translate = (path: string, directory: string) => translatePath(path, directory, ntpath).replaceAll("\\", "/");
    for (const directory of [process.cwd(), "foo", "bar"]) {
      const expected = `${directory}/filename`;
      assert.equal(translate("c:c:c:foo/filename", directory), expected);
      assert.equal(translate("\\c:../filename", directory), expected);
      assert.equal(translate("c:\\c:..\\foo/filename", directory), expected);
      assert.equal(translate("c:c:foo\\c:c:bar/filename", directory), expected);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Binding the directory

describe("the directory", () => {
  test("with_directory() returns a subclass bound to the directory; the class itself is unchanged", () => {
    const Bound = SimpleHTTPRequestHandler.with_directory("/srv/x");
    assert.equal(Bound.directory, "/srv/x");
    assert.equal(SimpleHTTPRequestHandler.directory, null);
    assert.equal(Object.getPrototypeOf(Bound), SimpleHTTPRequestHandler);
    assert.equal(Bound.name, "SimpleHTTPRequestHandler");
    const h = new Bound(null as never, ["127.0.0.1", 0], null as never);
    assert.ok(h instanceof SimpleHTTPRequestHandler);
    assert.equal(h.directory, "/srv/x");
  });

  test("with_directory() keeps the subclass it is called on, and accepts a file: URL", () => {
    const Bound = Quiet.with_directory(pathToFileURL(site));
    const h = new Bound(null as never, ["127.0.0.1", 0], null as never);
    assert.ok(h instanceof Quiet);
    assert.equal(h.directory, site);
  });

  test("a constructor option wins over the class attribute; a static directory on a subclass works too", () => {
    class Static extends SimpleHTTPRequestHandler {
      static override directory: string | URL | null = "/srv/static";
    }
    assert.equal(new Static(null as never, ["127.0.0.1", 0], null as never).directory, "/srv/static");
    assert.equal(new Static(null as never, ["127.0.0.1", 0], null as never, { directory: "/srv/option" }).directory, "/srv/option");
  });

  test("a relative directory is resolved against the current directory at each request", async () => {
    const running = await serve(Quiet.with_directory("site"));
    const cwd = process.cwd();
    try {
      process.chdir(root);
      assert.equal((await fetch("/hello.txt", { port: running.port })).body.toString(), "hello\n");
      const other = join(root, "other");
      fs.mkdirSync(join(other, "site"), { recursive: true });
      fs.writeFileSync(join(other, "site", "hello.txt"), "other hello\n");
      process.chdir(other);
      assert.equal((await fetch("/hello.txt", { port: running.port })).body.toString(), "other hello\n");
      process.chdir(site);
      assert.equal(masked(await request("/hello.txt", { port: running.port })), notFound());
    } finally {
      process.chdir(cwd);
      await running.close();
    }
  });

  test("class attributes are read when a handler is created: changing one affects later requests", async () => {
    class Settable extends Quiet {}
    const running = await serve(Settable.with_directory(site));
    try {
      Settable.server_version = "Custom/1.0";
      Settable.extensions_map = { ...SimpleHTTPRequestHandler.extensions_map, ".txt": "text/x-changed" };
      const reply = (await request("/hello.txt", { port: running.port })).toString();
      assert.match(reply, /\r\nServer: Custom\/1\.0 Node\.js\//);
      assert.match(reply, /\r\nContent-type: text\/x-changed\r\n/);
    } finally {
      await running.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Overriding one step

describe("subclasses that override one step", () => {
  test("guess_type: every file gets the subclass's type; nothing else changes", async () => {
    class Typed extends Quiet {
      override guess_type(path: string): string {
        return path.endsWith(".txt") ? "text/plain; charset=utf-8" : super.guess_type(path);
      }
    }
    const running = await serve(Typed.with_directory(site));
    try {
      const { head, body } = await fetch("/hello.txt", { port: running.port });
      assert.equal(head[3], "Content-type: text/plain; charset=utf-8");
      assert.equal(body.toString(), "hello\n");
      assert.equal((await fetch("/types/page.html", { port: running.port, method: "HEAD" })).head[3], "Content-type: text/html");
      assert.equal(masked(await request("/sub", { port: running.port })).split("\r\n")[0], "HTTP/1.0 301 Moved Permanently");
    } finally {
      await running.close();
    }
  });

  test("list_directory: a JSON listing replaces the HTML one; files and redirects are untouched", async () => {
    class JsonListing extends Quiet {
      override async list_directory(path: string): Promise<FileLike | null> {
        const names = fs.readdirSync(path).sort();
        const body = Buffer.from(JSON.stringify(names));
        this.send_response(200);
        this.send_header("Content-type", "application/json");
        this.send_header("Content-Length", String(body.length));
        await this.end_headers();
        return new BytesIO(body);
      }
    }
    const running = await serve(JsonListing.with_directory(site));
    try {
      const { head, body } = await fetch("/sub/", { port: running.port });
      assert.equal(head[3], "Content-type: application/json");
      assert.deepEqual(JSON.parse(body.toString()), ["nested", "note.txt"]);
      assert.equal((await fetch("/withindex/", { port: running.port })).body.toString(), "<h1>index</h1>\n");
      assert.equal((await fetch("/hello.txt", { port: running.port })).body.toString(), "hello\n");
    } finally {
      await running.close();
    }
  });

  test("translate_path: a subclass may map URLs elsewhere", async () => {
    class Prefixed extends Quiet {
      override translate_path(path: string): string {
        return super.translate_path(path.replace(/^\/static\//, "/sub/"));
      }
    }
    const running = await serve(Prefixed.with_directory(site));
    try {
      assert.equal((await fetch("/static/note.txt", { port: running.port })).body.toString(), "note\n");
    } finally {
      await running.close();
    }
  });

  test("copyfile: a subclass may transform the body as it streams", async () => {
    class Upper extends Quiet {
      override async copyfile(source: FileLike, outputfile: { write(data: Buffer): void | Promise<void> }): Promise<void> {
        for (let chunk = await source.read(4); chunk.length; chunk = await source.read(4)) {
          await outputfile.write(Buffer.from(chunk.toString("latin1").toUpperCase(), "latin1"));
        }
      }
    }
    const running = await serve(Upper.with_directory(site));
    try {
      assert.equal((await fetch("/hello.txt", { port: running.port })).body.toString(), "HELLO\n");
    } finally {
      await running.close();
    }
  });
});

describe("copyfile's buffers", () => {
  const SIZE = 3 * 1024 * 1024 + 123;
  let dir = "";
  let content: Buffer;
  before(() => {
    dir = fs.mkdtempSync(join(tmpdir(), "copyfile-"));
    content = Buffer.alloc(SIZE);
    for (let i = 0; i < SIZE; i++) content[i] = (i * 7 + (i >> 12)) & 0xff;
    fs.writeFileSync(join(dir, "big.bin"), content);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Copies big.bin to a writer that keeps every chunk it is given, reporting `pending` bytes unsent. */
  async function copyTo(pending: number): Promise<{ kept: Buffer[]; copied: Buffer[] }> {
    const kept: Buffer[] = [];
    const copied: Buffer[] = [];
    const writer = {
      needsDrain: false,
      writableLength: pending,
      write(data: Buffer): void {
        kept.push(data);
        copied.push(Buffer.from(data));
      },
    };
    const source = await FileIO.open(join(dir, "big.bin"));
    try {
      await SimpleHTTPRequestHandler.prototype.copyfile.call(null, source, writer);
    } finally {
      await source.close();
    }
    return { kept, copied };
  }

  test("a chunk is read into again only once the socket has sent all of it", async () => {
    const { kept, copied } = await copyTo(0);
    assert.ok(Buffer.concat(copied).equals(content), "every byte, in order");
    const distinct = new Set(kept.map((chunk) => chunk.buffer));
    assert.ok(distinct.size < kept.length, `${distinct.size} buffers for ${kept.length} chunks: reused`);
  });

  test("chunks the socket has sent go to a bounded pool that later copies take from", async () => {
    await copyTo(0);
    const pooled = pooledChunkBytes();
    assert.ok(pooled > 0, "the last chunks were given back");
    assert.ok(pooled <= 16 * 1024 * 1024, `${pooled} bytes kept, at most 16 MiB`);
    const { kept } = await copyTo(0);
    assert.ok(new Set(kept.map((chunk) => chunk.buffer)).size < kept.length);
  });

  /** A file in memory read as FileIO reads, counting reads through the pool and synchronous ones; `slowMs` delays each synchronous one. */
  function countingSource(slowMs: number) {
    let position = 0;
    const counts = { pool: 0, sync: 0 };
    const take = (b: Uint8Array) => {
      const n = Math.min(b.length, content.length - position);
      content.copy(b, 0, position, position + n);
      position += n;
      return n;
    };
    const source = {
      counts,
      read: async () => Buffer.alloc(0),
      close: () => {},
      readinto: async (b: Uint8Array) => {
        counts.pool++;
        return take(b);
      },
      readintoSync: (b: Uint8Array) => {
        counts.sync++;
        const until = performance.now() + slowMs;
        while (performance.now() < until);
        return take(b);
      },
    };
    return source;
  }

  async function copyFrom(source: FileLike): Promise<Buffer> {
    const chunks: Buffer[] = [];
    const writer = { needsDrain: false, writableLength: 1, write: (data: Buffer) => void chunks.push(Buffer.from(data)) };
    await SimpleHTTPRequestHandler.prototype.copyfile.call(null, source, writer);
    return Buffer.concat(chunks);
  }

  test("after a first read through the thread pool, fast reads are synchronous; a slow one sends the rest back to the pool", async () => {
    const fast = countingSource(0);
    assert.ok((await copyFrom(fast)).equals(content));
    assert.equal(fast.counts.pool, 1, "the first chunk through the pool");
    assert.ok(fast.counts.sync > 2, `${fast.counts.sync} synchronous reads`);
    const slow = countingSource(3);
    assert.ok((await copyFrom(slow)).equals(content));
    assert.equal(slow.counts.sync, 1, "one synchronous read took more than 1 ms: no more");
    assert.ok(slow.counts.pool > 2, `${slow.counts.pool} reads through the pool`);
  });

  test("a chunk the socket still holds is never overwritten", async () => {
    const { kept, copied } = await copyTo(1);
    assert.equal(new Set(kept.map((chunk) => chunk.buffer)).size, kept.length, "a new buffer per chunk");
    kept.forEach((chunk, i) => assert.ok(chunk.equals(copied[i]!), `chunk ${i} unchanged after the copy`));
    assert.ok(Buffer.concat(kept).equals(content));
  });
});

// ---------------------------------------------------------------------------------------------
// Streaming a large file

describe("streaming a 20 MiB file", () => {
  const SIZE = 20 * 1024 * 1024;
  let bigDir = "";
  let big: Buffer;
  let streaming: Running;
  const handlers = new Set<Quiet>();

  class Tracked extends Quiet {
    override async do_GET(): Promise<void> {
      handlers.add(this);
      try {
        await super.do_GET();
      } finally {
        handlers.delete(this);
      }
    }
  }

  before(async () => {
    bigDir = fs.mkdtempSync(join(tmpdir(), "simplehttp-big-"));
    big = Buffer.alloc(SIZE);
    for (let i = 0; i < SIZE; i += 4) big.writeUInt32BE(i, i);
    fs.writeFileSync(join(bigDir, "big.bin"), big);
    fs.writeFileSync(join(bigDir, "small.txt"), "small\n");
    streaming = await serve(Tracked.with_directory(bigDir));
  });

  after(async () => {
    await streaming.close();
    fs.rmSync(bigDir, { recursive: true, force: true });
  });

  test("a client that reads everything gets every byte, after the right headers", async () => {
    const reply = await request("/big.bin", { port: streaming.port });
    const { head, body } = splitReply(reply);
    assert.ok(head.includes(`\r\nContent-Length: ${SIZE}\r\n`));
    assert.ok(head.includes("\r\nContent-type: application/octet-stream\r\n"));
    assert.equal(body.length, SIZE);
    assert.ok(body.equals(big));
  });

  test("a slow client gets every byte; the server holds back instead of buffering the file; others are served meanwhile", async () => {
    const socket = connect(streaming.port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let received = 0;
    let ended = false;
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      // One chunk per resume: on a quiet machine the whole file would arrive between two polls.
      socket.pause();
    });
    let failure: Error | null = null;
    socket.on("error", (error) => (failure = error));
    socket.on("close", () => (ended = true));
    const deadline = Date.now() + 120000;
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    socket.write("GET /big.bin HTTP/1.0\r\n\r\n");
    // Let the first bytes arrive (the client stops reading after them).
    while (received === 0 && !ended && Date.now() < deadline) await pause(10);
    await pause(500);
    const [handler] = [...handlers];
    assert.ok(handler, "the slow download is still in progress");
    // Without backpressure the whole file would sit in the socket's queue.
    assert.ok(handler.connection.writableLength < 4 * 1024 * 1024, `queued ${handler.connection.writableLength} bytes`);
    // Another client is served while this one stalls.
    assert.equal(splitReply(await request("/small.txt", { port: streaming.port })).body.toString(), "small\n");
    // Read the rest a little at a time.
    while (!ended && Date.now() < deadline) {
      socket.resume();
      await pause(5);
      if (received <= SIZE) socket.pause();
      await pause(5);
    }
    assert.equal(failure, null);
    assert.ok(ended, "the download finished");
    const body = splitReply(Buffer.concat(chunks)).body;
    assert.equal(body.length, SIZE);
    assert.ok(body.equals(big));
  });

  test("a client that disconnects mid-file: the file is closed at once and the server keeps serving", async () => {
    const openFds = () => fs.readdirSync("/proc/self/fd").length;
    const hasProc = fs.existsSync("/proc/self/fd");
    const before = hasProc ? openFds() : 0;
    const stderr = captureStderr();
    try {
      await new Promise<void>((resolve, reject) => {
        const socket = connect(streaming.port, "127.0.0.1");
        let received = 0;
        socket.on("data", (chunk: Buffer) => {
          received += chunk.length;
          if (received > 1024 * 1024) {
            socket.destroy();
            resolve();
          }
        });
        socket.on("error", reject);
        socket.write("GET /big.bin HTTP/1.0\r\n\r\n");
      });
      // The handler's write fails, do_GET's finally closes the file, the loss is logged.
      const deadline = Date.now() + 15000;
      while (handlers.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(handlers.size, 0, "the handler finished");
      if (hasProc) {
        while (openFds() > before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        assert.ok(openFds() <= before, `descriptors: ${before} before, ${openFds()} after`);
      } else {
        console.log("# /proc/self/fd is not available: descriptor count not checked");
      }
    } finally {
      stderr.restore();
    }
    // One log line through log_message (silenced here), no traceback block: see test/faults.test.ts.
    assert.doesNotMatch(stderr.text(), /Exception occurred during processing of request/);
    assert.equal(splitReply(await request("/small.txt", { port: streaming.port })).body.toString(), "small\n");
  });
});
