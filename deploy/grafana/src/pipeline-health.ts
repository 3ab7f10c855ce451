/** Pipeline health: telehub's own Prometheus metrics (docs/operations.md, "Health, readiness, metrics"). */
import type { Dashboard } from '@grafana/schema';
import { DashboardCursorSync } from '@grafana/schema';
import { promql, stat, timeseries } from './common.js';

const R = '$__rate_interval';

export const pipelineHealth: Dashboard = {
  uid: 'telehub-pipeline',
  title: 'telehub / Pipeline health',
  description: "Intake, commits, dead letters, processors' lag and the broker, from telehub's /metrics (scraped by Prometheus).",
  tags: ['telehub'],
  schemaVersion: 42,
  editable: false,
  graphTooltip: DashboardCursorSync.Crosshair,
  time: { from: 'now-1h', to: 'now' },
  refresh: '30s',
  timezone: 'browser',
  panels: [
    stat(1, 'Store up', { x: 0, y: 0, w: 4, h: 4 }, [promql('min(telehub_store_up)', 'store')], { description: '1 when the last store write succeeded; 0 while writes are being retried.' }),
    stat(2, 'MQTT connected', { x: 4, y: 0, w: 4, h: 4 }, [promql('min(telehub_mqtt_connected)', 'mqtt')]),
    stat(3, 'In flight', { x: 8, y: 0, w: 4, h: 4 }, [promql('sum(telehub_inflight_events)', 'in flight')], { description: 'Events received and not yet committed (capped by TELEHUB_MAX_INFLIGHT).' }),
    stat(4, 'Broker clients', { x: 12, y: 0, w: 4, h: 4 }, [promql('sum(telehub_broker_clients_connected)', 'clients')]),
    stat(5, 'Live stream clients', { x: 16, y: 0, w: 4, h: 4 }, [promql('sum(telehub_stream_clients)', 'clients')]),
    stat(6, 'Resident memory', { x: 20, y: 0, w: 4, h: 4 }, [promql('sum(telehub_process_resident_memory_bytes)', 'rss')], { unit: 'bytes' }),
    timeseries(7, 'Events per second', { x: 0, y: 4, w: 12, h: 8 }, [promql(`sum by (status) (rate(telehub_events_total[${R}]))`, '{{status}}')], { unit: 'ops' }),
    timeseries(8, 'Dead letters per second', { x: 12, y: 4, w: 12, h: 8 }, [promql(`sum by (reason) (rate(telehub_deadletters_total[${R}]))`, '{{reason}}')], { unit: 'ops' }),
    timeseries(
      9,
      'Commit time',
      { x: 0, y: 12, w: 12, h: 8 },
      [
        promql(`histogram_quantile(0.5, sum by (le) (rate(telehub_commit_seconds_bucket[${R}])))`, 'p50', 'A'),
        promql(`histogram_quantile(0.99, sum by (le) (rate(telehub_commit_seconds_bucket[${R}])))`, 'p99', 'B'),
      ],
      { unit: 's', description: 'An event is acknowledged right after its batch commits, so this bounds the ACK latency added by the store.' },
    ),
    timeseries(
      10,
      'Batch size',
      { x: 12, y: 12, w: 12, h: 8 },
      [promql(`sum(rate(telehub_batch_size_sum[${R}])) / sum(rate(telehub_batch_size_count[${R}]))`, 'items per batch')],
    ),
    timeseries(11, 'Processor lag (entries)', { x: 0, y: 20, w: 12, h: 8 }, [promql('max by (name) (telehub_processor_lag_entries)', '{{name}}')]),
    timeseries(12, 'Processor lag (seconds)', { x: 12, y: 20, w: 12, h: 8 }, [promql('max by (name) (telehub_processor_lag_seconds)', '{{name}}')], { unit: 's' }),
    timeseries(
      13,
      'Broker messages per second',
      { x: 0, y: 28, w: 12, h: 8 },
      [promql('sum(telehub_broker_messages_in_per_second)', 'in', 'A'), promql('sum(telehub_broker_messages_out_per_second)', 'out', 'B')],
      { unit: 'ops' },
    ),
    timeseries(
      14,
      'Retries and pauses',
      { x: 12, y: 28, w: 12, h: 8 },
      [
        promql(`sum(rate(telehub_store_write_retries_total[${R}]))`, 'store write retries', 'A'),
        promql(`sum(rate(telehub_intake_paused_total[${R}]))`, 'intake paused', 'B'),
        promql(`sum by (name) (rate(telehub_processor_errors_total[${R}]))`, 'processor errors {{name}}', 'C'),
      ],
      { unit: 'ops' },
    ),
  ],
};
