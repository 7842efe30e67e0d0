/**
 * The config reference in the README and the JSON Schema for editors are both generated from
 * the zod schema, so they cannot drift from what `check-config` enforces
 * (test/config/reference.test.ts fails when the README is stale).
 */
import { z } from 'zod';
import { configSchema } from './schema.js';

type Js = { [k: string]: unknown };

export function configJsonSchema(): Js {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Js;
}

function isObj(v: unknown): v is Js {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeOf(s: Js): string {
  if (Array.isArray(s['enum'])) return (s['enum'] as unknown[]).map((v) => `\`${String(v)}\``).join(' \\| ');
  if ('const' in s) return `\`${String(s['const'])}\``;
  if (Array.isArray(s['anyOf'])) return (s['anyOf'] as unknown[]).filter(isObj).map(typeOf).join(' \\| ');
  if (s['type'] === 'array' && isObj(s['items'])) {
    const items = s['items'];
    return isObj(items['properties']) ? 'list of objects' : `list of ${typeOf(items)}`;
  }
  return typeof s['type'] === 'string' ? s['type'] : 'any';
}

function limits(s: Js): string {
  const parts: string[] = [];
  if (typeof s['minimum'] === 'number') parts.push(`≥ ${s['minimum']}`);
  if (typeof s['maximum'] === 'number' && s['maximum'] < Number.MAX_SAFE_INTEGER) parts.push(`≤ ${s['maximum']}`);
  if (typeof s['minItems'] === 'number') parts.push(`at least ${s['minItems']}`);
  if (typeof s['pattern'] === 'string') parts.push(`pattern \`${s['pattern'].replace(/\|/g, '\\|')}\``);
  return parts.join(', ');
}

function fmtDefault(v: unknown): string {
  if (v === undefined) return '';
  const text = JSON.stringify(v);
  return `\`${text.length > 60 ? `${text.slice(0, 57)}…` : text}\``;
}

/** The default value, or for one that depends on other settings the schema's `description: "Default: …"`. */
function defaultText(s: Js): string {
  const d = s['description'];
  if (s['default'] === undefined && typeof d === 'string' && d.startsWith(DEFAULT_NOTE)) return d.slice(DEFAULT_NOTE.length);
  return fmtDefault(s['default']);
}

const DEFAULT_NOTE = 'Default: ';

function rows(s: Js, path: string, required: ReadonlySet<string>, out: string[]): void {
  const props = isObj(s['properties']) ? s['properties'] : {};
  const req = new Set(Array.isArray(s['required']) ? (s['required'] as string[]) : []);
  for (const [key, raw] of Object.entries(props)) {
    if (!isObj(raw)) continue;
    const p = path === '' ? key : `${path}.${key}`;
    const needed = req.has(key) && raw['default'] === undefined;
    out.push(`| \`${p}\` | ${typeOf(raw)} | ${needed ? 'yes' : ''} | ${defaultText(raw)} | ${limits(raw)} |`);
    if (isObj(raw['properties'])) rows(raw, p, required, out);
    if (raw['type'] === 'array' && isObj(raw['items']) && isObj(raw['items']['properties'])) rows(raw['items'], `${p}[]`, required, out);
  }
}

const HEAD = ['| key | type | required | default | limits |', '|---|---|---|---|---|'];

/** Markdown: the top level, then one table per source and destination type. */
export function configReference(): string {
  const schema = configJsonSchema();
  const out: string[] = ['### Top level', '', ...HEAD];
  const top = { ...schema, properties: Object.fromEntries(Object.entries(isObj(schema['properties']) ? schema['properties'] : {}).filter(([k]) => k !== 'sources' && k !== 'destinations')) };
  rows(top, '', new Set(), out);
  const props = isObj(schema['properties']) ? schema['properties'] : {};
  for (const list of ['sources', 'destinations'] as const) {
    const arr = props[list];
    const items = isObj(arr) && isObj(arr['items']) ? arr['items'] : {};
    const variants = Array.isArray(items['oneOf']) ? items['oneOf'] : Array.isArray(items['anyOf']) ? items['anyOf'] : [];
    for (const v of variants) {
      if (!isObj(v) || !isObj(v['properties'])) continue;
      const type = v['properties']['type'];
      const name = isObj(type) ? String(type['const'] ?? '') : '';
      out.push('', `### ${list}: \`type: ${name}\``, '', ...HEAD);
      rows(v, `${list}[]`, new Set(), out);
    }
  }
  return out.join('\n');
}

export const REFERENCE_BEGIN = '<!-- CONFIG-REFERENCE:BEGIN (generated: npm run docs) -->';
export const REFERENCE_END = '<!-- CONFIG-REFERENCE:END -->';

/** Replaces the generated block of a README text. */
export function withReference(readme: string): string {
  const block = `${REFERENCE_BEGIN}\n${configReference()}\n${REFERENCE_END}`;
  const a = readme.indexOf(REFERENCE_BEGIN);
  const b = readme.indexOf(REFERENCE_END);
  if (a === -1 || b === -1) return readme.replace('<!-- CONFIG-REFERENCE -->', () => block);
  return readme.slice(0, a) + block + readme.slice(b + REFERENCE_END.length);
}
