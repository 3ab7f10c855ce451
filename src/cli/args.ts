/**
 * The one command-line parser of every `telehub` command: node's
 * `util.parseArgs` in strict mode, with its errors turned into one-line
 * UsageErrors (exit 64) that say what to fix, plus checks for option values
 * (integers in a range, one of a list).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Command } from './command.js';
import { UsageError } from './errors.js';

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  help: boolean;
}

/** `(see telehub <command> --help)`, appended to errors where the help would show the way. */
export function helpHint(command: Command): string {
  return `(see telehub ${command.name} --help)`;
}

/** Rewrites node's parseArgs errors (some of them three lines long) as one line. */
function usageFromParseError(command: Command, err: unknown): UsageError {
  const e = err as { code?: string; message?: string };
  const message = String(e.message ?? err);
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? '';
  const flag = /(--[\w-]+)/.exec(quoted)?.[1] ?? quoted;
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown option ${quoted} ${helpHint(command)}`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(message)) return new UsageError(`${flag} takes no value`);
      return new UsageError(`${flag} needs a value (write ${flag}=VALUE if the value starts with a dash)`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(`unexpected argument "${quoted}" ${helpHint(command)}`);
    default:
      return new UsageError(message.split('\n')[0]);
  }
}

/**
 * Parses `args` against the command's options and arguments. `--help`/`-h` is
 * accepted by every command; when given, nothing else is checked.
 */
export function parseCommandArgs(command: Command, args: string[]): ParsedArgs {
  const options: NonNullable<ParseArgsConfig['options']> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, spec] of Object.entries(command.options ?? {})) {
    options[name] = { type: spec.type, multiple: spec.multiple === true, ...(spec.short ? { short: spec.short } : {}) };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true, tokens: true });
  } catch (err) {
    if (!String((err as { code?: string }).code).startsWith('ERR_PARSE_ARGS_')) throw err;
    // `--help` wins over a mistake elsewhere on the line.
    if (args.includes('--help') || args.includes('-h')) return { values: {}, positionals: [], help: true };
    throw usageFromParseError(command, err);
  }
  const values = parsed.values as ParsedArgs['values'];
  if (values.help === true) return { values, positionals: parsed.positionals, help: true };

  // parseArgs lets a later value silently replace an earlier one; say so instead.
  const seen = new Set<string>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option' || command.options?.[t.name]?.multiple) continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name} given more than once`);
    seen.add(t.name);
  }
  for (const [name, spec] of Object.entries(command.options ?? {})) {
    const v = values[name];
    const all = Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
    if (spec.required && v === undefined) throw new UsageError(`--${name} is required ${helpHint(command)}`);
    if (spec.type === 'string' && all.some((s) => s.trim() === '')) throw new UsageError(`--${name} must not be empty`);
  }

  const specs = command.arguments ?? [];
  if (parsed.positionals.length > specs.length) {
    throw new UsageError(`unexpected argument "${parsed.positionals[specs.length]}" ${helpHint(command)}`);
  }
  const missing = specs.slice(parsed.positionals.length).find((a) => a.required);
  if (missing) throw new UsageError(`missing ${missing.name} ${helpHint(command)}`);
  return { values, positionals: parsed.positionals, help: false };
}

/** An integer option within [min, max], or `fallback` when not given. */
export function intOption(values: ParsedArgs['values'], name: string, range: { min: number; max: number }, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const text = String(raw).trim();
  const n = Number(text);
  if (!/^-?\d+$/.test(text) || n < range.min || n > range.max) {
    throw new UsageError(`--${name} must be an integer from ${range.min} to ${range.max}, not ${JSON.stringify(raw)}`);
  }
  return n;
}

/** A string option that must be one of `choices`, or `fallback` when not given. */
export function choiceOption<T extends string>(values: ParsedArgs['values'], name: string, choices: readonly T[], fallback: T): T {
  const raw = values[name];
  if (raw === undefined) return fallback;
  if (!choices.includes(raw as T)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, not ${JSON.stringify(raw)}`);
  return raw as T;
}

/** A string option that may be absent. */
export function stringOption(values: ParsedArgs['values'], name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A repeatable string option, in the order given. */
export function listOption(values: ParsedArgs['values'], name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}
