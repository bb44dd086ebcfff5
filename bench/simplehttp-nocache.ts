/**
 * The command line with the compression cache off, for the benchmark's "no compression cache"
 * row: what `--compress` costs when every response is compressed again. Usage: the command
 * line's own arguments (`node simplehttp-nocache.js PORT -d DIR -p HTTP/1.1 --compress`).
 */
import { SimpleHTTPRequestHandler } from "../src/index.js";
import { exitAfterFlush, main } from "../src/cli/program.js";

SimpleHTTPRequestHandler.compress_cache = false;
exitAfterFlush(await main(process.argv.slice(2)));
