/**
 * The full-size runs behind docs/SECURITY.md's figures for issue 11, items 5, 6 and 8 (the tests
 * run smaller versions): `npm run build && node dist/bench/edge.js [SCENARIO…] [--main PATH]`.
 *
 * Each scenario starts the command line (`dist/src/cli/main.js`, or `--main` for another build,
 * e.g. an older commit's, to compare) in a child process on loopback, attacks it, measures,
 * prints one line of figures, and stops it. Scenarios (all by default):
 *
 * - `watch-memory`: `--watch`, 150 clients request an 8 MiB page and never read; the server's
 *   peak RSS (VmHWM), and a normal request's latency meanwhile.
 * - `watch-streams`: `--watch --max-connections 20`, 10,000 event-stream connections opened
 *   (200 at a time); the streams left open, the server's connections, and the worst latency of
 *   a normal page request made every 500 streams.
 * - `compress`: `--compress`, a 100 MiB download alone and during 32 brotli responses of a 4 MiB
 *   text file (random letters: real work for brotli).
 * - `fifo`: 8 requests of a FIFO, then a 100 MiB download (a 10 s limit on each).
 * - `renegotiation`: `--tls-cert`, a TLS 1.2 client renegotiating 1,000 times on one connection.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";

const MiB = 1024 * 1024;
const HERE = fileURLToPath(new URL(".", import.meta.url));
const TLS = join(HERE, "..", "..", "test", "fixtures", "tls");

interface Server {
  child: ChildProcess;
  port: number;
  stderr(): string;
}

async function start(main: string, args: string[]): Promise<Server> {
  const child = spawn(process.execPath, [main, "-b", "127.0.0.1", ...args, "0"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (err = (err + chunk).slice(-100_000)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      const match = /port (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) => reject(new Error(`the server exited (${code}): ${err}`)));
  });
  return { child, port, stderr: () => err };
}

async function stop(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once("exit", resolve));
  server.child.kill("SIGKILL");
  await exited;
}

/** VmRSS and VmHWM (peak) of a process, in MiB. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) / 1024;
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

/** One request on a fresh connection: milliseconds to the server's close, and the bytes received. */
function fetch(port: number, request: string, timeoutMs = 30_000): Promise<{ ms: number; bytes: number; head: string }> {
  return new Promise((resolve) => {
    const started = performance.now();
    let bytes = 0;
    let head = "";
    const socket = connect(port, "127.0.0.1", () => socket.write(request));
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on("data", (chunk: Buffer) => {
      if (head === "") head = chunk.subarray(0, 200).toString("latin1").split("\r\n")[0]!;
      bytes += chunk.length;
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ ms: Math.round(performance.now() - started), bytes, head });
    });
  });
}

const get = (port: number, path: string, headers = "", timeoutMs = 30_000) => fetch(port, `GET ${path} HTTP/1.0\r\n${headers}\r\n`, timeoutMs);

function fixture(): string {
  const root = mkdtempSync(join(tmpdir(), "simplehttp-edge-"));
  chmodSync(root, 0o755);
  const page = Buffer.alloc(8 * MiB, 0x61);
  page.write("</body></html>\n", page.length - 15, "latin1");
  writeFileSync(join(root, "page.html"), page);
  writeFileSync(join(root, "small.html"), "<html><body><p>small</p></body></html>\n");
  const text = randomBytes(4 * MiB);
  for (let i = 0; i < text.length; i++) text[i] = text[i]! % 32 < 26 ? 0x61 + (text[i]! % 32) : 0x20;
  writeFileSync(join(root, "text.txt"), text);
  const big = openSync(join(root, "big.bin"), "w");
  ftruncateSync(big, 100 * MiB);
  closeSync(big);
  execFileSync("mkfifo", [join(root, "fifo")]);
  return root;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------

async function watchMemory(main: string, root: string): Promise<string> {
  const server = await start(main, ["--watch", "-d", root]);
  const sockets: Socket[] = [];
  try {
    await get(server.port, "/small.html");
    const before = memory(server.child.pid!);
    for (let i = 0; i < 150; i++) {
      const socket = connect(server.port, "127.0.0.1");
      socket.on("error", () => {});
      socket.pause();
      socket.write("GET /page.html HTTP/1.0\r\n\r\n");
      sockets.push(socket);
    }
    let worst = 0;
    for (let i = 0; i < 10; i++) {
      await sleep(500);
      worst = Math.max(worst, (await get(server.port, "/small.html")).ms);
    }
    const after = memory(server.child.pid!);
    return `watch-memory: 150 clients not reading an 8 MiB page: RSS ${before.rss.toFixed(0)} → ${after.rss.toFixed(0)} MiB (peak ${after.peak.toFixed(0)} MiB); a small page meanwhile in ${worst} ms at worst`;
  } finally {
    for (const socket of sockets) socket.destroy();
    await stop(server);
  }
}

async function watchStreams(main: string, root: string): Promise<string> {
  const server = await start(main, ["--watch", "--max-connections", "20", "-d", root]);
  const sockets = new Set<Socket>();
  let open = 0;
  let evicted = 0;
  const latencies: number[] = [];
  try {
    const openStream = () =>
      new Promise<void>((resolve) => {
        const socket = connect(server.port, "127.0.0.1", () => socket.write("GET /__simplehttp/livereload HTTP/1.1\r\nHost: x\r\n\r\n"));
        sockets.add(socket);
        let text = "";
        let started = false;
        socket.setEncoding("latin1");
        // A stream the server leaves waiting (before the fix: past --max-connections) counts as not open.
        setTimeout(resolve, 5000).unref();
        socket.on("data", (chunk: string) => {
          text += chunk;
          if (!started && text.includes("retry: 1000")) {
            started = true;
            open++;
            resolve();
          }
          if (text.includes("event: evicted")) evicted++;
        });
        socket.on("error", () => {});
        socket.on("close", () => {
          sockets.delete(socket);
          if (started) open--;
          resolve();
        });
      });
    for (let batch = 0; batch < 50; batch++) {
      await Promise.all(Array.from({ length: 200 }, openStream));
      if (batch % 5 === 4) latencies.push((await get(server.port, "/small.html")).ms);
    }
    await sleep(500);
    const connections = Number(execFileSync("sh", ["-c", `ls /proc/${server.child.pid}/fd | wc -l`], { encoding: "utf8" }).trim());
    const { rss } = memory(server.child.pid!);
    return `watch-streams: 10,000 stream connections with --max-connections 20: ${open} left open, ${evicted} evicted, server fds ${connections}, RSS ${rss.toFixed(0)} MiB; a page every 1,000 streams in ${Math.max(...latencies)} ms at worst (median ${latencies.sort((a, b) => a - b)[latencies.length >> 1]} ms)`;
  } finally {
    for (const socket of sockets) socket.destroy();
    await stop(server);
  }
}

async function compress(main: string, root: string): Promise<string> {
  const server = await start(main, ["--compress", "-d", root]);
  try {
    const alone = Math.min((await get(server.port, "/big.bin")).ms, (await get(server.port, "/big.bin")).ms);
    const brotli = Array.from({ length: 32 }, () => get(server.port, "/text.txt", "Accept-Encoding: br\r\n", 300_000));
    await sleep(300);
    const during = await get(server.port, "/big.bin");
    const compressed = await Promise.all(brotli);
    return `compress: a 100 MiB download alone in ${alone} ms, during 32 brotli responses of 4 MiB of text in ${during.ms} ms (the brotli responses took ${Math.max(...compressed.map((r) => r.ms))} ms)`;
  } finally {
    await stop(server);
  }
}

async function fifo(main: string, root: string): Promise<string> {
  const server = await start(main, ["-d", root]);
  try {
    const fifos = await Promise.all(Array.from({ length: 8 }, () => fetch(server.port, "GET /fifo HTTP/1.0\r\n\r\n", 10_000)));
    const download = await fetch(server.port, "GET /big.bin HTTP/1.0\r\n\r\n", 10_000);
    const answered = fifos.filter((reply) => reply.head).map((reply) => reply.head);
    return `fifo: 8 GET /fifo: ${answered.length ? `answered ${JSON.stringify(answered[0])} in ${Math.max(...fifos.map((r) => r.ms))} ms at worst` : "no answer within 10 s"}; then a 100 MiB download: ${download.bytes >= 100 * MiB ? `${download.ms} ms` : `${download.bytes} bytes in 10 s`}`;
  } finally {
    // A thread blocked opening the FIFO (before the fix) is released by a writer.
    try {
      closeSync(openSync(join(root, "fifo"), "r+"));
    } catch {
      // gone
    }
    await stop(server);
  }
}

async function renegotiation(main: string, root: string): Promise<string> {
  const server = await start(main, ["--tls-cert", join(TLS, "cert.pem"), "--tls-key", join(TLS, "key.pem"), "-p", "HTTP/1.1", "-d", root]);
  try {
    const started = performance.now();
    const completed = await new Promise<number>((resolve) => {
      let count = 0;
      const socket = tlsConnect({ port: server.port, host: "127.0.0.1", rejectUnauthorized: false, maxVersion: "TLSv1.2" }, () => next());
      const next = () => {
        if (count >= 1000 || socket.destroyed) return finish();
        const ok = socket.renegotiate({ rejectUnauthorized: false }, (error) => {
          if (error) return finish();
          count++;
          next();
        });
        if (!ok) finish();
      };
      const finish = () => {
        socket.destroy();
        resolve(count);
      };
      socket.on("error", () => {});
      socket.on("close", finish);
    });
    await sleep(200);
    const lines = server.stderr().split("\n").filter((line) => line.includes("renegotiation")).length;
    return `renegotiation: ${completed} of 1,000 renegotiations completed in ${Math.round(performance.now() - started)} ms; ${lines} log line(s)`;
  } finally {
    await stop(server);
  }
}

const SCENARIOS: Record<string, (main: string, root: string) => Promise<string>> = {
  "watch-memory": watchMemory,
  "watch-streams": watchStreams,
  compress,
  fifo,
  renegotiation,
};

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const at = argv.indexOf("--main");
  const binary = at >= 0 ? argv.splice(at, 2)[1]! : join(HERE, "..", "src", "cli", "main.js");
  const chosen = argv.length ? argv : Object.keys(SCENARIOS);
  const root = fixture();
  try {
    for (const name of chosen) {
      const scenario = SCENARIOS[name];
      if (!scenario) throw new Error(`no scenario ${name}: ${Object.keys(SCENARIOS).join(", ")}`);
      process.stdout.write(`${await scenario(binary, root)}\n`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
