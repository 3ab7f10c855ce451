import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../core/errors.js';
import { intOption, parseCommandArgs } from './args.js';
import type { Command } from './command.js';
import { COMMANDS } from './commands/index.js';
import { DataError, UsageError } from './errors.js';
import { commandHelp } from './help.js';
import { runCli } from './run.js';

/** Runs the CLI in-process against `commands`, capturing both streams. */
async function run(argv: string[], commands: readonly Command[], env: Record<string, string> = {}) {
  let out = '';
  let err = '';
  const code = await runCli(argv, { env, out: (t) => (out += t), err: (t) => (err += t) }, commands);
  return { code, out, err };
}

const ran: string[] = [];
const fake: Command[] = [
  { name: 'start', summary: 'Start.', examples: [], run: async () => (ran.push('start'), 0) },
  {
    name: 'pick',
    summary: 'Pick things.',
    options: { count: { type: 'string', value: 'N', description: 'How many.' }, tag: { type: 'string', multiple: true, description: 'Tags.' }, dry: { type: 'boolean', description: 'Dry run.' } },
    arguments: [{ name: 'what', description: 'What to pick.', required: true }],
    examples: ['telehub pick apples --count 3'],
    run: async (ctx) => {
      ran.push(`pick ${ctx.positionals[0]} ${intOption(ctx.values, 'count', { min: 1, max: 9 }, 1)} ${JSON.stringify(ctx.values.tag ?? [])}`);
      return 0;
    },
  },
  {
    name: 'group',
    summary: 'A group.',
    examples: [],
    subcommands: [
      { name: 'group data', summary: 'Data error.', examples: [], run: async () => { throw new DataError('name taken'); } },
      { name: 'group config', summary: 'Config error.', examples: [], run: async () => { throw new ConfigError(['A_SETTING="x": must be an integer', 'B_SETTING: unknown']); } },
      { name: 'group crash', summary: 'Unexpected error.', examples: [], run: async () => { throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432\nmore'), { code: 'ECONNREFUSED' }); } },
    ],
  },
];

describe('telehub command line (in-process)', () => {
  it('runs start when no command is given, and a command with its options', async () => {
    ran.length = 0;
    assert.equal((await run([], fake)).code, 0);
    assert.equal((await run(['pick', 'apples', '--count', '3', '--tag', 'a', '--tag=b', '--dry'], fake)).code, 0);
    assert.deepEqual(ran, ['start', 'pick apples 3 ["a","b"]']);
  });

  it('answers every command line mistake with one line and exit 64', async () => {
    const cases: [string[], RegExp][] = [
      [['frob'], /^telehub: unknown command "frob" \(see telehub --help\)$/],
      [['group'], /^telehub group: missing command, one of data, config, crash/],
      [['group', 'nope'], /^telehub: unknown command "group nope"/],
      [['pick', 'a', '--nope'], /^telehub pick: unknown option --nope \(see telehub pick --help\)$/],
      [['pick', 'a', '-z'], /^telehub pick: unknown option -z/],
      [['pick', 'a', '--count'], /^telehub pick: --count needs a value/],
      [['pick', 'a', '--count', '--dry'], /^telehub pick: --count needs a value/],
      [['pick', 'a', '--dry=yes'], /^telehub pick: --dry takes no value$/],
      [['pick', 'a', '--count', '2', '--count', '3'], /^telehub pick: --count given more than once$/],
      [['pick', 'a', '--count='], /^telehub pick: --count must not be empty$/],
      [['pick', 'a', '--count', 'ten'], /^telehub pick: --count must be an integer from 1 to 9, not "ten"$/],
      [['pick', 'a', '--count', '10'], /^telehub pick: --count must be an integer from 1 to 9, not "10"$/],
      [['pick', 'a', '--count', '1.5'], /^telehub pick: --count must be an integer/],
      [['pick'], /^telehub pick: missing what \(see telehub pick --help\)$/],
      [['pick', 'a', 'b'], /^telehub pick: unexpected argument "b"/],
    ];
    for (const [argv, expected] of cases) {
      const r = await run(argv, fake);
      assert.equal(r.code, 64, `${argv.join(' ')}: ${r.err}`);
      assert.match(r.err.trimEnd(), expected, argv.join(' '));
      assert.equal(r.err.trimEnd().split('\n').length, 1, `one line for ${argv.join(' ')}: ${r.err}`);
      assert.equal(r.out, '');
    }
  });

  it('shows help with exit 0, even when the rest of the line is wrong', async () => {
    for (const argv of [['pick', '--help'], ['pick', '-h'], ['pick', '--nope', '--help'], ['help', 'pick']]) {
      const r = await run(argv, fake);
      assert.equal(r.code, 0, argv.join(' '));
      assert.match(r.out, /^Usage: telehub pick \[options\] <what>\n/, argv.join(' '));
      assert.match(r.out, /--count N +How many\./);
      assert.match(r.out, /Examples:\n {2}telehub pick apples --count 3/);
    }
    const top = await run(['--help'], fake);
    assert.equal(top.code, 0);
    for (const c of fake) assert.match(top.out, new RegExp(`^ {2}${c.name} +${c.summary.replace('.', '\\.')}$`, 'm'));
    const group = await run(['group', '--help'], fake);
    assert.match(group.out, /^Usage: telehub group <data\|config\|crash> \[options\]/);
  });

  it('maps data errors to 65 and invalid settings to 78, one line each', async () => {
    const data = await run(['group', 'data'], fake);
    assert.deepEqual([data.code, data.err], [65, 'telehub group data: name taken\n']);
    const config = await run(['group', 'config'], fake);
    assert.equal(config.code, 78);
    assert.deepEqual(config.err.trimEnd().split('\n'), [
      'telehub: A_SETTING="x": must be an integer (see docs/configuration.md)',
      'telehub: B_SETTING: unknown (see docs/configuration.md)',
    ]);
  });

  it('reports an unexpected error in one line without a stack, unless the log level is debug', async () => {
    const plain = await run(['group', 'crash'], fake);
    assert.equal(plain.code, 1);
    assert.equal(plain.err, 'telehub group crash: connect ECONNREFUSED 127.0.0.1:5432 (ECONNREFUSED)\n');
    const debug = await run(['group', 'crash'], fake, { TELEHUB_LOG_LEVEL: 'debug' });
    assert.match(debug.err, /\n {4}at /, 'the stack when debugging');
  });

  it('does not pass a mistake in a command definition off as a usage error', async () => {
    const broken: Command[] = [{ name: 'bad', summary: 'Bad.', options: { x: { type: 'string', short: 'xx', description: 'Two-letter short.' } }, examples: [], run: async () => 0 }];
    const r = await run(['bad'], broken);
    assert.equal(r.code, 1, r.err);
  });

  it('parseCommandArgs rejects with UsageError and accepts well-formed lines', () => {
    assert.throws(() => parseCommandArgs(fake[1], ['a', '--nope']), UsageError);
    assert.deepEqual(parseCommandArgs(fake[1], ['a', '--count=-1']).values.count, '-1');
  });

  it('every real command has help with a usage line, its options and an example', () => {
    const all = COMMANDS.flatMap((c) => [c, ...(c.subcommands ?? [])]);
    assert.ok(all.length >= 9);
    for (const c of all) {
      const help = commandHelp(c);
      assert.match(help, new RegExp(`^Usage: telehub ${c.name}`), c.name);
      for (const name of Object.keys(c.options ?? {})) assert.match(help, new RegExp(`--${name}\\b`), `${c.name} --${name}`);
      assert.ok(c.examples.length > 0, `${c.name} has an example`);
    }
  });
});
