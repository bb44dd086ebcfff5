/**
 * The entry point of `npm start` in a checkout. npm runs a package's scripts in the package's
 * root, whatever folder `npm start` was typed in; it names that folder in `INIT_CWD`. This
 * serves it, as the README promises ("serves the current directory"), and a relative `-d` is
 * read from there too. `simplehttp` itself (`dist/src/cli/main.js`, `npx simplehttp`) never
 * looks at `INIT_CWD`: a script of another package that `cd`s somewhere first keeps its folder.
 */
import { pauseOptimizer } from "./optimizer.js";

pauseOptimizer(); // as main.ts does: resumed once the server listens
const { exitAfterFlush, main } = await import("./program.js");

const invokedFrom = process.env["INIT_CWD"];
if (invokedFrom) process.chdir(invokedFrom);
exitAfterFlush(await main(process.argv.slice(2)));
