#!/usr/bin/env node
// Runs the test suite with node's test runner (Node 20 has no glob support in
// `node --test`, so the files are listed here). Two phases: everything that
// can run side by side, then the chaos tests one at a time, because they kill
// processes and restart services that the others would otherwise notice.
// It closes with one line for both phases: `N passed, N failed, N skipped`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
const all = [...find('src'), ...find('test'), ...find('web')].sort().filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
const serial = all.filter((f) => f.startsWith(path.join('test', 'chaos')));
const parallel = all.filter((f) => !serial.includes(f));
const countsReporter = fileURLToPath(new URL('test-counts.mjs', import.meta.url));
const countsDir = mkdtempSync(path.join(os.tmpdir(), 'telehub-test-counts-'));
const total = { passed: 0, failed: 0, skipped: 0, todo: 0 };
let failed = false;
for (const [phase, files, extra] of [['parallel', parallel, ['--test-concurrency=2']], ['serial', serial, ['--test-concurrency=1']]]) {
  if (files.length === 0) continue;
  const countsFile = path.join(countsDir, `${phase}.json`);
  const reporters = ['--test-reporter=spec', '--test-reporter-destination=stdout', `--test-reporter=${countsReporter}`, `--test-reporter-destination=${countsFile}`];
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...reporters, ...extra, ...files], { stdio: 'inherit' });
  if (r.status !== 0) failed = true;
  try {
    const counts = JSON.parse(readFileSync(countsFile, 'utf8'));
    for (const k of Object.keys(total)) total[k] += counts[k];
  } catch {
    failed = true; // the runner died before it could report
  }
}
rmSync(countsDir, { recursive: true, force: true });
if (failed && total.failed === 0) total.failed = 1; // a file that crashed outside any test
process.stdout.write(`\n${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped${total.todo ? `, ${total.todo} todo` : ''}\n`);
process.exit(failed ? 1 : 0);
