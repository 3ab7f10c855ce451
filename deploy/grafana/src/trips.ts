/** Trips: the trips of the vehicles in `$vehicle` (the `trips` table, docs/trips.md) and their speed. */
import type { Dashboard } from '@grafana/schema';
import { DashboardCursorSync } from '@grafana/schema';
import { queryVariable, sql, stat, table, tierSource, timeseries } from './common.js';

// A trip is in the range when it started in it.
const IN_RANGE = 'device_id IN ($vehicle) AND $__timeFilter(start_time)';

export const trips: Dashboard = {
  uid: 'telehub-trips',
  title: 'telehub / Trips',
  description: 'Trips cut by telehub per vehicle (docs/trips.md): list with summaries, distance per day, and the speed of the vehicles from the rollup tier that fits the time range.',
  tags: ['telehub'],
  schemaVersion: 42,
  editable: false,
  graphTooltip: DashboardCursorSync.Crosshair,
  time: { from: 'now-7d', to: 'now' },
  refresh: '1m',
  timezone: 'browser',
  templating: {
    list: [queryVariable('vehicle', 'Vehicle', 'SELECT DISTINCT device_id FROM trips ORDER BY 1', { multi: true, includeAll: true })],
  },
  panels: [
    stat(1, 'Trips', { x: 0, y: 0, w: 6, h: 4 }, [sql(`SELECT count(*) AS value FROM trips WHERE ${IN_RANGE}`, 'table')]),
    stat(2, 'Distance', { x: 6, y: 0, w: 6, h: 4 }, [sql(`SELECT coalesce(sum(distance_km), 0) AS value FROM trips WHERE ${IN_RANGE}`, 'table')], { unit: 'lengthkm', decimals: 1 }),
    stat(3, 'Driving time', { x: 12, y: 0, w: 6, h: 4 }, [sql(`SELECT coalesce(sum(moving_ms), 0) / 1000.0 AS value FROM trips WHERE ${IN_RANGE}`, 'table')], { unit: 's' }),
    stat(4, 'Top speed', { x: 18, y: 0, w: 6, h: 4 }, [sql(`SELECT max(max_speed_kmh) AS value FROM trips WHERE ${IN_RANGE}`, 'table')], { unit: 'velocitykmh' }),
    table(
      5,
      'Trips',
      { x: 0, y: 4, w: 24, h: 10 },
      sql(
        `SELECT start_time, end_time, device_id, distance_km, distance_source, duration_ms / 1000.0 AS duration_s, moving_ms / 1000.0 AS moving_s,
  avg_speed_kmh, max_speed_kmh, max_rpm, max_coolant_c, fuel_used_pct, points, in_progress, trip_id
FROM trips
WHERE ${IN_RANGE}
ORDER BY start_time DESC
LIMIT 500`,
        'table',
      ),
      ['start_time', 'end_time', 'device_id', 'distance_km', 'distance_source', 'duration_s', 'moving_s', 'avg_speed_kmh', 'max_speed_kmh', 'max_rpm', 'max_coolant_c', 'fuel_used_pct', 'points', 'in_progress', 'trip_id'],
      {
        overrides: [
          { matcher: { id: 'byName', options: 'duration_s' }, properties: [{ id: 'unit', value: 's' }] },
          { matcher: { id: 'byName', options: 'moving_s' }, properties: [{ id: 'unit', value: 's' }] },
          { matcher: { id: 'byName', options: 'distance_km' }, properties: [{ id: 'unit', value: 'lengthkm' }, { id: 'decimals', value: 2 }] },
        ],
      },
    ),
    timeseries(
      6,
      'Distance per day',
      { x: 0, y: 14, w: 12, h: 8 },
      [
        sql(
          `SELECT $__timeGroupAlias(start_time, 1d), device_id AS metric, sum(distance_km) AS value
FROM trips
WHERE ${IN_RANGE}
GROUP BY 1, 2
ORDER BY 1`,
          'time_series',
        ),
      ],
      { unit: 'lengthkm', custom: { drawStyle: 'bars', fillOpacity: 80, insertNulls: false } },
    ),
    timeseries(
      7,
      'Speed',
      { x: 12, y: 14, w: 12, h: 8 },
      [
        sql(
          `${tierSource("device_id IN ($vehicle) AND event_type = 'speed'")}
SELECT $__timeGroupAlias(ts, $__interval), device_id AS metric, sum(sum) / sum(n) AS value
FROM s
WHERE $__timeFilter(ts)
GROUP BY 1, 2
ORDER BY 1`,
          'time_series',
        ),
      ],
      { unit: 'velocitykmh', description: 'Average speed per interval (raw, 1-minute or 5-minute tier by range).' },
    ),
  ],
};
