import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { COMMANDS } from './commands/index.js';

/** docs/cli.md split into its `### telehub <command>` sections. */
function sections(): Map<string, string> {
  const doc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');
  const out = new Map<string, string>();
  const parts = doc.split(/^### telehub (.+)$/m);
  for (let i = 1; i < parts.length; i += 2) out.set(parts[i].trim(), parts[i + 1]);
  return out;
}

describe('docs/cli.md', () => {
  const commands = COMMANDS.flatMap((c) => [c, ...(c.subcommands ?? [])]);

  it('documents every command, and no other', () => {
    const documented = sections();
    for (const c of commands) assert.ok(documented.has(c.name), `docs/cli.md lacks "### telehub ${c.name}"`);
    for (const name of documented.keys()) assert.ok(commands.some((c) => c.name === name), `docs/cli.md documents unknown command "${name}"`);
  });

  it('documents every option and argument in its command’s section', () => {
    const documented = sections();
    for (const c of commands) {
      const text = documented.get(c.name) ?? '';
      for (const name of Object.keys(c.options ?? {})) assert.match(text, new RegExp(`\`--${name}\\b`), `docs/cli.md: telehub ${c.name} --${name}`);
      for (const a of c.arguments ?? []) assert.ok(text.includes(`\`${a.name}\``), `docs/cli.md: telehub ${c.name} <${a.name}>`);
    }
  });
});
