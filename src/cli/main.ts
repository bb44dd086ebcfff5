#!/usr/bin/env node
/** `simplehttp`: the command line, a drop-in for `python -m http.server`. Runs only as the entry point. */
import { pauseOptimizer, resumeOptimizer } from "./optimizer.js";

// Before the rest is imported: loading it is what would wake the optimizing compiler (optimizer.ts).
pauseOptimizer();
const { exitAfterFlush, isEntryPoint, main } = await import("./program.js");
if (isEntryPoint(import.meta.url)) exitAfterFlush(await main(process.argv.slice(2)));
else resumeOptimizer();
