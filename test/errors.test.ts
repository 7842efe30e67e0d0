import t from 'tap';
import { ErrorCodes, RelayError, ConfigError, isRelayError, errorMessage, systemCode, type ErrorCode } from '../src/errors.js';

// Retry logic switches on code: this table is the contract (transient → retried with backoff).
const RETRYABLE: Record<ErrorCode, boolean> = {
  DR_ERR_CONFIG: false,
  DR_ERR_CLOSED: false,
  DR_ERR_CONNECT: true,
  DR_ERR_CONNECT_TIMEOUT: true,
  DR_ERR_HANDSHAKE_TIMEOUT: true,
  DR_ERR_WRITE_TIMEOUT: true,
  DR_ERR_TLS: true,
  DR_ERR_TLS_PIN: false,
  DR_ERR_PEER_CLOSED: true,
  DR_ERR_RELP_NACK: true,
  DR_ERR_RELP_PROTOCOL: false,
  DR_ERR_QUEUE_CORRUPT: false,
  DR_ERR_QUEUE_FULL: true,
  DR_ERR_QUEUE_LOCKED: false,
  DR_ERR_QUEUE_IO: false,
  DR_ERR_CHECKPOINT: false,
  DR_ERR_SOURCE_IO: true,
  DR_ERR_BAD_RECORD: false,
  DR_ERR_DUO_API: true,
  DR_ERR_DUO_RATE_LIMIT: true,
  DR_ERR_DUO_AUTH: false,
  DR_ERR_DUO_CLOCK: false,
  DR_ERR_DUO_RESPONSE: true,
  DR_ERR_HTTP_TIMEOUT: true,
  DR_ERR_SHUTDOWN_TIMEOUT: false,
  DR_ERR_INTERNAL: false,
  DR_ERR_ROUTE_THREAD: true,
};

t.test('every code has a stable DR_ERR_ value and a retry class', async (t) => {
  const codes = Object.values(ErrorCodes);
  t.same([...codes].sort(), Object.keys(RETRYABLE).sort(), 'the table covers every code');
  for (const code of codes) {
    const err = new RelayError(code, `something about ${code}`, { cause: new Error('root') });
    t.match(code, /^DR_ERR_[A-Z_]+$/);
    t.equal(err.code, code);
    t.equal(err.retryable, RETRYABLE[code], `${code} retryable=${String(RETRYABLE[code])}`);
    t.ok(isRelayError(err));
    t.ok(err instanceof Error);
    t.equal((err.cause as Error).message, 'root');
  }
});

t.test('ConfigError lists every problem and is not retryable', async (t) => {
  const e = new ConfigError('/etc/duo-relay/config.yaml', ['a.b: bad', 'c: missing']);
  t.equal(e.code, 'DR_ERR_CONFIG');
  t.notOk(e.retryable);
  t.same(e.problems, ['a.b: bad', 'c: missing']);
  t.match(e.message, /Invalid configuration in \/etc\/duo-relay\/config\.yaml:\n {2}a\.b: bad\n {2}c: missing/);
});

t.test('helpers narrow anything thrown', async (t) => {
  t.equal(errorMessage(new Error('x')), 'x');
  t.equal(errorMessage('plain'), 'plain');
  t.equal(errorMessage(42), '42');
  t.equal(systemCode(Object.assign(new Error('e'), { code: 'ECONNRESET' })), 'ECONNRESET');
  t.equal(systemCode({ code: 5 }), undefined);
  t.equal(systemCode(null), undefined);
  t.notOk(isRelayError(new Error('x')));
});
