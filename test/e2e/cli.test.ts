/**
 * The `telehub` command as a user runs it (a child process): every command
 * has --help, a mistake on the command line is one line and exit 64 (never a
 * stack trace), an invalid setting is one line per setting and exit 78, a
 * token name in use is exit 65, and a misspelt setting is warned about.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { stopTestPostgres, testDatabase } from '../helpers/postgres.js';
import { runTelehubCli, startTelehubProcess, type CliResult } from '../helpers/telehub.js';

let dataDir: string;
before(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'telehub-cli-'));
});
after(async () => {
  rmSync(dataDir, { recursive: true, force: true });
  await stopTestPostgres();
});

const telehub = (args: string[], env: Record<string, string> = {}) => runTelehubCli({ TELEHUB_DATA_DIR: dataDir, ...env }, ...args);

/** Runs command lines two at a time (each is a node process; the machine has two cores). */
async function all(lines: string[][]): Promise<CliResult[]> {
  const results: CliResult[] = new Array(lines.length);
  let next = 0;
  const worker = async () => {
    while (next < lines.length) {
      const i = next++;
      results[i] = await telehub(lines[i]);
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

function assertOneLineNoStack(r: CliResult, what: string): void {
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${what}: one line on stderr, got:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${what}: no stack trace`);
}

const commandNames = COMMANDS.flatMap((c) => [c, ...(c.subcommands ?? [])]).map((c) => c.name);

describe('telehub command', () => {
  it('--help of every command exits 0 with its usage, options and examples', async () => {
    assert.ok(commandNames.includes('tokens create') && commandNames.includes('deadletters'));
    const results = await all(commandNames.map((name) => [...name.split(' '), '--help']));
    results.forEach((r, i) => {
      assert.equal(r.status, 0, `${commandNames[i]} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: telehub ${commandNames[i]}`), commandNames[i]);
      assert.match(r.stdout, /^Options:$/m);
      assert.match(r.stdout, /^ {2}-h, --help/m);
      assert.match(r.stdout, /^Examples:$/m);
      assert.equal(r.stderr, '');
    });
  });

  it('telehub --help lists every command; --version prints the version', async () => {
    const [help, version] = await all([['--help'], ['--version']]);
    assert.equal(help.status, 0);
    for (const c of COMMANDS) assert.match(help.stdout, new RegExp(`^ {2}${c.name} `, 'm'), c.name);
    assert.equal(version.status, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
  });

  it('an unknown option of every command exits 64 with one line naming it', async () => {
    const results = await all(commandNames.map((name) => [...name.split(' '), '--no-such-option']));
    results.forEach((r, i) => {
      assert.equal(r.status, 64, `${commandNames[i]}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^telehub ${commandNames[i]}: unknown option --no-such-option`), commandNames[i]);
      assertOneLineNoStack(r, commandNames[i]);
    });
  });

  it('bad option values, missing and extra arguments, and unknown commands exit 64 with one line', async () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /^telehub: unknown command "frobnicate"/],
      [['tokens'], /^telehub tokens: missing command, one of create, list, revoke/],
      [['tokens', 'rotate'], /^telehub: unknown command "tokens rotate"/],
      [['events', '--limit', 'abc'], /^telehub events: --limit must be an integer from 1 to 10000, not "abc"/],
      [['events', '--limit', '0'], /--limit must be an integer from 1 to 10000, not "0"/],
      [['deadletters', '--limit', '99999'], /^telehub deadletters: --limit must be an integer/],
      [['deadletters', '--reason', 'invalid_jsn'], /^telehub deadletters: --reason "invalid_jsn" is not a reason code \(did you mean invalid_json\?\).*store_rejected/],
      [['tokens', 'create'], /^telehub tokens create: --name is required/],
      [['tokens', 'create', '--name', 'x', '--scope', 'root'], /^telehub tokens create: --scope must be one of ingest, read, admin, not "root"/],
      [['tokens', 'create', '--name', '0123456789abcdef'], /--name must not look like a token id/],
      [['tokens', 'create', '--name', 'x'.repeat(101)], /--name must be at most 100 characters/],
      [['tokens', 'revoke'], /^telehub tokens revoke: missing id-or-name/],
      [['tokens', 'revoke', 'a', 'b'], /^telehub tokens revoke: unexpected argument "b"/],
      [['migrate', 'now'], /^telehub migrate: unexpected argument "now"/],
      [['config', '--help=yes'], /^telehub config: --help takes no value/],
    ];
    const results = await all(cases.map(([args]) => args));
    results.forEach((r, i) => {
      const what = cases[i][0].join(' ');
      assert.equal(r.status, 64, `${what}: ${r.stderr}`);
      assert.match(r.stderr, cases[i][1], what);
      assertOneLineNoStack(r, what);
      assert.equal(r.stdout, '', what);
    });
  });

  it('a bad setting stops any command with exit code 78 and one line per setting', async () => {
    for (const args of [['start'], ['events'], ['tokens', 'list']]) {
      const r = await telehub(args, { TELEHUB_BATCH_MAX: 'lots', TELEHUB_HTTP_PORT: '99999' });
      assert.equal(r.status, 78, `${args.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.trimEnd().split('\n').sort();
      assert.equal(lines.length, 2, r.stderr);
      assert.match(lines[0], /^telehub: TELEHUB_BATCH_MAX="lots": must be an integer \(see docs\/configuration\.md\)$/);
      assert.match(lines[1], /^telehub: TELEHUB_HTTP_PORT="99999": must be at most 65535 \(see docs\/configuration\.md\)$/);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
    }
  });

  it('config prints the effective configuration with secrets hidden', async () => {
    const r = await telehub(['config'], { DATABASE_URL: 'postgres://u:hunter2@db/qs', MQTT_URL: 'mqtt://broker:1883', MQTT_PASSWORD: 'hunter3' });
    assert.equal(r.status, 0, r.stderr);
    const c = JSON.parse(r.stdout);
    assert.equal(c.store.kind, 'postgres');
    assert.equal(c.mqtt.url, 'mqtt://broker:1883');
    assert.ok(!r.stdout.includes('hunter2') && !r.stdout.includes('hunter3'));
  });

  it('warns about a misspelt setting, naming the one it probably meant, without its value', async () => {
    const r = await telehub(['config'], { DATABSE_URL: 'postgres://u:hunter2@db/qs', MQTT_URLL: 'mqtt://broker:1883', MQTT_URL: 'mqtt://other:1883' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stderr.trimEnd().split('\n'), [
      'telehub: warning: Environment variable DATABSE_URL is not a telehub setting and is ignored; did you mean DATABASE_URL?',
      'telehub: warning: Environment variable MQTT_URLL is not a telehub setting and is ignored; did you mean MQTT_URL?',
    ]);
    assert.equal(JSON.parse(r.stdout).store.kind, 'sqlite', 'the misspelt DATABSE_URL was not used');
    assert.ok(!r.stderr.includes('hunter2'));
    // Next to a configuration error too: the typo may be its cause.
    const bad = await telehub(['config'], { POSTGRES_PASWORD: 'x', TELEHUB_STORE: 'mysql' });
    assert.equal(bad.status, 78);
    assert.match(bad.stderr, /warning: Environment variable POSTGRES_PASWORD is not a telehub setting.*did you mean POSTGRES_PASSWORD\?\ntelehub: TELEHUB_STORE="mysql"/);
  });

  it('start logs the misspelt-setting warning at start-up', async () => {
    const hub = await startTelehubProcess({ MQTT_HSOT: 'broker.lan' });
    try {
      await hub.ready();
      const warning = hub
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l))
        .find((l) => l.variable === 'MQTT_HSOT');
      assert.ok(warning, hub.output());
      assert.equal(warning.level, 40, 'a warning');
      assert.equal(warning.meant, 'MQTT_HOST');
      assert.match(warning.msg, /did you mean MQTT_HOST\?/);
      assert.equal(await hub.stop(), 0);
    } finally {
      hub.cleanup();
    }
  });

  for (const kind of ['sqlite', 'postgres'] as const) {
    it(`${kind}: a token name in use exits 65 and changes nothing; a revoked name can be reused`, async () => {
      const db = kind === 'postgres' ? await testDatabase() : undefined;
      const ownDir = db ? undefined : mkdtempSync(path.join(tmpdir(), 'telehub-cli-tokens-'));
      const env: Record<string, string> = db ? { DATABASE_URL: db.url } : { TELEHUB_DATA_DIR: ownDir! };
      try {
        const first = await telehub(['tokens', 'create', '--name', 'garage'], env);
        assert.equal(first.status, 0, first.stderr);
        assert.match(first.stdout, /^thk_[0-9a-f]{16}_/);
        const again = await telehub(['tokens', 'create', '--name', 'garage', '--scope', 'read'], env);
        assert.equal(again.status, 65, again.stderr);
        assert.match(again.stderr, /^telehub tokens create: a token named "garage" exists already/);
        assertOneLineNoStack(again, 'duplicate name');
        assert.equal(again.stdout, '', 'no token printed');
        const listed = (await telehub(['tokens', 'list'], env)).stdout.trim().split('\n').map((l) => JSON.parse(l));
        assert.deepEqual(listed.map((t) => [t.name, t.scope]), [['garage', 'ingest']]);
        const missing = await telehub(['tokens', 'revoke', 'nope'], env);
        assert.equal(missing.status, 65);
        assertOneLineNoStack(missing, 'revoke nope');
        assert.equal((await telehub(['tokens', 'revoke', 'garage'], env)).status, 0);
        assert.equal((await telehub(['tokens', 'create', '--name', 'garage'], env)).status, 0);
      } finally {
        await db?.drop();
        if (ownDir) rmSync(ownDir, { recursive: true, force: true });
      }
    });
  }
});
