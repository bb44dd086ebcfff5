/**
 * The command line's additions beyond `python -m http.server`: their help, their usage errors,
 * how they are read, and what each does to the responses of the built binary.
 * (`--watch` is in livereload.test.ts, `--workers` in workers.test.ts.)
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";
import { lookup } from "node:dns/promises";
import { PYTHON_USAGE, TIMEOUT, killAll, request, testUsageErrors, run, startServer, stop, waitFor, withServer } from "./cli_process.js";
import { parseCommandLine, UsageError, type CommandLine } from "../src/cli/options.js";
import { handlerClassFor, loadCommandModules } from "../src/cli/server.js";
import { browserUrl, openerCommand } from "../src/cli/open.js";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { CGIHTTPRequestHandler } from "../src/server/cgi_handler.js";
import { LIVERELOAD_SCRIPT } from "../src/features/livereload.js";
import { networkAddresses } from "../src/cli/startup.js";
import { MAIN } from "./cli_process.js";


const ADDITIONS_HELP = `
beyond python -m http.server:
  --etag                send weak ETags, and answer If-None-Match with 304
  --cors                send Access-Control-Allow-Origin: * and answer CORS
                        preflights
  -H, --header HEADER   add HEADER ("Name: value") to every response;
                        repeatable
  --cache SECONDS       let clients cache files for SECONDS (Cache-Control:
                        max-age)
  --no-cache            make clients revalidate files (Cache-Control:
                        no-cache)
  --compress            compress text files on the fly (brotli or gzip)
  --precompressed       serve x.br or x.gz for x when the client accepts it
  --spa [FILE]          serve FILE (default: index.html) for missing paths
                        without an extension
  --watch               reload open pages when a file in the directory changes
                        (implies --no-cache)
  --open                open the served URL in a web browser
  --quiet               do not log requests
  --workers N           serve with N processes (auto: one per CPU)
  --listing STYLE       list directories as python (default) or rich: sizes,
                        dates, sorting, a filter, JSON
  --charset CHARSET     add ; charset=CHARSET to text, JavaScript, JSON, XML
                        and SVG files that name none
  --no-dotfiles         answer 404 for names starting with a dot, and leave
                        them out of listings (but /.well-known/)
  --dev                 for working on a site: -b localhost --watch --no-cache
                        --cors --listing rich --charset utf-8 (flags given
                        with it win)
  --header-timeout SECONDS
                        cut off a client that takes over SECONDS to send its
                        request line and headers (default: 30; 0: no limit)
  --keepalive-timeout SECONDS
                        close a kept-alive connection after SECONDS idle
                        between requests (default: 5; 0: no limit)
  --write-timeout SECONDS
                        drop a client that stops reading a response for
                        SECONDS (default: 60; 0: no limit)
  --body-timeout SECONDS
                        cut off a client that sends no byte of a request body
                        being read for SECONDS (default: 60; 0: no limit)
  --max-connections N   handle at most N connections at once; more wait
                        (default: 10000, fewer if ulimit -n is low)
  --max-header-size BYTES
                        answer 431 to a request line and headers over BYTES in
                        all (default: 1048576)
  --max-header-memory BYTES
                        hold at most BYTES for requests still arriving, in
                        all; past it, larger ones get 431 (default: 134217728)
  --shutdown-grace SECONDS
                        on Ctrl-C or SIGTERM, let requests in flight finish
                        for up to SECONDS (default: 10)
  --no-follow-symlinks  answer 404 for a symbolic link that leads outside the
                        directory
  --upload              receive files: PUT /dir/NAME, and an upload form on
                        listings (multipart POST)
  --upload-overwrite    let an upload replace an existing file (default: 409
                        Conflict)
  --upload-mkdir        let an upload create the directories its path names
                        (default: 409 Conflict)
  --upload-max SIZE     refuse uploads larger than SIZE bytes, or with K, M, G
                        (default: 1G; 0: no limit)
  --auth USER:PASSWORD  ask for this user name and password (HTTP Basic);
                        repeatable
  --auth-file FILE      read USER:PASSWORD lines from FILE (kept out of ps and
                        the shell's history)
  --auth-scope SCOPE    what --auth guards: all (default) requests, or uploads
                        only (and every other write)
  --allow-delete        let DELETE remove files, and folders with ?recursive=1
                        (buttons on the rich listing)
  --allow-mkdir         let MKCOL make folders (a button on the rich listing)
  --allow-move          let MOVE with a Destination header rename and move (a
                        button on the rich listing)
  --webdav [MODE]       serve WebDAV, to mount the folder as a drive: ro
                        (default) read-only, rw read-write (--upload
                        --upload-overwrite --allow-delete --allow-mkdir
                        --allow-move)
  --archive             let every folder be downloaded as one zip, tar or
                        tar.gz file (?download=zip), streamed
  --qr                  print a QR code of the network URL, and show one on
                        the rich listing
  --search              find names below a folder (?q=TEXT), with a search box
                        on the rich listing (implies --listing rich)
  --search-max N        stop a search after visiting N entries, with partial
                        results (default: 100000)
  --search-time SECONDS
                        stop a search after SECONDS, with partial results
                        (default: 5)
  --readme              show a folder's README.md (or readme.md, README.txt)
                        below the rich listing (implies --listing rich)
  --version             show the version and exit
`;

const INDEX = "<!DOCTYPE html>\n<html><body><h1>the app</h1></body></html>\n";
const TEXT = "the quick brown fox jumps over the lazy dog\n".repeat(64); // 2816 bytes: worth compressing

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), "simplehttp-cli-features-"));
  writeFileSync(join(root, "index.html"), INDEX);
  writeFileSync(join(root, "shell.html"), "<p>the shell</p>\n");
  writeFileSync(join(root, "a.txt"), "hello\n");
  writeFileSync(join(root, "big.txt"), TEXT);
  writeFileSync(join(root, "app.js"), "console.log('plain');\n");
  writeFileSync(join(root, "app.js.gz"), gzipSync("console.log('from the .gz');\n"));
  mkdirSync(join(root, "sub"));
  writeFileSync(join(root, "sub", "b.txt"), "bee\n");
  writeFileSync(join(root, "résumé.txt"), "résumé\n");
});
after(() => {
  killAll();
  rmSync(root, { recursive: true, force: true });
});

/** The options every test serves with: loopback, a free port, the fixture directory. */
const at = (...args: string[]) => ["-b", "127.0.0.1", "-d", root, ...args, "0"];

describe("--help: Python's help, then the additions in a section of their own", () => {
  test("the additions section follows Python's options; the usage line stays Python's", TIMEOUT, async () => {
    const result = await run(["--help"]);
    assert.equal(result.code, 0);
    assert.ok(result.stdout.startsWith(PYTHON_USAGE + "\npositional arguments:\n"));
    assert.ok(result.stdout.endsWith("path to the password file for the TLS key\n" + ADDITIONS_HELP), result.stdout);
  });
});

describe("usage errors in the additions: Python's usage, one error line, exit status 2", () => {
  const cases: [args: string[], message: string][] = [
    [["-H", "X-No-Colon"], 'argument -H/--header: invalid header "X-No-Colon": expected "Name: value"'],
    [["-H", "X-A: b\r\nSet-Cookie: c=d"], 'argument -H/--header: invalid value for header X-A: it contains CR, LF or NUL ("b\\r\\nSet-Cookie: c=d")'],
    [["-H", "X-A: b\nc"], 'argument -H/--header: invalid value for header X-A: it contains CR, LF or NUL ("b\\nc")'],
    [["--header=Bad Name: x"], 'argument -H/--header: invalid header name "Bad Name"'],
    [["-H"], "argument -H/--header: expected one argument"],
    [["--webdav", "rx"], "argument --webdav: invalid choice: 'rx' (choose from ro, rw)"],
    [["--webdav", "rw", "--workers", "2"], "--webdav with writing keeps its locks in one process: it cannot be used with --workers"],
    [["--webdav", "--allow-delete", "--workers", "2"], "--webdav with writing keeps its locks in one process: it cannot be used with --workers"],
    [["--allow"], "ambiguous option: --allow could match --allow-delete, --allow-mkdir, --allow-move"],
    [["--cache", "abc"], "argument --cache: invalid int value: 'abc'"],
    [["--cache", "-5"], "argument --cache: -5 is not a number of seconds (0 or more)"],
    [["--cache", "5", "--no-cache"], "argument --no-cache: not allowed with argument --cache"],
    [["--no-cache", "--cache=5"], "argument --cache: not allowed with argument --no-cache"],
    [["--workers", "0"], "argument --workers: 0 is not a number of processes (1 to 1024, or auto)"],
    [["--workers", "two"], "argument --workers: invalid workers value: 'two'"],
    [["--workers"], "argument --workers: expected one argument"],
    [["--spa="], "argument --spa: expected a file name"],
    [["--etag=yes"], "argument --etag: ignored explicit argument 'yes'"],
    [["--co"], "ambiguous option: --co could match --cors, --compress"],
    // Python takes any -p; a port given as -p would answer every request with "8080 200 OK".
    [["-p", "8080"], "argument -p/--protocol: invalid protocol '8080' (expected HTTP/1.0 or HTTP/1.1; the port is the positional argument)"],
    [["--protocol=http/1.1"], "argument -p/--protocol: invalid protocol 'http/1.1' (expected HTTP/1.0 or HTTP/1.1; the port is the positional argument)"],
    [["-pHTTP/1.10"], "argument -p/--protocol: invalid protocol 'HTTP/1.10' (expected HTTP/1.0 or HTTP/1.1; the port is the positional argument)"],
    [["--listing", "fancy"], "argument --listing: invalid choice: 'fancy' (choose from python, rich)"],
    [["--listing"], "argument --listing: expected one argument"],
    [["--charset", "utf 8"], "argument --charset: invalid charset 'utf 8' (expected a name such as utf-8)"],
    [["--charset", "utf-8\r\nX: y"], "argument --charset: invalid charset 'utf-8\\r\\nX: y' (expected a name such as utf-8)"],
    [["--no-dotfiles=yes"], "argument --no-dotfiles: ignored explicit argument 'yes'"],
  ];
  testUsageErrors(cases);
});

/** What --dev sets (flags given with it win). */
const DEV: Partial<CommandLine> = {
  dev: true, bind: "localhost", watch: true, cors: true, cache_control: "no-cache", listing: "rich", charset: "utf-8",
};

describe("parseCommandLine: the additions (in-process)", () => {
  const base: CommandLine = {
    cgi: false, bind: null, directory: "/cwd", protocol: "HTTP/1.0", port: 8000, tls_cert: null, tls_key: null,
    tls_password_file: null, tls_password: null, etag: false, cors: false, headers: [], cache_control: null,
    compress: false, precompressed: false, spa: null, watch: false, open: false, quiet: false, workers: 1,
    listing: "python", charset: null, dotfiles: true, upload: false, upload_overwrite: false, upload_mkdir: false,
    auth: null, auth_scope: "all", allow_delete: false, allow_mkdir: false, allow_move: false, webdav: null,
    dev: false, additions: true,
  };
  const cases: [args: string[], expected: Partial<CommandLine>][] = [
    [["--etag", "--cors", "--compress", "--precompressed"], { etag: true, cors: true, compress: true, precompressed: true }],
    [["-H", "X-Frame-Options: DENY", "--header=X-Two:  2 "], { headers: [["X-Frame-Options", "DENY"], ["X-Two", "2"]] }],
    [["-HX-Empty:"], { headers: [["X-Empty", ""]] }],
    [["--cache", "3600"], { cache_control: "max-age=3600" }],
    [["--cache=0"], { cache_control: "max-age=0" }],
    [["--no-cache"], { cache_control: "no-cache" }],
    [["--spa"], { spa: "index.html" }],
    [["--spa", "shell.html"], { spa: "shell.html" }],
    [["--spa=shell.html", "9000"], { spa: "shell.html", port: 9000 }],
    // argparse's nargs='?': a value after --spa is its FILE, even one that looks like a port.
    [["--spa", "9000"], { spa: "9000" }],
    [["9000", "--spa"], { spa: "index.html", port: 9000 }],
    [["--spa", "--cors"], { spa: "index.html", cors: true }],
    [["--watch", "--open", "--quiet"], { watch: true, cache_control: "no-cache", open: true, quiet: true }],
    [["--watch", "--cache", "60"], { watch: true, cache_control: "max-age=60" }],
    [["--workers", "3"], { workers: 3 }],
    [["--workers=auto"], { workers: availableParallelism() }],
    [["--dev"], { ...DEV }],
    [["--dev", "-b", "0.0.0.0"], { ...DEV, bind: "0.0.0.0" }],
    [["--dev", "--cache", "60"], { ...DEV, cache_control: "max-age=60" }],
    [["--dev", "--listing", "python", "--charset=iso-8859-1"], { ...DEV, listing: "python", charset: "iso-8859-1" }],
    [["--dev", "-p", "HTTP/1.1"], { ...DEV, protocol: "HTTP/1.1" }],
    [["--listing", "rich"], { listing: "rich" }],
    [["--listing=python"], { listing: "python" }],
    [["--charset", "utf-8"], { charset: "utf-8" }],
    [["--no-dotfiles"], { dotfiles: false }],
    [["--allow-delete", "--allow-mkdir"], { allow_delete: true, allow_mkdir: true }],
    [["--allow-move"], { allow_move: true }],
    [["--webdav"], { webdav: "ro", etag: true, protocol: "HTTP/1.1" }],
    [["--webdav", "rw"], {
      webdav: "rw", etag: true, protocol: "HTTP/1.1", upload: true, upload_overwrite: true, allow_delete: true, allow_mkdir: true, allow_move: true,
    }],
    [["--webdav=ro", "-p", "HTTP/1.0", "--workers", "2"], { webdav: "ro", etag: true, workers: 2 }],
    [["--no-d"], { dotfiles: false }],
    // Python's abbreviations keep their meaning where an addition shares the prefix (and are none of ours).
    [["--d", "public"], { directory: "public", additions: false }],
    [["--p", "HTTP/1.1"], { protocol: "HTTP/1.1", additions: false }],
    [["--c"], { cgi: true, additions: false }],
    [["--pre", "--header", "A: b", "--wa", "--qu"], { precompressed: true, headers: [["A", "b"]], watch: true, cache_control: "no-cache", quiet: true }],
  ];
  for (const [args, expected] of cases) {
    test(`[${args.map((arg) => JSON.stringify(arg)).join(", ")}]`, () => {
      assert.deepEqual(parseCommandLine(args, "/cwd"), { ...base, ...expected });
    });
  }

  test("--he is Python's --help, not --header", () => {
    assert.equal(parseCommandLine(["--he"]), "help");
  });

  test("an error in an addition comes in argparse's order, before a later bad port", () => {
    assert.throws(
      () => parseCommandLine(["--cache", "x", "abc"]),
      (error) => error instanceof UsageError && error.message === "argument --cache: invalid int value: 'x'",
    );
  });
});

describe("the handler class the command line serves with (in-process)", () => {
  const command = parseCommandLine(["--etag", "--cors", "-H", "X-A: 1", "--cache", "5", "--compress", "--precompressed", "--spa"], "/cwd") as CommandLine;

  test("is a new subclass carrying the options; SimpleHTTPRequestHandler itself is untouched", () => {
    const Handler = handlerClassFor(command);
    assert.notEqual(Handler, SimpleHTTPRequestHandler);
    assert.ok(Handler.prototype instanceof SimpleHTTPRequestHandler);
    assert.equal(Handler.name, "SimpleHTTPRequestHandler");
    assert.deepEqual(
      [Handler.etag, Handler.cors, Handler.extra_headers, Handler.cache_control, Handler.compress, Handler.precompressed, Handler.spa],
      [true, true, [["X-A", "1"]], "max-age=5", true, true, "index.html"],
    );
    assert.deepEqual(
      [SimpleHTTPRequestHandler.etag, SimpleHTTPRequestHandler.cors, SimpleHTTPRequestHandler.extra_headers, SimpleHTTPRequestHandler.cache_control],
      [false, false, [], null],
    );
    assert.deepEqual([SimpleHTTPRequestHandler.compress, SimpleHTTPRequestHandler.precompressed, SimpleHTTPRequestHandler.spa], [false, false, null]);
  });

  test("two runs get two classes: protocol_version set on one leaves the other alone", () => {
    const first = handlerClassFor(command);
    const second = handlerClassFor(command);
    first.protocol_version = "HTTP/1.1";
    assert.equal(second.protocol_version, "HTTP/1.0");
    assert.equal(SimpleHTTPRequestHandler.protocol_version, "HTTP/1.0");
  });

  test("--cgi subclasses CGIHTTPRequestHandler (once loadCommandModules has loaded it)", async () => {
    await loadCommandModules({ ...command, cgi: true });
    const Handler = handlerClassFor({ ...command, cgi: true });
    assert.ok(Handler.prototype instanceof CGIHTTPRequestHandler);
    assert.notEqual(Handler, CGIHTTPRequestHandler);
  });

  test("--quiet overrides log_message on the subclass only", () => {
    const Handler = handlerClassFor({ ...command, quiet: true });
    assert.notEqual(Handler.prototype.log_message, SimpleHTTPRequestHandler.prototype.log_message);
    assert.equal(handlerClassFor(command).prototype.log_message, SimpleHTTPRequestHandler.prototype.log_message);
  });
});

describe("what each flag does to the responses", () => {
  test("without the flags: Python's headers only, and no script in HTML", TIMEOUT, async () => {
    await withServer(at(), async ({ port }) => {
      const page = await request(port, "/index.html", ["Origin: http://elsewhere.example", "Accept-Encoding: gzip"]);
      assert.equal(page.status, "HTTP/1.0 200 OK");
      assert.deepEqual(Object.keys(page.headers), ["server", "date", "content-type", "content-length", "last-modified"]);
      assert.equal(page.body.toString(), INDEX);
      const listing = await request(port, "/sub/");
      assert.ok(!listing.body.toString().includes("<script"));
      assert.deepEqual(Object.keys(listing.headers), ["server", "date", "content-type", "content-length"]);
    });
  });

  test("--etag: a weak ETag on files, and If-None-Match gets 304", TIMEOUT, async () => {
    await withServer(at("--etag"), async ({ port }) => {
      const first = await request(port, "/a.txt");
      assert.match(first.headers["etag"]!, /^W\/"6-[0-9a-f]+"$/);
      const again = await request(port, "/a.txt", [`If-None-Match: ${first.headers["etag"]}`]);
      assert.equal(again.status, "HTTP/1.0 304 Not Modified");
      assert.equal(again.headers["etag"], first.headers["etag"]);
    });
  });

  test("--cors: Access-Control-Allow-Origin on every response, and preflights get 204", TIMEOUT, async () => {
    await withServer(at("--cors"), async ({ port }) => {
      assert.equal((await request(port, "/a.txt")).headers["access-control-allow-origin"], "*");
      const missing = await request(port, "/missing.txt");
      assert.match(missing.status, / 404 /);
      assert.equal(missing.headers["access-control-allow-origin"], "*");
      const preflight = await request(port, "/a.txt", ["Origin: http://elsewhere.example", "Access-Control-Request-Method: GET"], "OPTIONS");
      assert.equal(preflight.status, "HTTP/1.0 204 No Content");
      assert.equal(preflight.headers["access-control-allow-methods"], "GET, HEAD, OPTIONS");
    });
  });

  test("-H, repeated: each header on every response, in order, after Python's", TIMEOUT, async () => {
    await withServer(at("-H", "X-Frame-Options: DENY", "--header", "X-Robots-Tag: noindex, nofollow"), async ({ port }) => {
      for (const path of ["/a.txt", "/missing.txt", "/sub"]) {
        const reply = await request(port, path);
        assert.match(reply.head, /\r\nX-Frame-Options: DENY\r\nX-Robots-Tag: noindex, nofollow$/, `${path}: ${reply.head}`);
      }
    });
  });

  test("--cache SECONDS: Cache-Control: max-age on files, not on listings", TIMEOUT, async () => {
    await withServer(at("--cache", "3600"), async ({ port }) => {
      assert.equal((await request(port, "/a.txt")).headers["cache-control"], "max-age=3600");
      assert.equal((await request(port, "/sub/")).headers["cache-control"], undefined);
    });
  });

  test("--no-cache: Cache-Control: no-cache on files", TIMEOUT, async () => {
    await withServer(at("--no-cache"), async ({ port }) => {
      assert.equal((await request(port, "/a.txt")).headers["cache-control"], "no-cache");
    });
  });

  test("--compress: a text file compressed for a client that accepts gzip", TIMEOUT, async () => {
    await withServer(at("--compress"), async ({ port }) => {
      const reply = await request(port, "/big.txt", ["Accept-Encoding: gzip"]);
      assert.equal(reply.headers["content-encoding"], "gzip");
      assert.equal(gunzipSync(reply.body).toString(), TEXT);
      const plain = await request(port, "/big.txt");
      assert.equal(plain.headers["content-encoding"], undefined);
      assert.equal(plain.body.toString(), TEXT);
    });
  });

  test("--precompressed: x.gz served for x to a client that accepts gzip", TIMEOUT, async () => {
    await withServer(at("--precompressed"), async ({ port }) => {
      const reply = await request(port, "/app.js", ["Accept-Encoding: gzip"]);
      assert.equal(reply.headers["content-encoding"], "gzip");
      assert.equal(gunzipSync(reply.body).toString(), "console.log('from the .gz');\n");
      assert.equal((await request(port, "/app.js")).body.toString(), "console.log('plain');\n");
    });
  });

  test("--spa: index.html for a deep link; a missing file with an extension is still 404", TIMEOUT, async () => {
    // The port comes first: a value after --spa would be its FILE (argparse's nargs='?').
    await withServer(["-b", "127.0.0.1", "-d", root, "0", "--spa"], async ({ port }) => {
      const deep = await request(port, "/app/deep/link");
      assert.equal(deep.status, "HTTP/1.0 200 OK");
      assert.equal(deep.body.toString(), INDEX);
      assert.match((await request(port, "/missing.js")).status, / 404 /);
    });
  });

  test("--spa=FILE: that file for deep links", TIMEOUT, async () => {
    await withServer(["-b", "127.0.0.1", "-d", root, "--spa=shell.html", "0"], async ({ port }) => {
      assert.equal((await request(port, "/settings/profile")).body.toString(), "<p>the shell</p>\n");
    });
  });

  test("--quiet: no line for requests, served or not; the banner still prints", TIMEOUT, async () => {
    const server = await startServer(at("--quiet"));
    try {
      assert.equal((await request(server.port, "/a.txt")).body.toString(), "hello\n");
      assert.match((await request(server.port, "/missing.txt")).status, / 404 /);
      // Everything the server wrote is read once it has exited.
      server.proc.child.kill("SIGTERM");
      assert.deepEqual(await server.proc.exited, { code: 0, signal: null });
      assert.equal(server.proc.stderr(), "");
      assert.equal(server.proc.stdout(), server.banner);
    } finally {
      await stop(server.proc);
    }
  });

  test("--dev: localhost, CORS, no-cache, the live-reload script, the rich listing, UTF-8 text; the terminal says so", TIMEOUT, async () => {
    const { address } = await lookup("localhost");
    await withServer(["-d", root, "--dev", "0"], async ({ host, port, startup }) => {
      assert.equal(host, address);
      const page = await request(port, "/index.html", [], "GET", address);
      assert.equal(page.headers["access-control-allow-origin"], "*");
      assert.equal(page.headers["cache-control"], "no-cache");
      assert.equal(page.headers["content-type"], "text/html; charset=utf-8");
      assert.ok(page.body.toString().includes(LIVERELOAD_SCRIPT));
      const listing = await request(port, "/sub/", [], "GET", address);
      assert.match(listing.headers["content-security-policy"]!, /^default-src 'none'/);
      assert.ok(listing.body.toString().includes('<a href="b.txt"><svg><use href="#t"/></svg>b.txt</a>'));
      assert.ok(listing.body.toString().includes(LIVERELOAD_SCRIPT), "live reload on the listing too (its CSP allows it)");
      assert.equal((await request(port, "/a.txt", [], "GET", address)).headers["content-type"], "text/plain; charset=utf-8");
      assert.equal(startup, `  Local:    http://localhost:${port}/\n  Features: live reload, no-cache, CORS, rich listing, charset utf-8\n`);
    });
  });
});

describe("--open", () => {
  let bin: string;
  let record: string;
  before(() => {
    bin = join(root, "fake-bin");
    record = join(root, "opened.txt");
    mkdirSync(bin, { recursive: true });
    // A stand-in for xdg-open that writes down the URL it was asked to open.
    writeFileSync(join(bin, "xdg-open"), `#!/bin/sh\nprintf '%s\\n' "$@" > '${record}.tmp' && mv '${record}.tmp' '${record}'\n`);
    chmodSync(join(bin, "xdg-open"), 0o755);
  });
  const opened = () => {
    try {
      return readFileSync(record, "utf8");
    } catch {
      return null;
    }
  };

  test("opens the served URL with xdg-open", TIMEOUT, async (t) => {
    if (process.platform !== "linux") return t.skip("the opener is xdg-open on Linux only");
    rmSync(record, { force: true });
    const env = { ...process.env, PATH: `${bin}:${process.env["PATH"]}` };
    await withServer(at("--open"), async ({ port, proc }) => {
      await waitFor(() => opened() !== null, "xdg-open to be run", proc);
      assert.equal(opened(), `http://127.0.0.1:${port}/\n`);
      assert.equal(proc.stderr(), "");
    }, { env });
  });

  test("a wildcard address opens http://localhost:PORT/", TIMEOUT, async (t) => {
    if (process.platform !== "linux") return t.skip("the opener is xdg-open on Linux only");
    rmSync(record, { force: true });
    const env = { ...process.env, PATH: `${bin}:${process.env["PATH"]}` };
    await withServer(["-d", root, "--open", "0"], async ({ port, proc }) => {
      await waitFor(() => opened() !== null, "xdg-open to be run", proc);
      assert.equal(opened(), `http://localhost:${port}/\n`);
    }, { env });
  });

  test("no opener on PATH: one line on stderr, and the server serves on", TIMEOUT, async (t) => {
    if (process.platform !== "linux") return t.skip("the opener is xdg-open on Linux only");
    const empty = join(root, "empty-bin");
    mkdirSync(empty, { recursive: true });
    const server = await startServer(at("--open"), { env: { ...process.env, PATH: empty } });
    try {
      await waitFor(() => server.proc.stderr().includes("\n"), "the complaint", server.proc);
      assert.equal(
        server.proc.stderr(),
        `simplehttp: could not open a browser (xdg-open not found); the URL is http://127.0.0.1:${server.port}/\n`,
      );
      assert.equal((await request(server.port, "/a.txt")).body.toString(), "hello\n");
      assert.equal(server.proc.hasExited(), false);
    } finally {
      await stop(server.proc);
    }
  });

  test("browserUrl and openerCommand", () => {
    assert.equal(browserUrl("HTTP", ["::", 8000]), "http://localhost:8000/");
    assert.equal(browserUrl("HTTPS", ["0.0.0.0", 8443]), "https://localhost:8443/");
    assert.equal(browserUrl("HTTP", ["::1", 80]), "http://[::1]:80/");
    assert.equal(browserUrl("HTTP", ["192.0.2.7", 8000]), "http://192.0.2.7:8000/");
    assert.deepEqual(openerCommand("http://x/", "linux"), ["xdg-open", ["http://x/"]]);
    assert.deepEqual(openerCommand("http://x/", "darwin"), ["open", ["http://x/"]]);
    assert.deepEqual(openerCommand("http://x/?a=1&b=2", "win32"), ["cmd", ["/c", "start", '""', "http://x/?a=1^&b=2"]]);
  });
});

describe("the file browser, the terminal, no traps (issue 13)", () => {
  test("--version prints simplehttp and the package's version, and exits 0", TIMEOUT, async () => {
    const result = await run(["--version"]);
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    assert.deepEqual([result.code, result.stdout, result.stderr], [0, `simplehttp ${version}\n`, ""]);
  });

  test("--listing rich: the file browser, its CSP, JSON on request; Python's page without the flag", TIMEOUT, async () => {
    await withServer(at("--listing", "rich"), async ({ port }) => {
      const page = await request(port, "/sub/");
      assert.equal(page.headers["content-type"], "text/html; charset=utf-8");
      assert.match(page.headers["content-security-policy"]!, /^default-src 'none'; style-src 'sha256-/);
      assert.match(page.body.toString(), /<p>0 folders, 1 file, 4 B<\/p>/);
      const json = await request(port, "/sub/", ["Accept: application/json"]);
      assert.deepEqual((JSON.parse(json.body.toString()) as { name: string }[]).map((item) => item.name), ["b.txt"]);
    });
    await withServer(at(), async ({ port }) => {
      assert.ok((await request(port, "/sub/")).body.toString().includes('<li><a href="b.txt">b.txt</a></li>'));
    });
  });

  test("--charset utf-8: text gets the charset (no more résumé as rÃ©sumÃ©); without it, Python's type", TIMEOUT, async () => {
    await withServer(at("--charset", "utf-8"), async ({ port }) => {
      const reply = await request(port, "/r%C3%A9sum%C3%A9.txt");
      assert.equal(reply.headers["content-type"], "text/plain; charset=utf-8");
      assert.equal(reply.body.toString(), "résumé\n");
    });
    await withServer(at(), async ({ port }) => {
      assert.equal((await request(port, "/r%C3%A9sum%C3%A9.txt")).headers["content-type"], "text/plain");
    });
  });

  test("--no-dotfiles: .env is 404 File not found and not listed; /.well-known/ is served and listed", TIMEOUT, async () => {
    const dots = join(root, "dots");
    mkdirSync(join(dots, ".well-known"), { recursive: true });
    mkdirSync(join(dots, ".git"), { recursive: true });
    writeFileSync(join(dots, ".env"), "SECRET=1\n");
    writeFileSync(join(dots, ".git", "config"), "[core]\n");
    writeFileSync(join(dots, ".well-known", "security.txt"), "Contact: mailto:x@example.org\n");
    writeFileSync(join(dots, "a.txt"), "a\n");
    await withServer(["-b", "127.0.0.1", "-d", dots, "--no-dotfiles", "--listing=rich", "0"], async ({ port }) => {
      for (const path of ["/.env", "/%2eenv", "/.git/config", "/a.txt/../.git/config"]) {
        assert.equal((await request(port, path)).status, "HTTP/1.0 404 File not found", path);
      }
      assert.equal((await request(port, "/.well-known/security.txt")).body.toString(), "Contact: mailto:x@example.org\n");
      const names = (JSON.parse((await request(port, "/?format=json")).body.toString()) as { name: string }[]).map((item) => item.name);
      assert.deepEqual(names, [".well-known/", "a.txt"]);
    });
    await withServer(["-b", "127.0.0.1", "-d", dots, "0"], async ({ port }) => {
      assert.equal((await request(port, "/.env")).body.toString(), "SECRET=1\n", "served without the flag, as by Python");
    });
  });

  describe("the terminal", () => {
    test("without our flags: Python's banner alone", TIMEOUT, async () => {
      await withServer(at(), async ({ startup, proc }) => {
        assert.equal(startup, "");
        assert.match(proc.stdout(), /^Serving HTTP on 127\.0\.0\.1 port \d+ \(http:\/\/127\.0\.0\.1:\d+\/\) \.\.\.\n$/);
      });
    });

    test("with one: Python's banner first, byte for byte, then the URL to open and the features on", TIMEOUT, async () => {
      await withServer(at("--cors", "--etag"), async ({ port, banner, startup }) => {
        assert.ok(banner.startsWith(`Serving HTTP on 127.0.0.1 port ${port} (http://127.0.0.1:${port}/) ...\n`));
        assert.equal(startup, `  Local:    http://localhost:${port}/\n  Features: CORS, ETags\n`);
      });
    });

    test("bound to all interfaces: localhost, then each LAN address of this machine (IPv6 bracketed)", TIMEOUT, async () => {
      await withServer(["-d", root, "--quiet", "0"], async ({ host, port, startup }) => {
        const lan = networkAddresses(host === "::").map((address) => `  Network:  http://${address.includes(":") ? `[${address}]` : address}:${port}/\n`);
        assert.equal(startup, `  Local:    http://localhost:${port}/\n${lan.join("")}  Features: no request log\n`);
      });
    });

    test("--spa FILE that does not exist: a warning, and the server serves", TIMEOUT, async () => {
      await withServer(at("--spa=nope.html"), async ({ port, proc }) => {
        await waitFor(() => proc.stderr().includes("\n"), "the warning", proc);
        assert.equal(proc.stderr(), `simplehttp: warning: --spa: nope.html is not a file in ${root}; missing paths will get 404\n`);
        assert.equal((await request(port, "/a.txt")).body.toString(), "hello\n");
      });
    });

    test("--open whose opener fails (no display): one line saying so, and the server serves", TIMEOUT, async (t) => {
      if (process.platform !== "linux") return t.skip("the opener is xdg-open on Linux only");
      const bin = join(root, "failing-bin");
      mkdirSync(bin, { recursive: true });
      // xdg-open without a display finds no browser and exits with status 3.
      writeFileSync(join(bin, "xdg-open"), "#!/bin/sh\necho 'xdg-open: no method available' >&2\nexit 3\n");
      chmodSync(join(bin, "xdg-open"), 0o755);
      const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env["PATH"]}` };
      delete env["DISPLAY"];
      delete env["WAYLAND_DISPLAY"];
      await withServer(at("--open"), async ({ port, proc }) => {
        await waitFor(() => proc.stderr().includes("\n"), "the complaint", proc);
        await new Promise((resolve) => setTimeout(resolve, 300)); // time for a second line, were there one
        assert.equal(
          proc.stderr(),
          `simplehttp: could not open a browser (xdg-open exited with status 3: no display, DISPLAY and WAYLAND_DISPLAY are not set); the URL is http://127.0.0.1:${port}/\n`,
        );
        assert.equal((await request(port, "/a.txt")).body.toString(), "hello\n");
      }, { env });
    });
  });

  describe("npm start", () => {
    const repo = fileURLToPath(new URL("../../", import.meta.url));

    test("package.json's start script builds, then runs the entry point that serves INIT_CWD", () => {
      const manifest = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { scripts: Record<string, string> };
      assert.equal(manifest.scripts["start"], "tsc -p . && node dist/src/cli/npm_start.js");
    });

    test("run from the checkout's root as npm runs it, it serves the folder npm start was typed in; a relative -d resolves from there", TIMEOUT, async () => {
      const script = join(dirname(MAIN), "npm_start.js");
      const env = { ...process.env, INIT_CWD: root };
      await withServer(["-b", "127.0.0.1", "0"], async ({ port }) => {
        assert.equal((await request(port, "/a.txt")).body.toString(), "hello\n");
      }, { cwd: repo, env, script });
      await withServer(["-b", "127.0.0.1", "-d", "sub", "0"], async ({ port }) => {
        assert.equal((await request(port, "/b.txt")).body.toString(), "bee\n");
      }, { cwd: repo, env, script });
    });
  });
});
