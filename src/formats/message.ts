/**
 * The MSG body, per destination `message:`. Every body is a well-formed string (JSON.stringify
 * escapes lone surrogates since ES2019; `raw` is repaired here), so formatters can measure
 * and cut it in UTF-8 without surprises.
 */
import type { RelayEvent } from '../event.js';
import type { MessageBody } from './types.js';
import { toEcs } from './ecs.js';
import { wellFormed } from './utf8.js';
import { flatJson } from './flat-json.js';

const flattened: MessageBody = Object.assign((ev: RelayEvent) => ev.fieldsJson ?? flatJson(ev.fields), {
  bytes: (ev: RelayEvent) => ev.fieldsBytes,
});
// A leading U+FEFF (a file's BOM kept by a reader) would read as the RFC 5424 MSG-UTF8 BOM
// and vanish at the receiver; JSON text must not start with one anyway (RFC 8259 §8.1).
const raw: MessageBody = (ev: RelayEvent) => {
  let start = 0;
  while (ev.raw.charCodeAt(start) === 0xfeff) start++;
  return wellFormed(start === 0 ? ev.raw : ev.raw.slice(start));
};
const ecs: MessageBody = (ev: RelayEvent) => JSON.stringify(toEcs(ev));

export function messageBody(kind: 'flattened' | 'raw' | 'ecs'): MessageBody {
  switch (kind) {
    case 'flattened':
      return flattened;
    case 'raw':
      return raw;
    case 'ecs':
      return ecs;
  }
}
