/**
 * Writes deploy/grafana/dashboards/*.json from the typed sources in
 * deploy/grafana/src/ (`npm run grafana:dashboards`). test/grafana checks
 * that the committed JSON is what this writes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DASHBOARDS, dashboardJson } from '../deploy/grafana/src/index.js';

const dir = fileURLToPath(new URL('../deploy/grafana/dashboards/', import.meta.url));
mkdirSync(dir, { recursive: true });
for (const [file, d] of Object.entries(DASHBOARDS)) {
  writeFileSync(path.join(dir, file), dashboardJson(d));
  process.stdout.write(`Wrote ${path.relative(process.cwd(), path.join(dir, file))}\n`);
}
