/**
 * Sends what the alerts outbox holds: each row is one state change for one
 * target (a webhook, or `mqtt`), written by the alerts processor in the
 * transaction that recorded the change. A row is marked delivered only after
 * its target took it (webhook: a 2xx answer; MQTT: handed to the active
 * source's publisher at QoS 1); a failure is retried with exponential
 * back-off (with jitter) from `retry_min` up to `retry_max`, for ever, and
 * counted in the row (`attempts`, `last_error`).
 *
 * Delivery is at least once: a kill -9 after a webhook answered 2xx and
 * before the row was marked sends that change again after restart, with the
 * same `Idempotency-Key` header and `id` field, so a receiver can drop the
 * repeat. After a 2xx the row is never sent again.
 *
 * Order: per (target, rule, device), a change is not sent while an earlier
 * one is still undelivered, so a receiver never sees `resolved` before the
 * `firing` it resolves. Different targets never wait for each other.
 *
 * Hand-written because no library keeps an outbox in our store; the HTTP
 * calls are Node's own fetch.
 */
import type { Logger } from 'pino';
import type { Dialect } from '../log/processor.js';
import { Wakeup } from '../log/wakeup.js';
import type { MessagePublisher } from '../pipeline/message.js';
import type { ProcessorStore } from '../storage/log.js';
import { MQTT_TARGET, type AlertsConfig } from './config.js';
import { alertTopic, webhookRequest, type AlertNotification } from './notification.js';
import { ph } from '../processors/alerts/sql.js';

export interface DelivererOptions {
  log: Logger;
  /** The active MQTT source's publisher (undefined: MQTT rows wait). */
  mqtt?: () => MessagePublisher | undefined;
  /** Rung after commits (the processors' wake-up), so deliveries leave without waiting for the poll. */
  wakeup?: Wakeup;
  /** Clock, for tests. */
  now?: () => number;
}

interface OutboxRow {
  id: number;
  target: string;
  payload: string;
  attempts: number;
}

const DUE_LIMIT = 100;
/** Shortest time between two looks at an outbox that had nothing due. */
const MIN_PASS_MS = 100;

export class AlertDeliverer {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly stopSignal = new Wakeup();
  private readonly now: () => number;
  /** Deliveries that succeeded / failed since start (metrics, tests). */
  readonly counters = { delivered: 0, failed: 0 };
  /**
   * The same per target (a webhook's name, or `mqtt`), with `retried`: attempts
   * at a change that had failed before (whatever their outcome). Running
   * totals since start; /metrics reads them (telehub_alert_deliveries_total).
   */
  readonly byTarget = new Map<string, { delivered: number; failed: number; retried: number }>();

  constructor(
    private readonly store: Pick<ProcessorStore, 'select' | 'execute'>,
    private readonly dialect: Dialect,
    private readonly cfg: AlertsConfig,
    private readonly opts: DelivererOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** The targets this process can deliver to. */
  get targets(): string[] {
    const t = this.cfg.webhooks.map((h) => h.name);
    if (this.cfg.mqtt && this.opts.mqtt !== undefined) t.push(MQTT_TARGET);
    return t;
  }

  start(): void {
    if (this.targets.length === 0) return;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopSignal.ring();
    this.opts.wakeup?.ring();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const gen = this.opts.wakeup?.generation;
      let sent = 0;
      try {
        sent = await this.deliverDue();
      } catch (err) {
        this.opts.log.warn({ err }, 'Alert outbox could not be read; retrying.');
      }
      if (this.stopped) break;
      if (sent === 0) {
        const began = Date.now();
        await Promise.race([this.opts.wakeup ? this.opts.wakeup.wait(this.cfg.pollMs, gen) : new Promise((r) => setTimeout(r, this.cfg.pollMs)), this.stopSignal.wait(this.cfg.pollMs)]);
        // The wake-up rings on every intake commit: under load, look at the outbox at most every MIN_PASS_MS.
        const rest = MIN_PASS_MS - (Date.now() - began);
        if (rest > 0 && !this.stopped) await this.stopSignal.wait(rest);
      }
    }
  }

  /** One pass: sends every due row (per target in parallel, in order within a target); returns how many were attempted. */
  async deliverDue(): Promise<number> {
    const rows = await this.due();
    const byTarget = new Map<string, OutboxRow[]>();
    for (const r of rows) byTarget.set(r.target, [...(byTarget.get(r.target) ?? []), r]);
    await Promise.all([...byTarget.values()].map((list) => this.deliverInOrder(list)));
    return rows.length;
  }

  private async deliverInOrder(list: OutboxRow[]): Promise<void> {
    const failed = new Set<string>();
    for (const row of list) {
      const n = JSON.parse(row.payload) as AlertNotification;
      const stream = `${n.rule}\u0000${n.device_id}`;
      if (failed.has(stream)) continue; // an earlier change of this stream just failed: keep the order
      let tally = this.byTarget.get(row.target);
      if (tally === undefined) this.byTarget.set(row.target, (tally = { delivered: 0, failed: 0, retried: 0 }));
      if (row.attempts > 0) tally.retried++;
      try {
        await this.send(row.target, n);
        await this.store.execute([{ sql: ph(this.dialect, 'UPDATE alert_outbox SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?'), params: [this.now(), row.id] }]);
        this.counters.delivered++;
        tally.delivered++;
        this.opts.log.info({ target: row.target, rule: n.rule, device: n.device_id, state: n.state, id: n.id }, 'Alert change delivered.');
      } catch (err) {
        failed.add(stream);
        this.counters.failed++;
        tally.failed++;
        const message = err instanceof Error ? err.message : String(err);
        const delay = this.backoff(row.attempts);
        await this.store
          .execute([{ sql: ph(this.dialect, 'UPDATE alert_outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?'), params: [this.now() + delay, message.slice(0, 500), row.id] }])
          .catch(() => undefined);
        this.opts.log.warn({ target: row.target, rule: n.rule, device: n.device_id, state: n.state, attempt: row.attempts + 1, retryInMs: delay, error: message }, 'Alert delivery failed; retrying later.');
      }
    }
  }

  private async due(): Promise<OutboxRow[]> {
    const targets = this.targets;
    if (targets.length === 0) return [];
    const f = this.dialect === 'postgres' ? '::float8' : '';
    const inTargets = this.dialect === 'postgres' ? 'o.target = ANY(?::text[])' : 'o.target IN (SELECT value FROM json_each(?))';
    const sql = ph(
      this.dialect,
      `SELECT o.id${f} AS id, o.target, o.payload, o.attempts${f} AS attempts FROM alert_outbox o
       WHERE o.delivered_at IS NULL AND o.next_at <= ? AND ${inTargets}
         AND NOT EXISTS (SELECT 1 FROM alert_outbox p WHERE p.delivered_at IS NULL AND p.target = o.target AND p.rule = o.rule AND p.device_id = o.device_id AND p.id < o.id)
       ORDER BY o.id LIMIT ${DUE_LIMIT}`,
    );
    const rows = await this.store.select(sql, [this.now(), this.dialect === 'postgres' ? targets : JSON.stringify(targets)]);
    return rows.map((r) => ({ id: Number(r.id), target: String(r.target), payload: String(r.payload), attempts: Number(r.attempts) }));
  }

  private async send(target: string, n: AlertNotification): Promise<void> {
    if (target === MQTT_TARGET) {
      const pub = this.opts.mqtt?.();
      if (pub === undefined) throw new Error('no MQTT source is running');
      // Not retained: MessagePublisher has no retain flag; the current state is in GET /api/v1/alerts.
      pub.publish(alertTopic(n.rule, n.device_id), JSON.stringify(n), 1);
      return;
    }
    const hook = this.cfg.webhooks.find((h) => h.name === target);
    if (hook === undefined) throw new Error(`no webhook is named ${target}`);
    const req = webhookRequest(hook, n);
    const res = await fetch(req.url, { method: 'POST', headers: req.headers, body: req.body, signal: AbortSignal.timeout(this.cfg.timeoutMs) });
    // Drain the body so the connection can be reused.
    await res.arrayBuffer().catch(() => undefined);
    if (res.status < 200 || res.status > 299) throw new Error(`${hook.type} webhook ${hook.name} answered ${res.status}`);
  }

  private backoff(attempts: number): number {
    const base = Math.min(this.cfg.retryMaxMs, this.cfg.retryMinMs * 2 ** Math.min(attempts, 30));
    return Math.round(base / 2 + Math.random() * (base / 2));
  }
}
