/**
 * Deterministic Duo log records for the mock, computed from their index: nothing is stored, so a
 * data set of a million records costs no memory. Record i of a data set has time t(i), non-decreasing
 * in i, and an id whose last 12 hex digits are i, so (time, id) order is index order and an offset
 * token maps straight back to an index. Shapes follow the real samples in
 * test/fixtures/duo/mock-bodies/ (Elastic's mock API) and notes/duo-admin-api.md.
 */

export type MockEndpoint = 'administrator' | 'authentication' | 'telephony' | 'telephony-v1' | 'offline-enrollment' | 'activity' | 'trust-monitor';

export interface EndpointInfo {
  endpoint: MockEndpoint;
  path: string;
  /** v1: mintime in seconds, 1000 earliest; window: mintime/maxtime in ms + offset token. */
  paging: 'v1' | 'window';
  maxLimit: number;
  /** Where the list sits: `null` = response is the array. */
  listKey: string | null;
  /** Shape of metadata.next_offset. */
  token: 'pair' | 'string' | 'index' | 'none';
}

export const ENDPOINTS: readonly EndpointInfo[] = [
  { endpoint: 'administrator', path: '/admin/v1/logs/administrator', paging: 'v1', maxLimit: 1000, listKey: null, token: 'none' },
  { endpoint: 'authentication', path: '/admin/v2/logs/authentication', paging: 'window', maxLimit: 1000, listKey: 'authlogs', token: 'pair' },
  { endpoint: 'telephony', path: '/admin/v2/logs/telephony', paging: 'window', maxLimit: 1000, listKey: 'items', token: 'string' },
  { endpoint: 'telephony-v1', path: '/admin/v1/logs/telephony', paging: 'v1', maxLimit: 1000, listKey: null, token: 'none' },
  { endpoint: 'offline-enrollment', path: '/admin/v1/logs/offline_enrollment', paging: 'v1', maxLimit: 1000, listKey: null, token: 'none' },
  { endpoint: 'activity', path: '/admin/v2/logs/activity', paging: 'window', maxLimit: 1000, listKey: 'items', token: 'string' },
  { endpoint: 'trust-monitor', path: '/admin/v1/trust_monitor/events', paging: 'window', maxLimit: 200, listKey: 'events', token: 'index' },
];

export function endpointByPath(path: string): EndpointInfo | undefined {
  return ENDPOINTS.find((e) => e.path === path);
}

export type Rec = Record<string, unknown>;

const CITIES = [
  { city: 'Ann Arbor', state: 'Michigan', country: 'United States' },
  { city: 'Paris', state: 'Ile-de-France', country: 'France' },
  { city: 'Sydney', state: 'New South Wales', country: 'Australia' },
];

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0').slice(-width);
}

function isoMicro(ms: number, micro: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, (_m, frac: string) => `.${frac}${String(micro % 1000).padStart(3, '0')}+00:00`);
}

function isoSeconds(s: number): string {
  return new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

/** One data set: N records of one endpoint for one account. */
export class DataSet {
  readonly count: number;
  readonly #startMs: number;
  readonly #stepMs: number;
  readonly #perSecond: number;
  readonly #clusters: number;
  readonly #spanS: number;
  readonly #prefix: string;

  constructor(
    readonly info: EndpointInfo,
    readonly account: string | null,
    count: number,
    startMs: number,
    endMs: number,
    v1PerSecond: number,
    salt: number,
  ) {
    this.count = count;
    this.#startMs = startMs;
    this.#stepMs = count > 0 ? (endMs - startMs) / count : 0;
    // v1 records come in clusters sharing one second, spread over the span like the others, so
    // pages of 1000 end in the middle of a second.
    this.#perSecond = v1PerSecond;
    this.#clusters = Math.max(1, Math.ceil(count / v1PerSecond));
    this.#spanS = Math.max(1, Math.floor((endMs - startMs) / 1000));
    this.#prefix = `${hex(salt * 2654435761, 8)}-${hex(ENDPOINTS.indexOf(info) + 1, 4)}-4${hex(salt, 3)}-8${hex(count, 3)}`;
  }

  /** Time of record i in ms (whole seconds for v1 endpoints). */
  timeMs(i: number): number {
    if (this.info.paging === 'v1') {
      const cluster = Math.floor(i / this.#perSecond);
      return (Math.floor(this.#startMs / 1000) + Math.floor((cluster * this.#spanS) / this.#clusters)) * 1000;
    }
    return this.#startMs + Math.floor(i * this.#stepMs);
  }

  /** First index whose time is ≥ t (count when none). */
  lowerBound(t: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.timeMs(mid) < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index whose time is > t. */
  upperBound(t: number): number {
    return this.lowerBound(t + 1);
  }

  id(i: number): string {
    return `${this.#prefix}-${hex(i, 12)}`;
  }

  /** Index of an id made by this set, or undefined. */
  indexOf(id: string): number | undefined {
    if (!id.startsWith(`${this.#prefix}-`)) return undefined;
    const i = parseInt(id.slice(-12), 16);
    return Number.isInteger(i) && i >= 0 && i < this.count ? i : undefined;
  }

  record(i: number): Rec {
    const t = this.timeMs(i);
    const s = Math.floor(t / 1000);
    const id = this.id(i);
    const where = CITIES[i % CITIES.length] ?? CITIES[0];
    const user = `user${i % 997}`;
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    switch (this.info.endpoint) {
      case 'authentication':
        return {
          access_device: { browser: 'Chrome', browser_version: '120.0.6099.71', hostname: null, ip, location: where, os: 'Mac OS X', os_version: '14.1' },
          alias: '',
          application: { key: 'DIY231J8BR23QK4UKBY8', name: 'Microsoft Azure Active Directory' },
          auth_device: { ip: '192.168.225.254', location: where, name: 'My iPhone X (734-555-2342)' },
          email: `${user}@example.com`,
          event_type: 'authentication',
          factor: i % 5 === 0 ? 'phone_call' : 'duo_push',
          isotimestamp: isoMicro(t, i),
          ood_software: null,
          reason: i % 11 === 0 ? 'user_mistake' : 'user_approved',
          result: i % 11 === 0 ? 'denied' : 'success',
          timestamp: s,
          txid: id,
          user: { groups: ['Sales', 'VPN Users'], key: `DU${hex(i, 18).toUpperCase()}`, name: user },
        };
      case 'telephony':
        return { context: 'authentication', credits: 1 + (i % 3), phone: `+1734555${String(i % 10000).padStart(4, '0')}`, telephony_id: id, ts: isoMicro(t, i), txid: `tx-${id}`, type: i % 2 === 0 ? 'sms' : 'phone' };
      case 'activity':
        return {
          action: 'phone_create',
          activity_id: id,
          actor: { details: JSON.stringify({ created_by: 'admin' }), key: 'DEADMIN0000000000001', name: 'admin', type: 'admin' },
          akey: 'DA0STO6EVV8EAONUD8P7',
          application: null,
          target: { details: null, key: `DP${hex(i, 18).toUpperCase()}`, name: `phone ${i}`, type: 'phone' },
          ts: isoMicro(t, i),
        };
      case 'trust-monitor':
        return {
          explanations: [{ summary: 'amanda_tucker has not logged in from this IP recently.', type: 'NEW_NETBLOCK' }],
          from_common_netblock: true,
          priority_event: false,
          priority_reasons: [],
          sekey: id,
          state: 'new',
          surfaced_auth: { txid: `tm-${id}`, user: { name: user }, result: 'success', timestamp: s },
          surfaced_timestamp: t,
          triage_event_uri: `https://admin-xxxxxxxx.duosecurity.com/trust-monitor?sekey=${id}`,
          type: 'auth',
        };
      case 'administrator':
        return {
          action: i % 10 === 0 ? 'admin_login' : 'user_update',
          description: i % 10 === 0 ? JSON.stringify({ ip_address: ip, device: '888-683-9010', factor: 'sms', primary_auth_method: 'Password', seq: i }) : JSON.stringify({ notes: `change ${i}`, realname: 'Joe Smith' }),
          isotimestamp: isoSeconds(s),
          object: i % 10 === 0 ? null : user,
          timestamp: s,
          username: 'admin',
        };
      case 'offline-enrollment':
        return {
          action: 'o2fa_user_provisioned',
          description: JSON.stringify({ user_agent: 'DuoCredProv/4.0.6.413 (Windows NT 6.3.9600; x64; Server)', hostname: `WKS${i}`, factor: 'duo_otp' }),
          isotimestamp: isoSeconds(s),
          object: 'Acme Laptop Windows Logon',
          timestamp: s,
          username: user,
        };
      case 'telephony-v1':
        return { context: 'authentication', credits: 1, isotimestamp: isoSeconds(s), phone: `+1${String(i).padStart(10, '0')}`, timestamp: s, type: 'sms' };
    }
  }
}

/** A field that tells records of one endpoint apart, for tests (ids for v2, a unique field for v1). */
export function recordKey(endpoint: MockEndpoint, r: Rec): string {
  const f = { authentication: 'txid', telephony: 'telephony_id', activity: 'activity_id', 'trust-monitor': 'sekey', administrator: 'description', 'offline-enrollment': 'description', 'telephony-v1': 'phone' }[endpoint];
  return String(r[f]);
}
