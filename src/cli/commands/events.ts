/** `telehub events`: prints the most recent stored events as JSON lines. */
import { intOption, stringOption } from '../args.js';
import type { Command } from '../command.js';
import { EXIT } from '../errors.js';
import { withStore } from '../store.js';

export const events: Command = {
  name: 'events',
  summary: 'Print the most recent stored events as JSON lines, newest first.',
  description: 'Newest by server time. Each line has the columns of the events table (event_id, device_id, event_type, value_num, value_text, unit, ts_device, ts_server, meta).',
  options: {
    device: { type: 'string', value: 'ID', description: 'Only events of this device.' },
    limit: { type: 'string', value: 'N', description: 'How many events, 1 to 10000 (default 20).' },
  },
  examples: ['telehub events', 'telehub events --device esp32-01 --limit 5'],
  async run(ctx) {
    const limit = intOption(ctx.values, 'limit', { min: 1, max: 10_000 }, 20);
    const device = stringOption(ctx.values, 'device');
    const rows = await withStore(ctx, (store) => store.recentEvents(limit, device));
    for (const e of rows) {
      ctx.out(
        JSON.stringify({
          event_id: e.eventId,
          device_id: e.deviceId,
          event_type: e.eventType,
          value_num: e.valueNum,
          value_text: e.valueText,
          unit: e.unit,
          ts_device: e.tsDevice === null ? null : new Date(e.tsDevice).toISOString(),
          ts_server: new Date(e.tsServer).toISOString(),
          meta: JSON.parse(e.meta),
        }) + '\n',
      );
    }
    return EXIT.ok;
  },
};
