/**
 * HTTP Basic authentication (src/features/auth.ts): every request without the credentials gets 401
 * before it touches a file or has its body read; the right ones pass; the password is never
 * logged; failed attempts from one address are limited; `auth_scope = "uploads"` guards writes only.
 */
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { HTTPMessage } from "../src/http/message.js";
import {
  CHALLENGE,
  FAILURES_ALLOWED,
  FailedLogins,
  InvalidCredentialError,
  addressKey,
  basicCredentials,
  checkCredential,
  checkCredentials,
  matchesAny,
  parseAuthFile,
} from "../src/features/auth.js";
import { captureStderr, exchange, serve, type Running } from "./helpers.js";
import { collect, openSocket, parseResponses, type Response } from "./hostile.js";

let root = "";

before(() => {
  root = mkdtempSync(join(tmpdir(), "simplehttp-auth-"));
  writeFileSync(join(root, "secret.txt"), "the secret\n");
});

after(() => rmSync(root, { recursive: true, force: true }));

const USERS = ["alice:correct horse", "bøb:pässwörd:with:colons"];
const basic = (pair: string) => `Authorization: Basic ${Buffer.from(pair, "utf8").toString("base64")}`;

type Options = Partial<Pick<SimpleHTTPRequestHandler, "auth" | "auth_scope" | "cors" | "upload">>;

/** A handler class with `auth = USERS` and `options`; quiet unless `logging`. */
function guarded(options: Options = {}, logging = false) {
  const Handler = logging
    ? class extends SimpleHTTPRequestHandler {}
    : class extends SimpleHTTPRequestHandler {
        override log_message() {}
      };
  Object.assign(Handler, { auth: USERS, protocol_version: "HTTP/1.1", ...options });
  return Handler.with_directory(root);
}

async function withServer(options: Options, run: (server: Running) => Promise<void>) {
  const server = await serve(guarded(options));
  try {
    await run(server);
  } finally {
    await server.close();
  }
}

/** One request (`Connection: close` added), from `localAddress` when given; its last response. */
async function request(port: number, head: string, body = "", localAddress?: string): Promise<Response> {
  const data = localAddress ? await exchangeFrom(port, localAddress, head, body) : await exchange(port, `${head}Connection: close\r\n\r\n${body}`);
  const { responses, error } = parseResponses(data);
  assert.ok(responses.length > 0, `no response (${error}): ${JSON.stringify(data.toString("latin1"))}`);
  return responses[responses.length - 1]!;
}

function exchangeFrom(port: number, localAddress: string, head: string, body: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ port, host: "127.0.0.1", localAddress });
    socket.on("connect", () => socket.write(`${head}Connection: close\r\n\r\n${body}`));
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks)));
  });
}

describe("the check, on the wire", () => {
  test("without credentials every request is 401 with the challenge: GET, HEAD, PUT, POST, OPTIONS, an unknown method", async () => {
    await withServer({ upload: true }, async ({ port }) => {
      const head = (await exchange(port, "HEAD /secret.txt HTTP/1.1\r\nHost: x\r\n\r\n")).toString("latin1");
      assert.match(head, /^HTTP\/1\.1 401 Unauthorized\r\n/);
      assert.ok(head.includes(`\r\nWWW-Authenticate: ${CHALLENGE}\r\n`) && head.endsWith("\r\n\r\n"), "HEAD: the headers alone");
      for (const method of ["GET", "PUT", "POST", "OPTIONS", "BREW"]) {
        const response = await request(port, `${method} /secret.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n`);
        assert.equal(response.statusLine, "HTTP/1.1 401 Unauthorized", method);
        assert.equal(response.headers.get("www-authenticate"), CHALLENGE);
        assert.ok(!response.body.toString().includes("secret"));
      }
      assert.deepEqual(readdirSync(root), ["secret.txt"]);
    });
  });

  test('the challenge is Basic realm="simplehttp", charset="UTF-8"', () => {
    assert.equal(CHALLENGE, 'Basic realm="simplehttp", charset="UTF-8"');
  });

  test("the right credentials (UTF-8, a password with colons) are served as usual; wrong, malformed or doubled ones are 401", async () => {
    await withServer({}, async ({ port }) => {
      for (const pair of USERS) {
        const response = await request(port, `GET /secret.txt HTTP/1.1\r\nHost: x\r\n${basic(pair)}\r\n`);
        assert.equal(response.status, 200, pair);
        assert.equal(response.body.toString(), "the secret\n");
      }
      const lower = await request(port, `GET /secret.txt HTTP/1.1\r\nHost: x\r\n${basic(USERS[0]!).replace("Basic", "bAsIc")}\r\n`);
      assert.equal(lower.status, 200, "the scheme is case-insensitive");
      for (const header of [
        basic("alice:wrong"),
        basic("Alice:correct horse"),
        basic("alice:correct horse "),
        "Authorization: Bearer abc",
        "Authorization: Basic !!!",
        "Authorization: Basic",
        `${basic(USERS[0]!)}\r\n${basic(USERS[0]!)}`,
      ]) {
        const response = await request(port, `GET /secret.txt HTTP/1.1\r\nHost: x\r\n${header}\r\n`, "", "127.0.0.9");
        assert.equal(response.status, 401, header);
      }
    });
  });

  test("an HTTP/0.9 request (no headers, so no credentials) gets the error page, not the file", async () => {
    await withServer({}, async ({ port }) => {
      const reply = await exchange(port, "GET /secret.txt\r\n");
      assert.ok(reply.toString().includes("Error code: 401"));
      assert.ok(!reply.toString().includes("the secret"));
    });
  });

  test("401 comes before 100 Continue: the body of a refused upload is never asked for", async () => {
    await withServer({ upload: true }, async ({ port }) => {
      const socket = await openSocket(port);
      const reply = collect(socket);
      socket.write("PUT /x.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n");
      const data = (await reply.closed).toString("latin1");
      assert.match(data, /^HTTP\/1\.1 401 Unauthorized\r\n/);
      assert.ok(!data.includes("100 Continue"));
      assert.deepEqual(readdirSync(root), ["secret.txt"]);
    });
  });

  test("a CORS preflight passes without credentials when cors is on (browsers never send them with one); other OPTIONS need them", async () => {
    await withServer({ cors: true }, async ({ port }) => {
      const preflight = await request(port, "OPTIONS /secret.txt HTTP/1.1\r\nHost: x\r\nOrigin: http://a.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: authorization\r\n");
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get("access-control-allow-headers"), "authorization");
      assert.equal((await request(port, "OPTIONS /secret.txt HTTP/1.1\r\nHost: x\r\n")).status, 401);
    });
    await withServer({ cors: false }, async ({ port }) => {
      const preflight = await request(port, "OPTIONS /secret.txt HTTP/1.1\r\nHost: x\r\nOrigin: http://a.example\r\nAccess-Control-Request-Method: GET\r\n");
      assert.equal(preflight.status, 401);
    });
  });

  test('auth_scope = "uploads": reading is open, PUT and POST need the credentials', async () => {
    await withServer({ auth_scope: "uploads", upload: true }, async ({ port }) => {
      assert.equal((await request(port, "GET /secret.txt HTTP/1.1\r\nHost: x\r\n")).status, 200);
      assert.equal((await request(port, "GET / HTTP/1.1\r\nHost: x\r\n")).status, 200);
      const refused = await request(port, "PUT /up.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n", "hi");
      assert.equal(refused.status, 401);
      assert.equal((await request(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n")).status, 401);
      const accepted = await request(port, `PUT /up.txt HTTP/1.1\r\nHost: x\r\n${basic(USERS[0]!)}\r\nContent-Length: 2\r\n`, "hi");
      assert.equal(accepted.status, 201);
    });
    rmSync(join(root, "up.txt"));
  });

  test("the password, and the credentials as sent, are never logged; the log line is Python's", async () => {
    const stderr = captureStderr();
    try {
      const Handler = guarded({}, true);
      const server = await serve(Handler);
      try {
        await request(server.port, `GET /secret.txt HTTP/1.1\r\nHost: x\r\n${basic("alice:correct horse")}\r\n`);
        await request(server.port, `GET /secret.txt HTTP/1.1\r\nHost: x\r\n${basic("alice:hunter2")}\r\n`, "", "127.0.0.10");
      } finally {
        await server.close();
      }
    } finally {
      stderr.restore();
    }
    const text = stderr.text();
    for (const secret of ["correct horse", "hunter2", Buffer.from("alice:hunter2").toString("base64"), "alice"]) {
      assert.ok(!text.includes(secret), `${secret} in ${text}`);
    }
    assert.match(text, /"GET \/secret\.txt HTTP\/1\.1" 200 -/);
    assert.match(text, /code 401, message Unauthorized/);
  });

  test(`brute force: after ${FAILURES_ALLOWED} failures an address gets 429 with Retry-After, even with the right password; another address does not`, async () => {
    await withServer({}, async ({ port }) => {
      const attacker = "127.0.0.2";
      for (let i = 0; i < FAILURES_ALLOWED; i++) {
        const response = await request(port, `GET /secret.txt HTTP/1.1\r\nHost: x\r\n${basic(`alice:guess${i}`)}\r\n`, "", attacker);
        assert.equal(response.status, 401, `attempt ${i + 1}`);
      }
      const locked = await request(port, `GET /secret.txt HTTP/1.1\r\nHost: x\r\n${basic(USERS[0]!)}\r\n`, "", attacker);
      assert.equal(locked.statusLine, "HTTP/1.1 429 Too many failed logins from this address; try again in 6 seconds");
      assert.equal(locked.headers.get("retry-after"), "6");
      assert.ok(!locked.body.toString().includes("secret\n"));
      const other = await request(port, `GET /secret.txt HTTP/1.1\r\nHost: x\r\n${basic(USERS[0]!)}\r\n`, "", "127.0.0.3");
      assert.equal(other.status, 200);
      // A request with no credentials at all (a browser's first) is not a failure.
      for (let i = 0; i < FAILURES_ALLOWED + 2; i++) {
        assert.equal((await request(port, "GET /secret.txt HTTP/1.1\r\nHost: x\r\n", "", "127.0.0.4")).status, 401);
      }
      assert.equal((await request(port, `GET /secret.txt HTTP/1.1\r\nHost: x\r\n${basic(USERS[1]!)}\r\n`, "", "127.0.0.4")).status, 200);
    });
  });
});

describe("the parts", () => {
  test("checkCredential: USER:PASSWORD, the first colon separating them; empty parts and control characters refused", () => {
    assert.equal(checkCredential("a:b:c"), "a:b:c");
    for (const [text, message] of [
      ["nocolon", "expected USER:PASSWORD"],
      [":pw", "the user name is empty"],
      ["user:", "the password is empty"],
      ["us\ter:pw", "a control character in the user name or password"],
    ] as const) {
      assert.throws(() => checkCredential(text), (error) => error instanceof InvalidCredentialError && error.message === message);
    }
  });

  test("checkCredentials checks a list once, naming a bad entry by its position; a handler refuses to start with one", () => {
    const list = ["a:b", "c:d"];
    assert.equal(checkCredentials(list), list);
    assert.equal(checkCredentials(null), null);
    assert.throws(() => checkCredentials(["a:b", "hunter2"]), (error) => error instanceof InvalidCredentialError && error.message === "auth[1]: expected USER:PASSWORD");
    assert.throws(() => checkCredentials("a:b" as unknown as string[]), /a list of USER:PASSWORD strings/);
    const Bad = class extends SimpleHTTPRequestHandler {};
    Bad.auth = ["nopassword"];
    assert.throws(() => new Bad(null as never, ["127.0.0.1", 1], null as never), InvalidCredentialError);
  });

  test("parseAuthFile: lines of pairs, comments and blank lines skipped, CRLF taken; a bad line named by number, never shown", () => {
    assert.deepEqual(parseAuthFile("# users\nalice:pw1\r\n\n  \nbob:pw:2\n"), ["alice:pw1", "bob:pw:2"]);
    assert.throws(
      () => parseAuthFile("alice:pw1\nsecretpassword\n"),
      (error) => error instanceof InvalidCredentialError && error.message === "line 2: expected USER:PASSWORD",
    );
    assert.throws(() => parseAuthFile("# nothing\n"), /no USER:PASSWORD line/);
  });

  test("basicCredentials decodes one Basic header, and nothing else", () => {
    const headers = (...lines: string[]) => {
      const message = new HTTPMessage();
      for (const line of lines) message.add(line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1).trim());
      return message;
    };
    assert.equal(basicCredentials(headers(basic("a:b")))?.toString(), "a:b");
    assert.equal(basicCredentials(headers("Authorization: Basic  YTpi "))?.toString(), "a:b", "spaces around the token");
    for (const value of ["Basic", "Basic YTpi=", "Basic Y*pi", "Digest YTpi", "YTpi"]) {
      assert.equal(basicCredentials(headers(`Authorization: ${value}`)), null, value);
    }
    assert.equal(basicCredentials(headers()), null);
  });

  test("matchesAny compares against every pair, by bytes", () => {
    assert.ok(matchesAny(Buffer.from("bøb:pässwörd:with:colons"), USERS));
    assert.ok(!matchesAny(Buffer.from("bøb:pässwörd:with:colons", "latin1"), USERS));
    assert.ok(!matchesAny(Buffer.from(""), USERS));
  });

  test("addressKey: IPv4 as is (also mapped into IPv6), IPv6 by its /64", () => {
    assert.equal(addressKey("192.0.2.1"), "192.0.2.1");
    assert.equal(addressKey("::ffff:192.0.2.1"), "192.0.2.1");
    assert.equal(addressKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
    assert.equal(addressKey("2001:db8:1:2::7"), "2001:db8:1:2::/64");
    assert.equal(addressKey("2001:0db8:0001:0002:ffff::"), "2001:db8:1:2::/64");
    assert.equal(addressKey("::1"), "0:0:0:0::/64");
  });

  test("FailedLogins: the 11th failure waits, the level drains one attempt per cooldown, the table stays bounded", () => {
    const failures = new FailedLogins(10, 6000, 3);
    const t0 = 1_000_000;
    for (let i = 0; i < 9; i++) failures.failed("a", t0);
    assert.equal(failures.waitSeconds("a", t0), 0);
    failures.failed("a", t0);
    assert.equal(failures.waitSeconds("a", t0), 6);
    assert.equal(failures.waitSeconds("a", t0 + 3000), 3);
    assert.equal(failures.waitSeconds("a", t0 + 6000), 0);
    failures.failed("a", t0 + 6000);
    assert.equal(failures.waitSeconds("a", t0 + 6000), 6);
    assert.equal(failures.waitSeconds("a", t0 + 66_000), 0);
    for (const key of ["b", "c", "d"]) failures.failed(key, t0);
    assert.equal(failures.size, 3);
    assert.equal(failures.waitSeconds("a", t0 + 6000), 0, "the one unseen longest was forgotten");
  });
});
