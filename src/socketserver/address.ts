/**
 * Addresses as Python's `socket` module shows them: `[host, port]` tuples, address families,
 * the bind address for `""`, and `socket.getfqdn()`.
 */
import { isIP } from "node:net";
import { hostname } from "node:os";

/** `(host, port)`. */
export type Address = [host: string, port: number];

export const AF_INET = "AF_INET";
export const AF_INET6 = "AF_INET6";
/** Unix-domain sockets (`UnixStreamServer`): the address is a file system path. */
export const AF_UNIX = "AF_UNIX";
export type AddressFamily = typeof AF_INET | typeof AF_INET6 | typeof AF_UNIX;

/** The family an address belongs to: IPv6 for an IPv6 literal, IPv4 otherwise. */
export function familyOf(host: string): AddressFamily {
  return isIP(host) === 6 ? AF_INET6 : AF_INET;
}

/**
 * The literal address `bind((host, port))` would use: `""` is the wildcard of the family,
 * a name is resolved in that family (as an `AF_INET` socket resolves `localhost` to IPv4).
 */
export async function resolveBindHost(host: string, family: AddressFamily): Promise<string> {
  if (host === "") return family === AF_INET6 ? "::" : "0.0.0.0";
  if (isIP(host)) return host;
  const { address } = await dns().lookup(host, { family: family === AF_INET6 ? 6 : 4 });
  return address;
}

/**
 * How Python prints an address: the tuple's `repr()`, `('127.0.0.1', 40622)`; a Unix-socket
 * address (a path, often `''` for a client) as the string itself.
 */
export function addressRepr(address: readonly unknown[] | string): string {
  if (typeof address === "string") return address;
  const parts = address.map((part) => (typeof part === "string" ? `'${part}'` : String(part)));
  return `(${parts.join(", ")}${parts.length === 1 ? "," : ""})`;
}

/** node:dns/promises, loaded by the first name looked up: a server bound to an address never needs it. */
function dns(): typeof import("node:dns/promises") {
  return process.getBuiltinModule("node:dns/promises");
}

const FQDN_TIMEOUT_MS = 2000;

/**
 * `socket.getfqdn(name)`: the wildcard addresses mean this host; the name's reverse lookup is
 * used when it answers with a name (preferring one with a dot), else the name as given.
 * A lookup that hangs (no resolver) gives up after two seconds.
 */
export async function getfqdn(name = ""): Promise<string> {
  name = name.trim();
  if (!name || name === "0.0.0.0" || name === "::") name = hostname();
  try {
    const found = await withTimeout(reverseLookup(name), FQDN_TIMEOUT_MS);
    return found ?? name;
  } catch {
    return name;
  }
}

async function reverseLookup(name: string): Promise<string | null> {
  const address = isIP(name) ? name : (await dns().lookup(name)).address;
  const { hostname: found } = await dns().lookupService(address, 0);
  return found && !isIP(found) ? found : null;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** How a value looks in an argument error: `8000 (a number)`, `the string "127.0.0.1:8000"`. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") return `${String(value)} (a ${typeof value})`;
  if (Array.isArray(value)) return `an array of ${value.length} (${value.map((item) => (typeof item === "string" ? JSON.stringify(item) : String(item))).join(", ")})`;
  if (typeof value === "function") return `the function ${value.name || "(anonymous)"}`;
  return `a ${value.constructor?.name ?? "object"}`;
}

const TCP_ADDRESS = 'a [host, port] array such as ["127.0.0.1", 8000] (host "" for every interface)';

/**
 * Checks `server_address` for a TCP or UDP server and returns a copy: a two-element `[host, port]`
 * with a string host and an integer port from 0 to 65535. Anything else is refused here, at
 * construction, rather than bound somewhere the caller did not ask for: a plain-JavaScript port of
 * Python's `("127.0.0.1", 8000)` is the comma operator, the port alone.
 * @throws TypeError for a value of the wrong shape or type, RangeError for a port out of range
 */
export function checkServerAddress(address: unknown): Address {
  if (!Array.isArray(address)) {
    const hint = typeof address === "number" ? ' (a Python tuple ("host", port) is written ["host", port])' : "";
    throw new TypeError(`server_address must be ${TCP_ADDRESS}; got ${describeValue(address)}${hint}`);
  }
  if (address.length !== 2) {
    const hint = address.length === 4 ? "; an IPv6 scope goes in the host (\"fe80::1%eth0\"), flow info is not supported" : "";
    throw new TypeError(`server_address must be ${TCP_ADDRESS}; got ${describeValue(address)}${hint}`);
  }
  const [host, port] = address as unknown[];
  if (typeof host !== "string") throw new TypeError(`server_address host must be a string; got ${describeValue(host)}`);
  if (typeof port !== "number" || !Number.isInteger(port)) {
    throw new TypeError(`server_address port must be an integer from 0 to 65535; got ${describeValue(port)}`);
  }
  if (port < 0 || port > 65535) throw new RangeError(`server_address port must be from 0 to 65535; got ${port}`);
  return [host, port];
}
