/** `npm run docs`: regenerates the README config reference and docs/config.schema.json. */
import { readFileSync, writeFileSync } from 'node:fs';
import { withReference, configJsonSchema } from './reference.js';

const root = new URL('../../../', import.meta.url);
const readmeUrl = new URL('README.md', root);
writeFileSync(readmeUrl, withReference(readFileSync(readmeUrl, 'utf8')));
writeFileSync(new URL('examples/config.schema.json', root), `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
