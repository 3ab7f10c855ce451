/**
 * `telehub alerts [list] [--state S] [--rule R] [--device D] [--json]`: the
 * alert rules (config file and API) and each (rule, device)'s current state,
 * read from the store (the alerts processor keeps them); `--history` shows
 * the latest changes with their deliveries instead.
 */
import { formatDuration } from '../../alerts/rules.js';
import { conditionText } from '../../alerts/notification.js';
import { AlertsRepository } from '../../alerts/repository.js';
import { intOption, stringOption } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { EXIT, UsageError } from '../errors.js';
import { withStore } from '../store.js';

const STATES = ['ok', 'pending', 'firing'];

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());

async function listCommand(ctx: CommandContext): Promise<number> {
  const state = stringOption(ctx.values, 'state');
  if (state !== undefined && !STATES.includes(state)) throw new UsageError(`--state must be one of ${STATES.join(', ')}`);
  const rule = stringOption(ctx.values, 'rule');
  const device = stringOption(ctx.values, 'device');
  const history = ctx.values.history === true;
  const limit = intOption(ctx.values, 'limit', { min: 1, max: 100_000 }, 100);
  if (history && state !== undefined) throw new UsageError('--state applies to current states, not to --history');
  const config = ctx.loadConfig();
  await withStore(ctx, async (store) => {
    const repo = new AlertsRepository(store.processors, store.kind, config.alerts);
    const json = ctx.values.json === true;
    if (history) {
      const changes = await repo.history({ rule, device, limit });
      if (json) {
        for (const c of changes) ctx.out(JSON.stringify({ id: c.id, key: c.key, rule: c.rule, device_id: c.deviceId, state: c.state, value: c.valueNum, value_text: c.valueText, at: iso(c.at), deliveries: c.deliveries }) + '\n');
        return;
      }
      const rows = [['AT', 'RULE', 'DEVICE', 'STATE', 'VALUE', 'DELIVERED']];
      for (const c of changes) {
        const delivered = c.deliveries.map((d) => `${d.target}:${d.deliveredAt === null ? `pending(${d.attempts})` : 'yes'}`).join(' ') || '-';
        rows.push([iso(c.at), c.rule, c.deviceId, c.state, String(c.valueNum ?? c.valueText ?? '-'), delivered]);
      }
      ctx.out(table(rows));
      ctx.out(`${changes.length} change${changes.length === 1 ? '' : 's'}.\n`);
      return;
    }
    const rules = (await repo.rules()).filter((r) => rule === undefined || r.name === rule);
    const states = await repo.states({ state, rule, device });
    if (json) {
      for (const s of states) ctx.out(JSON.stringify({ rule: s.rule, device_id: s.deviceId, state: s.state, since: s.since === null ? null : iso(s.since), value: s.valueNum, value_text: s.valueText }) + '\n');
      return;
    }
    const ruleRows = [['RULE', 'ORIGIN', 'DEVICES', 'CONDITION', 'FOR', 'FIRING']];
    for (const r of rules) {
      const firing = states.filter((s) => s.rule === r.name && s.state === 'firing').length;
      ruleRows.push([r.name, r.origin, r.devices, conditionText({ ...r, forMs: 0 }), formatDuration(r.forMs), String(firing)]);
    }
    ctx.out(rules.length === 0 ? 'No alert rules (docs/alerts.md).\n' : table(ruleRows));
    if (states.length > 0) {
      ctx.out('\n');
      const rows = [['RULE', 'DEVICE', 'STATE', 'SINCE', 'VALUE']];
      for (const s of states) rows.push([s.rule, s.deviceId, s.state, iso(s.since), String(s.valueNum ?? s.valueText ?? '-')]);
      ctx.out(table(rows));
    }
  });
  return EXIT.ok;
}

const options = {
  state: { type: 'string', value: 'S', description: 'Only pairs in this state: ok, pending or firing.' },
  rule: { type: 'string', value: 'NAME', description: 'Only this rule.' },
  device: { type: 'string', value: 'ID', description: 'Only this device.' },
  history: { type: 'boolean', description: 'The latest changes (firing, resolved) with their deliveries, newest first, instead of the current states.' },
  limit: { type: 'string', value: 'N', description: 'With --history: at most this many changes, 1 to 100000 (default 100).' },
  json: { type: 'boolean', description: 'One JSON object per line (a state, or with --history a change) instead of the tables.' },
} as const;

const list: Command = {
  name: 'alerts list',
  summary: 'List alert rules and current alert states.',
  description: 'The rules (from the config file and the API) with how many devices each has firing, then each (rule, device) pair and its state (docs/alerts.md).',
  options,
  examples: ['telehub alerts list', 'telehub alerts list --state firing', 'telehub alerts list --history --rule boiler-hot'],
  run: listCommand,
};

export const alerts: Command = {
  name: 'alerts',
  summary: 'Alert rules and states: list them (the default).',
  description: 'Without a subcommand: the list (as alerts list).',
  options,
  examples: ['telehub alerts', 'telehub alerts --history --json'],
  subcommands: [list],
  run: listCommand,
};
