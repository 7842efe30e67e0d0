/**
 * How main.js runs when installed: `#!/usr/bin/env -S [VAR=value …] node [--flag …]`. Tests and
 * benches that start the relay as a child use the same environment and flags, so their memory and
 * speed figures are those of the production process.
 */
import { readFileSync } from 'node:fs';

export interface Shebang {
  env: Record<string, string>;
  flags: string[];
}

export function readShebang(mainJs: string): Shebang {
  const first = readFileSync(mainJs, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env -S (.*)$/.exec(first);
  const words = (m?.[1] ?? '').trim().split(/\s+/).filter((w) => w !== '');
  const at = words.indexOf('node');
  if (m === null || at < 0) throw new Error(`${mainJs}: the first line is not "#!/usr/bin/env -S [VAR=value …] node [--flag …]".`);
  const env: Record<string, string> = {};
  for (const w of words.slice(0, at)) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new Error(`${mainJs}: "${w}" in the shebang is neither VAR=value nor node.`);
    env[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return { env, flags: words.slice(at + 1) };
}
