/**
 * The node flags `npm start` runs telehub with, read from package.json's
 * "start" script, so every bench runs telehub exactly as users do
 * (`node <flags> dist/cli/main.js start`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function startNodeFlags(): string[] {
  const script: string = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).scripts.start;
  const m = /^node\s+(.*?)\s*dist\/cli\/main\.js start$/.exec(script.trim());
  if (!m) throw new Error(`package.json's start script is not "node <flags> dist/cli/main.js start": ${script}`);
  return m[1].split(/\s+/).filter(Boolean);
}
