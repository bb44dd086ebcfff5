/** What the tests of managing files and WebDAV share: folders to serve, a handler, raw requests, the tree on disk. */
import assert from "node:assert/strict";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import { percentFormat } from "../src/py/format.js";
import { locks } from "../src/features/locks.js";
import { deadProperties } from "../src/features/webdav_props.js";
import { exchange, serve, type Running } from "./helpers.js";
import { parseResponses, type Response } from "./hostile.js";

export let root = "";
let count = 0;
/** What the handlers log (`log_message`), formatted. */
export const logged: string[] = [];

before(() => {
  root = mkdtempSync(join(tmpdir(), "simplehttp-dav-"));
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A fresh folder holding `files` (a name ending in `/` is an empty directory), beside an `outside` one. */
export function site(files: Record<string, string> = {}): string {
  const dir = join(root, `site${++count}`, "served");
  mkdirSync(dir, { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    if (path.endsWith("/")) {
      mkdirSync(join(dir, path), { recursive: true });
      continue;
    }
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

export type HandlerOptions = Partial<
  Pick<
    SimpleHTTPRequestHandler,
    | "upload"
    | "upload_overwrite"
    | "allow_delete"
    | "allow_mkdir"
    | "allow_move"
    | "webdav"
    | "webdav_depth_infinity"
    | "dotfiles"
    | "follow_symlinks"
    | "etag"
    | "listing"
    | "auth"
    | "auth_scope"
  >
>;

/** Everything `--webdav rw` turns on. */
export const READ_WRITE: HandlerOptions = { webdav: true, etag: true, upload: true, upload_overwrite: true, allow_delete: true, allow_mkdir: true, allow_move: true };

/** A handler class serving `dir` over HTTP/1.1 with `options`, logging to `logged`. */
export function handlerFor(dir: string, options: HandlerOptions, Base: typeof SimpleHTTPRequestHandler<any> = SimpleHTTPRequestHandler): typeof SimpleHTTPRequestHandler<any> {
  const Handler = class extends Base {
    override log_message(format: string, ...args: unknown[]) {
      logged.push(percentFormat(format, args));
    }
  };
  Object.assign(Handler, { protocol_version: "HTTP/1.1", ...options });
  return Handler.with_directory(dir);
}

/** Runs `body` against a server of `dir` with `options`; locks and dead properties start empty. */
export async function withServer(
  dir: string,
  options: HandlerOptions,
  body: (server: Running) => Promise<void>,
  Base?: typeof SimpleHTTPRequestHandler<any>,
): Promise<void> {
  locks.clear();
  deadProperties.clear();
  logged.length = 0;
  const server = await serve(handlerFor(dir, options, Base));
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

/** One request on its own connection (`Connection: close`), and its response. */
export async function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body: string | Buffer = "",
): Promise<Response> {
  const lines = [`${method} ${path} HTTP/1.1`, "Host: 127.0.0.1:" + port, "Connection: close"];
  const data = Buffer.from(body);
  if (data.length > 0 && !("Transfer-Encoding" in headers)) lines.push(`Content-Length: ${data.length}`);
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  const reply = await exchange(port, Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1"), data]), { timeoutMs: 10_000 });
  const { responses, error } = parseResponses(reply);
  assert.ok(responses.length > 0, `no response (${error}): ${JSON.stringify(reply.toString("latin1").slice(0, 300))}`);
  return responses[0]!;
}

/** The message of Python's error page (`Message: …`), or the status line when there is none. */
export function messageOf(response: Response): string {
  return /<p>Message: ([^<]*)\.<\/p>/.exec(response.body.toString())?.[1] ?? response.statusLine;
}

/** Every path under `dir` with what it holds (a file's content, a link's target, `dir/`), to compare before and after. */
export function tree(dir: string): Record<string, string> {
  const entries: Record<string, string> = {};
  const visit = (path: string, rel: string) => {
    for (const name of readdirSync(path).sort()) {
      const full = join(path, name);
      const relative = rel ? `${rel}/${name}` : name;
      const stats = lstatSync(full);
      if (stats.isSymbolicLink()) entries[relative] = `-> ${readlinkSync(full)}`;
      else if (stats.isDirectory()) {
        entries[relative + "/"] = "";
        visit(full, relative);
      } else entries[relative] = readFileSync(full, "latin1");
    }
  };
  visit(dir, "");
  return entries;
}
