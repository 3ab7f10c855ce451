#!/usr/bin/env node
// Runs the test suite with node's test runner (Node 20 has no glob support in
// `node --test`, so the files are listed here). Two phases: everything that
// can run side by side, then the chaos tests one at a time, because they kill
// processes and restart services that the others would otherwise notice.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

function find(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (name === 'node_modules' || name === 'testdata') continue;
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const only = process.argv.slice(2);
// The whole suite starts with a type check of everything (src, tests, bench,
// scripts): tsx strips types without checking them.
if (only.length === 0) {
  const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.check.json'], { stdio: 'inherit' });
  if (tsc.status !== 0) {
    process.stderr.write('Type check failed (tsc -p tsconfig.check.json).\n');
    process.exit(1);
  }
}
const all = [...find('src'), ...find('test')].sort().filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
const serial = all.filter((f) => f.startsWith(path.join('test', 'chaos')));
const parallel = all.filter((f) => !serial.includes(f));
const base = ['--import', 'tsx', '--test', '--test-reporter=spec'];
let failed = false;
for (const [files, extra] of [[parallel, ['--test-concurrency=2']], [serial, ['--test-concurrency=1']]]) {
  if (files.length === 0) continue;
  const r = spawnSync(process.execPath, [...base, ...extra, ...files], { stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
