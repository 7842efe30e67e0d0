/** Real records of every shape a source hands the pipeline, for the route-thread tests. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JsonObject, SourceRecord } from '../../src/event.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/peers/', import.meta.url));
export const ROUTER = { defaultHost: 'relay01', tags: {} };

function lines(file: string): string[] {
  return readFileSync(join(FIXTURES, file), 'utf8').split('\n').filter((l) => l.trim() !== '');
}

/** Real records of every shape a source gives: proxy lines (text), Admin API records (parsed, MSP account), and junk. */
export function mixedRecords(): SourceRecord[] {
  const out: SourceRecord[] = [];
  lines('authproxy/authevents.synthetic.log').forEach((text, i) => out.push({ text, kind: 'authproxy', host: 'proxy01', position: `/var/log/authevents.log@8:9:${i * 600}` }));
  lines('elastic/test-auth.log').forEach((l, i) => out.push({ record: JSON.parse(l) as JsonObject, kind: 'authentication', host: 'api-x.duosecurity.com', account: 'DA123', position: `api:api-x/auth#${i}` }));
  out.push({ text: 'not json at all', kind: 'authproxy', host: 'proxy01', position: '/var/log/authevents.log@8:9:99999' });
  out.push({ text: '{"something":"else"}', position: 'syslog:10.0.0.9:514#1' });
  lines('elastic/test-admin.log').forEach((text, i) => out.push({ text, host: 'relayed-host', position: `syslog:10.0.0.7:6514#${i}` }));
  return out;
}

