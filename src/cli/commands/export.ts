/**
 * `telehub export`: raw events or one rollup tier over a time range, as CSV,
 * NDJSON or Parquet, streamed (src/export: keyset pages in, rows out as they
 * come), to a file or stdout.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { ApiError } from '../../api/errors.js';
import { parseTimeParam } from '../../api/time-range.js';
import { EXPORT_FORMATS, type ExportFormat } from '../../export/formats.js';
import { EXPORT_TIERS } from '../../export/rows.js';
import { choiceOption, stringOption } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { EXIT, UsageError } from '../errors.js';
import { withStore } from '../store.js';

/** A --from/--to value in epoch ms, or a UsageError saying what it may be. */
function timeOption(ctx: CommandContext, name: string): number {
  try {
    return parseTimeParam(name, stringOption(ctx.values, name))!;
  } catch (err) {
    if (err instanceof ApiError) throw new UsageError(`--${err.message}`);
    throw err;
  }
}

/** Where the bytes go: a file written beside its final name and renamed when complete, or stdout. */
function destination(ctx: CommandContext, out: string | undefined, format: ExportFormat): { stream: Writable; done(ok: boolean): Promise<void> } {
  if (out !== undefined) {
    const file = path.resolve(out);
    const partial = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.partial`);
    const stream = createWriteStream(partial, { flags: 'wx' });
    return {
      stream,
      async done(ok) {
        stream.end();
        await finished(stream).catch(() => undefined);
        // A half-written export never takes the name of a finished one.
        if (ok) await rename(partial, file);
        else await rm(partial, { force: true });
      },
    };
  }
  if (ctx.stdout) {
    if (format === 'parquet' && ctx.stdout.isTTY) throw new UsageError('Parquet is binary: give --out FILE or redirect stdout to a file');
    return { stream: ctx.stdout as unknown as Writable, done: async () => undefined };
  }
  if (format === 'parquet') throw new UsageError('--format parquet needs --out FILE here');
  // In-process (tests): text through ctx.out.
  const stream = new Writable({ write: (chunk, _enc, cb) => (ctx.out(String(chunk)), cb()) });
  return { stream, done: async () => undefined };
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'Export raw events or a rollup tier over a time range as CSV, NDJSON or Parquet.',
  description:
    'Streams the rows as they are read (keyset pages of 5000), so millions of rows take constant memory. ' +
    'Raw rows (--tier raw, the default) are the events table in time order (ts_device, else ts_server; then event_id): event_id, device_id, event_type, value_num, value_text, unit, ts_device, ts_server, meta. ' +
    'Tier rows (--tier 1m or 5m) are one per device, event type and bucket, ordered by device, type and bucket: count, n, sum, avg, min, max, first, first_t, last, last_t (docs/data-lifecycle.md). ' +
    'Times are ISO-8601 UTC in CSV and NDJSON, timestamps (ms, UTC) in Parquet. With --out the file appears only when complete. Exit 64 for a wrong command line.',
  options: {
    from: { type: 'string', required: true, value: 'TIME', description: 'Start (inclusive): ISO-8601 date-time, YYYY-MM-DD (UTC midnight) or epoch ms. Event time for raw, bucket start for a tier.' },
    to: { type: 'string', required: true, value: 'TIME', description: 'End (exclusive), same forms as --from.' },
    device: { type: 'string', value: 'ID', description: 'Only this device.' },
    type: { type: 'string', value: 'TYPE', description: 'Only this event type.' },
    format: { type: 'string', required: true, value: 'FORMAT', description: `One of ${EXPORT_FORMATS.join(', ')}.` },
    tier: { type: 'string', value: 'TIER', description: `What to export: ${EXPORT_TIERS.join(', ')} (default raw).` },
    out: { type: 'string', value: 'FILE', description: 'Write to FILE (replaced when the export completes) instead of stdout.' },
  },
  examples: [
    'telehub export --from 2026-11-01 --to 2026-12-01 --format csv --out november.csv',
    'telehub export --from 2026-11-30T00:00:00Z --to 2026-12-01 --device esp32-01 --type temperature --format ndjson',
    'telehub export --from 2025-01-01 --to 2026-01-01 --tier 5m --format parquet --out 2025-5m.parquet',
  ],
  async run(ctx) {
    const from = timeOption(ctx, 'from');
    const to = timeOption(ctx, 'to');
    if (from >= to) throw new UsageError(`--from (${new Date(from).toISOString()}) must be before --to (${new Date(to).toISOString()})`);
    const format = choiceOption(ctx.values, 'format', EXPORT_FORMATS, 'ndjson');
    const tier = choiceOption(ctx.values, 'tier', EXPORT_TIERS, 'raw');
    const out = stringOption(ctx.values, 'out');
    const dest = destination(ctx, out, format);
    const { exportColumns, exportRows } = await import('../../export/rows.js');
    const { writeExport } = await import('../../export/formats.js');
    let ok = false;
    try {
      const rows = await withStore(ctx, (store) =>
        writeExport(exportRows(store, { tier, from, to, deviceId: stringOption(ctx.values, 'device'), eventType: stringOption(ctx.values, 'type') }), exportColumns(tier), format, dest.stream),
      );
      ok = true;
      if (out !== undefined) ctx.err(`Exported ${rows} ${tier === 'raw' ? 'events' : `${tier} rows`} to ${out}\n`);
    } finally {
      await dest.done(ok);
    }
    return EXIT.ok;
  },
};
