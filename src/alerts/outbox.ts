/**
 * Housekeeping of the alerts outbox (`alert_outbox`, docs/alerts.md): its
 * depth per target for /metrics, and the cleanup of delivered rows older
 * than `alerts.outbox_retention` (by delivery time).
 *
 * The outbox is also what keeps a rebuild of the alerts processor from
 * sending a change again (a rebuild re-derives every change; its outbox row
 * is already there, so it is not queued twice). So the cleanup never deletes
 * the newest row of a stream (target, rule, device), nor a row whose change
 * is as recent (event time `at`) as that newest one, and the processor
 * queues no change older than the newest one of its stream
 * (src/processors/alerts/sql.ts insertOutbox): a change whose row was
 * cleaned always has a newer row of its stream left that keeps it out.
 * Changes of one stream are queued in event-time order (a (rule, device)
 * ignores readings older than the last it applied), so a live change is
 * never the older one.
 *
 * Deletes go in chunks of CHUNK rows, one short transaction each. Any
 * number of processes may clean at once: a row deleted twice is deleted once.
 */
import type { Logger } from 'pino';
import type { Dialect } from '../log/processor.js';
import { Wakeup } from '../log/wakeup.js';
import type { ProcessorStore } from '../storage/log.js';
import type { AlertsConfig } from './config.js';

const CHUNK = 1000;

type OutboxStore = Pick<ProcessorStore, 'select' | 'execute'>;

/** Undelivered rows per target (outbox depth). */
export async function outboxDepth(store: Pick<ProcessorStore, 'select'>, dialect: Dialect): Promise<Map<string, number>> {
  const f = dialect === 'postgres' ? '::float8' : '';
  const rows = await store.select(`SELECT target, COUNT(*)${f} AS n FROM alert_outbox WHERE delivered_at IS NULL GROUP BY target`, []);
  return new Map(rows.map((r) => [String(r.target), Number(r.n)]));
}

const atOf = (payload: unknown): number => {
  try {
    const at = Date.parse(String((JSON.parse(String(payload)) as { at?: unknown }).at));
    return Number.isFinite(at) ? at : Number.POSITIVE_INFINITY;
  } catch {
    // A payload that cannot be read is kept (Infinity: never "older than the newest").
    return Number.POSITIVE_INFINITY;
  }
};

export class OutboxCleaner {
  /** Rows deleted since start (metrics, tests). */
  deleted = 0;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  private readonly stopSignal = new Wakeup();
  private readonly now: () => number;

  constructor(
    private readonly store: OutboxStore,
    private readonly dialect: Dialect,
    private readonly cfg: Pick<AlertsConfig, 'outboxRetentionMs'>,
    private readonly opts: { log: Logger; now?: () => number },
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** How often a pass runs: a tenth of the retention, between 1 minute and 1 hour. */
  get intervalMs(): number {
    return Math.min(3_600_000, Math.max(60_000, Math.round(this.cfg.outboxRetentionMs / 10)));
  }

  /** Runs a pass now and then every intervalMs (nothing when the retention is 0). */
  start(): void {
    if (this.cfg.outboxRetentionMs === 0) return;
    const loop = async () => {
      while (!this.stopped) {
        this.running = this.clean().catch((err: unknown) => this.opts.log.warn({ err }, 'Alert outbox cleanup failed; trying again later.'));
        await this.running;
        if (!this.stopped) await this.stopSignal.wait(this.intervalMs);
      }
    };
    this.running = loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopSignal.ring();
    await this.running;
  }

  /** One pass: deletes delivered rows older than the retention (keeping each stream's newest); returns how many. */
  async clean(): Promise<number> {
    if (this.cfg.outboxRetentionMs === 0) return 0;
    const cutoff = this.now() - this.cfg.outboxRetentionMs;
    const d = this.dialect;
    const f = d === 'postgres' ? '::float8' : '';
    const p = (i: number) => (d === 'postgres' ? `$${i}` : '?');
    // Each stream's newest row and its change's time. Rows queued meanwhile are newer still: keeping more is safe.
    const newestRows = await this.store.select(`SELECT o.id${f} AS id, o.target, o.rule, o.device_id, o.payload FROM alert_outbox o WHERE o.id IN (SELECT MAX(id) FROM alert_outbox GROUP BY target, rule, device_id)`, []);
    const stream = (r: Record<string, unknown>) => `${String(r.target)}\u0000${String(r.rule)}\u0000${String(r.device_id)}`;
    const newest = new Map(newestRows.map((r) => [stream(r), { id: Number(r.id), at: atOf(r.payload) }]));
    let deleted = 0;
    let after = 0;
    for (;;) {
      const rows = await this.store.select(
        `SELECT id${f} AS id, target, rule, device_id, payload FROM alert_outbox WHERE delivered_at IS NOT NULL AND delivered_at < ${p(1)} AND id > ${p(2)} ORDER BY id LIMIT ${CHUNK}`,
        [cutoff, after],
      );
      if (rows.length === 0) break;
      after = Number(rows[rows.length - 1].id);
      const ids = rows
        .filter((r) => {
          const n = newest.get(stream(r));
          return n !== undefined && Number(r.id) !== n.id && atOf(r.payload) < n.at;
        })
        .map((r) => Number(r.id));
      if (ids.length > 0) {
        await this.store.execute([
          d === 'postgres'
            ? { sql: 'DELETE FROM alert_outbox WHERE id = ANY($1::bigint[]) AND delivered_at IS NOT NULL', params: [ids] }
            : { sql: 'DELETE FROM alert_outbox WHERE id IN (SELECT value FROM json_each(?)) AND delivered_at IS NOT NULL', params: [JSON.stringify(ids)] },
        ]);
        deleted += ids.length;
        this.deleted += ids.length;
      }
      if (rows.length < CHUNK) break;
    }
    if (deleted > 0) this.opts.log.info({ deleted, olderThan: new Date(cutoff).toISOString() }, 'Delivered alert outbox rows deleted.');
    return deleted;
  }
}
