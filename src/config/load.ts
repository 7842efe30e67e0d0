/**
 * Reads the YAML config, substitutes `${ENV}`, validates it with the schema and resolves
 * secrets. Every problem is reported at once, one line each, starting with its path.
 */
import { readFile, stat, access, constants } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { substituteEnv } from './env.js';
import { ConfigError } from '../errors.js';

export { DEFAULT_CONFIG_PATH } from './paths.js';

export interface LoadedConfig {
  file: string;
  config: Config;
  /** Duo secret keys by source index; never logged. */
  skeys: Map<number, string>;
  /** Non-fatal findings (e.g. a secret file readable by others). */
  warnings: string[];
}

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
    return `${path}: ${issue.message}`;
  });
}

export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => `YAML syntax: ${e.message.split('\n')[0] ?? e.message}`));
  }
  const raw: unknown = doc.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, ['(root): expected a mapping with sources and destinations']);
  }
  const problems: string[] = [];
  const substituted = substituteEnv(raw, env, '', problems);
  const parsed = configSchema.safeParse(substituted);
  if (!parsed.success) problems.push(...formatIssues(parsed.error.issues));
  if (problems.length > 0 || !parsed.success) throw new ConfigError(file, problems);
  return parsed.data;
}

/** Files the config names must exist and be readable now, not at 3 a.m. when a reconnect needs them. */
async function checkFiles(config: Config, problems: string[]): Promise<void> {
  const want: Array<[string, string | undefined]> = [];
  config.destinations.forEach((d, i) => {
    if (d.type === 'syslog') for (const k of ['ca', 'cert', 'key'] as const) want.push([`destinations.${i}.${k}`, d[k]]);
  });
  config.sources.forEach((s, i) => {
    if (s.type === 'duo-api') want.push([`sources.${i}.ca`, s.ca]);
    if (s.type === 'syslog') for (const k of ['ca', 'cert', 'key'] as const) want.push([`sources.${i}.listen.${k}`, s.listen[k]]);
  });
  config.destinations.forEach((d, i) => {
    if (d.type === 'syslog' && (d.cert === undefined) !== (d.key === undefined)) {
      problems.push(`destinations.${i}: cert and key go together for mutual TLS; set both or neither`);
    }
  });
  for (const [path, file] of want) {
    if (file === undefined) continue;
    try {
      await access(file, constants.R_OK);
    } catch (err: unknown) {
      problems.push(`${path}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}); fix the path or its permissions`);
    }
  }
}

async function resolveSecrets(config: Config, problems: string[], warnings: string[]): Promise<Map<number, string>> {
  const skeys = new Map<number, string>();
  for (const [i, s] of config.sources.entries()) {
    if (s.type !== 'duo-api') continue;
    if (s.skey !== undefined) {
      skeys.set(i, s.skey.trim());
      continue;
    }
    const file = s.skey_file;
    if (file === undefined) continue;
    try {
      const st = await stat(file);
      if ((st.mode & 0o077) !== 0) warnings.push(`sources.${i}.skey_file: ${file} is readable by group or others; chmod 600 it`);
      const value = (await readFile(file, 'utf8')).trim();
      if (value === '') problems.push(`sources.${i}.skey_file: ${file} is empty; put the Admin API secret key in it`);
      else skeys.set(i, value);
    } catch (err: unknown) {
      problems.push(`sources.${i}.skey_file: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}); create it (mode 600) or fix the path`);
    }
  }
  return skeys;
}

export async function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err: unknown) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(file, [`(file): cannot read the config file (${code}); pass --config PATH or create ${file}`]);
  }
  const config = parseConfigText(text, file, env);
  const problems: string[] = [];
  const warnings: string[] = [];
  await checkFiles(config, problems);
  const skeys = await resolveSecrets(config, problems, warnings);
  if (problems.length > 0) throw new ConfigError(file, problems);
  return { file, config, skeys, warnings };
}
