import { writeFileSync } from 'node:fs';
import { renderConfigDoc } from '../src/core/config-doc.js';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigDoc());
process.stdout.write('wrote docs/configuration.md\n');
