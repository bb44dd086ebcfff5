/**
 * Errors a server meets when it starts, in the one-line words the command line prints
 * (`cannot bind 127.0.0.1 port 8000: address already in use`). The command line and the library
 * share these words: a program's `await server.ready` rejects with the same sentence, the
 * operating system's error attached as `cause` (and its `code` copied, so `error.code ===
 * "EADDRINUSE"` still works).
 */

/** Readable words for the errors binding and resolving give. */
const REASONS: Record<string, string> = {
  EADDRINUSE: "address already in use",
  EACCES: "permission denied",
  EADDRNOTAVAIL: "address not available on this host",
  EAFNOSUPPORT: "address family not supported",
  EINVAL: "invalid argument",
  ENOTFOUND: "no such host",
  EAI_AGAIN: "temporary failure in name resolution",
  EAI_NONAME: "no such host",
  EAI_FAIL: "name resolution failed",
  ENOENT: "no such file or directory",
  ENOTDIR: "not a directory",
  ENAMETOOLONG: "path too long",
};

/** The reason an operating-system error gives, in words (`address already in use`). */
export function describeOSError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code && REASONS[code]) return REASONS[code];
  return error instanceof Error ? error.message : String(error);
}

/** A server that could not start: a one-line message, the original error as `cause`. */
export class ServerStartError extends Error {
  override name = "ServerStartError";
  /** The original error's code (`EADDRINUSE`, `ENOTFOUND`, `ERR_OSSL_BAD_DECRYPT` …). */
  code: string | undefined;

  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.code = (cause as NodeJS.ErrnoException | null)?.code;
  }
}

/** `cannot bind 127.0.0.1 port 8000: address already in use`. */
export function bindError(error: unknown, host: string, port: number | null): ServerStartError {
  if (error instanceof ServerStartError) return error;
  const where = port === null ? host : `${host} port ${port}`;
  return new ServerStartError(`cannot bind ${where}: ${describeOSError(error)}`, error);
}

/** `cannot resolve no-such-host: no such host`. */
export function resolveError(error: unknown, host: string): ServerStartError {
  return new ServerStartError(`cannot resolve ${host}: ${describeOSError(error)}`, error);
}
