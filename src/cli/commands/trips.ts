/**
 * `telehub trips [list] [--device D] [--from T] [--to T] [--json]` and
 * `telehub trips rebuild --device D [--from T] [--to T]`.
 *
 * list reads the trips table (kept by the `trips` processor). rebuild
 * recomputes a vehicle's trips from its stored events through the same code
 * as live processing (so it gives what live gave), keeping ids where trips
 * overlap and bumping versions of those that change; safe beside a running
 * telehub (its transaction is guarded by the processor's checkpoint).
 */
import { parseTimeParam } from '../../api/time-range.js';
import { tripToJson } from '../../api/routes/trips.js';
import { listTrips, rebuildTrips } from '../../processors/trips/queries.js';
import { MAX_TIME } from '../../processors/trips/sql.js';
import { intOption, stringOption } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { EXIT, UsageError } from '../errors.js';
import { withStore } from '../store.js';

function time(ctx: CommandContext, name: 'from' | 'to'): number | undefined {
  try {
    return parseTimeParam(name, stringOption(ctx.values, name));
  } catch (err) {
    throw new UsageError(`--${(err as Error).message}`);
  }
}

function range(ctx: CommandContext): { from?: number; to?: number } {
  const from = time(ctx, 'from');
  const to = time(ctx, 'to');
  if (from !== undefined && to !== undefined && from >= to) throw new UsageError('--from must be before --to');
  return { from, to };
}

const TIME = 'ISO-8601 date-time, a date (UTC midnight) or epoch ms';

async function listCommand(ctx: CommandContext): Promise<number> {
  const { from, to } = range(ctx);
  const device = stringOption(ctx.values, 'device');
  const limit = intOption(ctx.values, 'limit', { min: 1, max: 100_000 }, 1000);
  await withStore(ctx, async (store) => {
    const trips = await listTrips(store, { deviceId: device, from, to, limit });
    if (ctx.values.json === true) {
      for (const t of trips) ctx.out(JSON.stringify(tripToJson(t)) + '\n');
      return;
    }
    const rows = [['ID', 'DEVICE', 'START', 'END', 'KM', 'SOURCE', 'AVG_KMH', 'VERSION', 'IN_PROGRESS']];
    for (const t of trips) {
      rows.push([t.tripId, t.deviceId, new Date(t.startTs).toISOString(), new Date(t.endTs).toISOString(), t.distanceKm.toFixed(3), t.distanceSource, t.avgSpeedKmh?.toFixed(1) ?? '-', String(t.version), t.inProgress ? 'yes' : 'no']);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    ctx.out(rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n');
    ctx.out(`${trips.length} trip${trips.length === 1 ? '' : 's'}.\n`);
  });
  return EXIT.ok;
}

const listOptions = {
  device: { type: 'string', value: 'ID', description: 'Only this vehicle’s trips.' },
  from: { type: 'string', value: 'TIME', description: `Trips ending at or after this (${TIME}).` },
  to: { type: 'string', value: 'TIME', description: `Trips starting before this (${TIME}).` },
  limit: { type: 'string', value: 'N', description: 'At most this many trips, 1 to 100000 (default 1000).' },
  json: { type: 'boolean', description: 'One JSON object per trip (as GET /api/v1/trips) instead of the table.' },
} as const;

const list: Command = {
  name: 'trips list',
  summary: 'List trips, by start time.',
  description: 'Trips as the trips processor keeps them (docs/trips.md), overlapping [--from, --to) in device time.',
  options: listOptions,
  examples: ['telehub trips list --device car-1', 'telehub trips list --from 2024-02-10 --to 2024-02-11 --json'],
  run: listCommand,
};

const rebuild: Command = {
  name: 'trips rebuild',
  summary: 'Recompute a vehicle’s trips from its stored events.',
  description:
    'The same recomputation as live processing, over the trips touching [--from, --to) (default: all of them): changed trips get version + 1 and keep their id, ' +
    'trips that no longer exist are deleted. Also applies data older than TELEHUB_TRIP_LATENESS_S, which live processing leaves alone. Safe while telehub runs.',
  options: {
    device: { type: 'string', value: 'ID', description: 'The vehicle (required).' },
    from: { type: 'string', value: 'TIME', description: `Start of the range (${TIME}); default: the beginning.` },
    to: { type: 'string', value: 'TIME', description: `End of the range (${TIME}); default: no end.` },
  },
  examples: ['telehub trips rebuild --device car-1', 'telehub trips rebuild --device car-1 --from 2024-02-01 --to 2024-02-08'],
  async run(ctx) {
    const device = stringOption(ctx.values, 'device');
    if (device === undefined) throw new UsageError('trips rebuild needs --device');
    const { from, to } = range(ctx);
    const config = ctx.loadConfig();
    const r = await withStore(ctx, (store) => rebuildTrips(store, device, from ?? 0, to ?? MAX_TIME, config.trips.settingsFor(device), Date.now()));
    ctx.out(`Rebuilt the trips of ${device}: ${r.written} written, ${r.deleted} deleted.\n`);
    return EXIT.ok;
  },
};

export const trips: Command = {
  name: 'trips',
  summary: 'Trips of cars: list them (the default), or rebuild a vehicle’s.',
  description: 'Without a subcommand: the list (as trips list).',
  options: listOptions,
  examples: ['telehub trips --device car-1', 'telehub trips rebuild --device car-1'],
  subcommands: [list, rebuild],
  run: listCommand,
};
