/**
 * Test helper (not a test): a RelayEvent built from one raw record the way the router would,
 * without depending on the router. Only what the formatters read is filled in.
 */
import type { FlatRecord, FlatValue, LogKind, RelayEvent } from '../../src/event.js';

function flat(obj: Record<string, unknown>, prefix: string, out: FlatRecord): FlatRecord {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix === '' ? k : prefix + '_' + k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flat(v as Record<string, unknown>, key, out);
    else if (Array.isArray(v)) out[key + '_str'] = v.map(String).join(',');
    else out[key] = v as FlatValue;
  }
  return out;
}

export function eventFromRaw(kind: LogKind, raw: string, extra: Partial<RelayEvent> = {}): RelayEvent {
  const r = JSON.parse(raw) as Record<string, unknown>;
  const str = (k: string): string | undefined => (typeof r[k] === 'string' ? (r[k] as string) : undefined);
  return {
    kind,
    tag: `auth.duo.${kind}.events`,
    msgid: kind,
    host: str('host'),
    time: str('isotimestamp') ?? str('ts') ?? str('timestamp'),
    id: str('telephony_id') ?? str('txid') ?? str('activity_id') ?? 'hash-0001',
    fields: flat(r, '', {}),
    raw,
    ...extra,
  };
}
