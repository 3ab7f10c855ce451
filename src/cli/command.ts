/**
 * What a `telehub` command is, written as data: its options, arguments and
 * examples feed the parser (node's `util.parseArgs`), the `--help` text and
 * the docs test, so the three cannot drift apart. A command lives in its own
 * file under `commands/` and is listed once in `commands/index.ts`.
 *
 * @example
 * export const migrate: Command = {
 *   name: 'migrate',
 *   summary: 'Apply store migrations and exit.',
 *   examples: ['telehub migrate'],
 *   async run(ctx) { … return EXIT.ok; },
 * };
 */
import type { Config } from '../core/config.js';
import type { SettingTypo } from '../core/setting-typos.js';

/** One `--option` of a command. `--help` is added to every command by the parser. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** May be given several times (values collected in order). */
  multiple?: boolean;
  /** The command cannot run without it (shown in the usage line). */
  required?: boolean;
  /** One-letter alias, e.g. `n` for `-n`. */
  short?: string;
  /** Placeholder of the value in the help text, e.g. `N`. */
  value?: string;
  /** One line for the help text. */
  description: string;
}

/** A positional argument. */
export interface ArgumentSpec {
  name: string;
  description: string;
  required?: boolean;
}

/** What a command's `run` gets: the parsed command line, the environment and the output streams. */
export interface CommandContext {
  /** Full command name, e.g. `tokens create`. */
  command: string;
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  env: Record<string, string | undefined>;
  out(text: string): void;
  err(text: string): void;
  /** The process's stdout as a stream, for commands that write bytes or need backpressure (`export`); absent in-process. */
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  /**
   * Validates the settings (ConfigError → exit 78) and reports environment
   * variables that look like misspelt settings: to `onTypos` when given,
   * else (and always when a setting is invalid) as warnings on stderr.
   */
  loadConfig(onTypos?: (typos: SettingTypo[]) => void): Config;
}

/** Returned by a command that keeps running (`start`): the process ends on a signal. */
export const KEEP_RUNNING = 'keep-running';

export interface Command {
  /** Full name as typed, e.g. `events` or `tokens create`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** A paragraph or two for `--help` (what it prints, exit codes worth knowing). */
  description?: string;
  options?: Record<string, OptionSpec>;
  arguments?: ArgumentSpec[];
  examples: string[];
  /** A group (`tokens`) has subcommands and no `run` of its own. */
  subcommands?: Command[];
  /** Resolves with the exit code, or KEEP_RUNNING. */
  run?(ctx: CommandContext): Promise<number | typeof KEEP_RUNNING>;
}
