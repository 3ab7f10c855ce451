/**
 * `--help` text, made from the command definitions: usage, description,
 * arguments, options, subcommands and examples.
 */
import type { Command } from './command.js';

function table(rows: [string, string][]): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`);
}

/** The usage line: `telehub tokens create --name NAME [options]`. */
export function usageLine(command: Command): string {
  if (command.subcommands) {
    // A group that also runs on its own (`processors` lists) takes its subcommand optionally.
    const subs = command.subcommands.map((c) => c.name.split(' ').at(-1)).join('|');
    return `telehub ${command.name} ${command.run ? `[${subs}]` : `<${subs}>`} [options]`;
  }
  const entries = Object.entries(command.options ?? {});
  const required = entries.filter(([, o]) => o.required).map(([name, o]) => `--${name} ${o.value ?? 'VALUE'}`);
  const args = (command.arguments ?? []).map((a) => (a.required ? `<${a.name}>` : `[${a.name}]`));
  const options = entries.some(([, o]) => !o.required) ? ['[options]'] : [];
  return ['telehub', command.name, ...required, ...options, ...args].join(' ');
}

/** The whole help text of one command. */
export function commandHelp(command: Command): string {
  const lines = [`Usage: ${usageLine(command)}`, '', command.summary];
  if (command.description) lines.push('', command.description);
  if (command.arguments?.length) {
    lines.push('', 'Arguments:', ...table(command.arguments.map((a) => [a.name, a.description])));
  }
  if (command.subcommands) {
    lines.push('', 'Commands:', ...table(command.subcommands.map((c) => [c.name.split(' ').at(-1)!, c.summary])));
    lines.push('', `Run telehub ${command.name} <command> --help for its options.`);
  }
  const options: [string, string][] = Object.entries(command.options ?? {}).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`;
    return [flag, spec.description];
  });
  options.push(['-h, --help', 'Show this help.']);
  lines.push('', 'Options:', ...table(options));
  if (command.examples.length) lines.push('', 'Examples:', ...command.examples.map((e) => `  ${e}`));
  return lines.join('\n') + '\n';
}

/** `telehub --help`: every command with its summary. */
export function topLevelHelp(commands: readonly Command[]): string {
  return [
    'Usage: telehub [command] [options]',
    '',
    'telehub: a self-hosted telemetry pipeline (MQTT and HTTP in, events stored once, acknowledged after commit).',
    'Without a command, telehub runs `start`.',
    '',
    'Commands:',
    ...table(commands.map((c) => [c.name, c.summary])),
    '',
    'Options:',
    ...table([
      ['-h, --help', 'Show this help.'],
      ['-v, --version', 'Print the version.'],
    ]),
    '',
    'Run telehub <command> --help for its options and examples.',
    'Settings are environment variables: see docs/configuration.md (telehub config prints them).',
    '',
  ].join('\n');
}
