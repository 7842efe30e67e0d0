/**
 * Fast lane for Authentication Proxy lines: the flattened fields and their JSON text straight
 * from the line, without JSON.parse, the flatten walk or JSON.stringify (together about half of
 * the relay's CPU per proxy event). The event (FastProxyEvent) keeps the matched tokens and makes
 * the fields record only when a format asks for it: RFC 5424 with the flattened body needs the
 * JSON text, the time and the status alone (measured: +9 % end to end).
 *
 * The proxy writes every event with the same few key layouts. A layout is learnt from a line that
 * the normal path (JSON.parse → flattenProxy → JSON.stringify) has handled, and kept only when the
 * fast result for that very line is identical to the normal one: same field names in the same
 * order, same values, same JSON text. Each layout becomes one anchored regular expression that
 * matches a whole line of that layout and captures its scalar values; later lines go through the
 * known layouts, and any difference in keys, nesting, value type or syntax is a miss that takes
 * the normal path. Names depend only on the layout (flatten.ts), so a layout verified once holds
 * for every line it matches.
 *
 * A line is taken only where the normal path would give the same result, so the lane refuses:
 * - strings with a backslash (escapes) or a raw control character (JSON.parse rejects those), and
 *   lone surrogates (JSON.stringify would escape them);
 * - arrays, nesting deeper than MAX_LAYOUT_DEPTH, whitespace other than spaces;
 * - numbers not in the form JSON.stringify writes back (`1.50`, `1E3`, `-0`, beyond 2^53…);
 * - at learning: duplicate keys, array-index keys (they would be reordered), `__proto__`.
 * The expressions are linear (every alternative starts with a different character, no nested
 * quantifiers), so a hostile line costs one pass. Layouts are capped (MAX_LAYOUTS, least recently
 * used leaves first); a line whose layout cannot be learnt puts learning to sleep for
 * LEARN_COOLDOWN misses, so odd input costs the normal path and little more.
 */
import { plainEvent, type FlatRecord, type FlatValue, type RelayEvent } from '../event.js';
import { flattenProxy, proxyFieldName } from './flatten.js';
import { TIME_FIELDS, eventTime, timeFromValue } from './event-time.js';
import { isWellFormed } from '../formats/utf8.js';
import { FlatRecordWithJson, joinJson } from '../formats/flat-json.js';
import { proxySeverity } from '../formats/severity.js';

export const MAX_LAYOUTS = 16;
const MAX_LAYOUT_DEPTH = 4;
const MAX_LAYOUT_FIELDS = 256;
const LEARN_COOLDOWN = 64;

const SP = 32;
const QUOTE = 34;
const COMMA = 44;
const COLON = 58;
const LBRACE = 123;
const RBRACE = 125;
const LBRACKET = 91;

/** One scalar value: a string without escapes or control characters, a number, or a literal. */
const VALUE = '("[^"\\\\\\u0000-\\u001f]*"|-?[0-9][0-9.eE+-]*|true|false|null)';
const WS = ' *';

interface Layout {
  /** Matches a whole line of this layout; group i + 1 is the raw text of field i. */
  re: RegExp;
  /** Flattened names, in output order. */
  names: string[];
  /** `{"name":` for the first field, `,"name":` after it: the JSON text before each value. */
  prefixes: string[];
  /** Field indexes of the event-time candidates (event-time.ts TIME_FIELDS), in that order. */
  time: number[];
  /** Field index of `status` (the severity), or -1. */
  status: number;
}

/** A line matched against a known layout: group i + 1 of `tokens` is the JSON token of field i. */
export interface FastMatch {
  layout: Layout;
  tokens: RegExpExecArray;
}

/** The fields, able to give their JSON text (exactly JSON.stringify of them; formats/flat-json.ts). */
export type FastFlat = FlatRecordWithJson;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

function skipSpaces(s: string, p: number): number {
  while (s.charCodeAt(p) === SP) p++;
  return p;
}

function isArrayIndex(k: string): boolean {
  if (k.length === 0 || k.length > 10) return false;
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return (k.length === 1 || k.charCodeAt(0) !== 48) && Number(k) < 4294967295;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Whether String(Number(t)) === t, decided without converting for the usual shapes: plain
 * notation with at most 15 significant digits (every such decimal survives the round trip through
 * a double, so its digits are the shortest form) and no digit String() would drop or add.
 * Undefined when unsure (exponents, more digits, below 1e-6): the caller converts.
 */
export function plainCanonical(t: string): boolean | undefined {
  const n = t.length;
  let i = t.charCodeAt(0) === 45 ? 1 : 0; // -
  const intStart = i;
  while (i < n && isDigit(t.charCodeAt(i))) i++;
  const intLen = i - intStart;
  if (intLen === 0) return undefined;
  const zeroInt = t.charCodeAt(intStart) === 48;
  if (zeroInt && intLen > 1) return false; // leading zero
  if (i === n) {
    if (intLen > 15) return undefined;
    return !(zeroInt && intStart === 1); // -0 is written 0
  }
  if (t.charCodeAt(i) !== 46) return undefined; // .
  const fracStart = ++i;
  while (i < n && isDigit(t.charCodeAt(i))) i++;
  if (i !== n || i === fracStart) return undefined;
  if (t.charCodeAt(n - 1) === 48) return false; // trailing zero of a fraction
  if (!zeroInt) return intLen + (n - fracStart) <= 15 ? true : undefined;
  let z = fracStart;
  while (t.charCodeAt(z) === 48) z++;
  // Below 1e-6 String() writes an exponent.
  return z - fracStart <= 5 && n - z <= 15 ? true : undefined;
}

/**
 * The line matched against one layout; undefined on any difference. Values are checked here (the
 * lane's decision) but made only when asked: the usual formats need the JSON text, the time and
 * the status, not a record of every field.
 */
function run(l: Layout, s: string): FastMatch | undefined {
  const m = l.re.exec(s);
  if (m === null) return undefined;
  const n = l.names.length;
  for (let i = 1; i <= n; i++) {
    const tok = m[i] as string;
    const c = tok.charCodeAt(0);
    // An empty object is the text "{}" in its own field (flatten.ts).
    if (c === LBRACE) m[i] = '"{}"';
    else if (c !== QUOTE && c !== 116 && c !== 102 && c !== 110) {
      // Only the form JSON.stringify writes back (this also refuses what JSON.parse would).
      const canonical = plainCanonical(tok);
      if (canonical === false || (canonical === undefined && String(Number(tok)) !== tok)) return undefined;
    }
  }
  // The match array is this line's own: its captures are the values' JSON tokens (strings with
  // nothing to escape, as the expression requires; numbers checked above).
  return { layout: l, tokens: m };
}

/** The value of one JSON token that run() accepted. */
function valueOf(tok: string): FlatValue {
  const c = tok.charCodeAt(0);
  if (c === QUOTE) return tok.slice(1, -1);
  if (c === 116) return true;
  if (c === 102) return false;
  if (c === 110) return null;
  return Number(tok);
}

/** The flattened fields of a match, able to give their JSON text (formats/flat-json.ts). */
function materialize(match: FastMatch): FastFlat {
  const { layout, tokens } = match;
  const names = layout.names;
  const fields = new FlatRecordWithJson();
  for (let i = 0; i < names.length; i++) fields[names[i] as string] = valueOf(tokens[i + 1] as string);
  FlatRecordWithJson.attach(fields, layout.prefixes, tokens);
  return fields;
}

/** eventTime(fields) of a match, from the candidate fields alone. */
function timeOf(match: FastMatch): string | undefined {
  for (const i of match.layout.time) {
    const v = valueOf(match.tokens[i + 1] as string);
    if (v === null) continue;
    const t = timeFromValue(v);
    if (t !== undefined) return t;
  }
  return undefined;
}

/**
 * An authproxy event from the fast lane: the same event the router builds on the normal path,
 * whose `fields` record is made on first use (formats that only need the JSON text, the time and
 * the severity never make it). JSON.stringify gives the plain event's shape.
 */
export class FastProxyEvent implements RelayEvent {
  readonly kind = 'authproxy' as const;
  readonly msgid = 'authproxy';
  readonly tag: string;
  readonly host: string | undefined;
  readonly time: string | undefined;
  readonly id: string;
  readonly raw: string;
  declare account?: string;
  readonly #match: FastMatch;
  #fields: FastFlat | undefined;
  #json: string | undefined;

  constructor(match: FastMatch, tag: string, host: string | undefined, id: string, raw: string) {
    this.#match = match;
    this.tag = tag;
    this.host = host;
    this.time = timeOf(match);
    this.id = id;
    this.raw = raw;
  }

  get fields(): FlatRecord {
    return (this.#fields ??= materialize(this.#match));
  }

  get fieldsJson(): string {
    return (this.#json ??= joinJson(this.#match.layout.prefixes, this.#match.tokens));
  }

  get severity(): number {
    const i = this.#match.layout.status;
    return proxySeverity(i < 0 ? undefined : valueOf(this.#match.tokens[i + 1] as string));
  }

  toJSON(): object {
    return plainEvent(this);
  }
}

/** Reads the layout of a line into a Layout, or undefined when it has something the lane does not do. */
function learnLayout(s: string): Layout | undefined {
  let re = '^' + WS + '\\{';
  const names: string[] = [];
  const prefixes: string[] = [];
  const seen = new Set<string>();
  let p = skipSpaces(s, 0);
  if (s.charCodeAt(p) !== LBRACE) return undefined;
  p++;
  const parents: string[] = [''];
  let first = true;
  while (parents.length > 0) {
    if (names.length > MAX_LAYOUT_FIELDS) return undefined;
    p = skipSpaces(s, p);
    if (s.charCodeAt(p) === RBRACE) {
      if (first) return undefined; // `{}`: nothing the lane needs to do
      parents.pop();
      re += WS + '\\}';
      p++;
      continue;
    }
    if (!first) {
      if (s.charCodeAt(p) !== COMMA) return undefined;
      re += WS + ',';
      p = skipSpaces(s, p + 1);
    }
    first = false;
    if (s.charCodeAt(p) !== QUOTE) return undefined;
    const e = s.indexOf('"', p + 1);
    if (e === -1) return undefined;
    const key = s.slice(p + 1, e);
    if (isArrayIndex(key) || key === '__proto__') return undefined;
    re += WS + '"' + escapeRegExp(key) + '"' + WS + ':' + WS;
    p = skipSpaces(s, e + 1);
    if (s.charCodeAt(p) !== COLON) return undefined;
    p = skipSpaces(s, p + 1);
    const name = proxyFieldName(parents[parents.length - 1] as string, key);
    const c = s.charCodeAt(p);
    if (c === LBRACKET) return undefined;
    if (c === LBRACE) {
      const q = skipSpaces(s, p + 1);
      if (s.charCodeAt(q) === RBRACE) {
        re += '(\\{' + WS + '\\})';
        if (!addField(name)) return undefined;
        p = q + 1;
        continue;
      }
      if (parents.length > MAX_LAYOUT_DEPTH) return undefined;
      re += '\\{';
      parents.push(name);
      first = true;
      p++;
      continue;
    }
    re += VALUE;
    if (!addField(name)) return undefined;
    p = skipScalar(s, p);
    if (p === -1) return undefined;
  }
  if (skipSpaces(s, p) !== s.length) return undefined;
  const time = TIME_FIELDS.map((f) => names.indexOf(f)).filter((i) => i >= 0);
  return { re: new RegExp(re + WS + '$'), names, prefixes, time, status: names.indexOf('status') };

  /** False when the name repeats (a collision the normal path suffixes) or is unsafe. */
  function addField(name: string): boolean {
    if (seen.has(name) || isArrayIndex(name) || name === '__proto__') return false;
    prefixes.push((seen.size === 0 ? '{' : ',') + JSON.stringify(name) + ':');
    names.push(name);
    seen.add(name);
    return true;
  }
}

/** End of the scalar at `p` (its syntax is checked by the expression), or -1. */
function skipScalar(s: string, p: number): number {
  if (s.charCodeAt(p) === QUOTE) {
    const e = s.indexOf('"', p + 1);
    return e === -1 ? -1 : e + 1;
  }
  let e = p;
  while (e < s.length) {
    const d = s.charCodeAt(e);
    if (d === COMMA || d === RBRACE || d === SP) break;
    e++;
  }
  return e > p ? e : -1;
}

function sameFlat(a: FlatRecord, b: FlatRecord): boolean {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i] as string;
    if (k !== kb[i] || !Object.is(a[k], b[k])) return false;
  }
  return true;
}

export class ProxyFastPath {
  #layouts: Layout[] = [];
  #sleep = 0;

  /**
   * The flattened fields of one authevents line and their JSON text, exactly as
   * `flattenProxy(JSON.parse(text))` and `JSON.stringify` of it would give; undefined when the
   * normal path must handle the line (including every line that is not valid JSON).
   */
  flatten(text: string): FastFlat | undefined {
    const m = this.match(text);
    return m === undefined ? undefined : materialize(m);
  }

  /** The line matched against a known (or newly learnt) layout; undefined as for flatten(). */
  match(text: string): FastMatch | undefined {
    if (!isWellFormed(text)) return undefined;
    const layouts = this.#layouts;
    for (let i = 0; i < layouts.length; i++) {
      const l = layouts[i] as Layout;
      const m = run(l, text);
      if (m !== undefined) {
        if (i > 0) {
          // Most recently used first: one layout usually carries a run of lines.
          layouts.splice(i, 1);
          layouts.unshift(l);
        }
        return m;
      }
    }
    return this.#learn(text);
  }

  /** Layouts known (tests). */
  get size(): number {
    return this.#layouts.length;
  }

  /** Keeps the line's layout when the lane reproduces the normal path exactly; returns that result. */
  #learn(text: string): FastMatch | undefined {
    if (this.#sleep > 0) {
      this.#sleep--;
      return undefined;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return undefined; // the router reports it
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    const layout = learnLayout(text);
    const match = layout !== undefined ? run(layout, text) : undefined;
    if (layout === undefined || match === undefined) {
      this.#sleep = LEARN_COOLDOWN;
      return undefined;
    }
    const fields = flattenProxy(parsed as Record<string, unknown>);
    const fast = materialize(match);
    if (!sameFlat(fields, fast) || JSON.stringify(fields) !== FlatRecordWithJson.jsonOf(fast) || timeOf(match) !== eventTime(fields)) {
      this.#sleep = LEARN_COOLDOWN;
      return undefined;
    }
    this.#layouts.unshift(layout);
    if (this.#layouts.length > MAX_LAYOUTS) this.#layouts.pop();
    return match;
  }
}
