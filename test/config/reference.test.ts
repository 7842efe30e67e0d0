import t from 'tap';
import { readFileSync } from 'node:fs';
import { withReference, configReference, configJsonSchema } from '../../src/config/reference.js';

t.test('the README config reference is generated from the current schema', async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  t.equal(withReference(readme), readme, 'README is stale: run `npm run docs`');
});

t.test('the reference covers every source and destination type with defaults', async (t) => {
  const ref = configReference();
  for (const h of ['sources: `type: authproxy`', 'sources: `type: duo-api`', 'sources: `type: syslog`', 'destinations: `type: syslog`', 'destinations: `type: stdout`']) t.match(ref, h);
  t.match(ref, /\| `destinations\[\]\.transport` \| `tcp` \\\| `tls` \\\| `udp` \\\| `relp` \|  \| `"tls"` \|/);
  t.match(ref, /\| `sources\[\]\.ikey` \| string \| yes \|/);
});

t.test('the published JSON Schema matches the schema', async (t) => {
  const published: unknown = JSON.parse(readFileSync(new URL('../../examples/config.schema.json', import.meta.url), 'utf8'));
  t.same(published, configJsonSchema(), 'examples/config.schema.json is stale: run `npm run docs`');
});
