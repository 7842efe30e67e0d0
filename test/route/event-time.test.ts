import t from 'tap';
import fc from 'fast-check';
import { eventTime, normaliseIsoTime, timeFromEpoch, timeFromValue } from '../../src/route/event-time.js';

/** RFC 5424 TIMESTAMP (RFC 3339 profile, ≤6 fractional digits, explicit offset). */
const RFC5424_TIME = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

t.test('ISO strings: kept when canonical, normalised otherwise', async (t) => {
  const cases: [string, string | undefined][] = [
    ['2021-03-23T00:01:48.721183+00:00', '2021-03-23T00:01:48.721183+00:00'],
    ['2021-03-17T10:13:13.980350Z', '2021-03-17T10:13:13.980350Z'],
    ['2021-03-23T16:11:49+00:00', '2021-03-23T16:11:49+00:00'],
    ['2023-01-11T03:47:38.220872-05:00', '2023-01-11T03:47:38.220872-05:00'],
    ['2023-01-11T03:47:38.220872-0500', '2023-01-11T03:47:38.220872-05:00'],
    ['2023-01-11T03:47:38+05', '2023-01-11T03:47:38+05:00'],
    ['2021-03-17t10:13:13z', '2021-03-17T10:13:13Z'],
    ['2021-03-17T10:13:13.123456789Z', '2021-03-17T10:13:13.123456Z'],
    ['2022-12-14 20:09:57', '2022-12-14T20:09:57Z'],
    ['2022-12-14 20:09:57.5', '2022-12-14T20:09:57.5Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00Z'],
    ['2000-02-29T00:00:00Z', '2000-02-29T00:00:00Z'],
    // refused
    ['2021-07-20T11: 41: 31+00: 00', undefined],
    ['2023-02-29T00:00:00Z', undefined],
    ['1900-02-29T00:00:00Z', undefined],
    ['2021-04-31T00:00:00Z', undefined],
    ['2021-13-01T00:00:00Z', undefined],
    ['2021-00-01T00:00:00Z', undefined],
    ['2021-01-01T24:00:00Z', undefined],
    ['2021-01-01T23:60:00Z', undefined],
    ['2016-12-31T23:59:60Z', undefined],
    ['2021-01-01T00:00:00.Z', undefined],
    ['2021-01-01T00:00:00ZZ', undefined],
    ['2021-01-01T00:00:00+24:00', undefined],
    ['2021-01-01T00:00:00+01:60', undefined],
    ['2021-01-01T00:00:00+1', undefined],
    ['2021-01-01T00:00:00+01:0', undefined],
    ['2021-01-01X00:00:00Z', undefined],
    ['2021/01/01T00:00:00Z', undefined],
    ['not a date at all, long enough', undefined],
    ['', undefined],
    ['2021-01-01', undefined],
  ];
  for (const [input, want] of cases) t.equal(normaliseIsoTime(input), want, JSON.stringify(input));
});

t.test('epoch numbers: unit from magnitude, UTC', async (t) => {
  t.equal(timeFromEpoch(1616515909), '2021-03-23T16:11:49Z', 'seconds');
  t.equal(timeFromEpoch(1615975993.9803507), '2021-03-17T10:13:13.980351Z', 'float seconds → µs');
  t.equal(timeFromEpoch(1598034349059), '2020-08-21T18:25:49.059Z', 'milliseconds');
  t.equal(timeFromEpoch(1598034349059123), '2020-08-21T18:25:49.059123Z', 'microseconds');
  t.equal(timeFromEpoch(1598034349059123000), '2020-08-21T18:25:49.059123Z', 'nanoseconds');
  t.equal(timeFromEpoch(1), '1970-01-01T00:00:01Z');
  t.equal(timeFromEpoch(0), undefined, 'zero is an unset placeholder');
  t.equal(timeFromEpoch(-5), undefined);
  t.equal(timeFromEpoch(Number.NaN), undefined);
  t.equal(timeFromEpoch(Number.POSITIVE_INFINITY), undefined);
  t.equal(timeFromEpoch(99999999999), '5138-11-16T09:46:39Z', 'largest value read as seconds (1e11 and up is ms)');
  t.equal(timeFromEpoch(253402300800000000000), undefined, 'year 10000 does not fit RFC 5424');
  t.equal(timeFromValue('1616515909'), '2021-03-23T16:11:49Z', 'numeric string');
  t.equal(timeFromValue('1616515909.5'), '2021-03-23T16:11:49.5Z');
  t.equal(timeFromValue(true), undefined);
  t.equal(timeFromValue({}), undefined);
});

t.test('candidates in order, malformed ones skipped', async (t) => {
  t.equal(eventTime({ isotimestamp: '2021-03-23T16:11:49+00:00', timestamp: 1 }), '2021-03-23T16:11:49+00:00');
  t.equal(eventTime({ isotimestamp: '2021-07-20T11: 41: 31+00: 00', timestamp: 1626781291 }), '2021-07-20T11:41:31Z', 'Elastic malformed sample');
  t.equal(eventTime({ ts: '2023-01-26T20:54:12.573580+00:00', txid: 'x' }), '2023-01-26T20:54:12.573580+00:00', 'telephony v2');
  t.equal(eventTime({ timestamp: '2021-03-17T10:13:13.980350Z', log_time: 1615975993.9803507 }), '2021-03-17T10:13:13.980350Z', 'authproxy');
  t.equal(eventTime({ timestamp: 'garbage', log_time: 1615975993.9803507 }), '2021-03-17T10:13:13.980351Z', 'authproxy log_time fallback');
  t.equal(eventTime({ surfaced_timestamp: 1598034349059 }), '2020-08-21T18:25:49.059Z', 'trust monitor');
  t.equal(eventTime({ isotimestamp: null, timestamp: null }), undefined);
  t.equal(eventTime({}), undefined);
  t.equal(eventTime({ isotimestamp: 'bad', ts: 'bad', timestamp: 'bad', surfaced_timestamp: -1, log_time: {} }), undefined);
});

t.test('property: any output is a valid RFC 5424 timestamp', async (t) => {
  const arbitraryValue = fc.oneof(
    fc.string(),
    fc.double(),
    fc.integer(),
    fc.date({ min: new Date(1), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString()),
    fc.date({ min: new Date(1), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.getTime()),
  );
  fc.assert(
    fc.property(arbitraryValue, (v) => {
      const out = timeFromValue(v);
      if (out === undefined) return true;
      if (!RFC5424_TIME.test(out)) return false;
      return !Number.isNaN(Date.parse(out));
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.date({ min: new Date(1000), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }), (d) => {
      // toISOString round-trips through the parser to the same instant
      const out = normaliseIsoTime(d.toISOString());
      return out !== undefined && Date.parse(out) === d.getTime();
    }),
    { numRuns: 1000 },
  );
  t.pass('held');
});
