/**
 * Fallback launcher for simplehttp, used only when the command line (dist/src/cli/main.js)
 * does not start a server: what the CLI does, in a few lines of the public API
 * (`ThreadingHTTPServer` + `SimpleHTTPRequestHandler`, logging to stderr as usual).
 * Usage: node simplehttp-server.js PORT DIRECTORY PROTOCOL
 */
export {};

const [portArg, directory, protocol = "HTTP/1.1"] = process.argv.slice(2);

interface HandlerClass {
  protocol_version: string;
}
interface Server {
  serve_forever(): Promise<void>;
}
interface Api {
  ThreadingHTTPServer: new (address: [string, number], handler: HandlerClass) => Server;
  SimpleHTTPRequestHandler?: HandlerClass;
}

// Loaded by path at run time: the API is being written while this suite is, so the names are
// checked here rather than by the compiler.
const apiPath = new URL("../src/index.js", import.meta.url).href;
const api = (await import(apiPath)) as Api;
const Handler = api.SimpleHTTPRequestHandler;
if (Handler === undefined) {
  process.stderr.write("simplehttp-server: SimpleHTTPRequestHandler is not exported by dist/src/index.js yet\n");
  process.exit(2);
}
if (directory !== undefined) process.chdir(directory);
Handler.protocol_version = protocol;
const server = new api.ThreadingHTTPServer(["127.0.0.1", Number(portArg)], Handler);
process.on("SIGTERM", () => process.exit(0));
await server.serve_forever();
