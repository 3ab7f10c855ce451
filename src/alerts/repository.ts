/**
 * Reads and writes of the alerts tables for the API and the CLI: rules
 * (config-file rules are read-only; API rules live in alert_rules), current
 * states, the history of changes and the outbox's delivery state.
 */
import type { Dialect } from '../log/processor.js';
import type { ProcessorStore } from '../storage/log.js';
import { ph, selectAllStates, stateFromRow } from '../processors/alerts/sql.js';
import { readRules } from '../processors/alerts/index.js';
import type { AlertsConfig } from './config.js';
import type { AlertState } from './evaluate.js';
import { ruleToJson, type AlertRule } from './rules.js';

export interface AlertEventRow {
  id: number;
  key: string;
  rule: string;
  deviceId: string;
  state: 'firing' | 'resolved';
  valueNum: number | null;
  valueText: string | null;
  at: number;
  seq: number | null;
  /** Outbox rows of this change: target → delivered (epoch ms) or null, with attempts. */
  deliveries: { target: string; deliveredAt: number | null; attempts: number; lastError: string | null }[];
}

export class RuleConflictError extends Error {}

export class AlertsRepository {
  constructor(
    private readonly store: Pick<ProcessorStore, 'select' | 'execute'>,
    private readonly dialect: Dialect,
    private readonly cfg: AlertsConfig,
  ) {}

  rules(): Promise<AlertRule[]> {
    return readRules(this.cfg, this.store);
  }

  /** Adds (or replaces) an API rule; a config-file rule of that name cannot be replaced. */
  async putRule(rule: AlertRule): Promise<void> {
    if (this.cfg.rules.some((r) => r.name === rule.name)) throw new RuleConflictError(`rule ${rule.name} comes from the config file; change it there`);
    const spec = ruleToJson(rule);
    delete spec.origin;
    const ex = this.dialect === 'sqlite' ? 'excluded' : 'EXCLUDED';
    await this.store.execute([
      { sql: ph(this.dialect, `INSERT INTO alert_rules (name, spec, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET spec = ${ex}.spec`), params: [rule.name, JSON.stringify(spec), Date.now()] },
    ]);
  }

  /** Deletes an API rule and its states (its history stays); false when there is none. */
  async deleteRule(name: string): Promise<boolean> {
    if (this.cfg.rules.some((r) => r.name === name)) throw new RuleConflictError(`rule ${name} comes from the config file; remove it there`);
    const rows = await this.store.select(ph(this.dialect, 'SELECT name FROM alert_rules WHERE name = ?'), [name]);
    if (rows.length === 0) return false;
    await this.store.execute([
      { sql: ph(this.dialect, 'DELETE FROM alert_rules WHERE name = ?'), params: [name] },
      { sql: ph(this.dialect, 'DELETE FROM alert_state WHERE rule = ?'), params: [name] },
    ]);
    return true;
  }

  /** Current states of existing rules (pairs never seen are not listed). */
  async states(filter: { state?: string; rule?: string; device?: string } = {}): Promise<AlertState[]> {
    const names = new Set((await this.rules()).map((r) => r.name));
    const rows = (await this.store.select(selectAllStates(this.dialect), [])).map(stateFromRow);
    return rows.filter((s) => names.has(s.rule) && (filter.state === undefined || s.state === filter.state) && (filter.rule === undefined || s.rule === filter.rule) && (filter.device === undefined || s.deviceId === filter.device));
  }

  /** Changes, newest first, with their deliveries. */
  async history(filter: { rule?: string; device?: string; limit: number; before?: number }): Promise<AlertEventRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.rule !== undefined) (where.push('rule = ?'), params.push(filter.rule));
    if (filter.device !== undefined) (where.push('device_id = ?'), params.push(filter.device));
    if (filter.before !== undefined) (where.push('id < ?'), params.push(filter.before));
    const f = this.dialect === 'postgres' ? '::float8' : '';
    const sql = ph(
      this.dialect,
      `SELECT id${f} AS id, key, rule, device_id, state, value_num, value_text, at${f} AS at, seq${f} AS seq FROM alert_events
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
    );
    const rows = await this.store.select(sql, [...params, filter.limit]);
    const keys = rows.map((r) => String(r.key));
    const deliveries = new Map<string, AlertEventRow['deliveries']>();
    if (keys.length > 0) {
      const q =
        this.dialect === 'postgres'
          ? { sql: `SELECT key, target, delivered_at::float8 AS delivered_at, attempts::float8 AS attempts, last_error FROM alert_outbox WHERE key = ANY($1::text[]) ORDER BY id`, params: [keys] }
          : { sql: `SELECT key, target, delivered_at, attempts, last_error FROM alert_outbox WHERE key IN (SELECT value FROM json_each(?)) ORDER BY id`, params: [JSON.stringify(keys)] };
      for (const d of await this.store.select(q.sql, q.params)) {
        const list = deliveries.get(String(d.key)) ?? [];
        list.push({ target: String(d.target), deliveredAt: d.delivered_at === null ? null : Number(d.delivered_at), attempts: Number(d.attempts), lastError: d.last_error === null ? null : String(d.last_error) });
        deliveries.set(String(d.key), list);
      }
    }
    return rows.map((r) => ({
      id: Number(r.id),
      key: String(r.key),
      rule: String(r.rule),
      deviceId: String(r.device_id),
      state: String(r.state) as 'firing' | 'resolved',
      valueNum: r.value_num === null ? null : Number(r.value_num),
      valueText: r.value_text === null ? null : String(r.value_text),
      at: Number(r.at),
      seq: r.seq === null ? null : Number(r.seq),
      deliveries: deliveries.get(String(r.key)) ?? [],
    }));
  }
}
