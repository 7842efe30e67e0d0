/**
 * `${VAR}` / `${VAR:-default}` substitution in every string of the parsed YAML document.
 * `$${` is a literal `${`. A missing variable without default is a problem named by its path.
 */
const PATTERN = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, path: string, problems: string[]): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    return value.replace(PATTERN, (match: string, name: string | undefined, def: string | undefined) => {
      if (match === '$${') return '${';
      const v = name === undefined ? undefined : env[name];
      if (v !== undefined && v !== '') return v;
      if (def !== undefined) return def;
      problems.push(`${path || '(root)'}: environment variable ${name ?? '?'} is not set (use \${${name ?? '?'}:-default} for a default)`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, `${path}.${i}`, problems));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, env, path ? `${path}.${k}` : k, problems);
    return out;
  }
  return value;
}
