import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { handWrittenPart, renderConfigDoc } from '../src/core/config-doc.js';

// The settings part is generated; the hand-written part after its marker is kept.
const file = new URL('../docs/configuration.md', import.meta.url);
const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
writeFileSync(file, renderConfigDoc(handWrittenPart(before)));
process.stdout.write('wrote docs/configuration.md\n');
