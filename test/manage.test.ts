/**
 * Managing files (src/features/manage.ts): DELETE, MKCOL and MOVE under `allow_delete`,
 * `allow_mkdir` and `allow_move`, their answers, their log lines, and every way a request could
 * try to touch what it must not — outside the tree, through a link, a dotfile, a CGI directory, a
 * page of another site, a name being uploaded.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CGIHTTPRequestHandler } from "../src/server/cgi_handler.js";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { logged, messageOf, send, site, tree, withServer } from "./dav_fixture.js";
import { collect, openSocket } from "./hostile.js";

const ALL = { allow_delete: true, allow_mkdir: true, allow_move: true };

describe("without the permissions", () => {
  test("DELETE, MKCOL and MOVE get Python's 501, and change nothing", async () => {
    const dir = site({ "a.txt": "a" });
    const before = tree(dir);
    await withServer(dir, {}, async ({ port }) => {
      for (const method of ["DELETE", "MKCOL", "MOVE"]) {
        const response = await send(port, method, "/a.txt", { Destination: "/b.txt" });
        assert.equal(response.statusLine, "HTTP/1.1 501 Unsupported method ('" + method + "')");
      }
    });
    assert.deepEqual(tree(dir), before);
  });

  test("each permission gives its own method only", async () => {
    const dir = site({ "a.txt": "a" });
    await withServer(dir, { allow_mkdir: true }, async ({ port }) => {
      assert.equal((await send(port, "DELETE", "/a.txt")).status, 501);
      assert.equal((await send(port, "MOVE", "/a.txt", { Destination: "/b.txt" })).status, 501);
      assert.equal((await send(port, "MKCOL", "/new/")).status, 201);
    });
  });

  test("a subclass's own do_DELETE wins", async () => {
    class Own extends SimpleHTTPRequestHandler {
      async do_DELETE() {
        this.send_response(418);
        this.send_header("Content-Length", "0");
        await this.end_headers();
      }
    }
    const dir = site({ "a.txt": "a" });
    await withServer(dir, ALL, async ({ port }) => assert.equal((await send(port, "DELETE", "/a.txt")).status, 418), Own);
    assert.ok(existsSync(join(dir, "a.txt")));
  });
});

describe("DELETE", () => {
  test("a file: 204, gone, one log line after the request line", async () => {
    const dir = site({ "docs/a b.txt": "a" });
    await withServer(dir, ALL, async ({ port }) => {
      const response = await send(port, "DELETE", "/docs/a%20b.txt");
      assert.equal(response.status, 204);
      assert.ok(!existsSync(join(dir, "docs", "a b.txt")));
      assert.deepEqual(logged, ['"DELETE /docs/a%20b.txt HTTP/1.1" 204 -', "deleted /docs/a b.txt"]);
    });
  });

  test("a directory only when empty, unless asked: ?recursive=1 or Depth: infinity", async () => {
    const dir = site({ "full/sub/x.txt": "x", "also/y.txt": "y", "empty/": "" });
    await withServer(dir, ALL, async ({ port }) => {
      const refused = await send(port, "DELETE", "/full/");
      assert.equal(refused.status, 409);
      assert.equal(messageOf(refused), "The directory is not empty (ask for ?recursive=1 or Depth: infinity)");
      assert.ok(existsSync(join(dir, "full", "sub", "x.txt")));
      assert.equal((await send(port, "DELETE", "/empty/")).status, 204);
      assert.equal((await send(port, "DELETE", "/full/?recursive=1")).status, 204);
      assert.equal((await send(port, "DELETE", "/also", { Depth: "infinity" })).status, 204);
      assert.deepEqual(tree(dir), {});
      assert.ok(logged.includes("deleted /full/ (with its contents)"));
    });
  });

  test("a link is removed itself, never what it points to (even a link leading out)", async () => {
    const dir = site({ "inside.txt": "in" });
    const outside = join(dir, "..", "outside.txt");
    writeFileSync(outside, "keep me");
    symlinkSync(outside, join(dir, "out-link"));
    symlinkSync(join(dir, ".."), join(dir, "out-dir"));
    await withServer(dir, ALL, async ({ port }) => {
      assert.equal((await send(port, "DELETE", "/out-link")).status, 204);
      assert.equal((await send(port, "DELETE", "/out-dir/", { Depth: "infinity" })).status, 204);
    });
    assert.equal(readFileSync(outside, "utf8"), "keep me");
    assert.deepEqual(tree(dir), { "inside.txt": "in" });
    assert.ok(existsSync(join(dir, "..", "served")));
  });

  test("through a link leading out: 403, whatever follow_symlinks says; nothing outside touched", async () => {
    const dir = site();
    const outside = join(dir, "..", "elsewhere");
    mkdirSync(outside);
    writeFileSync(join(outside, "x.txt"), "outside");
    symlinkSync(outside, join(dir, "link"));
    for (const follow_symlinks of [true, false]) {
      await withServer(dir, { ...ALL, follow_symlinks }, async ({ port }) => {
        const response = await send(port, "DELETE", "/link/x.txt");
        assert.equal(response.status, 403);
        assert.equal(messageOf(response), "Outside the served directory");
        assert.equal((await send(port, "MOVE", "/link/x.txt", { Destination: "/x.txt" })).status, 403);
      });
    }
    assert.equal(readFileSync(join(outside, "x.txt"), "utf8"), "outside");
  });

  test("what is not there: 404; the served directory itself: 403; a traversal: nothing outside", async () => {
    const dir = site({ "a.txt": "a" });
    writeFileSync(join(dir, "..", "victim.txt"), "v");
    await withServer(dir, ALL, async ({ port }) => {
      assert.equal((await send(port, "DELETE", "/missing.txt")).status, 404);
      assert.equal((await send(port, "DELETE", "/", { Depth: "infinity" })).status, 403);
      for (const path of ["/../victim.txt", "/%2e%2e/victim.txt", "/a.txt/../../victim.txt", "/%2E%2E%2Fvictim.txt"]) {
        const response = await send(port, "DELETE", path);
        assert.ok([400, 404].includes(response.status), `${path}: ${response.statusLine}`);
      }
    });
    assert.ok(existsSync(join(dir, "..", "victim.txt")));
    assert.ok(existsSync(join(dir, "a.txt")));
  });

  test("a fragment in the request path is refused (DELETE /dir/#x never deletes /dir/)", async () => {
    const dir = site({ "dir/a.txt": "a" });
    await withServer(dir, ALL, async ({ port }) => {
      assert.equal((await send(port, "DELETE", "/dir/#x", { Depth: "infinity" })).status, 400);
    });
    assert.ok(existsSync(join(dir, "dir", "a.txt")));
  });

  test("with dotfiles hidden: a dotfile is 404 and kept; a folder holding one is refused whole", async () => {
    const dir = site({ ".env": "SECRET", "project/.git/config": "c", "project/main.c": "m", "plain/a.txt": "a" });
    const before = tree(dir);
    await withServer(dir, { ...ALL, dotfiles: false }, async ({ port }) => {
      assert.equal((await send(port, "DELETE", "/.env")).status, 404);
      assert.equal((await send(port, "DELETE", "/%2eenv")).status, 404);
      assert.equal((await send(port, "DELETE", "/project/.git/", { Depth: "infinity" })).status, 404);
      const whole = await send(port, "DELETE", "/project/?recursive=1");
      assert.equal(whole.status, 403);
      assert.equal(messageOf(whole), "The directory holds names starting with a dot, which are not changed");
      assert.equal((await send(port, "MOVE", "/.env", { Destination: "/env" })).status, 404);
      assert.equal((await send(port, "MOVE", "/plain/a.txt", { Destination: "/.hidden" })).status, 403);
      assert.equal((await send(port, "MKCOL", "/.ssh/")).status, 403);
    });
    assert.deepEqual(tree(dir), before);
  });

  test("under --cgi, nothing in or of a CGI directory is deleted, moved or made", async () => {
    const dir = site({ "cgi-bin/run.py": "print()", "script.py": "print('moved in')" });
    const before = tree(dir);
    await withServer(
      dir,
      ALL,
      async ({ port }) => {
        assert.equal((await send(port, "DELETE", "/cgi-bin/run.py")).status, 403);
        assert.equal((await send(port, "DELETE", "/cgi-bin/", { Depth: "infinity" })).status, 403);
        assert.equal((await send(port, "MOVE", "/script.py", { Destination: "/cgi-bin/script.py" })).status, 403);
        assert.equal((await send(port, "MOVE", "/cgi-bin/run.py", { Destination: "/run.py" })).status, 403);
        assert.equal((await send(port, "MKCOL", "/htbin/")).status, 403);
        assert.equal((await send(port, "MOVE", "/script.py", { Destination: "/htbin" })).status, 403);
      },
      CGIHTTPRequestHandler,
    );
    assert.deepEqual(tree(dir), before);
  });

  test("from a page of another site: 403 (same-site pages, and scripts without Origin, pass)", async () => {
    const dir = site({ "a.txt": "a", "b.txt": "b" });
    await withServer(dir, ALL, async ({ port }) => {
      assert.equal((await send(port, "DELETE", "/a.txt", { Origin: "http://evil.example" })).status, 403);
      assert.equal((await send(port, "MKCOL", "/x/", { Origin: "null" })).status, 403);
      assert.equal((await send(port, "MOVE", "/a.txt", { Origin: "https://evil.example", Destination: "/c.txt" })).status, 403);
      assert.equal((await send(port, "DELETE", "/b.txt", { Origin: `http://127.0.0.1:${port}` })).status, 204);
    });
    assert.deepEqual(tree(dir), { "a.txt": "a" });
  });
});

describe("MKCOL", () => {
  test("a new directory: 201 with Location and a line; 405 when the name exists; 409 without a parent; 415 with a body", async () => {
    const dir = site({ "file.txt": "f" });
    await withServer(dir, ALL, async ({ port }) => {
      const made = await send(port, "MKCOL", "/new%20dir/");
      assert.equal(made.status, 201);
      assert.equal(made.headers.get("location"), "/new%20dir/");
      assert.equal(made.body.toString(), "made directory /new dir/\n");
      assert.equal((await send(port, "MKCOL", "/new%20dir")).status, 405);
      assert.equal((await send(port, "MKCOL", "/file.txt")).status, 405);
      assert.equal((await send(port, "MKCOL", "/no/such/")).status, 409);
      assert.equal((await send(port, "MKCOL", "/file.txt/sub/")).status, 409);
      assert.equal((await send(port, "MKCOL", "/with-body/", {}, "<x/>")).status, 415);
      assert.equal((await send(port, "MKCOL", "/bad%5Cname/")).status, 400);
      assert.deepEqual(logged.filter((line) => !line.startsWith('"') && !line.startsWith("code ")), ["made directory /new dir/"]);
    });
    assert.deepEqual(tree(dir), { "file.txt": "f", "new dir/": "" });
  });
});

describe("MOVE", () => {
  test("renames: 201 with Location; an existing destination is 412 (Overwrite: F by default)", async () => {
    const dir = site({ "a.txt": "a", "b.txt": "b", "sub/": "" });
    await withServer(dir, ALL, async ({ port }) => {
      const moved = await send(port, "MOVE", "/a.txt", { Destination: "/sub/ä.txt" });
      assert.equal(moved.status, 201);
      assert.equal(moved.headers.get("location"), "/sub/%C3%A4.txt");
      assert.equal((await send(port, "MOVE", "/b.txt", { Destination: "/sub/ä.txt" })).status, 412);
      assert.ok(logged.includes("moved /a.txt to /sub/ä.txt"));
    });
    assert.deepEqual(tree(dir), { "b.txt": "b", "sub/": "", "sub/ä.txt": "a" });
  });

  test("Overwrite: T replaces only with allow_delete: 204", async () => {
    const dir = site({ "a.txt": "a", "b.txt": "b" });
    await withServer(dir, { allow_move: true }, async ({ port }) => {
      const refused = await send(port, "MOVE", "/a.txt", { Destination: "/b.txt", Overwrite: "T" });
      assert.equal(refused.status, 403);
      assert.equal(messageOf(refused), "Replacing the destination needs --allow-delete");
    });
    await withServer(dir, ALL, async ({ port }) => {
      assert.equal((await send(port, "MOVE", "/a.txt", { Destination: "/b.txt", Overwrite: "T" })).status, 204);
    });
    assert.deepEqual(tree(dir), { "b.txt": "a" });
  });

  test("a directory moves whole; never into itself; a full URL of this host works", async () => {
    const dir = site({ "d/x.txt": "x", "d/e/y.txt": "y" });
    await withServer(dir, ALL, async ({ port }) => {
      assert.equal((await send(port, "MOVE", "/d/", { Destination: "/d/e/d/" })).status, 409);
      assert.equal((await send(port, "MOVE", "/d/", { Destination: `http://127.0.0.1:${port}/moved/` })).status, 201);
    });
    assert.deepEqual(tree(dir), { "moved/": "", "moved/e/": "", "moved/e/y.txt": "y", "moved/x.txt": "x" });
  });

  test("Destination confined: outside through a link 403, `..` (encoded too) 400, another host 502, none 400", async () => {
    const dir = site({ "a.txt": "a" });
    const outside = join(dir, "..", "elsewhere");
    mkdirSync(outside);
    symlinkSync(outside, join(dir, "link"));
    await withServer(dir, ALL, async ({ port }) => {
      const cases: [headers: Record<string, string>, status: number][] = [
        [{ Destination: "/link/a.txt" }, 403],
        [{ Destination: "/../a.txt" }, 400],
        [{ Destination: "/%2e%2e/a.txt" }, 400],
        [{ Destination: "/sub/%2E%2E/%2E%2E/a.txt" }, 400],
        [{ Destination: `http://127.0.0.1:${port}/%2e%2e/a.txt` }, 400],
        [{ Destination: "http://evil.example/a.txt" }, 502],
        [{ Destination: "/a%2F..%2F..%2Fx" }, 400],
        [{}, 400],
      ];
      for (const [headers, status] of cases) {
        const response = await send(port, "MOVE", "/a.txt", headers);
        assert.equal(response.status, status, `${JSON.stringify(headers)}: ${response.statusLine} ${messageOf(response)}`);
      }
    });
    assert.deepEqual(tree(dir), { "a.txt": "a", link: `-> ${outside}` });
    assert.deepEqual(tree(outside), {});
  });

  test("a MOVE onto a name being uploaded is 409, and the upload completes whole", async () => {
    const dir = site({ "a.txt": "from move" });
    await withServer(dir, { ...ALL, upload: true }, async ({ port }) => {
      const socket = await openSocket(port);
      const reply = collect(socket);
      socket.write("PUT /b.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\nConnection: close\r\n\r\nfrom ");
      await new Promise((resolve) => setTimeout(resolve, 200));
      const moved = await send(port, "MOVE", "/a.txt", { Destination: "/b.txt" });
      assert.equal(moved.status, 409);
      assert.equal(messageOf(moved), "Another upload to this name is in progress");
      socket.write("put!!");
      assert.match((await reply.closed).toString("latin1"), /^HTTP\/1\.1 201 /);
    });
    assert.deepEqual(tree(dir), { "a.txt": "from move", "b.txt": "from put!!" });
  });

  test("concurrent MOVEs of one source to two names: one wins, the other finds nothing; no bytes lost", async () => {
    const dir = site({ "a.txt": "payload" });
    await withServer(dir, ALL, async ({ port }) => {
      const results = await Promise.all([
        send(port, "MOVE", "/a.txt", { Destination: "/x.txt" }),
        send(port, "MOVE", "/a.txt", { Destination: "/y.txt" }),
      ]);
      for (const { status } of results) assert.ok([201, 404, 409].includes(status), String(status));
      assert.equal(results.filter((r) => r.status === 201).length, 1);
    });
    const files = tree(dir);
    assert.equal(Object.keys(files).length, 1);
    assert.equal(Object.values(files)[0], "payload");
  });
});
