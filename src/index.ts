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

// For handler authors: bodies, forms, disconnects, logs, and handlers driven without a socket.
export { RequestBodyError, type BodyOptions, type PythonFile } from "./server/request_body.js";
export { parseForm, type FormOptions, type FormPart, type FormField, type FormFile } from "./server/forms.js";
export { ConnectionClosedError, BrokenPipeError, ConnectionResetError } from "./socketserver/writer.js";
export { SocketTimeoutError } from "./socketserver/reader.js";
export { ServerStartError } from "./socketserver/errors.js";
export { flushLog } from "./socketserver/log_writer.js";
export type { BinaryReader, BinaryWriter } from "./socketserver/handlers.js";
export { BytesIO } from "./py/io.js";
/** Python's `format % args` (printf-style), for `log_message` overrides; `pyRepr` is `repr()` for `%r`. */
export { percentFormat, pyRepr } from "./py/format.js";

// Uploads and Basic authentication (`upload`, `auth`: README "Receiving files").
export { removeStaleUploads, type SweepOptions } from "./features/atomic_write.js";
export { parseSize } from "./features/upload.js";
export { readAuthFile, type AuthScope } from "./features/auth.js";
