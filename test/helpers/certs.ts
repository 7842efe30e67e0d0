/**
 * Throw-away PKI for TLS tests, made with the openssl CLI (as ../shared/rsyslog/make-certs.sh):
 * a CA, a server cert for localhost/127.0.0.1, a client cert `relay-client`, and a second,
 * unrelated CA (for "wrong CA" tests). Created once per directory.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, X509Certificate } from 'node:crypto';

export interface TestPki {
  dir: string;
  ca: string;
  server: string;
  serverKey: string;
  client: string;
  clientKey: string;
  otherCa: string;
  /** A server cert valid for `wrong.example` only (hostname-mismatch tests), signed by `ca`. */
  wrongName: string;
  wrongNameKey: string;
  /** SHA-256 fingerprint of `server`, colon-separated upper-case hex. */
  serverFingerprint: string;
}

function ossl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function leaf(dir: string, name: string, subject: string, ext: string, ca = 'ca'): void {
  ossl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  ossl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '30', '-extfile', `${name}.ext`]);
}

export function makePki(dir: string): TestPki {
  mkdirSync(dir, { recursive: true });
  const p = (f: string): string => join(dir, f);
  if (!existsSync(p('done'))) {
    for (const ca of ['ca', 'other-ca']) {
      ossl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '30', '-subj', `/CN=duo-relay-test-${ca}`,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    }
    const base = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n';
    leaf(dir, 'server', '/CN=localhost', `${base}extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n`);
    leaf(dir, 'client', '/CN=relay-client', `${base}extendedKeyUsage=clientAuth\nsubjectAltName=DNS:relay-client\n`);
    leaf(dir, 'wrong-name', '/CN=wrong.example', `${base}extendedKeyUsage=serverAuth\nsubjectAltName=DNS:wrong.example\n`);
    writeFileSync(p('done'), '');
  }
  const der = new X509Certificate(readFileSync(p('server.pem'))).raw;
  const fp = createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)?.join(':') ?? '';
  return {
    dir, ca: p('ca.pem'), server: p('server.pem'), serverKey: p('server.key'), client: p('client.pem'), clientKey: p('client.key'),
    otherCa: p('other-ca.pem'), wrongName: p('wrong-name.pem'), wrongNameKey: p('wrong-name.key'), serverFingerprint: fp,
  };
}
