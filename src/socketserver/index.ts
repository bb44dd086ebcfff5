/** `simplehttp/socketserver`: the port of Python's `socketserver` module. */
export { BaseServer, TCPServer, ThreadingMixIn, ThreadingTCPServer, type RequestHandlerClass } from "./servers.js";
export { BaseRequestHandler, StreamRequestHandler, isTimeoutError } from "./handlers.js";
export { SocketReader, SocketTimeoutError } from "./reader.js";
export { SocketWriter, ConnectionClosedError } from "./writer.js";
export { type Address, type AddressFamily, AF_INET, AF_INET6, getfqdn } from "./address.js";
