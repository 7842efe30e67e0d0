/**
 * The JSON text of an event's flattened fields without serialising the record again. The
 * router's proxy fast lane (route/proxy-fast.ts) keeps the raw JSON token of every value it read
 * (already in the form JSON.stringify writes) and its layout's `"name":` pieces; the body is those
 * pieces end to end. They are joined only when a destination formats the event, so the finished
 * text never outlives the formatting (the disk queue's event codec uses the same text).
 *
 * The pieces live in private fields of the fields object: JSON.stringify, Object.keys, spreads,
 * deep-equality checks and the disk queue never see them, and an event read back from the queue
 * simply has none (its body is then serialised as usual). Fields are never modified after
 * routing; that is what makes the kept tokens safe to reuse.
 */
import type { FlatRecord, FlatValue } from '../event.js';

/**
 * Reused between calls: the pieces of one body, joined into one flat string. A chain of `+`
 * would be flattened (copied again) when encoded; a joined string is written as it is.
 */
let scratch: string[] = [];

/** A FlatRecord that can write its own JSON text. Behaves as a plain record in every other way. */
export class FlatRecordWithJson {
  [name: string]: FlatValue;
  /** `{"name":` / `,"name":` per field, in field order (shared by every record of one layout). */
  #prefixes: readonly string[] = [];
  /** The JSON token of field i at index i + 1 (a regular-expression match array). */
  #tokens: ArrayLike<string | undefined> = [];

  /**
   * Sets the pieces: JSON.stringify(fields) must equal prefixes[0] + tokens[1] + prefixes[1] +
   * tokens[2] + … + '}'.
   */
  static attach(fields: FlatRecordWithJson, prefixes: readonly string[], tokens: ArrayLike<string | undefined>): void {
    fields.#prefixes = prefixes;
    fields.#tokens = tokens;
  }

  /** The JSON text of `fields` when they carry their pieces, else undefined. */
  static jsonOf(fields: FlatRecord): string | undefined {
    if (!(#prefixes in fields)) return undefined;
    const f = fields as FlatRecordWithJson;
    return joinJson(f.#prefixes, f.#tokens);
  }
}

/** prefixes[0] + tokens[1] + prefixes[1] + tokens[2] + … + '}', as one flat string. */
export function joinJson(prefixes: readonly string[], tokens: ArrayLike<string | undefined>): string {
  const n = prefixes.length;
  const parts = scratch.length === 2 * n + 1 ? scratch : (scratch = new Array<string>(2 * n + 1));
  for (let i = 0; i < n; i++) {
    parts[2 * i] = prefixes[i] as string;
    parts[2 * i + 1] = tokens[i + 1] as string;
  }
  parts[2 * n] = '}';
  return parts.join('');
}

/** JSON.stringify(fields), from the pieces the router kept when there are some. */
export function flatJson(fields: FlatRecord): string {
  return FlatRecordWithJson.jsonOf(fields) ?? JSON.stringify(fields);
}
