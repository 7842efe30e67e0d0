/**
 * TLS settings of a syslog destination, read and checked once at start: files are read here so a
 * missing or unreadable file is a configuration error naming its key, never a retried TLS fault.
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext, type PeerCertificate } from 'node:tls';
import { isIP } from 'node:net';
import type { SyslogDestinationConfig } from '../config/schema.js';
import { RelayError, ErrorCodes, errorMessage, systemCode } from '../errors.js';

export interface TlsMaterial {
  ca: Buffer | undefined;
  cert: Buffer | undefined;
  key: Buffer | undefined;
  /** Name checked against the certificate (servername, else host). */
  verifyName: string;
  /** SNI; never an IP address (RFC 6066). */
  sni: string | undefined;
  /** Upper-case hex, no colons. */
  pin: string | undefined;
  /** Pin without ca: the pin alone authenticates the peer (RFC 5425 §5.2 self-signed certificates). */
  pinOnly: boolean;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
}

type TlsKeys = Pick<SyslogDestinationConfig, 'ca' | 'cert' | 'key' | 'servername' | 'fingerprint_sha256' | 'min_version'>;

async function readKeyFile(dest: string, key: 'ca' | 'cert' | 'key', path: string | undefined): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path);
  } catch (err: unknown) {
    throw new RelayError(
      ErrorCodes.CONFIG,
      `Destination ${dest}: cannot read ${key}: ${path} (${systemCode(err) ?? errorMessage(err)}); check the path and that the relay's user may read it.`,
      { cause: err },
    );
  }
}

export function normalizeFingerprint(fp: string): string {
  return fp.replace(/:/g, '').toUpperCase();
}

/** `AB:CD:…` for messages. */
export function colonHex(hex: string): string {
  return (hex.match(/../g) ?? []).join(':');
}

/** Reads ca/cert/key for a destination that talks to `host`; validates that they load. */
export async function loadTlsMaterial(dest: string, host: string, cfg: TlsKeys): Promise<TlsMaterial> {
  if ((cfg.cert === undefined) !== (cfg.key === undefined)) {
    throw new RelayError(ErrorCodes.CONFIG, `Destination ${dest}: cert and key go together for mutual TLS; set both or neither.`);
  }
  const [ca, cert, key] = await Promise.all([
    readKeyFile(dest, 'ca', cfg.ca),
    readKeyFile(dest, 'cert', cfg.cert),
    readKeyFile(dest, 'key', cfg.key),
  ]);
  try {
    // Fails early on a malformed PEM or a key that does not match the certificate.
    createSecureContext({ ...(ca !== undefined ? { ca } : {}), ...(cert !== undefined ? { cert } : {}), ...(key !== undefined ? { key } : {}) });
  } catch (err: unknown) {
    throw new RelayError(
      ErrorCodes.CONFIG,
      `Destination ${dest}: the TLS files do not load (${errorMessage(err)}); check ca:, cert: and key: (PEM, key matching the certificate).`,
      { cause: err },
    );
  }
  const verifyName = cfg.servername ?? host;
  const pin = cfg.fingerprint_sha256 === undefined ? undefined : normalizeFingerprint(cfg.fingerprint_sha256);
  return { ca, cert, key, verifyName, sni: isIP(verifyName) === 0 ? verifyName : undefined, pin, pinOnly: pin !== undefined && ca === undefined, minVersion: cfg.min_version };
}

/** The pin check on the end-entity certificate; undefined when it matches or no pin is set. */
export function checkPin(material: TlsMaterial, cert: PeerCertificate | undefined, peer: string): RelayError | undefined {
  if (material.pin === undefined) return undefined;
  const got = cert?.fingerprint256 === undefined ? '' : normalizeFingerprint(cert.fingerprint256);
  if (got === material.pin) return undefined;
  return new RelayError(
    ErrorCodes.TLS_PIN,
    `TLS certificate of ${peer} does not match fingerprint_sha256: expected ${colonHex(material.pin)}, got ${got === '' ? 'no certificate' : colonHex(got)}; ` +
      'if the SIEM certificate was renewed on purpose, update fingerprint_sha256 (openssl x509 -noout -fingerprint -sha256).',
  );
}
