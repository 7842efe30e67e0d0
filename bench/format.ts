/**
 * Micro bench of the format hot path: one typical authentication event (Sekoia's sample,
 * flattened the way the router does for cloud logs) through the default RFC 5424 formatter
 * with `message: flattened`. Target: ≥ 200k events/s on one core.
 */
import { performance } from 'node:perf_hooks';
import type { FlatRecord, FlatValue, RelayEvent } from '../src/event.js';
import { createFormatter } from '../src/formats/index.js';

const RAW = {
  access_device: {
    browser: 'Chrome', browser_version: '67.0.3396.99', flash_version: 'uninstalled', hostname: null, ip: '169.232.89.219',
    is_encryption_enabled: true, is_firewall_enabled: true, is_password_set: true, java_version: 'uninstalled',
    location: { city: 'Ann Arbor', country: 'United States', state: 'Michigan' }, os: 'Mac OS X', os_version: '10.14.1', security_agents: [],
  },
  alias: '',
  application: { key: 'DIY231J8BR23QK4UKBY8', name: 'Microsoft Azure Active Directory' },
  auth_device: { ip: '192.168.225.254', key: 'DP5BJ05HI4WRBVI4Q7JF', location: { city: 'Ann Arbor', country: 'United States', state: 'Michigan' }, name: 'My iPhone X (734-555-2342)' },
  email: 'narroway@example.com', event_type: 'authentication', factor: 'duo_push', isotimestamp: '2020-02-13T18:56:20.351346+00:00',
  ood_software: null, reason: 'user_approved', result: 'success', timestamp: 1581620180, trusted_endpoint_status: 'not trusted',
  txid: '340a23e3-23f3-23c1-87dc-1491a23dfdbb',
  user: { groups: ['Duo Users', 'CorpHQ Users'], key: 'DU3KC77WJ06Y5HIV7XKQ', name: 'narroway@example.com' },
  eventtype: 'authentication', host: 'api-12345678.duosecurity.com',
};

// A stand-in for the router's cloud flattening (`_` joins, arrays of scalars also as `<path>_str`).
function flatten(obj: Record<string, unknown>, prefix: string, out: FlatRecord): FlatRecord {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix === '' ? k : prefix + '_' + k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v as Record<string, unknown>, key, out);
    else if (Array.isArray(v)) out[key + '_str'] = v.join(',');
    else out[key] = v as FlatValue;
  }
  return out;
}

export function typicalAuthEvent(): RelayEvent {
  return {
    kind: 'authentication',
    tag: 'auth.duo.authentication.events',
    msgid: 'authentication',
    host: 'api-12345678.duosecurity.com',
    time: RAW.isotimestamp,
    id: RAW.txid,
    fields: flatten(RAW, '', {}),
    raw: JSON.stringify(RAW),
  };
}

export async function benchFormat(): Promise<{ name: string; eventsPerSec: number }> {
  const format = createFormatter(
    { format: 'rfc5424', message: 'flattened', facility: 'auth', enterprise_id: 32473, bom: false, max_message_bytes: 65_536 },
    { fallbackHost: 'relay.example.com', software: 'duo-relay', swVersion: '0.1.0', procid: String(process.pid) },
  );
  // Distinct event objects, as they come from the queue; a handful rotates to defeat caching of one object.
  const events = Array.from({ length: 64 }, (_, i) => ({ ...typicalAuthEvent(), id: RAW.txid.slice(0, -2) + String(i).padStart(2, '0') }));
  let sink = 0;
  for (let i = 0; i < 50_000; i++) sink += format(events[i & 63] as RelayEvent).length; // warm-up
  const n = 300_000;
  const start = performance.now();
  for (let i = 0; i < n; i++) sink += format(events[i & 63] as RelayEvent).length;
  const ms = performance.now() - start;
  if (sink === 0) throw new Error('Bench produced no output.');
  await Promise.resolve();
  return { name: 'format rfc5424 flattened (typical auth event)', eventsPerSec: Math.round((n / ms) * 1000) };
}
