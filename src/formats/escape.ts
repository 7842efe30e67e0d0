/**
 * Escaping for each wire format. Each function scans char codes first and returns the very
 * same string when nothing needs escaping (the usual case); only then does it build a copy.
 * No regex runs per field (house style 9).
 */

const QUOTE = 34; // "
const BACKSLASH = 92; // \
const RBRACKET = 93; // ]
const PIPE = 124; // |
const EQUALS = 61; // =
const LF = 10;
const CR = 13;
const TAB = 9;

/** RFC 5424 §6.3.3 PARAM-VALUE: `"`, `\` and `]` MUST be escaped with a backslash. */
export function escapeSdValue(s: string): string {
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === QUOTE || c === BACKSLASH || c === RBRACKET) break;
  }
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === QUOTE || c === BACKSLASH || c === RBRACKET) out += '\\';
    out += s[i];
  }
  return out;
}

/**
 * CEF header fields: `|` and `\` are backslash-escaped. A header has no escape for line
 * breaks, so CR and LF become spaces (a CEF event is one line).
 */
export function escapeCefHeader(s: string): string {
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === PIPE || c === BACKSLASH || c === CR || c === LF) break;
  }
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === PIPE || c === BACKSLASH) out += '\\' + s[i];
    else if (c === CR || c === LF) out += ' ';
    else out += s[i];
  }
  return out;
}

/** CEF extension values: `\` and `=` are backslash-escaped, line breaks written as `\n` / `\r`. */
export function escapeCefValue(s: string): string {
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === EQUALS || c === BACKSLASH || c === CR || c === LF) break;
  }
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === EQUALS || c === BACKSLASH) out += '\\' + s[i];
    else if (c === LF) out += '\\n';
    else if (c === CR) out += '\\r';
    else out += s[i];
  }
  return out;
}

/**
 * LEEF attribute values and header fields. LEEF has no escape for its delimiter (tab here),
 * nor for `|` in the header, so those and line breaks become spaces: a value can never
 * split an attribute or the event.
 */
export function sanitizeLeef(s: string, header: boolean): string {
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === TAB || c === CR || c === LF || (header && c === PIPE)) break;
  }
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c === TAB || c === CR || c === LF || (header && c === PIPE) ? ' ' : s[i];
  }
  return out;
}

/** Unescapes an RFC 5424 PARAM-VALUE: `\"` `\\` `\]` lose their backslash; any other `\` stays. */
export function unescapeSdValue(s: string): string {
  if (s.indexOf('\\') === -1) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === BACKSLASH && i + 1 < s.length) {
      const n = s.charCodeAt(i + 1);
      if (n === QUOTE || n === BACKSLASH || n === RBRACKET) {
        out += s[i + 1];
        i++;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}
