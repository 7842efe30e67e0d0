/**
 * Coded errors. Retry and alert logic switches on `code`, never on message text.
 * Messages name the file, field or peer at fault and what to do about it.
 */

export const ErrorCodes = {
  CONFIG: 'DR_ERR_CONFIG',
  CLOSED: 'DR_ERR_CLOSED',
  CONNECT: 'DR_ERR_CONNECT',
  CONNECT_TIMEOUT: 'DR_ERR_CONNECT_TIMEOUT',
  HANDSHAKE_TIMEOUT: 'DR_ERR_HANDSHAKE_TIMEOUT',
  WRITE_TIMEOUT: 'DR_ERR_WRITE_TIMEOUT',
  TLS: 'DR_ERR_TLS',
  TLS_PIN: 'DR_ERR_TLS_PIN',
  PEER_CLOSED: 'DR_ERR_PEER_CLOSED',
  RELP_NACK: 'DR_ERR_RELP_NACK',
  RELP_PROTOCOL: 'DR_ERR_RELP_PROTOCOL',
  QUEUE_CORRUPT: 'DR_ERR_QUEUE_CORRUPT',
  QUEUE_FULL: 'DR_ERR_QUEUE_FULL',
  /** Another relay process holds the queue directory. */
  QUEUE_LOCKED: 'DR_ERR_QUEUE_LOCKED',
  /** The disk queue hit an I/O error other than a full disk (EIO, EACCES…): an operator must look. */
  QUEUE_IO: 'DR_ERR_QUEUE_IO',
  CHECKPOINT: 'DR_ERR_CHECKPOINT',
  SOURCE_IO: 'DR_ERR_SOURCE_IO',
  BAD_RECORD: 'DR_ERR_BAD_RECORD',
  DUO_API: 'DR_ERR_DUO_API',
  DUO_RATE_LIMIT: 'DR_ERR_DUO_RATE_LIMIT',
  DUO_AUTH: 'DR_ERR_DUO_AUTH',
  DUO_CLOCK: 'DR_ERR_DUO_CLOCK',
  DUO_RESPONSE: 'DR_ERR_DUO_RESPONSE',
  HTTP_TIMEOUT: 'DR_ERR_HTTP_TIMEOUT',
  SHUTDOWN_TIMEOUT: 'DR_ERR_SHUTDOWN_TIMEOUT',
  /** A bug in the relay (an API used out of order): report it. */
  INTERNAL: 'DR_ERR_INTERNAL',
  /** The route thread stopped (crash, out of memory): it is started again and the batch is read again. */
  ROUTE_THREAD: 'DR_ERR_ROUTE_THREAD',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Transient faults: retried with jittered backoff. Everything else needs an operator. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCodes.CONNECT,
  ErrorCodes.CONNECT_TIMEOUT,
  ErrorCodes.HANDSHAKE_TIMEOUT,
  ErrorCodes.WRITE_TIMEOUT,
  ErrorCodes.TLS,
  ErrorCodes.PEER_CLOSED,
  ErrorCodes.RELP_NACK,
  ErrorCodes.SOURCE_IO,
  ErrorCodes.DUO_API,
  ErrorCodes.DUO_RATE_LIMIT,
  ErrorCodes.DUO_RESPONSE,
  ErrorCodes.HTTP_TIMEOUT,
  ErrorCodes.QUEUE_FULL,
  ErrorCodes.ROUTE_THREAD,
]);

export class RelayError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RelayError';
    this.code = code;
  }
  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}

/** A configuration problem: the relay refuses to start and exits with code 2. */
export class ConfigError extends RelayError {
  /** One line per problem, each starting with its path in the config file. */
  readonly problems: readonly string[];
  constructor(file: string, problems: readonly string[]) {
    super(ErrorCodes.CONFIG, `Invalid configuration in ${file}:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function isRelayError(err: unknown): err is RelayError {
  return err instanceof RelayError;
}

/** Extracts a printable message from anything thrown, without leaking objects. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The node/system error code (ECONNREFUSED, ERR_TLS_CERT_ALTNAME_INVALID…) when present. */
export function systemCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
