#!/usr/bin/env node
// The `telehub` command (`npx telehub …`, `npm run telehub -- …`).
//
// Runs the compiled CLI in dist/ when it is at least as new as every source
// file: `npm install` builds it once (the `prepare` script), so a call starts
// from plain JavaScript with no build step. When a source file changed since
// the last build (a development checkout), it runs the TypeScript sources
// through tsx instead, so what runs is always what is in src/; `npm run build`
// makes the fast path current again.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const built = path.join(root, 'dist', 'cli', 'main.js');
const stamp = path.join(root, 'dist', '.build-stamp');
const sources = path.join(root, 'src');

/** The newest modification time of the compiled sources (tests are not compiled). */
function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function builtIsCurrent() {
  if (!existsSync(built) || !existsSync(stamp)) return false;
  // An install without sources (a trimmed image) runs what was built.
  return !existsSync(sources) || newestSource(sources) <= statSync(stamp).mtimeMs;
}

process.setSourceMapsEnabled(true);
if (builtIsCurrent()) {
  await import(pathToFileURL(built).href);
} else {
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    tsx = undefined;
  }
  if (tsx) {
    tsx.register();
    await import(pathToFileURL(path.join(sources, 'cli', 'main.ts')).href);
  } else if (existsSync(built)) {
    await import(pathToFileURL(built).href);
  } else {
    process.stderr.write('telehub: dist/ is not built and tsx is not installed; run `npm install` (or `npm run build`) in the telehub folder.\n');
    process.exit(70); // EX_SOFTWARE
  }
}
