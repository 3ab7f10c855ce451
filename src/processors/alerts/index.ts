/**
 * `alerts`: the processor that evaluates alert rules on the commit log.
 *
 * For each batch of entries it reads the rules (config file + API), the
 * state of every (rule, device) the batch touches, folds the readings
 * through the state machine (src/alerts/evaluate.ts), and returns, for the
 * transaction that moves its checkpoint: the new states, the changes
 * (`alert_events`) and one outbox row per change and target. So a change is
 * recorded and queued for delivery exactly when the entries that caused it
 * are marked applied: a kill -9 at any moment neither loses a change nor
 * records it twice, and the deliverer (src/alerts/deliverer.ts) sends what
 * the outbox holds.
 *
 * Its clock (`tick`, every `alerts.tick`, run by the runner only when caught
 * up) fires pending conditions whose `for` elapsed with no new reading.
 * Every transaction with changes bumps the `alert_guard` row from the
 * version read before computing, so a tick here and a log step of the same
 * processor in another process (a rebuild) cannot both apply over one state.
 */
import { step, tick, type AlertState, type AlertTransition, type Reading } from '../../alerts/evaluate.js';
import { targetsOf, type AlertsConfig } from '../../alerts/config.js';
import { notificationOf } from '../../alerts/notification.js';
import { deviceMatcher, parseRule, PRESENCE_EVENT_TYPE, type AlertRule } from '../../alerts/rules.js';
import type { Dialect, Processor } from '../../log/processor.js';
import type { LogEntry, ProcessorStatement, ProcessorStore } from '../../storage/log.js';
import { bumpGuard, insertEvent, insertOutbox, selectGuard, selectPending, selectStates, stateFromRow, upsertState } from './sql.js';

export const ALERTS = 'alerts';

/** Rules of the config file followed by those added through the API (stored in alert_rules). */
export async function readRules(cfg: AlertsConfig, processors: Pick<ProcessorStore, 'select'>): Promise<AlertRule[]> {
  const rows = await processors.select('SELECT name, spec FROM alert_rules ORDER BY name', []);
  const stored: AlertRule[] = [];
  for (const r of rows) {
    const rule = parseRule(JSON.parse(String(r.spec)), `alert_rules ${String(r.name)}`, [], 'api');
    if (rule !== undefined && !cfg.rules.some((c) => c.name === rule.name)) stored.push(rule);
  }
  return [...cfg.rules, ...stored];
}

interface Compiled {
  rule: AlertRule;
  matches: (deviceId: string) => boolean;
}

const pairKey = (rule: string, device: string) => `${rule}\u0000${device}`;

/** What a rule reads of a log entry: an event as it is, a presence transition as type `presence` with its state as text. */
function readingOf(entry: LogEntry): { deviceId: string; eventType: string; tsDevice: number | null; tsServer: number; valueNum: number | null; valueText: string | null } | undefined {
  if (entry.kind === 'event') return entry.event;
  if (entry.kind === 'presence') {
    const p = entry.presence;
    return { deviceId: p.deviceId, eventType: PRESENCE_EVENT_TYPE, tsDevice: null, tsServer: p.at, valueNum: null, valueText: p.state };
  }
  return undefined;
}

/**
 * Folds readings into states; returns the states that changed and the changes
 * (pure: exported for tests).
 */
export function foldEntries(rules: readonly AlertRule[], states: ReadonlyMap<string, AlertState>, entries: readonly LogEntry[]): { states: Map<string, AlertState>; changes: AlertTransition[] } {
  const compiled: Compiled[] = rules.map((rule) => ({ rule, matches: deviceMatcher(rule.devices) }));
  const touched = new Map<string, AlertState>();
  const changes: AlertTransition[] = [];
  for (const entry of entries) {
    const e = readingOf(entry);
    if (e === undefined) continue;
    for (const c of compiled) {
      // Presence rules read presence transitions only; threshold rules events only.
      if ((c.rule.kind === 'presence') !== (entry.kind === 'presence') || c.rule.eventType !== e.eventType || !c.matches(e.deviceId)) continue;
      const key = pairKey(c.rule.name, e.deviceId);
      const reading: Reading = { time: e.tsDevice ?? e.tsServer, server: e.tsServer, valueNum: e.valueNum, valueText: e.valueText, seq: entry.seq };
      const r = step(c.rule, e.deviceId, touched.get(key) ?? states.get(key), reading);
      if (r === undefined) continue;
      touched.set(key, r.state);
      changes.push(...r.changes);
    }
  }
  return { states: touched, changes };
}

/** The statements recording new states and changes, and queueing deliveries. */
function statementsFor(dialect: Dialect, cfg: AlertsConfig, rules: readonly AlertRule[], guard: number, states: Iterable<AlertState>, changes: readonly AlertTransition[]): ProcessorStatement[] {
  const now = Date.now();
  const out: ProcessorStatement[] = [bumpGuard(dialect, guard)];
  for (const s of states) out.push(upsertState(dialect, s));
  for (const t of changes) {
    out.push(insertEvent(dialect, t, now));
    const rule = rules.find((r) => r.name === t.rule)!;
    const payload = JSON.stringify(notificationOf(rule, t));
    for (const target of targetsOf(rule, cfg)) out.push(insertOutbox(dialect, t, target, payload, now));
  }
  return out;
}

async function guardVersion(processors: Pick<ProcessorStore, 'select'>, dialect: Dialect): Promise<number> {
  const rows = await processors.select(selectGuard(dialect), []);
  return Number(rows[0]?.version ?? 0);
}

export function alerts(cfg: AlertsConfig, processors: Pick<ProcessorStore, 'select'>): Processor {
  return {
    name: ALERTS,
    // The outbox is kept by a rebuild: what was queued (and delivered) stays, and is not queued again.
    tables: ['alert_state', 'alert_events'],
    tickMs: cfg.tickMs,
    async apply(entries: readonly LogEntry[], dialect: Dialect): Promise<ProcessorStatement[]> {
      const rules = await readRules(cfg, processors);
      if (rules.length === 0) return [];
      const types = new Set(rules.map((r) => r.eventType));
      const devices = new Set<string>();
      for (const entry of entries) {
        const e = readingOf(entry);
        if (e !== undefined && types.has(e.eventType)) devices.add(e.deviceId);
      }
      if (devices.size === 0) return [];
      // The guard first: a state read after it is at least as new as the version this transaction will check.
      const guard = await guardVersion(processors, dialect);
      const q = selectStates(dialect, [...devices]);
      const current = new Map<string, AlertState>();
      for (const row of await processors.select(q.sql, q.params)) {
        const s = stateFromRow(row);
        current.set(pairKey(s.rule, s.deviceId), s);
      }
      const { states, changes } = foldEntries(rules, current, entries);
      if (states.size === 0) return [];
      return statementsFor(dialect, cfg, rules, guard, states.values(), changes);
    },
    async tick(now: number, dialect: Dialect): Promise<ProcessorStatement[]> {
      const rules = await readRules(cfg, processors);
      if (!rules.some((r) => r.forMs > 0)) return [];
      const guard = await guardVersion(processors, dialect);
      const q = selectPending(dialect);
      const changed: AlertState[] = [];
      const changes: AlertTransition[] = [];
      for (const row of await processors.select(q.sql, q.params)) {
        const s = stateFromRow(row);
        const rule = rules.find((r) => r.name === s.rule);
        if (rule === undefined) continue;
        const r = tick(rule, s, now);
        if (r === undefined) continue;
        changed.push(r.state);
        changes.push(...r.changes);
      }
      if (changed.length === 0) return [];
      return statementsFor(dialect, cfg, rules, guard, changed, changes);
    },
  };
}
