import { readFileSync } from 'node:fs';

/** The package version, read once from package.json (src/ under tests, dist/src/ when built). */
function readVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg: unknown = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8'));
      if (typeof pkg === 'object' && pkg !== null && 'name' in pkg && pkg.name === 'duo-relay' && 'version' in pkg && typeof pkg.version === 'string') {
        return pkg.version;
      }
    } catch {
      // try the next candidate
    }
  }
  return '0.0.0';
}

export const VERSION = readVersion();
export const SOFTWARE = 'duo-relay';
export const USER_AGENT = `${SOFTWARE}/${VERSION} (+https://github.com/duo-relay/duo-relay; node ${process.version})`;
