/** `telehub config`: prints the effective configuration, secrets hidden. */
import type { Command } from '../command.js';
import { EXIT } from '../errors.js';

export const config: Command = {
  name: 'config',
  summary: 'Check the settings and print the effective configuration as JSON (secrets hidden).',
  description: 'Exits 78 with one line per invalid setting, like start. Warns on stderr about variables that look like misspelt settings.',
  examples: ['telehub config', 'MQTT_URL=mqtts://broker:8883 telehub config'],
  async run(ctx) {
    const redacted = JSON.parse(JSON.stringify(ctx.loadConfig())) as Record<string, any>;
    if (redacted.mqtt?.password) redacted.mqtt.password = '<hidden>';
    if (redacted.store?.password) redacted.store.password = '<hidden>';
    if (redacted.store?.connectionString) redacted.store.connectionString = '<hidden>';
    ctx.out(JSON.stringify(redacted, null, 2) + '\n');
    return EXIT.ok;
  },
};
