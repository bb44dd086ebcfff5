/**
 * `ForkingMixIn` and the `Forking…Server` classes: refused at construction, with the alternatives.
 *
 * Python forks a child process per request. Node.js cannot `fork()` a running process; the
 * nearest equivalent — a new Node process per connection, the socket handed to it — costs tens
 * of milliseconds and tens of megabytes per connection and shares no state with the server, so a
 * port of a forking server would behave worse than the two things people fork for: serving
 * clients concurrently (`ThreadingMixIn`: each connection an async task) and using every CPU
 * (`simplehttp --workers N`, processes sharing one listening socket through `node:cluster`).
 */
import { BaseServer } from "./servers.js";

type ServerConstructor = abstract new (...args: any[]) => BaseServer<any>;

const REASON =
  "Node.js cannot fork() a running process, so there is no per-request child. " +
  "For concurrent clients use ThreadingMixIn (ThreadingTCPServer, ThreadingHTTPServer, ThreadingUDPServer, " +
  "ThreadingUnixStreamServer); to use every CPU run several processes on one port (simplehttp --workers N, built on node:cluster).";

/** `ForkingMixIn(Base)`: a class whose constructor throws a `TypeError` naming the alternatives. */
export function ForkingMixIn<T extends ServerConstructor>(Base: T) {
  abstract class ForkingServer extends Base {
    constructor(...args: any[]) {
      throw new TypeError(`${new.target.name || "ForkingMixIn"} is not supported: ${REASON}`);
      super(...args);
    }
  }
  return ForkingServer;
}

/** Refused at construction: see `ForkingMixIn`. */
export function refusedForking(name: string): new (...args: unknown[]) => never {
  const Refused = class {
    constructor() {
      throw new TypeError(`${name} is not supported: ${REASON}`);
    }
  };
  Object.defineProperty(Refused, "name", { value: name });
  return Refused as unknown as new (...args: unknown[]) => never;
}

export const ForkingTCPServer = refusedForking("ForkingTCPServer");
export const ForkingUDPServer = refusedForking("ForkingUDPServer");
export const ForkingUnixStreamServer = refusedForking("ForkingUnixStreamServer");
export const ForkingUnixDatagramServer = refusedForking("ForkingUnixDatagramServer");
