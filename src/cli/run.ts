/**
 * Finds the command named on the command line, parses its options, runs it,
 * and turns what the user must fix into one line and an exit code (64 usage,
 * 65 data, 78 configuration) rather than a stack trace.
 */
import { readFileSync } from 'node:fs';
import { loadConfig, type Config } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { describeTypo, findSettingTypos, type SettingTypo } from '../core/setting-typos.js';
import { parseCommandArgs } from './args.js';
import { KEEP_RUNNING, type Command, type CommandContext } from './command.js';
import { COMMANDS } from './commands/index.js';
import { CliError, EXIT, UsageError } from './errors.js';
import { commandHelp, topLevelHelp } from './help.js';

export interface CliIo {
  env: Record<string, string | undefined>;
  out(text: string): void;
  err(text: string): void;
  /** The real stdout stream (bin only): binary output with backpressure. */
  stdout?: CommandContext['stdout'];
}

function version(): string {
  // src/cli/run.ts and dist/cli/run.js are both two levels below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Resolves `tokens create …` to the subcommand and the arguments left for it. */
function resolve(commands: readonly Command[], argv: string[]): { command: Command; rest: string[] } {
  const [name, ...rest] = argv;
  const command = commands.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command "${name}" (see telehub --help)`);
  if (!command.subcommands) return { command, rest };
  const [subName] = rest;
  if (subName === undefined || subName.startsWith('-')) return { command, rest };
  const sub = command.subcommands.find((c) => c.name === `${command.name} ${subName}`);
  if (!sub) throw new UsageError(`unknown command "${command.name} ${subName}" (see telehub ${command.name} --help)`);
  return { command: sub, rest: rest.slice(1) };
}

function context(command: Command, values: CommandContext['values'], positionals: string[], io: CliIo): CommandContext {
  return {
    command: command.name,
    values,
    positionals,
    env: io.env,
    out: io.out,
    err: io.err,
    stdout: io.stdout,
    loadConfig(onTypos) {
      const typos = findSettingTypos(io.env);
      const onStderr = (list: SettingTypo[]) => list.forEach((t) => io.err(`telehub: warning: ${describeTypo(t)}\n`));
      let config: Config;
      try {
        config = loadConfig(io.env);
      } catch (err) {
        // A typo may be why a setting is missing; say so next to the error.
        onStderr(typos);
        throw err;
      }
      (onTypos ?? onStderr)(typos);
      return config;
    },
  };
}

/** The last resort for errors nobody expected: one line, and the stack only when debugging. */
function unexpected(prefix: string, err: unknown, io: CliIo): number {
  const e = err as { message?: string; stack?: string; code?: string };
  const debug = ['debug', 'trace'].includes(io.env.TELEHUB_LOG_LEVEL ?? '');
  io.err(`${prefix}: ${e?.message?.split('\n')[0] ?? String(err)}${e?.code ? ` (${e.code})` : ''}\n`);
  if (debug && e?.stack) io.err(`${e.stack}\n`);
  return EXIT.failure;
}

/**
 * Runs `telehub <argv…>` and resolves with its exit code, or KEEP_RUNNING for
 * a command that runs until a signal (`start`).
 */
export async function runCli(argv: string[], io: CliIo, commands: readonly Command[] = COMMANDS): Promise<number | typeof KEEP_RUNNING> {
  const first = argv[0];
  if (first === '--help' || first === '-h' || first === 'help') {
    if (first === 'help' && argv[1] !== undefined) return runCli([...argv.slice(1), '--help'], io, commands);
    io.out(topLevelHelp(commands));
    return EXIT.ok;
  }
  if (first === '--version' || first === '-v') {
    io.out(`${version()}\n`);
    return EXIT.ok;
  }
  let prefix = 'telehub';
  try {
    // No command, or options only: `telehub` alone runs `start`.
    const { command, rest } = resolve(commands, first === undefined || first.startsWith('-') ? ['start', ...argv] : argv);
    prefix = `telehub ${command.name}`;
    const parsed = parseCommandArgs(command, rest);
    if (parsed.help) {
      io.out(commandHelp(command));
      return EXIT.ok;
    }
    if (!command.run) {
      // A group without a subcommand (`telehub tokens`).
      const choices = (command.subcommands ?? []).map((c) => c.name.split(' ').at(-1)).join(', ');
      throw new UsageError(`missing command, one of ${choices} (see telehub ${command.name} --help)`);
    }
    return await command.run(context(command, parsed.values, parsed.positionals, io));
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) io.err(`telehub: ${problem} (see docs/configuration.md)\n`);
      return EXIT.config;
    }
    if (err instanceof CliError) {
      io.err(`${prefix}: ${err.message}\n`);
      return err.exitCode;
    }
    return unexpected(prefix, err, io);
  }
}
