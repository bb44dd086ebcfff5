/**
 * Connection deadlines with one timer per server: instead of a timer per connection (re-armed at
 * every phase of every request), each connection keeps its deadline in a field, and a sweep a few
 * times per shortest timeout closes the ones past it. Setting a deadline costs an assignment.
 */
import type { Socket } from "node:net";

/** Something with a deadline: a request handler, a TLS handshake, a closing socket. */
export interface Expiring {
  /** Called on every sweep with `Date.now()`: closes the connection if its deadline has passed. */
  checkDeadline(now: number): void;
}

/** Sweeps never run more often than this, however short a timeout… */
const MIN_PERIOD_MS = 20;
/** …nor less often than this, so a deadline is met within a second at worst. */
const MAX_PERIOD_MS = 1000;
/** Sweeps per shortest timeout: a deadline is late by a quarter of its timeout at most. */
const SWEEPS_PER_TIMEOUT = 4;

export class DeadlineSweeper {
  private readonly items = new Set<Expiring>();
  private timer: NodeJS.Timeout | null = null;
  private period = MAX_PERIOD_MS;

  /** Watches `item` until `unwatch()`; `shortestTimeoutMs` sets how often sweeps run. */
  watch(item: Expiring, shortestTimeoutMs: number = MAX_PERIOD_MS * SWEEPS_PER_TIMEOUT): void {
    this.items.add(item);
    const period = Math.min(MAX_PERIOD_MS, Math.max(MIN_PERIOD_MS, shortestTimeoutMs / SWEEPS_PER_TIMEOUT));
    if (period < this.period) {
      this.period = period;
      this.stop();
    }
    if (!this.timer) {
      // Unreferenced: deadlines never keep the process alive on their own.
      this.timer = setInterval(this.sweep, this.period);
      this.timer.unref();
    }
  }

  unwatch(item: Expiring): void {
    this.items.delete(item);
  }

  /** How many items are watched. */
  get size(): number {
    return this.items.size;
  }

  /** True while the sweep timer exists (it stops by itself once nothing is watched). */
  get running(): boolean {
    return this.timer !== null;
  }

  /** Forgets every item and stops the timer. */
  close(): void {
    this.items.clear();
    this.stop();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private readonly sweep = () => {
    if (this.items.size === 0) return this.stop();
    const now = Date.now();
    // Items may unwatch themselves as they expire: a Set allows that during iteration.
    for (const item of this.items) {
      try {
        item.checkDeadline(now);
      } catch {
        // One item's failure (a log override that throws, say) must not spare the others.
        this.items.delete(item);
      }
    }
  };
}

/**
 * Connections whose peer has nothing more to send: its last request was read whole (a head with no
 * body) and no byte after it had arrived. Closing one needs no lingering, as nothing unread can
 * turn the close into a reset; it closes as soon as what was written has left, as Python's and
 * Node's own servers close every connection. nginx's `lingering_close on` decides by the same
 * signs. The HTTP handler marks them (`expectNothingMore`); the server looks (`expectsNothingMore`).
 */
const quietPeers = new WeakSet<Socket>();

/** Notes that `socket`'s peer is not expected to send anything more (see `quietPeers`). */
export function expectNothingMore(socket: Socket): void {
  quietPeers.add(socket);
}

/** Whether `socket`'s peer was noted as having nothing more to send. */
export function expectsNothingMore(socket: Socket): boolean {
  return quietPeers.has(socket);
}

/** How long a closed connection keeps reading (and discarding) once everything was sent. */
const LINGER_MS = 2000;
/** How long a closed connection may take to send what is still buffered for it. */
const FLUSH_MS = 60_000;

/**
 * Connections being closed: each reads and drops what the peer still sends (so unread bytes do
 * not turn the close into a reset) until the peer closes too, or until its deadline: two seconds
 * once our side has sent everything, a minute while a client that does not read holds that up.
 * A connection whose peer has nothing more to send (`expectsNothingMore`) reads nothing and is
 * destroyed once its writes have left; it is here for that minute's deadline alone.
 * One entry (its deadline) per socket and one sweep for all of them: no listener or timer per
 * connection. The server removes a socket when it closes (`delete`); a sweep drops any it finds
 * destroyed.
 */
export class LingeringSockets implements Expiring {
  private readonly deadlines = new Map<Socket, number>();
  private watched = false;

  constructor(private readonly sweeper: DeadlineSweeper) {}

  add(socket: Socket): void {
    this.deadlines.set(socket, Date.now() + (socket.writableFinished ? LINGER_MS : FLUSH_MS));
    if (!this.watched) {
      this.watched = true;
      this.sweeper.watch(this, LINGER_MS);
    }
  }

  delete(socket: Socket): void {
    if (!this.deadlines.delete(socket) || this.deadlines.size > 0 || !this.watched) return;
    this.watched = false;
    this.sweeper.unwatch(this);
  }

  get size(): number {
    return this.deadlines.size;
  }

  sockets(): IterableIterator<Socket> {
    return this.deadlines.keys();
  }

  /**
   * Destroys the sockets past their deadline. One still flushing gets its two seconds from the
   * first sweep that finds everything sent (a quarter of them late at most).
   */
  checkDeadline(now: number): void {
    for (const [socket, deadline] of this.deadlines) {
      if (socket.destroyed || now >= deadline) {
        socket.destroy();
        this.delete(socket);
      } else if (deadline - now > LINGER_MS && socket.writableFinished) {
        this.deadlines.set(socket, now + LINGER_MS);
      }
    }
  }
}
