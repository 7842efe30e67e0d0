/**
 * TLS settings of the listener, read and checked at start: a missing file, a bad PEM or a key that
 * does not match its certificate is a configuration error naming the key and file, not a crash
 * on the first handshake.
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext, type TlsOptions } from 'node:tls';
import type { SyslogSourceConfig } from '../../config/schema.js';
import { RelayError, ErrorCodes, errorMessage, systemCode } from '../../errors.js';

type Listen = SyslogSourceConfig['listen'];

async function readPem(name: string, what: 'cert' | 'key' | 'ca', file: string | undefined): Promise<Buffer | undefined> {
  if (file === undefined) return undefined;
  try {
    return await readFile(file);
  } catch (err: unknown) {
    throw new RelayError(
      ErrorCodes.CONFIG,
      `sources: syslog listener "${name}" listen.${what} ${file} cannot be read (${systemCode(err) ?? errorMessage(err)}); check the path and that the relay's user may read it.`,
      { cause: err },
    );
  }
}

export async function listenerTlsOptions(name: string, listen: Listen): Promise<TlsOptions> {
  if (listen.cert === undefined || listen.key === undefined) {
    throw new RelayError(ErrorCodes.CONFIG, `sources: syslog listener "${name}": a tls listener needs listen.cert and listen.key.`);
  }
  if (listen.require_client_cert && listen.ca === undefined) {
    // Without a CA, node would accept any client certificate signed by a public CA.
    throw new RelayError(ErrorCodes.CONFIG, `sources: syslog listener "${name}": listen.require_client_cert needs listen.ca (the CA that signed the senders' certificates).`);
  }
  const [cert, key, ca] = await Promise.all([readPem(name, 'cert', listen.cert), readPem(name, 'key', listen.key), readPem(name, 'ca', listen.ca)]);
  const opts: TlsOptions = {
    cert,
    key,
    requestCert: listen.require_client_cert,
    rejectUnauthorized: listen.require_client_cert,
    minVersion: 'TLSv1.2',
  };
  if (ca !== undefined) opts.ca = ca;
  try {
    createSecureContext(opts);
  } catch (err: unknown) {
    throw new RelayError(
      ErrorCodes.CONFIG,
      `sources: syslog listener "${name}": listen.cert ${listen.cert}, listen.key ${listen.key}${listen.ca === undefined ? '' : ` or listen.ca ${listen.ca}`} is not usable (${errorMessage(err)}); check that they are PEM and that the key belongs to the certificate.`,
      { cause: err },
    );
  }
  return opts;
}
