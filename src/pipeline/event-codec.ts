/**
 * RelayEvent ⇄ disk-queue payload. The payload is the event's JSON (what JSON.stringify writes,
 * so any reader of the queue can parse it), built by concatenation: the flattened fields come from
 * the pieces the router kept (formats/flat-json.ts) instead of a second walk over the record, which
 * is most of the cost of queueing an event.
 */
import type { RelayEvent } from '../event.js';
import { flatJson } from '../formats/flat-json.js';

const str = JSON.stringify as (s: string) => string;

/** The event's JSON text, equal to JSON.stringify(ev) for every RelayEvent. */
export function encodeEvent(ev: RelayEvent): string {
  let s = `{"kind":${str(ev.kind)},"tag":${str(ev.tag)},"msgid":${str(ev.msgid)}`;
  if (ev.host !== undefined) s += `,"host":${str(ev.host)}`;
  if (ev.time !== undefined) s += `,"time":${str(ev.time)}`;
  s += `,"id":${str(ev.id)},"fields":${flatJson(ev.fields)},"raw":${str(ev.raw)}`;
  if (ev.account !== undefined) s += `,"account":${str(ev.account)}`;
  return `${s}}`;
}

/** The event back from its payload (written by encodeEvent, CRC-checked by the queue). */
export function decodeEvent(payload: Buffer): RelayEvent {
  return JSON.parse(payload.toString('utf8')) as RelayEvent;
}
