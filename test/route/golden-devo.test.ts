/**
 * Golden test from the Devo seed (test/fixtures/seeds/devo-auth-duo-tags.txt, a copy of
 * shared/seeds/): the seed's five sample events go through the router, and every parsed-field row
 * that comes from the event itself must appear in our fields with the same NAME and VALUE.
 * The seed text is parsed here (sample lines and tables), not retyped, so the test follows the seed.
 *
 * Rows not from the event (Devo's own columns) are skipped: `eventdate`, `hostname` (Devo's syslog
 * host column), `hostchain`, `tag`, `raw`, `rawMessage`.
 *
 * Values are compared by the row's type: `int`/`float8`/`timestamp` rows whose text is a number
 * compare as numbers, `bool` rows compare case-insensitively (the table renders true as `TRUE`, a
 * spreadsheet habit), `null` is JSON null, `json` rows compare as parsed JSON (Devo re-serialises:
 * the `access_device` column has other key order and spacing than the raw event), the rest as strings.
 *
 * SLIPS below are the table's documentation slips (DESIGN §3): for those rows the NAME still comes
 * from the table and must be present, but the VALUE is taken from the raw event (rawPath).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { createRouter } from '../../src/route/router.js';
import { classify } from '../../src/route/classify.js';
import type { FlatValue, JsonObject, LogKind, RelayEvent } from '../../src/event.js';

interface Row {
  name: string;
  value: string;
  type: string;
  extra: boolean;
}
interface Sample {
  tag: string;
  json: string;
  rows: Row[];
}

const SEED = readFileSync(new URL('../fixtures/seeds/devo-auth-duo-tags.txt', import.meta.url), 'utf8');
const TYPES = new Set(['str', 'ip', 'timestamp', 'int', 'bool', 'float8', 'json']);
const DEVO_COLUMNS = new Set(['eventdate', 'hostname', 'hostchain', 'tag', 'raw', 'rawMessage']);

/**
 * Table layout in the seed text: after the header `Field / Value / Type / Extra fields`, each row is
 * `name`, blank, `value` (the line is missing when the value is empty), blank(s), `type`, then an
 * optional `✓` (Extra column). The last row of every table is `raw`.
 */
function parseSeed(text: string): Sample[] {
  const lines = text.split(/\r?\n/);
  const at = (i: number): string => (lines[i] ?? '').trim();
  const samples: Sample[] = [];
  const sampleLine = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ (auth\.duo\.[a-z-]+\.[a-z]+): (\{.*\})$/;
  for (let i = 0; i < lines.length; i++) {
    const m = sampleLine.exec(lines[i] ?? '');
    if (m === null) continue;
    let j = i + 1;
    while (j < lines.length && at(j) !== 'Extra fields') j++;
    j++;
    const rows: Row[] = [];
    for (;;) {
      while (j < lines.length && at(j) === '') j++;
      if (j >= lines.length) throw new Error(`table of ${m[1]} has no raw row`);
      const name = at(j);
      j += 2; // name, one blank
      let value = '';
      if (at(j) !== '') value = at(j++);
      while (j < lines.length && at(j) === '') j++;
      const type = at(j);
      if (!TYPES.has(type)) throw new Error(`row ${name} of ${m[1]}: unexpected type ${JSON.stringify(type)}`);
      j++;
      let k = j;
      while (k < lines.length && at(k) === '') k++;
      const extra = at(k) === '✓';
      if (extra) j = k + 1;
      rows.push({ name, value, type, extra });
      if (name === 'raw') break;
    }
    samples.push({ tag: m[1] as string, json: m[2] as string, rows });
    i = j - 1;
  }
  return samples;
}

interface Slip {
  tag: string;
  field: string;
  /** What the table says (checked, so this list stays true to the seed). */
  table: string;
  /** Where the value is in the raw event; undefined: the field is not in the raw event at all. */
  rawPath: string[] | undefined;
  why: string;
}

const AUTH = 'auth.duo.authentication.events';
const PROXY = 'auth.duo.authentication-proxy.events';

const SLIPS: Slip[] = [
  { tag: AUTH, field: 'application_name', table: 'UNIX application', rawPath: ['application', 'name'], why: 'the raw event says "UNIX Application" (DESIGN §3)' },
  {
    tag: AUTH,
    field: 'trusted_endpoint_status',
    table: 'null',
    rawPath: undefined,
    why: 'not in this raw event: a column of Devo\'s table schema, not a field of the event; we never invent fields, so it must be absent',
  },
  {
    tag: AUTH,
    field: 'auth_device',
    table: '{"location": {"city": "Cambridge", "country": "United States", "state": "Massachusetts"}, "name": "Work (888-683-9010)"}',
    rawPath: ['auth_device'],
    why: 'the JSON column in the table lacks the raw object\'s "ip"; ours is the raw object whole',
  },
  { tag: PROXY, field: 'timestamp', table: '2021-03-17 10:13:14', rawPath: ['timestamp'], why: "Devo's own re-rendering of the timestamp (rounded to seconds); the raw ISO string is kept" },
  { tag: PROXY, field: 'username', table: 'pwilkin', rawPath: ['username'], why: 'the raw event says "johnsmith" (DESIGN §3)' },
  { tag: PROXY, field: 'client_ip', table: 'None', rawPath: ['client_ip'], why: "Python's None for JSON null" },
  { tag: PROXY, field: 'factor', table: 'None', rawPath: ['factor'], why: "Python's None for JSON null" },
  { tag: PROXY, field: 'log_source', table: 'None', rawPath: ['log_source'], why: "Python's None for JSON null" },
  { tag: PROXY, field: 'log_format', table: 'None', rawPath: ['log_format'], why: "Python's None for JSON null" },
  { tag: PROXY, field: 'log_time', table: '1.62E+09', rawPath: ['log_time'], why: 'spreadsheet number format for 1615975993.9803507' },
];

function get(obj: unknown, path: string[]): unknown {
  let v = obj;
  for (const p of path) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

function expectedFromTable(row: Row): FlatValue {
  if (row.value === 'null') return null;
  if ((row.type === 'int' || row.type === 'float8' || row.type === 'timestamp') && row.value !== '' && !Number.isNaN(Number(row.value))) return Number(row.value);
  if (row.type === 'bool') return row.value.toLowerCase() === 'true';
  return row.value;
}

const samples = parseSeed(SEED);
const KIND_OF_TAG: Record<string, LogKind> = {
  'auth.duo.administrator.login': 'administrator',
  'auth.duo.administrator.events': 'administrator',
  [AUTH]: 'authentication',
  'auth.duo.telephony.events': 'telephony',
  [PROXY]: 'authproxy',
};

t.test('the seed parses into five samples with tables', async (t) => {
  t.same(
    samples.map((s) => s.tag),
    ['auth.duo.administrator.login', 'auth.duo.administrator.events', AUTH, 'auth.duo.telephony.events', PROXY],
  );
  for (const s of samples) {
    t.ok(s.rows.length > 8, `${s.tag}: ${s.rows.length} rows`);
    t.equal(s.rows.at(-1)?.name, 'raw');
    t.equal(s.rows.find((r) => r.name === 'tag')?.value, s.tag, `${s.tag}: tag row matches the section`);
  }
});

const usedSlips = new Set<Slip>();

for (const sample of samples) {
  t.test(sample.tag, async (t) => {
    const raw = JSON.parse(sample.json) as JsonObject;
    const kind = KIND_OF_TAG[sample.tag] as LogKind;
    t.equal(classify(raw), kind, 'classified by shape');
    const router = createRouter({ defaultHost: 'proxy-host' });
    const byShape = router.route({ text: sample.json, position: 'seed' });
    const byKind = router.route({ text: sample.json, position: 'seed', kind });
    if (!byShape.ok || !byKind.ok) {
      t.fail('routed', { byShape, byKind });
      return;
    }
    const ev: RelayEvent = byShape.event;
    t.same(byKind.event, ev, 'known kind and shape give the same event');
    t.equal(ev.tag, sample.tag, 'tag');
    t.equal(ev.msgid, kind, 'msgid');
    t.equal(ev.raw, sample.json, 'raw is the original text');
    if (kind === 'authproxy') t.equal(ev.host, 'proxy-host', 'proxy events take the default host');
    else t.equal(ev.host, 'api-1a2b3c4d.duosecurity.com', 'cloud events take the API host from the record');

    for (const row of sample.rows) {
      if (DEVO_COLUMNS.has(row.name)) continue;
      const slip = SLIPS.find((s) => s.tag === sample.tag && s.field === row.name);
      const has = Object.hasOwn(ev.fields, row.name);
      const got = ev.fields[row.name];
      if (slip !== undefined) {
        usedSlips.add(slip);
        t.equal(row.value, slip.table, `slip still in the seed: ${row.name} (${slip.why})`);
        if (slip.rawPath === undefined) {
          t.notOk(has, `${row.name}: absent (${slip.why})`);
          continue;
        }
        const want = get(raw, slip.rawPath);
        t.ok(has, `${row.name}: present`);
        if (row.type === 'json') t.same(JSON.parse(String(got)), want, `${row.name}: raw value (${slip.why})`);
        else t.equal(got, want, `${row.name}: raw value ${JSON.stringify(want)} (${slip.why})`);
        continue;
      }
      t.ok(has, `${row.name}: present`);
      if (row.type === 'json') {
        t.same(JSON.parse(String(got)), JSON.parse(row.value), `${row.name}: same JSON`);
      } else {
        t.equal(got, expectedFromTable(row), `${row.name} = ${JSON.stringify(expectedFromTable(row))}`);
      }
    }
  });
}

t.test('every listed slip was met in the seed', async (t) => {
  for (const s of SLIPS) t.ok(usedSlips.has(s), `${s.tag} ${s.field}`);
});

t.test('admin login: description keys at top level, email/error null, description kept', async (t) => {
  const login = samples[0];
  if (login === undefined) throw new Error('no login sample');
  const r = createRouter().route({ text: login.json, position: 'seed' });
  if (!r.ok) throw new Error(r.dead.reason);
  const f = r.event.fields;
  t.equal(f.ip_address, '11.22.33.44');
  t.equal(f.email, null);
  t.equal(f.error, null);
  t.equal(typeof f.description, 'string');
  t.equal(r.event.time, '2021-03-23T16:11:49+00:00');
});
