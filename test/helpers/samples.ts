/**
 * Every sample event the conformance tests use, as JSON lines with where each came from:
 * the Devo seed's five sample events (test/fixtures/seeds), Sekoia's and Elastic's test inputs and
 * the Authentication Proxy lines (test/fixtures/peers; provenance in PROVENANCE.md there).
 */
import { readFileSync } from 'node:fs';

export interface Sample {
  origin: string;
  line: string;
}

const read = (p: string): string => readFileSync(new URL(`../fixtures/${p}`, import.meta.url), 'utf8');

/** The raw JSON of each sample event in the Devo seed (the line after `<tag>: `). */
export function seedSamples(): Sample[] {
  const re = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ (auth\.duo\.[a-z-]+\.[a-z]+): (\{.*\})$/gm;
  const out: Sample[] = [];
  for (const m of read('seeds/devo-auth-duo-tags.txt').matchAll(re)) {
    const json = m[2] ?? '';
    try {
      JSON.parse(json);
    } catch {
      continue; // the seed's `rawMessage` rows are re-serialised by Devo and not always JSON
    }
    if (!out.some((s) => s.line === json)) out.push({ origin: `devo seed ${m[1] ?? ''}`, line: json });
  }
  return out;
}

export function peerSamples(): Sample[] {
  const out: Sample[] = [];
  for (const f of ['test_admin_log', 'test_admin_log_error', 'test_admin_log_user_update', 'test_auth_log', 'test_auth_log_2', 'test_offline_log', 'test_telephony_log_admin_login', 'test_telephony_log_auth', 'test_telephony_log_entroll']) {
    const doc = JSON.parse(read(`peers/sekoia/${f}.json`)) as { input: { message: string } };
    out.push({ origin: `sekoia ${f}`, line: JSON.stringify(JSON.parse(doc.input.message)) });
  }
  for (const f of ['test-admin.log', 'test-auth.log', 'test-offline-enrollment.log', 'test-telephony.log', 'test-telephony-v2.log']) {
    read(`peers/elastic/${f}`)
      .split('\n')
      .filter((l) => l.trim() !== '')
      .forEach((line, i) => out.push({ origin: `elastic ${f}:${i + 1}`, line }));
  }
  read('peers/authproxy/authevents.synthetic.log')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .forEach((line, i) => out.push({ origin: `authproxy synthetic:${i + 1}`, line }));
  return out;
}
