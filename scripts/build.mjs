#!/usr/bin/env node
// Compiles src/ to dist/ (tsc) and then stamps dist/.build-stamp with the time
// the build started, so bin/telehub.js can tell whether dist/ is older than
// the sources (tsc leaves unchanged outputs, and its .tsbuildinfo, untouched,
// so their times cannot say it).
//
// `--if-possible` (the `prepare` script, run by `npm install` and `npm ci`)
// skips quietly where there is nothing to build with: no src/ or tsconfig.json
// (the Dockerfile installs dependencies before copying the sources) or no
// TypeScript (a production install without dev dependencies).
import { spawnSync } from 'node:child_process';
import { existsSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ifPossible = process.argv.includes('--if-possible');

let tsc;
try {
  // typescript's "exports" do not list bin/tsc; find it beside its package.json.
  tsc = path.join(path.dirname(createRequire(path.join(root, 'package.json')).resolve('typescript/package.json')), 'bin', 'tsc');
} catch {
  tsc = undefined;
}
if (ifPossible && (tsc === undefined || !existsSync(path.join(root, 'src')) || !existsSync(path.join(root, 'tsconfig.json')))) {
  process.stderr.write('telehub: not building dist/ here (no TypeScript or no sources); bin/telehub.js runs what is there.\n');
  process.exit(0);
}
if (tsc === undefined) {
  process.stderr.write('telehub: TypeScript is not installed; run npm install first.\n');
  process.exit(1);
}

const started = new Date();
const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit', cwd: root });
if (r.status !== 0) process.exit(r.status ?? 1);

// The dashboard (web/) with Vite into dist/web, which telehub serves at `/`.
// Built here, not committed: built files in git go stale beside their
// sources and conflict on every merge, and `npm install` (which runs this)
// is already the step every fresh machine takes before `npm start`.
if (existsSync(path.join(root, 'web', 'index.html'))) {
  let vite;
  try {
    vite = await import(createRequire(path.join(root, 'package.json')).resolve('vite'));
  } catch {
    vite = undefined;
  }
  if (vite) {
    await vite.build({ configFile: path.join(root, 'web', 'vite.config.ts') });
  } else if (!ifPossible) {
    process.stderr.write('telehub: Vite is not installed; the dashboard (web/) is not built.\n');
    process.exit(1);
  } else {
    process.stderr.write('telehub: Vite is not installed here; the dashboard is not built (`/` shows a page of links).\n');
  }
}
const stamp = path.join(root, 'dist', '.build-stamp');
writeFileSync(stamp, `${started.toISOString()}\n`);
utimesSync(stamp, started, started);
