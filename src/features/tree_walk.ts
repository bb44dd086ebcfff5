/**
 * Walking a served directory tree as serving would show it: the shared walk of `--archive`
 * (archive.ts, class attribute `archive`) and `--search` (search.ts, class attribute `search`).
 *
 * A walk never goes where a request could not: names starting with `.` under `dotfiles = false`
 * (but `/.well-known/` at the root), symbolic links whose real path leaves the served directory
 * under `follow_symlinks = false`, the temporary files of uploads in progress, and a CGI handler's
 * `cgi_directories` (their files run as scripts; their source is never served). These are left
 * out silently, as serving answers them with a 404. What cannot be read — a symbolic link loop, a
 * broken link, an unreadable directory — is reported (`WalkProblem`) and the walk goes on.
 *
 * Directories are read asynchronously; the entries' `stat` and a link's `realpath` are
 * synchronous, as serving's are (a microsecond or two each against ten and more through libuv's
 * pool; docs/ARCHITECTURE.md, "Performance"), and the walk yields to the event loop every `SLICE`
 * entries, so a walk of a huge directory never holds up other requests for more than a slice.
 *
 * Links are otherwise followed, as serving follows them, and a directory already on the path
 * being walked (a link back to an ancestor) is a loop: reported, not entered.
 */
import { readdir } from "node:fs/promises";
import { realpathSync, statSync, type Dirent, type Stats } from "node:fs";
import { statOrNull } from "../server/listdir.js";
import { setImmediate as nextTurn } from "node:timers/promises";
import { fsdecode, fsencode, fsPath } from "../py/codecs.js";
import { WELL_KNOWN, isDotName } from "./dotfiles.js";
import { isWithin } from "./symlinks.js";
import { isUploadTemp } from "./atomic_write.js";

/** What the walk must respect: the handler's own settings. */
export interface WalkRules {
  /** The served directory (the handler's `directory`). */
  root: string;
  /** `dotfiles`: false leaves names starting with `.` out. */
  dotfiles: boolean;
  /** `follow_symlinks`: false leaves out links whose real path is outside `root`. */
  follow_symlinks: boolean;
  /** A CGI handler's `cgi_directories` (URL paths such as `/cgi-bin`), left out whole. */
  cgi_directories?: readonly string[] | null;
}

/** One entry met: a directory (yielded before what it holds), a file, or something else. */
export interface WalkEntry {
  kind: "directory" | "file" | "other";
  /** The path on disk. */
  path: string;
  /** Its name segments from the directory the walk started in. */
  relative: readonly string[];
  /** Whether the entry is a symbolic link (followed). */
  isLink: boolean;
  /** Its `stat` (following links); null when `stats: false` and it is not a directory. */
  stats: Stats | null;
}

/** An entry that could not be walked, and why: it is left out, and the caller says so. */
export interface WalkProblem {
  kind: "problem";
  relative: readonly string[];
  reason: string;
}

export interface WalkOptions {
  /** Stat every entry (the archive needs sizes and times); else only links and directories. @default true */
  stats?: boolean;
  /** Stops the walk (a client gone, a time limit). */
  signal?: AbortSignal;
}

/** Entries handled between two turns of the event loop. */
export const SLICE = 256;

/** Why a `stat` failed, in words for the archive's note and the log. */
const STAT_FAILURES: Readonly<Record<string, string>> = {
  ELOOP: "symbolic link loop",
  ENOENT: "broken symbolic link, or removed while walking",
  EACCES: "permission denied",
  EPERM: "permission denied",
  ENAMETOOLONG: "path too long",
};

/** A failure in words. */
export function describeFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code ?? "";
  return STAT_FAILURES[code] ?? ((error as Error | null)?.message || String(error));
}

/**
 * Walks the directory `start`, whose URL path from the served root has the decoded segments
 * `startWords`, depth first, each directory's names in code-point order. The start directory
 * itself is not yielded.
 */
export async function* walkTree(start: string, startWords: readonly string[], rules: WalkRules, options: WalkOptions = {}): AsyncGenerator<WalkEntry | WalkProblem> {
  const walker = new Walker(rules, options);
  let startStats: Stats;
  try {
    startStats = statSync(fsPath(start));
  } catch (error) {
    yield { kind: "problem", relative: [], reason: describeFailure(error) };
    return;
  }
  yield* walker.directory(start, startWords, [], [identity(startStats)]);
}

/** A directory's identity, to recognise it when a link leads back to it. */
function identity(stats: Stats): string {
  return `${stats.dev}:${stats.ino}`;
}

class Walker {
  private readonly wantStats: boolean;
  private realRoot: Buffer | null = null;
  private sinceTurn = 0;

  constructor(
    private readonly rules: WalkRules,
    private readonly options: WalkOptions,
  ) {
    this.wantStats = options.stats ?? true;
  }

  async *directory(path: string, words: readonly string[], relative: readonly string[], ancestors: readonly string[]): AsyncGenerator<WalkEntry | WalkProblem> {
    let dirents: Dirent[];
    try {
      dirents = (await readdir(fsencode(path), { withFileTypes: true, encoding: "buffer" })) as unknown as Dirent[];
    } catch (error) {
      yield { kind: "problem", relative, reason: `cannot read the directory: ${describeFailure(error)}` };
      return;
    }
    const named = dirents.map((dirent) => ({ dirent, name: fsdecode(dirent.name as unknown as Buffer) }));
    named.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const base = path.endsWith("/") ? path : path + "/";
    for (const { dirent, name } of named) {
      if (this.options.signal?.aborted) return;
      if (++this.sinceTurn >= SLICE) {
        this.sinceTurn = 0;
        await nextTurn();
        if (this.options.signal?.aborted) return;
      }
      const entryWords = [...words, name];
      if (this.hidden(name, entryWords)) continue;
      const full = base + name;
      const entryRelative = [...relative, name];
      const isLink = dirent.isSymbolicLink();
      if (isLink && !this.rules.follow_symlinks && this.leadsOut(full)) continue;
      const known = dirent.isDirectory() || dirent.isFile();
      let stats: Stats | null = null;
      if (this.wantStats || isLink || !known) {
        try {
          stats = statSync(fsPath(full));
        } catch (error) {
          yield { kind: "problem", relative: entryRelative, reason: describeFailure(error) };
          continue;
        }
      }
      const isDirectory = stats ? stats.isDirectory() : dirent.isDirectory();
      if (!isDirectory) {
        const isFile = stats ? stats.isFile() : dirent.isFile();
        yield { kind: isFile ? "file" : "other", path: full, relative: entryRelative, isLink, stats };
        continue;
      }
      stats ??= statOrNull(full);
      if (stats === null) continue; // removed meanwhile
      const id = identity(stats);
      if (ancestors.includes(id)) {
        yield { kind: "problem", relative: entryRelative, reason: "symbolic link loop (leads back to a folder above it)" };
        continue;
      }
      yield { kind: "directory", path: full, relative: entryRelative, isLink, stats };
      yield* this.directory(full, entryWords, entryRelative, [...ancestors, id]);
    }
  }

  /** Left out as serving refuses it: a dotfile, an upload's temporary file, a CGI directory. */
  private hidden(name: string, words: readonly string[]): boolean {
    if (!this.rules.dotfiles && isDotName(name) && !(words.length === 1 && name === WELL_KNOWN)) return true;
    if (isUploadTemp(name)) return true;
    const cgi = this.rules.cgi_directories;
    return !!cgi && cgi.length > 0 && cgi.includes("/" + words.join("/"));
  }

  /** Whether the link at `path` resolves outside the served directory (a broken link: no). */
  private leadsOut(path: string): boolean {
    let real: Buffer;
    try {
      real = realpathSync(fsencode(path), { encoding: "buffer" });
    } catch {
      return false; // reported as a problem by the stat that follows
    }
    try {
      this.realRoot ??= realpathSync(fsencode(this.rules.root), { encoding: "buffer" });
    } catch {
      return true;
    }
    return !isWithin(real, this.realRoot);
  }
}
