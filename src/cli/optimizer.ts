/**
 * The command line starts with V8's optimizing compiler (TurboFan) paused and resumes it once the
 * server listens: a plain `simplehttp` then idles about 4 MiB smaller (docs/ARCHITECTURE.md,
 * Performance: idle memory).
 *
 * Why: loading the command line's ~50 modules makes the ES module loader's own helpers hot
 * (`fileURLToPath`, `path.resolve`), and optimizing them is the process's first use of TurboFan,
 * which pages in some 4 MiB of the compiler's machine code from the node binary — kept resident
 * by a server that then sits idle. Paused, startup runs in V8's interpreter and baseline
 * compiler as before (it takes the same ~100 ms); resumed before the first connection is
 * accepted, the request path is optimized as it always was, and the compiler's pages come in
 * when the server first has work. Nothing is paused when node was started with its own flags
 * about compilation (`--no-opt`, `--jitless` …): those are left as given.
 */
import { setFlagsFromString } from "node:v8";

/** Flags after which the compiler's state is the user's, not ours to change. */
const COMPILER_FLAGS = /--(no-)?(opt|turbofan|jitless|lite-mode|maglev)\b|--max-lazy|--always-/;

let paused = false;

/** Pauses TurboFan for the startup (only in the command line's own process, at its entry). */
export function pauseOptimizer(): void {
  const given = [...process.execArgv, process.env["NODE_OPTIONS"] ?? ""].join(" ");
  if (paused || COMPILER_FLAGS.test(given)) return;
  setFlagsFromString("--no-turbofan");
  paused = true;
}

/** Resumes TurboFan, once listening; nothing if `pauseOptimizer` did not pause it. */
export function resumeOptimizer(): void {
  if (!paused) return;
  setFlagsFromString("--turbofan");
  paused = false;
}
