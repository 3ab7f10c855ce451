/**
 * Renders the settings reference (docs/configuration.md) from the settings
 * schema, so the docs cannot drift from what the code validates.
 */
import { SETTINGS, type SettingSpec } from './settings.js';

function typeText(s: SettingSpec): string {
  switch (s.type) {
    case 'int':
      return `integer ${s.min ?? ''}…${s.max ?? ''}`;
    case 'enum':
      return s.values!.map((v) => `\`${v}\``).join(' \\| ');
    case 'url':
      return `URL (${s.values!.map((v) => `\`${v}//\``).join(', ')})`;
    case 'file':
      return 'readable file path';
    case 'topic-filter':
      return 'MQTT topic filter';
    case 'topic-template':
      return 'topic with `{device_id}`';
    default:
      return s.type;
  }
}

/** The line after which docs/configuration.md is written by hand (the config file's section). */
export const HAND_WRITTEN_MARKER = '<!-- Hand-written from here on: `npm run docs:config` keeps what follows. -->';

/** The hand-written part of an existing docs/configuration.md ('' when it has none). */
export function handWrittenPart(doc: string): string {
  const at = doc.indexOf(HAND_WRITTEN_MARKER);
  return at < 0 ? '' : doc.slice(at + HAND_WRITTEN_MARKER.length);
}

/** The whole docs/configuration.md: the part generated from the settings, then `handWritten` as it is. */
export function renderConfigDoc(handWritten = ''): string {
  const lines: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/core/settings.ts by `npm run docs:config`; a test fails when it is out of date. -->',
    '',
    'telehub is configured with environment variables. Every setting is validated at start-up: a bad value, or an unknown `TELEHUB_*` name (a typo), stops start-up with one line per problem naming the setting, and the process exits with code 78. A variable that is not a setting but is within an edit or two of one (`DATABSE_URL`, `MQTT_URLL`) is warned about at start-up, naming the setting it probably meant ([cli.md](cli.md#misspelt-settings)).',
    '',
    'Names from the seed documents (`MQTT_*`, `POSTGRES_*`, `ACK_TEMPLATE`) keep their names and defaults; everything new is `TELEHUB_*`. Run `telehub config` to print the effective configuration (secrets hidden).',
    '',
    'How the pieces are chosen:',
    '',
    '- **Broker**: `MQTT_URL` (or `MQTT_HOST`) set → telehub connects to that broker as a persistent-session QoS 1 subscriber; unset → it runs its embedded broker on `TELEHUB_MQTT_PORT` / `TELEHUB_MQTT_WS_PORT`.',
    '- **Store**: `TELEHUB_STORE=auto` picks PostgreSQL when `DATABASE_URL` or `POSTGRES_HOST` is set, else SQLite in `TELEHUB_DATA_DIR/telehub.db`.',
    '',
  ];
  const groups = [...new Set(SETTINGS.map((s) => s.group))];
  for (const g of groups) {
    lines.push(`## ${g}`, '', '| Variable | Default | Type | Description |', '|---|---|---|---|');
    for (const s of SETTINGS.filter((x) => x.group === g)) {
      const def = s.default === undefined ? '*(unset)*' : `\`${s.default}\``;
      lines.push(`| \`${s.env}\` | ${def} | ${typeText(s)} | ${s.description.replace(/\|/g, '\\|')} |`);
    }
    lines.push('');
  }
  lines.push(HAND_WRITTEN_MARKER);
  return lines.join('\n') + handWritten;
}
