/**
 * `simplehttp`: Python's `http.server` for Node.js. The same classes, methods and attributes,
 * the same bytes on the wire and the same log lines.
 */
export {
  BaseHTTPRequestHandler,
  DEFAULT_ERROR_MESSAGE,
  DEFAULT_ERROR_CONTENT_TYPE,
  __version__,
} from "./server/base_handler.js";
export { HTTPServer, ThreadingHTTPServer } from "./server/http_server.js";
export { HTTPSServer, ThreadingHTTPSServer, type HTTPSOptions } from "./server/https_server.js";
export { HTTPStatus, httpStatus, responses, type StatusInfo } from "./http/status.js";
export { HTTPMessage, HTTPException, LineTooLong, parse_headers } from "./http/message.js";
export type { Address } from "./socketserver/address.js";
export { SimpleHTTPRequestHandler, type SimpleHTTPRequestHandlerOptions, type FileLike } from "./server/simple_handler.js";
export { CGIHTTPRequestHandler, CGI_DEPRECATION_MESSAGE, nobody_uid, executable } from "./server/cgi_handler.js";
