/**
 * `telehub events`: prints the most recent stored events as JSON lines, or
 * with --follow tails the commit log like `tail -f` (see ../follow.ts).
 */
import { intOption, stringOption } from '../args.js';
import type { Command } from '../command.js';
import { EXIT, UsageError } from '../errors.js';
import { followLog, Wakeup } from '../follow.js';
import { withStore } from '../store.js';

export const events: Command = {
  name: 'events',
  summary: 'Print the most recent stored events as JSON lines, newest first; or follow the commit log.',
  description:
    'Newest by server time. Each line has the columns of the events table (event_id, device_id, event_type, value_num, value_text, unit, ts_device, ts_server, meta). ' +
    'With --follow: every entry committed from now on (or after log number --since), events, dead letters and presence transitions, one JSON line each with its seq and kind, like tail -f, until Ctrl-C (exit 0).',
  options: {
    device: { type: 'string', value: 'ID', description: 'Only events (and, with --follow, dead letters) of this device.' },
    limit: { type: 'string', value: 'N', description: 'How many events, 1 to 10000 (default 20). Not with --follow.' },
    follow: { type: 'boolean', short: 'f', description: 'Print entries as they are committed (the commit log), until Ctrl-C.' },
    since: { type: 'string', value: 'SEQ', description: 'With --follow: start after this commit-log number instead of at the head (0: the whole log).' },
  },
  examples: ['telehub events', 'telehub events --device esp32-01 --limit 5', 'telehub events --follow', 'telehub events --follow --device esp32-01 --since 1200'],
  async run(ctx) {
    const device = stringOption(ctx.values, 'device');
    if (ctx.values.follow === true) {
      if (ctx.values.limit !== undefined) throw new UsageError('--limit does not go with --follow');
      const since = ctx.values.since === undefined ? undefined : intOption(ctx.values, 'since', { min: 0, max: Number.MAX_SAFE_INTEGER }, 0);
      const config = ctx.loadConfig();
      await withStore(ctx, async (store) => {
        const stop = new Wakeup();
        const onSignal = () => stop.ring();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          await followLog(store, { device, since, pollMs: config.log.pollMs, stop }, (line) => ctx.out(line));
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      });
      return EXIT.ok;
    }
    if (ctx.values.since !== undefined) throw new UsageError('--since goes with --follow');
    const limit = intOption(ctx.values, 'limit', { min: 1, max: 10_000 }, 20);
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
