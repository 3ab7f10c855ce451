/**
 * Prometheus metrics (prom-client), one registry per process so tests can
 * run several pipelines side by side.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BrokerStatsMessage } from '../sources/broker-health/stats.js';

/**
 * Per-event counts are kept in plain numbers and added to their prom-client
 * counter when the registry is scraped: `Counter.inc` hashes and validates
 * its labels and allocates on every call, which the benchmark profile showed
 * on the hot path.
 */
class Tallies {
  private readonly counts = new Map<string, number>();
  add(key: string, n: number): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }
  /** Hands every pending count to `inc` and resets them. */
  drain(inc: (key: string, n: number) => void): void {
    for (const [key, n] of this.counts) if (n > 0) inc(key, n);
    this.counts.clear();
  }
}

/** A Counter `collect` that follows a running total kept elsewhere: it adds what is new since the last scrape. */
function totalFrom(read: () => number | undefined): (this: Counter) => void {
  let seen = 0;
  return function (this: Counter) {
    const now = read() ?? seen;
    if (now > seen) this.inc(now - seen);
    seen = now;
  };
}

export function createMetrics(registry = new Registry()) {
  collectDefaultMetrics({ register: registry, prefix: 'telehub_' }); // telehub_process_*, telehub_nodejs_*
  let inflightSource: (() => number) | undefined;
  let streamSource: (() => { clients: number; sent: number; slowDisconnects: number }) | undefined;
  const receivedTallies = new Tallies();
  const eventTallies = new Tallies();
  let acksPending = 0;
  let brokerSource: (() => BrokerStatsMessage | undefined) | undefined;
  /** A gauge that shows one figure of the last broker stats (absent until there is one). */
  const brokerGauge = (name: string, help: string, pick: (m: BrokerStatsMessage) => number | null) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const v = brokerSource?.();
        const n = v ? pick(v) : null;
        if (n !== null) this.set(n);
      },
    });
  let retentionSource: (() => RetentionTotalsLike) | undefined;
  let alertSource: AlertMetricsSource | undefined;
  let tierSource: { lag: () => Array<{ tier: string; seconds: number }>; tooLate: () => number } | undefined;
  let processorSource: (() => Promise<ProcessorStatusLike[]>) | undefined;
  // One status read per scrape for the three processor gauges (each would otherwise query the store).
  let processorScrape: { at: number; p: Promise<ProcessorStatusLike[]> } | undefined;
  const processorStatus = (): Promise<ProcessorStatusLike[]> => {
    if (!processorSource) return Promise.resolve([]);
    const now = Date.now();
    if (processorScrape === undefined || now - processorScrape.at > 1000) processorScrape = { at: now, p: processorSource().catch(() => []) };
    return processorScrape.p;
  };
  const processorGauge = (name: string, help: string, pick: (s: ProcessorStatusLike) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['name'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const s of await processorStatus()) this.set({ name: s.name }, pick(s));
      },
    });
  return {
    /** Broker health gauges read the last `iot/broker/stats` message at scrape time. */
    observeBroker(fn: () => BrokerStatsMessage | undefined) {
      brokerSource = fn;
    },
    brokerClients: brokerGauge('telehub_broker_clients_connected', 'Clients connected to the broker (embedded, or an external broker\'s $SYS).', (m) => m.clients_connected),
    brokerInRate: brokerGauge('telehub_broker_messages_in_per_second', 'PUBLISH packets per second the broker received, over the last stats interval.', (m) => m.messages_in_per_s),
    brokerOutRate: brokerGauge('telehub_broker_messages_out_per_second', 'PUBLISH packets per second the broker sent to subscribers, over the last stats interval.', (m) => m.messages_out_per_s),
    brokerDropped: brokerGauge('telehub_broker_messages_dropped', 'Messages the broker dropped since it started (a running total, as the broker reports it).', (m) => m.dropped_total),
    brokerUptime: brokerGauge('telehub_broker_uptime_seconds', 'Broker uptime.', (m) => m.uptime_s),
    /** The processor metrics read the runner's status (checkpoint and lag from the store) at scrape time. */
    observeProcessors(fn: () => Promise<ProcessorStatusLike[]>) {
      processorSource = fn;
    },
    processorCheckpoint: processorGauge('telehub_processor_checkpoint', 'Commit-log number up to which the processor has applied entries.', (s) => s.checkpoint),
    processorLagEntries: processorGauge('telehub_processor_lag_entries', 'Commit-log entries after the processor checkpoint (counted up to 1,000,000).', (s) => s.lagEntries),
    processorLagSeconds: processorGauge('telehub_processor_lag_seconds', 'Age of the oldest commit-log entry the processor has not applied yet (0 when caught up).', (s) => s.lagSeconds),
    processorErrors: new Counter({ name: 'telehub_processor_errors_total', help: 'Failed processor attempts (each is retried from its checkpoint).', labelNames: ['name'], registers: [registry] }),
    /** The rollup gauges read the refresher (src/processors/rollups/refresher.ts) at scrape time. */
    observeTiers(source: { lag: () => Array<{ tier: string; seconds: number }>; tooLate: () => number }) {
      tierSource = source;
    },
    rollupRefreshLag: new Gauge({
      name: 'telehub_rollup_refresh_lag_seconds',
      help: 'Per tier, seconds since the refresher last left no dirty bucket of it behind (grows while it cannot keep up).',
      labelNames: ['tier'],
      registers: [registry],
      collect() {
        this.reset();
        for (const l of tierSource?.lag() ?? []) this.set({ tier: l.tier }, l.seconds);
      },
    }),
    rollupTooLate: new Counter({
      name: 'telehub_rollup_too_late_total',
      help: 'Dirty marks dropped because their bucket was already sealed: events later than TELEHUB_ROLLUP_LATENESS_S, kept in raw only.',
      registers: [registry],
      collect: totalFrom(() => tierSource?.tooLate()),
    }),
    /** The alert delivery metrics read the deliverer's running totals and the outbox (src/alerts/) at scrape time. */
    observeAlerts(source: AlertMetricsSource) {
      alertSource = source;
    },
    alertDeliveries: new Counter({
      name: 'telehub_alert_deliveries_total',
      help: 'Alert change deliveries attempted by this process, by target (webhook name or mqtt), its channel (ntfy, gotify, json, mqtt) and result (delivered: 2xx or handed to MQTT; failed: retried later).',
      labelNames: ['target', 'channel', 'result'],
      registers: [registry],
      collect: (() => {
        const seen = new Map<string, number>();
        return function (this: Counter<'target' | 'channel' | 'result'>) {
          for (const [target, t] of alertSource?.byTarget() ?? []) {
            for (const result of ['delivered', 'failed'] as const) {
              const k = `${target}\u0000${result}`;
              const was = seen.get(k) ?? 0;
              // Always set once, so every target shows both results (0 until it happens).
              this.inc({ target, channel: alertSource!.channelOf(target), result }, Math.max(0, t[result] - was));
              seen.set(k, Math.max(was, t[result]));
            }
          }
        };
      })(),
    }),
    alertRetries: new Counter({
      name: 'telehub_alert_delivery_retries_total',
      help: 'Alert delivery attempts at a change that had failed before (whatever their result), by target and channel.',
      labelNames: ['target', 'channel'],
      registers: [registry],
      collect: (() => {
        const seen = new Map<string, number>();
        return function (this: Counter<'target' | 'channel'>) {
          for (const [target, t] of alertSource?.byTarget() ?? []) {
            const was = seen.get(target) ?? 0;
            this.inc({ target, channel: alertSource!.channelOf(target) }, Math.max(0, t.retried - was));
            seen.set(target, Math.max(was, t.retried));
          }
        };
      })(),
    }),
    alertOutboxPending: new Gauge({
      name: 'telehub_alert_outbox_pending',
      help: 'Alert outbox depth: changes not delivered yet, by target (read from the store at scrape time; every target this process delivers to is listed, 0 when empty).',
      labelNames: ['target'],
      registers: [registry],
      async collect() {
        if (!alertSource) return;
        const depth = await alertSource.depth().catch(() => undefined);
        if (depth === undefined) return; // store unavailable: keep the last figures
        this.reset();
        for (const target of alertSource.targets()) this.set({ target }, depth.get(target) ?? 0);
        for (const [target, n] of depth) this.set({ target }, n);
      },
    }),
    alertOutboxDeleted: new Counter({
      name: 'telehub_alert_outbox_deleted_total',
      help: 'Delivered alert outbox rows deleted by this process after alerts.outbox_retention.',
      registers: [registry],
      collect: totalFrom(() => alertSource?.deleted()),
    }),
    /** The retention metrics read the retention job's totals (src/retention/job.ts) at scrape time. */
    observeRetention(fn: () => RetentionTotalsLike) {
      retentionSource = fn;
    },
    retentionDeleted: new Counter({
      name: 'telehub_retention_deleted_total',
      help: 'Rows the retention job deleted, by kind (raw: events past raw retention; deadletters: past TELEHUB_DEADLETTER_RETENTION_DAYS or over TELEHUB_DEADLETTER_MAX_MB).',
      labelNames: ['kind'],
      registers: [registry],
      collect: (() => {
        const seen = { raw: 0, deadletters: 0 };
        return function (this: Counter<'kind'>) {
          const t = retentionSource?.();
          if (!t) return;
          if (t.rawDeleted > seen.raw) this.inc({ kind: 'raw' }, t.rawDeleted - seen.raw);
          if (t.deadLettersDeleted > seen.deadletters) this.inc({ kind: 'deadletters' }, t.deadLettersDeleted - seen.deadletters);
          seen.raw = t.rawDeleted;
          seen.deadletters = t.deadLettersDeleted;
        };
      })(),
    }),
    rawRetention: new Gauge({
      name: 'telehub_raw_retention_seconds',
      help: 'Raw retention the last retention run applied (shorter than configured while the disk guardrail shrinks it).',
      registers: [registry],
      collect() {
        const last = retentionSource?.().last;
        if (last) this.set(last.rawRetentionMs / 1000);
      },
    }),
    storeBytes: new Gauge({
      name: 'telehub_store_bytes',
      help: 'What the store uses, as the disk guardrail measured it at its last run (SQLite: pages in use; PostgreSQL: pg_database_size). Absent while TELEHUB_DISK_MAX_MB is 0.',
      registers: [registry],
      collect() {
        const b = retentionSource?.().last?.storeBytes;
        if (b !== undefined) this.set(b);
      },
    }),
    diskNearCeiling: new Gauge({
      name: 'telehub_disk_near_ceiling',
      help: '1 while the store is at or above TELEHUB_DISK_WARN_PERCENT of TELEHUB_DISK_MAX_MB, else 0.',
      registers: [registry],
      collect() {
        const last = retentionSource?.().last;
        if (last) this.set(last.nearCeiling ? 1 : 0);
      },
    }),
    /** Counts one received message (cheap; reaches `received` at scrape time). */
    countReceived(source: string) {
      receivedTallies.add(source, 1);
    },
    /** Counts committed events by status (cheap; reaches `events` at scrape time). */
    countEvents(stored: number, duplicate: number, conflict = 0) {
      if (stored > 0) eventTallies.add('stored', stored);
      if (duplicate > 0) eventTallies.add('duplicate', duplicate);
      if (conflict > 0) eventTallies.add('conflict', conflict);
    },
    /** Counts published ACKs (cheap; reaches `acksPublished` at scrape time). */
    countAcks(n: number) {
      acksPending += n;
    },
    /** The live-stream metrics read the hub's counters at scrape time. */
    observeStream(fn: () => { clients: number; sent: number; slowDisconnects: number }) {
      streamSource = fn;
    },
    streamClients: new Gauge({
      name: 'telehub_stream_clients',
      help: 'Live-stream WebSocket clients connected.',
      registers: [registry],
      collect() {
        if (streamSource) this.set(streamSource().clients);
      },
    }),
    // The hub keeps running totals; these counters add what is new since the last scrape.
    streamMessages: new Counter({
      name: 'telehub_stream_messages_sent_total',
      help: 'Events sent to live-stream clients.',
      registers: [registry],
      collect: totalFrom(() => streamSource?.().sent),
    }),
    streamSlowDisconnects: new Counter({
      name: 'telehub_stream_slow_disconnects_total',
      help: 'Live-stream clients closed with 4008 because their send buffer overflowed.',
      registers: [registry],
      collect: totalFrom(() => streamSource?.().slowDisconnects),
    }),
    /** The in-flight gauge reads this at scrape time instead of being set per event. */
    observeInflight(fn: () => number) {
      inflightSource = fn;
    },
    registry,
    received: new Counter({
      name: 'telehub_messages_received_total',
      help: 'Messages received, by source.',
      labelNames: ['source'],
      registers: [registry],
      collect() {
        receivedTallies.drain((source, n) => this.inc({ source }, n));
      },
    }),
    events: new Counter({
      name: 'telehub_events_total',
      help: 'Events answered after a commit, by status (stored, duplicate, conflict: dead-lettered as event_id_conflict).',
      labelNames: ['status'],
      registers: [registry],
      collect() {
        eventTallies.drain((status, n) => this.inc({ status }, n));
      },
    }),
    deadLetters: new Counter({ name: 'telehub_deadletters_total', help: 'Dead letters committed, by reason code.', labelNames: ['reason'], registers: [registry] }),
    deadLettersUnstorable: new Counter({ name: 'telehub_deadletters_unstorable_total', help: 'Times the store refused a dead letter even alone; it stays unacknowledged and is retried.', registers: [registry] }),
    acksPublished: new Counter({
      name: 'telehub_acks_published_total',
      help: 'ACK messages published after commit.',
      registers: [registry],
      collect() {
        if (acksPending > 0) this.inc(acksPending);
        acksPending = 0;
      },
    }),
    inflight: new Gauge({
      name: 'telehub_inflight_events',
      help: 'Items received and not yet committed and acknowledged.',
      registers: [registry],
      collect() {
        if (inflightSource) this.set(inflightSource());
      },
    }),
    storeUp: new Gauge({ name: 'telehub_store_up', help: '1 when the last store write succeeded, 0 while writes are being retried.', registers: [registry] }),
    mqttConnected: new Gauge({ name: 'telehub_mqtt_connected', help: '1 while the external broker connection is up (always 1 with the embedded broker).', registers: [registry] }),
    writeRetries: new Counter({ name: 'telehub_store_write_retries_total', help: 'Store writes retried after a transient error.', registers: [registry] }),
    mqttOversizedPackets: new Counter({
      name: 'telehub_mqtt_oversized_packets_total',
      help: 'Connections to the embedded broker closed because a packet was larger than TELEHUB_MQTT_MAX_PACKET_BYTES.',
      registers: [registry],
    }),
    intakePaused: new Counter({ name: 'telehub_intake_paused_total', help: 'Times intake paused because TELEHUB_MAX_INFLIGHT was reached.', registers: [registry] }),
    batchSize: new Histogram({ name: 'telehub_batch_size', help: 'Items per committed batch.', buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000], registers: [registry] }),
    commitSeconds: new Histogram({ name: 'telehub_commit_seconds', help: 'Time to commit a batch.', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** What the alert metrics read (src/alerts/deliverer.ts, src/alerts/outbox.ts). */
export interface AlertMetricsSource {
  /** Running totals per target since start. */
  byTarget(): ReadonlyMap<string, { delivered: number; failed: number; retried: number }>;
  /** ntfy, gotify, json or mqtt. */
  channelOf(target: string): string;
  /** The targets this process delivers to (listed in the depth gauge even when empty). */
  targets(): string[];
  /** Undelivered rows per target. */
  depth(): Promise<ReadonlyMap<string, number>>;
  /** Delivered rows deleted since start. */
  deleted(): number;
}

/** What the retention metrics read (src/retention/job.ts RetentionTotals). */
export interface RetentionTotalsLike {
  rawDeleted: number;
  deadLettersDeleted: number;
  last?: { rawRetentionMs: number; storeBytes?: number; nearCeiling: boolean };
}

/** What the processor gauges read (src/log/runner.ts ProcessorStatus). */
export interface ProcessorStatusLike {
  name: string;
  checkpoint: number;
  lagEntries: number;
  lagSeconds: number;
}
