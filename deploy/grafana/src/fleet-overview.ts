/** Fleet overview: every device at a glance, one repeated chart per device of `$device`. */
import type { Dashboard } from '@grafana/schema';
import { DashboardCursorSync } from '@grafana/schema';
import { queryVariable, row, sql, stat, table, tierSource, timeseries } from './common.js';

export const fleetOverview: Dashboard = {
  uid: 'telehub-fleet',
  title: 'telehub / Fleet overview',
  description: 'Every device telehub has seen: counts, last values, and one chart per device (repeated for each value of the device variable), read from the rollup tier that fits the time range.',
  tags: ['telehub'],
  schemaVersion: 42,
  editable: false,
  graphTooltip: DashboardCursorSync.Crosshair,
  time: { from: 'now-6h', to: 'now' },
  refresh: '30s',
  timezone: 'browser',
  templating: {
    list: [
      queryVariable('device', 'Device', 'SELECT device_id FROM device_counters ORDER BY 1', { multi: true, includeAll: true }),
      queryVariable('event_type', 'Reading', 'SELECT DISTINCT event_type FROM device_last_values WHERE value_num IS NOT NULL AND device_id IN ($device) ORDER BY 1', { multi: true, includeAll: true }),
    ],
  },
  panels: [
    stat(1, 'Devices', { x: 0, y: 0, w: 6, h: 4 }, [sql('SELECT count(*) AS value FROM device_counters', 'table')], { description: 'Devices that ever sent an event.' }),
    stat(2, 'Devices seen in range', { x: 6, y: 0, w: 6, h: 4 }, [sql('SELECT count(*) AS value FROM device_counters WHERE $__timeFilter(last_seen)', 'table')]),
    stat(3, 'Dead letters in range', { x: 12, y: 0, w: 6, h: 4 }, [sql('SELECT count(*) AS value FROM deadletters WHERE $__timeFilter(received_at)', 'table')], {
      description: 'Inputs telehub refused, kept with their bytes and a reason code (docs/errors.md).',
    }),
    stat(4, 'Events stored (all time)', { x: 18, y: 0, w: 6, h: 4 }, [sql('SELECT coalesce(sum(events), 0) AS value FROM device_counters', 'table')]),
    table(
      5,
      'Devices',
      { x: 0, y: 4, w: 10, h: 9 },
      sql('SELECT device_id, last_seen, first_seen, events FROM device_counters WHERE device_id IN ($device) ORDER BY last_seen DESC', 'table'),
      ['device_id', 'last_seen', 'first_seen', 'events'],
    ),
    table(
      6,
      'Last values',
      { x: 10, y: 4, w: 14, h: 9 },
      sql(
        'SELECT device_id, event_type, coalesce(value_num::text, value_text) AS value, unit, time FROM device_last_values WHERE device_id IN ($device) AND event_type IN ($event_type) ORDER BY device_id, event_type',
        'table',
      ),
      ['device_id', 'event_type', 'value', 'unit', 'time'],
    ),
    row(7, 'Per device', 13),
    timeseries(
      8,
      '$device',
      { x: 0, y: 14, w: 8, h: 8 },
      [
        sql(
          `${tierSource('device_id IN ($device) AND event_type IN ($event_type)')}
SELECT $__timeGroupAlias(ts, $__interval), event_type AS metric, sum(sum) / sum(n) AS value
FROM s
WHERE $__timeFilter(ts)
GROUP BY 1, 2
ORDER BY 1`,
          'time_series',
        ),
      ],
      { repeat: 'device', repeatDirection: 'h', maxPerRow: 3, description: 'Average of each reading per interval, from raw events, the 1-minute or the 5-minute tier depending on the range.' },
    ),
  ],
};
