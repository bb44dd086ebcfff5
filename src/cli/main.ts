#!/usr/bin/env node
/** `simplehttp`: the command line, a drop-in for `python -m http.server`. Runs only as the entry point. */
import { exitAfterFlush, isEntryPoint, main } from "./program.js";

if (isEntryPoint(import.meta.url)) exitAfterFlush(await main(process.argv.slice(2)));
