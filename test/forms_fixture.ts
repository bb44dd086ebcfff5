/**
 * Handlers that read forms, shared by the form tests and the browser test: one that reports
 * every part it saw as JSON, and an upload handler that writes each file atomically into a
 * folder (a temporary name, then a link to the final name that never replaces a file).
 */
import { createWriteStream, linkSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { randomBytes } from "node:crypto";
import { basename, join } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BaseHTTPRequestHandler } from "../src/server/base_handler.js";
import { SimpleHTTPRequestHandler } from "../src/server/simple_handler.js";
import type { FormOptions } from "../src/server/forms.js";

export interface SeenPart {
  type: "field" | "file";
  name: string;
  value?: string;
  filename?: string;
  mimeType: string;
  size?: number;
  sha?: string;
}

/** Counts a stream's bytes without keeping them. */
function counter(): Writable & { bytes: number } {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      sink.bytes += chunk.length;
      done();
    },
  }) as Writable & { bytes: number };
  sink.bytes = 0;
  return sink;
}

/** Answers a form with the parts it had, as JSON (file contents counted, not kept). */
export class FormReporter extends BaseHTTPRequestHandler {
  static options: FormOptions = {};
  override protocol_version = "HTTP/1.1";

  async do_POST() {
    const parts: SeenPart[] = [];
    for await (const part of this.form((this.constructor as typeof FormReporter).options)) {
      if (part.type === "field") {
        parts.push({ type: "field", name: part.name, value: part.value, mimeType: part.mimeType });
      } else {
        const sink = counter();
        await pipeline(part.stream, sink);
        parts.push({ type: "file", name: part.name, filename: part.filename, mimeType: part.mimeType, size: sink.bytes });
      }
    }
    await this.reply(200, "application/json", JSON.stringify(parts));
  }

  /** A page with a form that posts here (for the browser). */
  async do_GET() {
    await this.reply(
      200,
      "text/html; charset=utf-8",
      '<!DOCTYPE html><html><body><form method="post" enctype="multipart/form-data" action="/upload">' +
        '<input name="title" id="title"><input type="file" name="files" id="files" multiple>' +
        '<button id="send">Send</button></form></body></html>',
    );
  }

  async reply(code: number, type: string, text: string) {
    const body = Buffer.from(text);
    this.send_response(code);
    this.send_header("Content-Type", type);
    this.send_header("Content-Length", body.length);
    await this.end_headers();
    await this.wfile.write(body);
  }
}

/**
 * What the command line's upload feature will do: each file of a POSTed form lands in the served
 * folder under its own (base) name, written to a temporary file first and linked into place, so
 * a reader never sees half a file and an existing file is never replaced (409).
 */
export class UploadHandler extends SimpleHTTPRequestHandler {
  async do_POST() {
    const folder = this.directory;
    const saved: string[] = [];
    for await (const part of this.form({ fileSize: 1 << 30 })) {
      if (part.type !== "file") continue;
      const name = basename(part.filename ?? "");
      if (!name || name.startsWith(".")) {
        part.stream.resume();
        await this.send_error(400, "Bad file name");
        return;
      }
      const temporary = join(folder, `.upload-${randomBytes(6).toString("hex")}`);
      try {
        await pipeline(part.stream, createWriteStream(temporary, { flags: "wx" }));
        linkSync(temporary, join(folder, name)); // fails with EEXIST rather than replace
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        await this.send_error(409, `${name} exists`);
        return;
      } finally {
        rmSync(temporary, { force: true });
      }
      saved.push(name);
    }
    const body = Buffer.from(saved.join("\n") + "\n");
    this.send_response(201);
    this.send_header("Content-Length", body.length);
    await this.end_headers();
    await this.wfile.write(body);
  }
}

/** A fresh folder under the system's temporary directory. */
export function temporaryFolder(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
