/**
 * `wfile`: writes go straight to the socket (Python's unbuffered `_SocketWriter`), in order.
 * `write()` returns a Promise that settles once the socket can take more: awaiting it is how a
 * handler honours backpressure, and a client that reads slowly slows only its own response.
 *
 * Writes are corked until the event loop's check phase: everything a handler writes while the
 * loop handles this round of I/O leaves in one `writev` per socket, so a status line, headers and
 * a small body cost one system call, as nginx's would. Uncorking once per loop iteration rather
 * than once per tick also sends the responses of a whole round of requests back to back: a
 * client woken by the first finds the next already there, instead of being woken again for each
 * (on loopback the wake-up, an inter-processor interrupt, costs more than the write itself).
 */
import type { Socket } from "node:net";

/**
 * What `write()` returns when the socket took the data without waiting: an already settled
 * Promise, the same object every time, so a caller may skip awaiting it (`=== WRITTEN`).
 */
export const WRITTEN: Promise<void> = Promise.resolve();

/** Writers corked during this loop iteration, uncorked together by one `setImmediate`. */
let corkedWriters: SocketWriter[] = [];

/** Sockets to end once their writes have been uncorked (see `endAfterWrites`). */
let endingSockets = new Set<Socket>();

function uncorkAll(): void {
  const writers = corkedWriters;
  corkedWriters = [];
  for (const writer of writers) writer.uncork();
  if (endingSockets.size === 0) return;
  const sockets = endingSockets;
  endingSockets = new Set();
  for (const socket of sockets) if (!socket.destroyed) socket.end();
}

/**
 * `socket.end()`, after the writes corked in this loop iteration leave. Ending at once would
 * uncork the socket there and then: a server closing every connection (HTTP/1.0, errors) would
 * again send one response at a time, waking its client for each.
 */
export function endAfterWrites(socket: Socket): void {
  if (socket.writableCorked === 0 || corkedWriters.length === 0) socket.end();
  else endingSockets.add(socket);
}

/** True between `endAfterWrites(socket)` and the `end()` it defers. */
export function isEnding(socket: Socket): boolean {
  return endingSockets.has(socket);
}

/**
 * Python's `ConnectionError`: the peer is gone. What is thrown is one of its two subclasses,
 * `BrokenPipeError` (`EPIPE`: writing to a connection the peer closed) or `ConnectionResetError`
 * (`ECONNRESET`); `error instanceof ConnectionClosedError` catches both.
 */
export class ConnectionClosedError extends Error {
  code: string;
  constructor(code = "EPIPE", name = code === "ECONNRESET" ? "ConnectionResetError" : "BrokenPipeError") {
    super(code === "ECONNRESET" ? "[Errno 104] Connection reset by peer" : "[Errno 32] Broken pipe");
    this.name = name;
    this.code = code;
  }
}

/** `BrokenPipeError`: `[Errno 32] Broken pipe`. */
export class BrokenPipeError extends ConnectionClosedError {
  constructor() {
    super("EPIPE");
  }
}

/** `ConnectionResetError`: `[Errno 104] Connection reset by peer`. */
export class ConnectionResetError extends ConnectionClosedError {
  constructor() {
    super("ECONNRESET");
  }
}

/** The error for a peer gone with `code`: a `ConnectionResetError` for `ECONNRESET`, else a `BrokenPipeError`. */
export function connectionClosed(code?: string): ConnectionClosedError {
  return code === "ECONNRESET" ? new ConnectionResetError() : new BrokenPipeError();
}

/** A promise that rejects for whoever awaits it, and is not an unhandled rejection if nobody does. */
function quietRejection(error: Error): Promise<void> {
  const promise = Promise.reject(error);
  promise.catch(() => {});
  return promise;
}

/**
 * Small writes to a TLS socket are joined into one Buffer, up to this many bytes (a TLS record's
 * payload), before the socket sees them: see `SocketWriter.hold`.
 */
const JOIN_LIMIT = 16 * 1024;

export class SocketWriter {
  private corked = false;
  /** Whether small writes are joined (TLS sockets): see `hold()`. */
  private readonly joins: boolean;
  /** Writes held to be joined, their encodings, and their total size in bytes. */
  private held: (Uint8Array | string)[] = [];
  private heldEncodings: (BufferEncoding | undefined)[] = [];
  private heldBytes = 0;
  private lastError: Error | null = null;
  private rejectWaiter: ((error: Error) => void) | null = null;
  /** The one Promise every write waiting for `drain` shares (one pair of listeners, however many wait). */
  private drain: Promise<void> | null = null;
  closed = false;
  /**
   * When (`Date.now()`) the socket last stopped taking writes — the peer is not reading and the
   * buffers are full — or 0 while it takes them. A server's write timeout watches this.
   */
  waitingSince = 0;

  constructor(private readonly socket: Socket) {
    this.joins = (socket as Socket & { encrypted?: boolean }).encrypted === true;
  }

  /**
   * Why writes fail: a timeout (`fail()`), else the socket's own error as Python's
   * (`BrokenPipeError`, `ConnectionResetError`); null while the socket has none. The error is read
   * from the socket (`errored`) when wanted, so a writer adds no listener of its own.
   */
  private failure(): Error | null {
    if (this.lastError) return this.lastError;
    const errored = (this.socket as Socket & { errored?: NodeJS.ErrnoException | null }).errored;
    return errored ? (this.lastError = connectionClosed(errored.code)) : null;
  }

  /** Sends what was written since the socket was corked (called by `uncorkAll`). @internal */
  uncork(): void {
    this.corked = false;
    if (this.heldBytes > 0) this.release();
    this.socket.uncork();
  }

  /**
   * Holds a small write to a TLS socket until the writer uncorks, to join it with the others
   * (status line and headers with a small body): one Buffer reaches the socket, which Node's TLS
   * layer encrypts as it is (`SSL_write`), where a `writev` of a string and a Buffer costs an
   * encoding pass into a buffer of its own, then a copy of both into one more. Only while the
   * socket would take it without reaching its high-water mark, so backpressure is unchanged.
   * Returns false when the write must go to the socket now (after what is held).
   */
  private hold(data: Uint8Array | string, encoding: BufferEncoding | undefined): boolean {
    const bytes = typeof data !== "string" ? data.byteLength : encoding === "latin1" ? data.length : Buffer.byteLength(data, encoding);
    const socket = this.socket;
    if (this.heldBytes + bytes > JOIN_LIMIT || socket.writableLength + this.heldBytes + bytes >= socket.writableHighWaterMark) {
      if (this.heldBytes > 0) this.release();
      return false;
    }
    this.held.push(data);
    this.heldEncodings.push(encoding);
    this.heldBytes += bytes;
    return true;
  }

  /** Writes what `hold()` kept to the socket, joined into one Buffer when it is more than one write. */
  private release(): void {
    const held = this.held;
    const encodings = this.heldEncodings;
    const bytes = this.heldBytes;
    this.held = [];
    this.heldEncodings = [];
    this.heldBytes = 0;
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    if (held.length === 1) {
      const encoding = encodings[0];
      if (encoding === undefined) socket.write(held[0]!);
      else socket.write(held[0]!, encoding);
      return;
    }
    const joined = Buffer.allocUnsafe(bytes);
    let at = 0;
    for (let i = 0; i < held.length; i++) {
      const data = held[i]!;
      if (typeof data === "string") at += joined.write(data, at, encodings[i] ?? "utf8");
      else {
        joined.set(data, at);
        at += data.byteLength;
      }
    }
    socket.write(joined);
  }

  /** True while what was written waits in user space for the socket to drain. */
  get needsDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  /** Bytes written and not yet handed to the kernel (buffers of a write are free again at 0). */
  get writableLength(): number {
    return this.socket.writableLength + this.heldBytes;
  }

  /** True when the peer can no longer receive what we write. */
  get broken(): boolean {
    return this.socket.destroyed || this.socket.writableEnded;
  }

  /**
   * Writes bytes (a string is sent as UTF-8, or in `encoding`); await the result to wait for the
   * socket to drain. (Python's `wfile.write` takes bytes; the handler hands its header block over
   * as a Latin-1 string, which the socket encodes straight into its write.)
   */
  write(data: Uint8Array | string, encoding?: BufferEncoding): Promise<void> {
    if (this.broken || this.lastError) return quietRejection(this.failure() ?? connectionClosed());
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      if (corkedWriters.push(this) === 1) setImmediate(uncorkAll);
    }
    if (this.joins && this.hold(data, encoding)) return WRITTEN;
    if (encoding === undefined ? this.socket.write(data) : this.socket.write(data, encoding)) return WRITTEN;
    return this.drained();
  }

  /** Settles when everything written so far has left for the kernel (or the peer is gone). */
  flush(): Promise<void> {
    if (this.broken) {
      const failure = this.failure();
      return failure ? quietRejection(failure) : WRITTEN;
    }
    return this.socket.writableNeedDrain ? this.drained() : WRITTEN;
  }

  /**
   * Settles on the socket's next `drain` (or rejects when it closes or fails). Writes that do not
   * await their Promise share one: a loop of un-awaited writes adds no listener per write.
   */
  private drained(): Promise<void> {
    return (this.drain ??= this.waitForDrain());
  }

  private waitForDrain(): Promise<void> {
    this.waitingSince ||= Date.now();
    const promise = new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onClose = () => {
        cleanup();
        reject(this.failure() ?? connectionClosed());
      };
      const cleanup = () => {
        this.drain = null;
        this.waitingSince = 0;
        this.rejectWaiter = null;
        this.socket.off("drain", onDrain);
        this.socket.off("close", onClose);
      };
      this.rejectWaiter = (error) => {
        cleanup();
        reject(error);
      };
      this.socket.on("drain", onDrain);
      this.socket.on("close", onClose);
    });
    promise.catch(() => {});
    return promise;
  }

  /** Fails a pending and every later write with `error` (used for timeouts). */
  fail(error: Error): void {
    this.lastError = error;
    this.rejectWaiter?.(error);
  }

  /** Stops using the socket; what was written is still delivered. */
  close(): void {
    this.closed = true;
  }
}
