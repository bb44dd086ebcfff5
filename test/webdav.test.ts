/**
 * WebDAV (src/features/webdav.ts, webdav_xml.ts, locks.ts, webdav_props.ts) as raw requests:
 * Python's 501 without it, OPTIONS, PROPFIND and its XML, a read-only share that refuses every
 * write, PROPPATCH, COPY and MOVE confined, locks and their expiry, and hostile XML.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { symlinkSync, mkdirSync, writeFileSync, readFileSync, existsSync, statSync } from "node:fs";
import { fileETag } from "../src/features/conditional.js";
import { join } from "node:path";
import { SaxesParser, type SaxesTagNS } from "saxes";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { parseXml, XmlError, escapeText } from "../src/features/webdav_xml.js";
import { LockTable, parseIfHeader, lockSeconds, MAX_LOCK_SECONDS } from "../src/features/locks.js";
import { deadProperties } from "../src/features/webdav_props.js";
import { READ_WRITE, logged, messageOf, send, site, tree, withServer } from "./dav_fixture.js";
import { exchange, masked, serve } from "./helpers.js";
import type { Response } from "./hostile.js";

const PROPFIND_ALL = '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>';

/** A multistatus body as `{ href: { "{ns}name": text } }` per status 200, checked to be well-formed by saxes. */
function multistatus(response: Response): Map<string, Map<string, string>> {
  assert.equal(response.status, 207, response.statusLine);
  assert.equal(response.headers.get("content-type"), "application/xml; charset=utf-8");
  const result = new Map<string, Map<string, string>>();
  const parser = new SaxesParser({ xmlns: true });
  const stack: string[] = [];
  let href = "";
  let text = "";
  let props = new Map<string, string>();
  let status = "";
  let inProp: string[] = [];
  parser.on("opentag", (tag: SaxesTagNS) => {
    stack.push(`{${tag.uri}}${tag.local}`);
    text = "";
    if (stack.at(-2) === "{DAV:}prop") inProp = [`{${tag.uri}}${tag.local}`];
    if (tag.local === "propstat" && tag.uri === "DAV:") props = new Map();
  });
  parser.on("text", (t) => (text += t));
  parser.on("closetag", (tag: SaxesTagNS) => {
    const name = stack.pop()!;
    if (name === "{DAV:}href" && stack.at(-1) === "{DAV:}response") href = text;
    if (stack.at(-1) === "{DAV:}prop" && inProp[0] === name) props.set(name, text);
    if (name === "{DAV:}status") status = text;
    if (tag.local === "propstat" && tag.uri === "DAV:" && status.includes(" 200 ")) {
      result.set(href, new Map([...(result.get(href) ?? []), ...props]));
    }
    if (tag.local === "response" && tag.uri === "DAV:" && !result.has(href)) result.set(href, new Map());
  });
  parser.write(response.body.toString("utf8")).close();
  return result;
}

describe("without webdav", () => {
  test("every WebDAV method, and OPTIONS, gets Python's 501, byte for byte", async () => {
    const dir = site({ "a.txt": "a" });
    await withServer(dir, {}, async ({ port }) => {
      for (const method of ["PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "OPTIONS", "DELETE", "PUT"]) {
        const response = await send(port, method, "/a.txt", { Depth: "0" });
        assert.equal(response.statusLine, `HTTP/1.1 501 Unsupported method ('${method}')`);
        assert.equal(response.headers.get("connection"), "close");
        assert.match(response.body.toString(), new RegExp(`<p>Message: Unsupported method \\('${method}'\\)\\.</p>`));
      }
    });
    assert.deepEqual(tree(dir), { "a.txt": "a" });
  });
});

describe("OPTIONS", () => {
  test("read-only: DAV: 1 (Finder then mounts read-only) and the read methods", async () => {
    await withServer(site(), { webdav: true }, async ({ port }) => {
      const response = await send(port, "OPTIONS", "/");
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("dav"), "1");
      assert.equal(response.headers.get("allow"), "OPTIONS, GET, HEAD, PROPFIND");
      assert.equal(response.headers.get("ms-author-via"), "DAV");
      assert.equal(response.headers.get("content-length"), "0");
    });
  });

  test("read-write: DAV: 1, 2 and every method", async () => {
    await withServer(site(), READ_WRITE, async ({ port }) => {
      const response = await send(port, "OPTIONS", "/");
      assert.equal(response.headers.get("dav"), "1, 2");
      assert.equal(response.headers.get("allow"), "OPTIONS, GET, HEAD, PROPFIND, PUT, COPY, PROPPATCH, DELETE, MKCOL, MOVE, LOCK, UNLOCK");
    });
  });

  test("a CORS preflight is still the preflight, and allows no WebDAV method", async () => {
    await withServer(site(), { ...READ_WRITE, cors: true } as never, async ({ port }) => {
      const response = await send(port, "OPTIONS", "/a", { Origin: "http://other.example", "Access-Control-Request-Method": "PROPFIND" });
      assert.equal(response.status, 204);
      assert.equal(response.headers.get("access-control-allow-methods"), "GET, HEAD, OPTIONS");
      assert.equal(response.headers.get("dav"), undefined);
    });
  });
});

describe("PROPFIND", () => {
  const names = { "a b.txt": "0123456789", "x & <y>.txt": "amp", "naïve café.txt": "é", "sub/inner.txt": "i", "sub/deeper/z.txt": "z", ".env": "S" };

  test("Depth: 1 lists the folder and its members: live properties, escaping, hrefs quoted like the listing's links", async () => {
    const dir = site(names);
    await withServer(dir, { webdav: true, etag: true }, async ({ port }) => {
      const result = multistatus(await send(port, "PROPFIND", "/", { Depth: "1" }, PROPFIND_ALL));
      assert.deepEqual([...result.keys()], ["/", "/.env", "/a%20b.txt", "/na%C3%AFve%20caf%C3%A9.txt", "/sub/", "/x%20%26%20%3Cy%3E.txt"]);
      const file = result.get("/x%20%26%20%3Cy%3E.txt")!;
      assert.equal(file.get("{DAV:}displayname"), "x & <y>.txt");
      assert.equal(file.get("{DAV:}getcontentlength"), "3");
      assert.equal(file.get("{DAV:}getcontenttype"), "text/plain");
      assert.match(file.get("{DAV:}getetag")!, /^W\/"3-[0-9a-f]+"$/);
      assert.match(file.get("{DAV:}getlastmodified")!, /^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/);
      assert.match(file.get("{DAV:}creationdate")!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(file.get("{DAV:}resourcetype"), "");
      assert.equal(result.get("/na%C3%AFve%20caf%C3%A9.txt")!.get("{DAV:}displayname"), "naïve café.txt");
      assert.ok(result.get("/sub/")!.has("{DAV:}resourcetype"));
      assert.equal(result.get("/sub/")!.has("{DAV:}getcontentlength"), false);
      const raw = (await send(port, "PROPFIND", "/sub/", { Depth: "0" })).body.toString();
      assert.match(raw, /<D:resourcetype><D:collection\/><\/D:resourcetype>/);
      assert.match(raw, /<D:supportedlock\/>/, "read-only: no lock offered");
    });
  });

  test("the hrefs are the rich listing's links", async () => {
    const dir = site(names);
    await withServer(dir, { webdav: true, listing: "rich" }, async ({ port }) => {
      const json = JSON.parse((await send(port, "GET", "/?format=json")).body.toString()) as { url: string }[];
      const hrefs = [...multistatus(await send(port, "PROPFIND", "/", { Depth: "1" })).keys()].slice(1);
      assert.deepEqual(hrefs.map((href) => href.slice(1)).sort(), json.map(({ url }) => url).sort());
    });
  });

  test("Depth: 0, named properties (a missing one in a 404 propstat), propname", async () => {
    const dir = site(names);
    await withServer(dir, { webdav: true }, async ({ port }) => {
      const named = await send(port, "PROPFIND", "/a%20b.txt", { Depth: "0" },
        '<propfind xmlns="DAV:" xmlns:z="urn:z"><prop><getcontentlength/><z:nothing/><displayname/></prop></propfind>');
      const body = named.body.toString();
      assert.equal([...multistatus(named).keys()].length, 1);
      assert.match(body, /<D:getcontentlength>10<\/D:getcontentlength><D:displayname>a b\.txt<\/D:displayname><\/D:prop><D:status>HTTP\/1\.1 200 OK/);
      assert.match(body, /<ns1:nothing xmlns:ns1="urn:z"\/><\/D:prop><D:status>HTTP\/1\.1 404 Not Found<\/D:status>/);
      const propname = (await send(port, "PROPFIND", "/a%20b.txt", { Depth: "0" }, '<propfind xmlns="DAV:"><propname/></propfind>')).body.toString();
      assert.match(propname, /<D:prop><D:displayname\/><D:getcontentlength\/><D:getlastmodified\/><D:creationdate\/><D:getcontenttype\/><D:getetag\/><D:resourcetype\/><D:supportedlock\/><D:lockdiscovery\/><\/D:prop>/);
    });
  });

  test("Depth: infinity (or none) is 403 unless webdav_depth_infinity; a bad Depth is 400", async () => {
    const dir = site(names);
    await withServer(dir, { webdav: true }, async ({ port }) => {
      assert.equal((await send(port, "PROPFIND", "/", { Depth: "infinity" })).status, 403);
      assert.equal((await send(port, "PROPFIND", "/")).status, 403);
      assert.equal((await send(port, "PROPFIND", "/", { Depth: "2" })).status, 400);
    });
    await withServer(dir, { webdav: true, webdav_depth_infinity: true }, async ({ port }) => {
      const hrefs = [...multistatus(await send(port, "PROPFIND", "/", { Depth: "infinity" })).keys()];
      assert.ok(hrefs.includes("/sub/deeper/z.txt"), hrefs.join(" "));
    });
  });

  test("with dotfiles hidden: not listed, and 404 by name; links leading out hidden with follow_symlinks off", async () => {
    const dir = site(names);
    const outside = join(dir, "..", "out");
    mkdirSync(outside);
    symlinkSync(outside, join(dir, "link-out"));
    await withServer(dir, { webdav: true, dotfiles: false, follow_symlinks: false }, async ({ port }) => {
      const hrefs = [...multistatus(await send(port, "PROPFIND", "/", { Depth: "1" })).keys()];
      assert.ok(!hrefs.includes("/.env") && !hrefs.includes("/link-out/"), hrefs.join(" "));
      assert.equal((await send(port, "PROPFIND", "/.env", { Depth: "0" })).status, 404);
      assert.equal((await send(port, "PROPFIND", "/%2eenv", { Depth: "0" })).status, 404);
      assert.equal((await send(port, "PROPFIND", "/link-out/", { Depth: "1" })).status, 404);
    });
  });

  test("a name that is not UTF-8 gives well-formed XML (U+FFFD in its name, its bytes in the href)", async () => {
    const dir = site();
    writeFileSync(Buffer.concat([Buffer.from(join(dir, "raw-")), Buffer.from([0xff]), Buffer.from(".txt")]), "r");
    writeFileSync(join(dir, "ctl\x01.txt"), "c");
    await withServer(dir, { webdav: true }, async ({ port }) => {
      const result = multistatus(await send(port, "PROPFIND", "/", { Depth: "1" }));
      assert.equal(result.get("/raw-%ED%B3%BF.txt")?.get("{DAV:}displayname"), "raw-\ufffd.txt");
      assert.equal(result.get("/ctl%01.txt")?.get("{DAV:}displayname"), "ctl\ufffd.txt");
    });
  });
});

describe("a read-only share", () => {
  test("refuses every write method with 403 and changes nothing on disk", async () => {
    const dir = site({ "a.txt": "a", "d/b.txt": "b" });
    const before = tree(dir);
    await withServer(dir, { webdav: true }, async ({ port }) => {
      const writes: [string, string, Record<string, string>, string][] = [
        ["PUT", "/new.txt", {}, "new"],
        ["PUT", "/a.txt", {}, "over"],
        ["DELETE", "/a.txt", {}, ""],
        ["DELETE", "/d/", { Depth: "infinity" }, ""],
        ["MKCOL", "/e/", {}, ""],
        ["COPY", "/a.txt", { Destination: "/c.txt" }, ""],
        ["MOVE", "/a.txt", { Destination: "/c.txt" }, ""],
        ["PROPPATCH", "/a.txt", {}, '<propertyupdate xmlns="DAV:"><set><prop><x xmlns="urn:x">1</x></prop></set></propertyupdate>'],
        ["LOCK", "/a.txt", {}, '<lockinfo xmlns="DAV:"><lockscope><exclusive/></lockscope><locktype><write/></locktype></lockinfo>'],
        ["LOCK", "/unmapped.txt", {}, '<lockinfo xmlns="DAV:"><lockscope><exclusive/></lockscope><locktype><write/></locktype></lockinfo>'],
        ["UNLOCK", "/a.txt", { "Lock-Token": "<urn:uuid:x>" }, ""],
      ];
      for (const [method, path, headers, body] of writes) {
        const response = await send(port, method, path, headers, body);
        assert.equal(response.status, 403, `${method} ${path}: ${response.statusLine}`);
        assert.equal(messageOf(response), "This WebDAV share is read-only");
      }
    });
    assert.deepEqual(tree(dir), before);
    assert.equal(deadProperties.size, 0);
  });
});

describe("PROPPATCH", () => {
  test("dead properties are kept in memory (never on disk), returned by PROPFIND, moved with MOVE, gone with DELETE", async () => {
    const dir = site({ "a.txt": "a" });
    const before = tree(dir);
    await withServer(dir, READ_WRITE, async ({ port }) => {
      const set = await send(port, "PROPPATCH", "/a.txt", {},
        '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:color>blue &amp; <Z:b>bold</Z:b></Z:color></D:prop></D:set></D:propertyupdate>');
      assert.equal(multistatus(set).get("/a.txt")?.has("{urn:z}color"), true);
      assert.ok(logged.includes("changed properties of /a.txt"));
      const found = await send(port, "PROPFIND", "/a.txt", { Depth: "0" }, '<propfind xmlns="DAV:"><prop><color xmlns="urn:z"/></prop></propfind>');
      assert.match(found.body.toString(), /<ns1:color xmlns:ns1="urn:z">blue &amp; <ns1:b>bold<\/ns1:b><\/ns1:color>/);
      assert.deepEqual(tree(dir), before, "nothing written to the tree");
      assert.equal((await send(port, "MOVE", "/a.txt", { Destination: "/b.txt" })).status, 201);
      assert.match((await send(port, "PROPFIND", "/b.txt", { Depth: "0" }, PROPFIND_ALL)).body.toString(), /urn:z/);
      assert.equal((await send(port, "DELETE", "/b.txt")).status, 204);
      assert.equal(deadProperties.size, 0);
    });
  });

  test("a live property is protected (403) and fails the others (424): nothing changes", async () => {
    const dir = site({ "a.txt": "a" });
    await withServer(dir, READ_WRITE, async ({ port }) => {
      const response = await send(port, "PROPPATCH", "/a.txt", {},
        '<propertyupdate xmlns="DAV:"><set><prop><getcontentlength>9</getcontentlength><x xmlns="urn:x">1</x></prop></set></propertyupdate>');
      const body = response.body.toString();
      assert.match(body, /<D:getcontentlength\/><\/D:prop><D:status>HTTP\/1\.1 403 Forbidden/);
      assert.match(body, /<ns1:x xmlns:ns1="urn:x"\/><\/D:prop><D:status>HTTP\/1\.1 424 Failed Dependency/);
      assert.equal(deadProperties.size, 0);
    });
  });
});

describe("COPY and MOVE", () => {
  test("COPY of a folder copies what it holds (dotfiles left alone when hidden), through atomic writes", async () => {
    const dir = site({ "src/a.txt": "a", "src/in/b.txt": "b", "src/.secret": "s" });
    await withServer(dir, { ...READ_WRITE, dotfiles: false }, async ({ port }) => {
      assert.equal((await send(port, "COPY", "/src/", { Destination: "/copy/" })).status, 201);
      assert.equal((await send(port, "COPY", "/src/", { Destination: "/shallow/", Depth: "0" })).status, 201);
      assert.equal((await send(port, "COPY", "/src/a.txt", { Destination: "/copy/a.txt", Overwrite: "F" })).status, 412);
      assert.equal((await send(port, "COPY", "/src/in/b.txt", { Destination: "/copy/a.txt" })).status, 204);
    });
    assert.deepEqual(tree(join(dir, "copy")), { "a.txt": "b", "in/": "", "in/b.txt": "b" });
    assert.deepEqual(tree(join(dir, "shallow")), {});
  });

  test("Destination confined for COPY as for MOVE: a link out 403, `..` 400, another host 502", async () => {
    const dir = site({ "a.txt": "a" });
    const outside = join(dir, "..", "out");
    mkdirSync(outside);
    symlinkSync(outside, join(dir, "link"));
    await withServer(dir, READ_WRITE, async ({ port }) => {
      for (const method of ["COPY", "MOVE"]) {
        assert.equal((await send(port, method, "/a.txt", { Destination: "/link/a.txt" })).status, 403);
        assert.equal((await send(port, method, "/a.txt", { Destination: "/link/../../a.txt" })).status, 400);
        assert.equal((await send(port, method, "/a.txt", { Destination: "/%2e%2e/out/a.txt" })).status, 400);
        assert.equal((await send(port, method, "/a.txt", { Destination: "http://elsewhere.example/a.txt" })).status, 502);
      }
      // A COPY would read what the link leads to; a MOVE moves the link itself, inside the tree.
      assert.equal((await send(port, "COPY", "/link/", { Destination: "/copied/" })).status, 403);
      assert.equal((await send(port, "MOVE", "/link", { Destination: "/moved-link" })).status, 201);
    });
    assert.deepEqual(tree(outside), {});
    assert.deepEqual(tree(dir), { "a.txt": "a", "moved-link": `-> ${outside}` });
  });

  test("MOVE with Depth 0 of a path that climbs out answers as without it: nothing outside is looked at", async () => {
    const dir = site({ "a.txt": "a" });
    mkdirSync(join(dir, "..", "there"), { recursive: true });
    await withServer(dir, READ_WRITE, async ({ port }) => {
      for (const path of ["/../there", "/../nowhere"]) {
        const moved = await send(port, "MOVE", path, { Destination: "/b", Depth: "0" });
        assert.equal(moved.status, 400, path);
        assert.equal(messageOf(moved), "Bad file name: a dot segment", path);
      }
    });
  });

  test("a COPY of a link leading out is refused: nothing outside is read into the tree", async () => {
    const dir = site();
    const secret = join(dir, "..", "secret.txt");
    writeFileSync(secret, "outside");
    symlinkSync(secret, join(dir, "s"));
    await withServer(dir, READ_WRITE, async ({ port }) => {
      assert.equal((await send(port, "COPY", "/s", { Destination: "/s-copy" })).status, 403);
    });
    assert.equal(existsSync(join(dir, "s-copy")), false);
  });
});

/** A `LOCK` of `path`; its response. */
function lock(port: number, path: string, scope = "exclusive", headers: Record<string, string> = {}) {
  return send(port, "LOCK", path, headers,
    `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:${scope}/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>mailto:t@example.com</D:href></D:owner></D:lockinfo>`);
}

describe("locks", () => {
  test("an exclusive lock: writes without its token 423, with it they pass; UNLOCK 204", async () => {
    const dir = site({ "a.txt": "a" });
    await withServer(dir, READ_WRITE, async ({ port }) => {
      const locked = await lock(port, "/a.txt");
      assert.equal(locked.status, 200);
      const token = /^<(urn:uuid:[0-9a-f-]+)>$/.exec(locked.headers.get("lock-token") ?? "")?.[1];
      assert.ok(token, locked.headers.get("lock-token"));
      assert.match(locked.body.toString(), /<D:owner><D:href>mailto:t@example\.com<\/D:href><\/D:owner><D:timeout>Second-600<\/D:timeout>/);
      assert.equal((await send(port, "PUT", "/a.txt", {}, "b")).status, 423);
      assert.equal((await send(port, "DELETE", "/a.txt")).status, 423);
      assert.equal((await send(port, "MOVE", "/a.txt", { Destination: "/b.txt" })).status, 423);
      assert.equal((await lock(port, "/a.txt", "shared")).status, 423);
      assert.equal((await send(port, "PUT", "/a.txt", { If: "(<urn:uuid:00000000-0000-0000-0000-000000000000>)" }, "b")).status, 412);
      assert.equal((await send(port, "PUT", "/a.txt", { If: `(<${token}>)` }, "mine")).status, 204);
      assert.equal(readFileSync(join(dir, "a.txt"), "utf8"), "mine");
      assert.equal((await send(port, "UNLOCK", "/a.txt", { "Lock-Token": "<urn:uuid:other>" })).status, 409);
      assert.equal((await send(port, "UNLOCK", "/a.txt", { "Lock-Token": `<${token}>` })).status, 204);
      assert.equal((await send(port, "PUT", "/a.txt", {}, "free")).status, 204);
    });
  });

  test("a lock expires after its timeout: then writes pass and lockdiscovery is empty", async () => {
    const dir = site({ "a.txt": "a" });
    await withServer(dir, READ_WRITE, async ({ port }) => {
      const locked = await lock(port, "/a.txt", "exclusive", { Timeout: "Second-1" });
      assert.match(locked.body.toString(), /<D:timeout>Second-1<\/D:timeout>/);
      assert.equal((await send(port, "PUT", "/a.txt", {}, "b")).status, 423);
      await new Promise((resolve) => setTimeout(resolve, 1200));
      assert.equal((await send(port, "PUT", "/a.txt", {}, "b")).status, 204);
      assert.match((await send(port, "PROPFIND", "/a.txt", { Depth: "0" })).body.toString(), /<D:lockdiscovery><\/D:lockdiscovery>/);
    });
  });

  test("a depth-infinity lock on a folder guards what it holds; LOCK of an unmapped name makes an empty file (201)", async () => {
    const dir = site({ "d/a.txt": "a" });
    await withServer(dir, READ_WRITE, async ({ port }) => {
      const token = /<(.*)>/.exec((await lock(port, "/d/")).headers.get("lock-token")!)![1]!;
      assert.equal((await send(port, "PUT", "/d/new.txt", {}, "n")).status, 423);
      assert.equal((await send(port, "DELETE", "/d/a.txt")).status, 423);
      assert.equal((await send(port, "MKCOL", "/d/sub/")).status, 423);
      assert.equal((await send(port, "PUT", "/d/new.txt", { If: `(<${token}>)` }, "n")).status, 201);
      const unmapped = await lock(port, "/fresh.txt");
      assert.equal(unmapped.status, 201);
      assert.equal(readFileSync(join(dir, "fresh.txt"), "utf8"), "");
    });
  });

  test("a form upload (POST) into a locked folder is 423 without the lock's token, 201 with it", async () => {
    const dir = site({ "d/a.txt": "a" });
    await withServer(dir, READ_WRITE, async ({ port }) => {
      const token = /<(.*)>/.exec((await lock(port, "/d/")).headers.get("lock-token")!)![1]!;
      const boundary = "----simplehttp";
      const form = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="b.txt"\r\nContent-Type: text/plain\r\n\r\nb\r\n--${boundary}--\r\n`;
      const post = (headers: Record<string, string>) => send(port, "POST", "/d/", { "Content-Type": `multipart/form-data; boundary=${boundary}`, ...headers }, form);
      assert.equal((await post({})).status, 423);
      assert.equal(existsSync(join(dir, "d", "b.txt")), false);
      assert.equal((await post({ Expect: "100-continue" })).status, 423, "refused before the body is asked for");
      assert.equal((await post({ If: `(<${token}>)` })).status, 201);
      assert.equal(readFileSync(join(dir, "d", "b.txt"), "utf8"), "b");
    });
  });

  test("the If header: Not, entity tags, tagged lists; a malformed one is 400", async () => {
    const dir = site({ "a.txt": "a" });
    await withServer(dir, READ_WRITE, async ({ port }) => {
      const etag = /<D:getetag>(.*?)<\/D:getetag>/.exec((await send(port, "PROPFIND", "/a.txt", { Depth: "0" })).body.toString())![1]!;
      // The tag is size and modification time (ms): the write changes the size, so the tag changes even
      // when both writes land in the same millisecond.
      assert.equal((await send(port, "PUT", "/a.txt", { If: `([${etag}])` }, "bb")).status, 204);
      assert.equal((await send(port, "PUT", "/a.txt", { If: `([${etag}])` }, "c")).status, 412, "the tag changed with the content");
      assert.equal((await send(port, "PUT", "/a.txt", { If: "(Not <DAV:no-lock>)" }, "d")).status, 204);
      assert.equal((await send(port, "PUT", "/a.txt", { If: `<http://127.0.0.1:${port}/a.txt> (<DAV:no-lock>)` }, "e")).status, 412);
      assert.equal((await send(port, "PUT", "/a.txt", { If: "(<unclosed" }, "f")).status, 400);
    });
  });

  test("an If header's resource tag that climbs out of the served folder never matches a file there", async () => {
    const dir = site({ "a.txt": "a" });
    const outside = join(dir, "..", "outside.txt");
    writeFileSync(outside, "secret");
    const tag = fileETag(statSync(outside));
    await withServer(dir, READ_WRITE, async ({ port }) => {
      for (const resource of ["/../outside.txt", `http://127.0.0.1:${port}/%2e%2e/outside.txt`]) {
        const put = await send(port, "PUT", "/a.txt", { If: `<${resource}> ([${tag}])` }, "b");
        assert.equal(put.status, 412, resource);
      }
    });
    assert.equal(readFileSync(join(dir, "a.txt"), "utf8"), "a");
  });

  test("the table is bounded, timeouts are capped, If lists parse", () => {
    const table = new LockTable(2);
    table.create({ path: "/a", urlPath: "/a", depth: 0, scope: "shared", owner: null, seconds: 60 });
    table.create({ path: "/a", urlPath: "/a", depth: 0, scope: "shared", owner: null, seconds: 60 });
    assert.throws(() => table.create({ path: "/b", urlPath: "/b", depth: 0, scope: "shared", owner: null, seconds: 60 }), /2 locks are held/);
    assert.equal(lockSeconds("Infinite, Second-4100000000"), MAX_LOCK_SECONDS);
    assert.equal(lockSeconds("Second-30"), 30);
    assert.deepEqual(parseIfHeader('<http://h/a> (Not <urn:x> ["e"]) (<urn:y>)'), [
      { resource: "http://h/a", conditions: [{ not: true, token: "urn:x" }, { not: false, etag: '"e"' }] },
      { resource: "http://h/a", conditions: [{ not: false, token: "urn:y" }] },
    ]);
  });
});

describe("hostile XML", () => {
  const LAUGHS =
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol9 "&lol3;&lol3;&lol3;">]>' +
    '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol9;</D:displayname></D:prop></D:propfind>';
  const XXE = '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><D:propfind xmlns:D="DAV:"><D:prop>&x;</D:prop></D:propfind>';

  test("entity expansion, external entities, undefined entities, deep nesting: 400; a body over 1 MiB: 413", async () => {
    const dir = site({ "a.txt": "a" });
    await withServer(dir, READ_WRITE, async ({ port }) => {
      const rss = process.memoryUsage().rss;
      for (const body of [LAUGHS, XXE, '<D:propfind xmlns:D="DAV:">&nope;</D:propfind>', "<a>".repeat(100_000), "<a/>".repeat(2), "not xml", "<a><b></a>"]) {
        const response = await send(port, "PROPFIND", "/", { Depth: "0" }, body);
        assert.equal(response.status, 400, body.slice(0, 60));
        assert.doesNotMatch(response.body.toString(), /root:/);
      }
      const proppatch = await send(port, "PROPPATCH", "/a.txt", {}, LAUGHS.replace("propfind", "propertyupdate"));
      assert.equal(proppatch.status, 400);
      const huge = await send(port, "PROPFIND", "/", { Depth: "0" }, "<a>" + "x".repeat(2 * 1024 * 1024) + "</a>");
      assert.equal(huge.status, 413);
      const chunked = await send(port, "LOCK", "/a.txt", { "Transfer-Encoding": "chunked" }, `200000\r\n${"<".repeat(0x200000)}\r\n0\r\n\r\n`);
      assert.equal(chunked.status, 413);
      assert.ok(process.memoryUsage().rss - rss < 64 * 1024 * 1024, "no memory growth to speak of");
    });
  });

  test("the parser alone: no DTD, limits named, escaping", () => {
    assert.throws(() => parseXml(Buffer.from(LAUGHS)), (error: unknown) => error instanceof XmlError && /document type declaration/.test((error as Error).message));
    assert.throws(() => parseXml(Buffer.from("<a>".repeat(65) + "</a>".repeat(65))), /nested more than 64/);
    assert.throws(() => parseXml(Buffer.from("<r>" + "<a/>".repeat(10_001) + "</r>")), /more than 10000 elements/);
    assert.throws(() => parseXml(Buffer.from([0x3c, 0x61, 0xff, 0x2f, 0x3e])), /not UTF-8/);
    assert.equal(parseXml(Buffer.from("  ")), null);
    assert.equal(escapeText("a & <b> \ud800 \x01"), "a &amp; &lt;b&gt; \ufffd \ufffd");
  });
});

describe("with the framework's other features", () => {
  test("auth_scope uploads guards every write method, not PROPFIND", async () => {
    const dir = site({ "a.txt": "a" });
    await withServer(dir, { ...READ_WRITE, auth: ["u:p"], auth_scope: "uploads" }, async ({ port }) => {
      assert.equal((await send(port, "PROPFIND", "/", { Depth: "0" })).status, 207);
      for (const method of ["DELETE", "MKCOL", "MOVE", "COPY", "PROPPATCH", "LOCK", "UNLOCK", "PUT"]) {
        assert.equal((await send(port, method, "/a.txt", { Destination: "/b.txt" })).status, 401, method);
      }
      const basic = "Basic " + Buffer.from("u:p").toString("base64");
      assert.equal((await send(port, "DELETE", "/a.txt", { Authorization: basic })).status, 204);
    });
  });

  test("a subclass keeps the hooks: the class attributes work for code users", async () => {
    class Share extends SimpleHTTPRequestHandler {
      static override webdav = true;
      static override allow_mkdir = true;
    }
    const dir = site();
    const running = await serve(Share.with_directory(dir));
    try {
      const response = await exchange(running.port, "MKCOL /made/ HTTP/1.0\r\n\r\n");
      assert.match(masked(response), /^HTTP\/1\.0 201 Created\r\n/);
      const refused = await exchange(running.port, "DELETE /made/ HTTP/1.0\r\n\r\n");
      assert.match(refused.toString("latin1"), /^HTTP\/1\.0 403 This WebDAV share is read-only/);
    } finally {
      await running.close();
    }
    assert.deepEqual(tree(dir), { "made/": "" });
  });
});
