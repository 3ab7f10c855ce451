/**
 * `telehub command send`: sends a command to a device through a running
 * telehub's HTTP API (the dispatcher lives in that process; writing to the
 * store from here would leave it unsent until a restart), and with --wait
 * follows it to its final state.
 */
import { intOption, stringOption } from '../args.js';
import type { Command } from '../command.js';
import { CliError, EXIT, UsageError } from '../errors.js';

const FINAL = ['succeeded', 'failed', 'expired', 'cancelled'];

const send: Command = {
  name: 'command send',
  summary: 'Send a command to a device and print it (with --wait: its final state).',
  description:
    'Posts to POST /api/v1/devices/{device}/commands of the running telehub (--url, default http://127.0.0.1:$TELEHUB_HTTP_PORT) ' +
    'with an admin token (--token or TELEHUB_TOKEN). Prints the command as JSON. With --wait it polls until the command has ' +
    'succeeded, failed, expired or been cancelled, prints it and exits 0 when it succeeded, 1 otherwise.',
  arguments: [
    { name: 'device', required: true, description: 'The device id (iot/node/{device}/command).' },
    { name: 'command', required: true, description: 'The command name, e.g. set_led.' },
  ],
  options: {
    params: { type: 'string', value: 'JSON', description: 'The params, a JSON object (default {}).' },
    ttl: { type: 'string', value: 'S', description: 'Seconds until it expires, 1 to 31536000 (default TELEHUB_COMMAND_TTL_S).' },
    wait: { type: 'boolean', description: 'Wait for the final state and print it.' },
    url: { type: 'string', value: 'URL', description: 'Base URL of telehub (default http://127.0.0.1:$TELEHUB_HTTP_PORT, port 8080).' },
    token: { type: 'string', value: 'TOKEN', description: 'An admin token (default: the TELEHUB_TOKEN environment variable).' },
  },
  examples: ['telehub command send node-01 set_led --params \'{"state":"on"}\' --wait', 'telehub command send node-01 reboot --ttl 60'],
  async run(ctx) {
    const [device, name] = ctx.positionals;
    let params: unknown = {};
    const raw = stringOption(ctx.values, 'params');
    if (raw !== undefined) {
      try {
        params = JSON.parse(raw);
      } catch {
        throw new UsageError('--params is not valid JSON');
      }
      if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new UsageError('--params must be a JSON object');
    }
    const ttl = ctx.values.ttl === undefined ? undefined : intOption(ctx.values, 'ttl', { min: 1, max: 31_536_000 }, 0);
    const token = stringOption(ctx.values, 'token') ?? ctx.env.TELEHUB_TOKEN;
    if (!token) throw new UsageError('an admin token is needed: --token or TELEHUB_TOKEN (telehub tokens create --scope admin)');
    const base = (stringOption(ctx.values, 'url') ?? `http://127.0.0.1:${ctx.env.TELEHUB_HTTP_PORT ?? '8080'}`).replace(/\/+$/, '');
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const call = async (path: string, init: RequestInit = {}) => {
      let res: Response;
      try {
        res = await fetch(base + path, { ...init, headers });
      } catch (err) {
        throw new CliError(`cannot reach telehub at ${base}: ${(err as Error).message} (is it running? --url)`, EXIT.failure);
      }
      const body = (await res.json().catch(() => ({}))) as { state?: string; error?: { message?: string } };
      if (!res.ok) throw new CliError(`telehub answered ${res.status}: ${body.error?.message ?? 'no message'}`, res.status === 400 ? EXIT.usage : EXIT.failure);
      return body;
    };
    let c = await call(`/api/v1/devices/${encodeURIComponent(device)}/commands`, { method: 'POST', body: JSON.stringify({ command: name, params, ...(ttl !== undefined ? { ttl_s: ttl } : {}) }) });
    if (ctx.values.wait === true) {
      const id = (c as { command_id: string }).command_id;
      // Polls the API: the CLI has no subscription to the command's changes.
      while (!FINAL.includes(c.state ?? '')) {
        await new Promise((r) => setTimeout(r, 250));
        c = await call(`/api/v1/commands/${encodeURIComponent(id)}`);
      }
    }
    ctx.out(JSON.stringify(c) + '\n');
    return ctx.values.wait === true && c.state !== 'succeeded' ? EXIT.failure : EXIT.ok;
  },
};

export const command: Command = {
  name: 'command',
  summary: 'Send commands to devices through a running telehub.',
  examples: ['telehub command send node-01 set_led --params \'{"state":"on"}\' --wait'],
  subcommands: [send],
};
