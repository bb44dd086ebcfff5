/**
 * Files written whole or not at all, for uploads (`--upload`, class attribute
 * `SimpleHTTPRequestHandler.upload = true`; the requests are handled in upload.ts).
 *
 * An upload is written to a temporary file beside its target — `.simplehttp-upload-<pid>-<16 hex
 * digits>.part`, created with `O_EXCL | O_NOFOLLOW`, so it is always a new regular file and never a
 * link someone planted — and put in place only once complete, its length checked and its data
 * flushed to the disk: by `link()` when the target must not exist (atomic, and it fails if another
 * upload put a file there meanwhile), by `rename()` when it may be replaced (atomic too: a reader
 * sees the old file or the new one, never a mix). Until then nobody sees the file under its name.
 *
 * What is left behind on a failure: nothing. A failed or abandoned upload removes its temporary
 * file; the ones still open when the process exits (a shutdown, a second Ctrl-C) are removed by
 * an exit hook; the ones a killed process left are removed at the next start
 * (`removeStaleUploads`): their name holds the pid of a process that no longer runs.
 *
 * Memory: bytes are written in batches of at most `BATCH_BYTES`, one batch on its way to the disk
 * while the next is gathered, so an upload holds two batches at most, whatever its size.
 */
import { constants, unlinkSync, type Stats } from "node:fs";
import { link, lstat, open, opendir, rename, unlink, type FileHandle } from "node:fs/promises";

import * as posixpath from "../py/posixpath.js";
import { fsPath } from "../py/codecs.js";

/** The start of every temporary file's name (a dotfile: hidden with `--no-dotfiles`). */
export const TEMP_PREFIX = ".simplehttp-upload-";
const TEMP_NAME = /^\.simplehttp-upload-(\d+)-[0-9a-f]{16}\.part$/;

/** Bytes gathered before they are handed to the disk in one `writev`. */
export const BATCH_BYTES = 1024 * 1024;

/** Whether `name` (a file name, or a path ending in one) is one of our temporary files. */
export function isUploadTemp(name: string): boolean {
  return TEMP_NAME.test(name.slice(name.lastIndexOf("/") + 1));
}

/** A new temporary name for this process. */
function tempName(): string {
  return `${TEMP_PREFIX}${process.pid}-${process.getBuiltinModule("node:crypto").randomBytes(8).toString("hex")}.part`;
}

/** The target exists (and was not to be replaced), or cannot be replaced (a directory). */
export class TargetExistsError extends Error {
  override name = "TargetExistsError";
}

/** The bytes on disk are not the bytes announced: the upload is not put in place. */
export class LengthMismatchError extends Error {
  override name = "LengthMismatchError";
}

/** Temporary files of this process still open: removed at exit, whatever stops the process. */
const liveTemps = new Set<string>();
let exitHookInstalled = false;

function track(path: string): void {
  liveTemps.add(path);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const temp of liveTemps) {
      try {
        unlinkSync(fsPath(temp));
      } catch {
        // gone already
      }
    }
  });
}

/** How many temporary files this process has open (for tests). */
export function openUploadCount(): number {
  return liveTemps.size;
}

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * One file being written: `create()` in the target's directory, `write()` the bytes, then
 * `commit()` to put it in place or `abort()` to leave nothing.
 */
export class AtomicFile {
  /** Bytes handed to `write()` so far. */
  written = 0;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  /** The batch on its way to the disk, if any. */
  private inFlight: Promise<void> | null = null;
  private handle: FileHandle | null;
  private finished = false;

  private constructor(
    /** The temporary file's path. */
    readonly tempPath: string,
    handle: FileHandle,
  ) {
    this.handle = handle;
  }

  /** A new, empty temporary file in `directory` (mode 0666 less the umask, as any new file). */
  static async create(directory: string): Promise<AtomicFile> {
    for (;;) {
      const path = posixpath.join(directory, tempName());
      try {
        const handle = await open(fsPath(path), CREATE_FLAGS, 0o666);
        track(path);
        return new AtomicFile(path, handle);
      } catch (error) {
        // 64 random bits colliding means someone made the name on purpose: take another.
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
    }
  }

  /** Adds `chunk`; waits only when a full batch must wait for the one before it. */
  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    this.written += chunk.length;
    if (this.batchBytes >= BATCH_BYTES) await this.flushBatch();
  }

  /** Sends the gathered batch on its way, after the previous one has landed. */
  private async flushBatch(): Promise<void> {
    if (this.inFlight) await this.settle();
    if (this.batchBytes === 0) return;
    const batch = this.batch;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.inFlight = writeAll(this.handle!, batch, bytes);
    // Its failure is reported by the next write or by commit; never an unhandled rejection.
    this.inFlight.catch(() => {});
  }

  private async settle(): Promise<void> {
    const pending = this.inFlight;
    this.inFlight = null;
    await pending;
  }

  /**
   * Puts the file in place as `target`: after its last bytes and a flush to the disk, and only if
   * `expectedLength` (when given) is what was written and what the disk holds. Without
   * `overwrite`, an existing `target` (even one that appeared during the upload) is a
   * `TargetExistsError`; with it, only a regular file may be replaced. Returns whether a file was
   * replaced. On any failure the temporary file is removed.
   */
  async commit(target: string, { overwrite, expectedLength }: { overwrite: boolean; expectedLength?: number | null }): Promise<boolean> {
    try {
      await this.flushBatch();
      await this.settle();
      const handle = this.handle!;
      const { size } = await handle.stat();
      if (size !== this.written || (expectedLength != null && size !== expectedLength)) {
        throw new LengthMismatchError(`${size} bytes written, ${expectedLength ?? this.written} expected`);
      }
      await handle.datasync();
      await this.closeHandle();
      const replaced = overwrite ? await this.replace(target) : await this.linkNew(target);
      this.forget();
      return replaced;
    } catch (error) {
      await this.abort();
      throw error;
    }
  }

  /** `rename()` over a regular file or nothing; true when a file was replaced. */
  private async replace(target: string): Promise<boolean> {
    const existing = await lstatOrNull(target);
    if (existing && !existing.isFile()) throw new TargetExistsError(`${target} exists and is not a regular file`);
    await rename(fsPath(this.tempPath), fsPath(target));
    return existing !== null;
  }

  /**
   * `link()` then removes the temporary name: fails if `target` exists, whoever made it and when.
   * A file system without hard links (FAT, some network ones) falls back to a check and a
   * `rename()`, which another writer could race.
   */
  private async linkNew(target: string): Promise<boolean> {
    try {
      await link(fsPath(this.tempPath), fsPath(target));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EEXIST") throw new TargetExistsError(`${target} exists`);
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EMLINK") throw error;
      if ((await lstatOrNull(target)) !== null) throw new TargetExistsError(`${target} exists`);
      await rename(fsPath(this.tempPath), fsPath(target));
      return false;
    }
    await unlink(fsPath(this.tempPath)).catch(() => {});
    return false;
  }

  /** Removes the temporary file (once; safe to call at any point). */
  async abort(): Promise<void> {
    if (this.finished) return;
    await this.inFlight?.catch(() => {});
    this.inFlight = null;
    this.batch = [];
    await this.closeHandle().catch(() => {});
    await unlink(fsPath(this.tempPath)).catch(() => {});
    this.forget();
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }

  private forget(): void {
    this.finished = true;
    liveTemps.delete(this.tempPath);
  }
}

/** Writes every byte of `chunks` (a `writev` may write fewer; the rest is written again). */
async function writeAll(handle: FileHandle, chunks: Buffer[], bytes: number): Promise<void> {
  let { bytesWritten } = await handle.writev(chunks);
  while (bytesWritten < bytes) {
    const rest = Buffer.concat(chunks).subarray(bytesWritten);
    bytesWritten += (await handle.write(rest)).bytesWritten;
  }
}

/** `lstat`, or null where it fails (nothing there, a path that cannot be reached). */
export async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(fsPath(path));
  } catch {
    return null;
  }
}

/**
 * Whether the temporary file at `path`, made by process `pid`, may still be written: its process
 * runs (a signal 0 reaches it, or it is someone else's). A pid equal to ours is stale unless the
 * file is one of ours: a server restarted in a container often gets the same pid again.
 */
function isInUse(path: string, pid: number): boolean {
  if (pid === process.pid) return liveTemps.has(path);
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Bounds of the startup sweep: a huge tree is not walked to its end. */
export interface SweepOptions {
  /** The most directories visited. @default 10000 */
  maxDirectories?: number;
}

/**
 * Removes the temporary files of uploads that a process which no longer runs left under
 * `directory` (killed, or the machine stopped, mid-upload), walking the tree without following
 * links, at most `maxDirectories` directories. Returns the paths removed. Files of a process still
 * running (another server on the same folder, a `--workers` sibling) are left alone.
 */
export async function removeStaleUploads(directory: string, { maxDirectories = 10_000 }: SweepOptions = {}): Promise<string[]> {
  const removed: string[] = [];
  const queue = [directory];
  for (let visited = 0; queue.length > 0 && visited < maxDirectories; visited++) {
    const current = queue.shift()!;
    let dir;
    try {
      dir = await opendir(current);
    } catch {
      continue;
    }
    for await (const entry of dir) {
      const path = posixpath.join(current, entry.name);
      if (entry.isDirectory()) {
        queue.push(path);
        continue;
      }
      const match = TEMP_NAME.exec(entry.name);
      if (!match || !entry.isFile() || isInUse(path, Number(match[1]))) continue;
      try {
        await unlink(path);
        removed.push(path);
      } catch {
        // removed meanwhile, or not ours to remove
      }
    }
  }
  return removed;
}
