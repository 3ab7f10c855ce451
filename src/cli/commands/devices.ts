/**
 * `telehub devices [list] [--json]` and `telehub devices show ID [--json]`:
 * the device registry as GET /api/v1/devices shows it (presence with its
 * cause, last data, last status, expected interval), read from the store, so
 * it works beside a running telehub. `telehub devices set-interval ID
 * SECONDS|default` goes through the running telehub's API instead (its
 * presence monitor must hear of the change; a write to the store would wait
 * for a restart).
 */
import { deviceToJson } from '../../api/routes/devices.js';
import { readRegistry, readRegistryDevice } from '../../processors/device-registry/read.js';
import type { Command, CommandContext } from '../command.js';
import { CliError, EXIT, UsageError } from '../errors.js';
import { stringOption } from '../args.js';
import { withStore } from '../store.js';

function table(cells: string[][]): string {
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

const dash = (v: unknown) => (v === null || v === undefined ? '-' : String(v));

async function listDevices(ctx: CommandContext): Promise<number> {
  const config = ctx.loadConfig();
  await withStore(ctx, async (store) => {
    const rows = (await readRegistry(store.kind, store.processors)).map((r) => deviceToJson(r, config.presence, config.presence.overrides));
    if (ctx.values.json === true) {
      for (const d of rows) ctx.out(JSON.stringify(d) + '\n');
      return;
    }
    const cells = [['DEVICE', 'PRESENCE', 'CAUSE', 'SINCE', 'LAST_DATA', 'EVENTS', 'RSSI', 'INTERVAL_S']];
    for (const d of rows) cells.push([d.device_id, d.presence, dash(d.presence_cause), dash(d.presence_since), dash(d.last_data_at), String(d.events), dash(d.wifi_rssi), (d.interval_ms / 1000).toFixed(1)]);
    ctx.out(table(cells));
    if (rows.length === 0) ctx.out('No device has stored anything yet.\n');
  });
  return EXIT.ok;
}

const jsonOption = { json: { type: 'boolean', description: 'JSON (the fields of GET /api/v1/devices) instead of the table.' } } as const;

const list: Command = {
  name: 'devices list',
  summary: 'List the devices with their presence, cause, last data and expected interval.',
  description: 'Every device with stored events: presence (online, silent, offline, unknown) with its cause and since when, last data, event count, last Wi-Fi RSSI and the expected reporting interval. Works while telehub runs.',
  options: jsonOption,
  examples: ['telehub devices list', 'telehub devices list --json'],
  run: listDevices,
};

const show: Command = {
  name: 'devices show',
  summary: 'Show one device of the registry.',
  description: 'Every registry field of one device (as GET /api/v1/devices/{id}). Exits 1 when the store holds nothing of it.',
  options: jsonOption,
  arguments: [{ name: 'ID', description: 'The device id.', required: true }],
  examples: ['telehub devices show node_01', 'telehub devices show node_01 --json'],
  async run(ctx) {
    const id = ctx.positionals[0];
    if (id === undefined || id === '') throw new UsageError('devices show needs a device id');
    const config = ctx.loadConfig();
    const found = await withStore(ctx, async (store) => {
      const r = await readRegistryDevice(store.kind, store.processors, id);
      if (r === undefined) return false;
      const d = deviceToJson(r, config.presence, config.presence.overrides);
      if (ctx.values.json === true) ctx.out(JSON.stringify(d) + '\n');
      else ctx.out(table(Object.entries(d).map(([k, v]) => [k, dash(v)])));
      return true;
    });
    if (!found) {
      ctx.err(`No device ${id} in the registry.\n`);
      return EXIT.failure;
    }
    return EXIT.ok;
  },
};

const setInterval: Command = {
  name: 'devices set-interval',
  summary: 'Set (or clear) the expected reporting interval of a device.',
  description:
    'Sends PATCH /api/v1/devices/{ID} to the running telehub (--url, default http://127.0.0.1:$TELEHUB_HTTP_PORT) with an admin token ' +
    '(--token or TELEHUB_TOKEN), so its presence monitor applies it at once: the device turns silent when no data came for SECONDS × ' +
    'TELEHUB_PRESENCE_GRACE_PERCENT / 100. `default` clears it (back to the config file\'s devices: entry, else the learned interval). Prints the device as JSON.',
  arguments: [
    { name: 'ID', required: true, description: 'The device id.' },
    { name: 'SECONDS', required: true, description: 'Seconds between its reports (0.1 to 31536000), or `default` to clear the override.' },
  ],
  options: {
    url: { type: 'string', value: 'URL', description: 'Base URL of telehub (default http://127.0.0.1:$TELEHUB_HTTP_PORT, port 8080).' },
    token: { type: 'string', value: 'TOKEN', description: 'An admin token (default: the TELEHUB_TOKEN environment variable).' },
  },
  examples: ['telehub devices set-interval node_01 30', 'telehub devices set-interval node_01 default'],
  async run(ctx) {
    const [id, raw] = ctx.positionals;
    if (id === undefined || id === '') throw new UsageError('devices set-interval needs a device id');
    if (raw === undefined) throw new UsageError('devices set-interval needs SECONDS (or default)');
    let seconds: number | null = null;
    if (raw !== 'default') {
      seconds = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
      if (!(seconds >= 0.1 && seconds <= 31_536_000)) throw new UsageError(`SECONDS must be a number from 0.1 to 31536000, or default; got ${JSON.stringify(raw)}`);
    }
    const token = stringOption(ctx.values, 'token') ?? ctx.env.TELEHUB_TOKEN;
    if (!token) throw new UsageError('an admin token is needed: --token or TELEHUB_TOKEN (telehub tokens create --scope admin)');
    const base = (stringOption(ctx.values, 'url') ?? `http://127.0.0.1:${ctx.env.TELEHUB_HTTP_PORT ?? '8080'}`).replace(/\/+$/, '');
    let res: Response;
    try {
      res = await fetch(`${base}/api/v1/devices/${encodeURIComponent(id)}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ expected_interval_s: seconds }),
      });
    } catch (err) {
      throw new CliError(`cannot reach telehub at ${base}: ${(err as Error).message} (is it running? --url)`, EXIT.failure);
    }
    const body = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
    if (!res.ok) throw new CliError(`telehub answered ${res.status}: ${body.error?.message ?? 'no message'}`, res.status === 400 ? EXIT.usage : EXIT.failure);
    ctx.out(JSON.stringify(body) + '\n');
    return EXIT.ok;
  },
};

export const devices: Command = {
  name: 'devices',
  summary: 'The device registry: list devices (the default) or show one.',
  description: `Without a subcommand: the list (as devices list). ${list.description}`,
  options: jsonOption,
  examples: ['telehub devices', 'telehub devices show node_01'],
  subcommands: [list, show, setInterval],
  run: listDevices,
};
