/** Device detail: one device's readings (one repeated chart per reading), its last values, events and dead letters. */
import type { Dashboard } from '@grafana/schema';
import { DashboardCursorSync } from '@grafana/schema';
import { queryVariable, sql, stat, table, tierSource, timeseries } from './common.js';

const DEVICE = '${device:sqlstring}';

export const deviceDetail: Dashboard = {
  uid: 'telehub-device',
  title: 'telehub / Device detail',
  description: "One device: average, minimum and maximum of each reading (from the rollup tier that fits the time range), its last values, recent events and dead letters.",
  tags: ['telehub'],
  schemaVersion: 42,
  editable: false,
  graphTooltip: DashboardCursorSync.Crosshair,
  time: { from: 'now-6h', to: 'now' },
  refresh: '30s',
  timezone: 'browser',
  templating: {
    list: [
      queryVariable('device', 'Device', 'SELECT device_id FROM device_counters ORDER BY 1'),
      queryVariable('event_type', 'Reading', `SELECT event_type FROM device_last_values WHERE device_id = ${DEVICE} AND value_num IS NOT NULL ORDER BY 1`, { multi: true, includeAll: true }),
    ],
  },
  panels: [
    stat(1, 'Events stored', { x: 0, y: 0, w: 6, h: 4 }, [sql(`SELECT events AS value FROM device_counters WHERE device_id = ${DEVICE}`, 'table')]),
    stat(2, 'Last seen', { x: 6, y: 0, w: 6, h: 4 }, [sql(`SELECT extract(epoch FROM last_seen) * 1000 AS value FROM device_counters WHERE device_id = ${DEVICE}`, 'table')], { unit: 'dateTimeFromNow' }),
    stat(3, 'Dead letters in range', { x: 12, y: 0, w: 6, h: 4 }, [sql(`SELECT count(*) AS value FROM deadletters WHERE device_id = ${DEVICE} AND $__timeFilter(received_at)`, 'table')]),
    stat(4, 'Events in range', { x: 18, y: 0, w: 6, h: 4 }, [
      sql(
        `SELECT count(*) AS value FROM (SELECT COALESCE(ts_device, ts_server) AS ts FROM events WHERE device_id = ${DEVICE}) AS e WHERE $__timeFilter(ts)`,
        'table',
      ),
    ], { description: 'Counted from raw events (kept 7 days by default).' }),
    timeseries(
      5,
      '$event_type',
      { x: 0, y: 4, w: 12, h: 8 },
      [
        sql(
          `${tierSource(`device_id = ${DEVICE} AND event_type IN ($event_type)`)}
SELECT $__timeGroupAlias(ts, $__interval), sum(sum) / sum(n) AS avg, min(min) AS min, max(max) AS max
FROM s
WHERE $__timeFilter(ts)
GROUP BY 1
ORDER BY 1`,
          'time_series',
        ),
      ],
      { repeat: 'event_type', repeatDirection: 'h', maxPerRow: 2, description: 'Average, minimum and maximum per interval.' },
    ),
    table(
      6,
      'Last values',
      { x: 0, y: 12, w: 10, h: 8 },
      sql(`SELECT event_type, coalesce(value_num::text, value_text) AS value, unit, time FROM device_last_values WHERE device_id = ${DEVICE} ORDER BY event_type`, 'table'),
      ['event_type', 'value', 'unit', 'time'],
    ),
    table(
      7,
      'Recent events',
      { x: 10, y: 12, w: 14, h: 8 },
      sql(
        `SELECT time, event_type, value, unit, event_id FROM (
  SELECT COALESCE(ts_device, ts_server) AS time, event_type, coalesce(value_num::text, value_text) AS value, unit, event_id
  FROM events WHERE device_id = ${DEVICE}
) AS e
WHERE $__timeFilter(time)
ORDER BY time DESC
LIMIT 200`,
        'table',
      ),
      ['time', 'event_type', 'value', 'unit', 'event_id'],
    ),
    table(
      8,
      'Dead letters',
      { x: 0, y: 20, w: 24, h: 7 },
      sql(
        `SELECT received_at, reason, message, topic, source FROM deadletters WHERE device_id = ${DEVICE} AND $__timeFilter(received_at) ORDER BY received_at DESC LIMIT 200`,
        'table',
      ),
      ['received_at', 'reason', 'message', 'topic', 'source'],
    ),
  ],
};
