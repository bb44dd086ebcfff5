/** `simplehttp/socketserver`: the port of Python's `socketserver` module. */
export { BaseServer, TCPServer, ThreadingMixIn, ThreadingTCPServer, type RequestHandlerClass } from "./servers.js";
export {
  BaseRequestHandler,
  StreamRequestHandler,
  isTimeoutError,
  type BinaryReader,
  type BinaryWriter,
} from "./handlers.js";
export {
  UDPServer,
  ThreadingUDPServer,
  DatagramRequestHandler,
  DatagramSocket,
  UnixDatagramServer,
  ThreadingUnixDatagramServer,
  type DatagramRequest,
  type DatagramHandlerClass,
} from "./datagram.js";
export { UnixStreamServer, ThreadingUnixStreamServer } from "./unix.js";
export { ForkingMixIn, ForkingTCPServer, ForkingUDPServer, ForkingUnixStreamServer, ForkingUnixDatagramServer } from "./forking.js";
export { SocketReader, SocketTimeoutError } from "./reader.js";
export { SocketWriter, ConnectionClosedError, BrokenPipeError, ConnectionResetError } from "./writer.js";
export { ServerStartError } from "./errors.js";
export { flushLog } from "./log_writer.js";
export { type Address, type AddressFamily, AF_INET, AF_INET6, AF_UNIX, getfqdn } from "./address.js";
