/**
 * bin/telehub.js (what `npx telehub` runs) and scripts/build.mjs (what
 * `npm install` runs as `prepare`), in a throw-away copy of the layout: the
 * compiled CLI runs when dist/ is at least as new as src/, the sources run
 * through tsx when not, and a missing build is one clear line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let dir: string;

const file = (rel: string, text: string, mtime?: Date) => {
  const p = path.join(dir, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, text);
  if (mtime) utimesSync(p, mtime, mtime);
};
const at = (iso: string) => new Date(iso);

function bin(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(dir, 'bin', 'telehub.js'), ...args], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'telehub-bin-'));
  mkdirSync(path.join(dir, 'bin'));
  mkdirSync(path.join(dir, 'scripts'));
  copyFileSync(path.join(repo, 'bin', 'telehub.js'), path.join(dir, 'bin', 'telehub.js'));
  copyFileSync(path.join(repo, 'scripts', 'build.mjs'), path.join(dir, 'scripts', 'build.mjs'));
  file('package.json', '{"name":"telehub-bin-test","type":"module"}');
  // The sources say "src" in TypeScript (only tsx can run them), the build says "dist".
  file('src/cli/main.ts', "const from: string = 'src';\nconsole.log(from, process.argv.slice(2).join(' '));\n", at('2024-01-01T10:00:00Z'));
  file('src/cli/main.test.ts', '// tests are not compiled, so they never make dist/ stale\n', at('2024-01-01T10:00:00Z'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const withDist = (stamp: Date) => {
  file('dist/cli/main.js', "console.log('dist', process.argv.slice(2).join(' '));\n", stamp);
  file('dist/.build-stamp', 'stamp\n', stamp);
};
const withTsx = () => symlinkSync(path.join(repo, 'node_modules'), path.join(dir, 'node_modules'), 'dir');

describe('bin/telehub.js', () => {
  it('runs dist/ when it is at least as new as every source file, with the arguments', () => {
    withTsx();
    withDist(at('2024-01-01T11:00:00Z'));
    file('src/cli/main.test.ts', '// edited after the build\n', at('2024-01-01T12:00:00Z'));
    assert.deepEqual(bin('events', '--limit', '5'), { status: 0, stdout: 'dist events --limit 5', stderr: '' });
  });

  it('runs the sources through tsx when a source changed after the build, or there is no build', () => {
    withTsx();
    assert.equal(bin('x').stdout, 'src x', 'no dist/');
    withDist(at('2024-01-01T11:00:00Z'));
    file('src/core/config.ts', 'export {};\n', at('2024-01-01T12:00:00Z'));
    assert.equal(bin('y').stdout, 'src y', 'a source newer than the build stamp');
    rmSync(path.join(dir, 'src', 'core'), { recursive: true });
    rmSync(path.join(dir, 'dist', '.build-stamp'));
    assert.equal(bin('z').stdout, 'src z', 'dist/ without a build stamp');
  });

  it('runs dist/ where there are no sources, and says what to do where there is neither a build nor tsx', () => {
    withDist(at('2024-01-01T09:00:00Z'));
    rmSync(path.join(dir, 'src'), { recursive: true });
    assert.equal(bin('a').stdout, 'dist a');
    rmSync(path.join(dir, 'dist'), { recursive: true });
    const r = bin('b');
    assert.equal(r.status, 70);
    assert.match(r.stderr, /^telehub: dist\/ is not built and tsx is not installed; run `npm install`/);
    assert.equal(r.stderr.split('\n').length, 1);
  });
});

describe('scripts/build.mjs --if-possible (the prepare script)', () => {
  it('skips, successfully, where TypeScript or the sources are missing (a production install, the Dockerfile)', () => {
    const run = () => spawnSync(process.execPath, [path.join(dir, 'scripts', 'build.mjs'), '--if-possible'], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    const noTs = run();
    assert.equal(noTs.status, 0, noTs.stderr);
    assert.match(noTs.stderr, /not building dist\//);
    withTsx();
    const noSources = run(); // no tsconfig.json either
    assert.equal(noSources.status, 0, noSources.stderr);
    assert.match(noSources.stderr, /not building dist\//);
    const strict = spawnSync(process.execPath, [path.join(dir, 'scripts', 'build.mjs')], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.notEqual(strict.status, 0, 'npm run build fails loudly without a tsconfig.json');
  });
});
