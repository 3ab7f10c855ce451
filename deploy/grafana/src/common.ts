/**
 * Building blocks of telehub's Grafana dashboards: datasource references
 * (the uids the provisioning files give them), panel helpers, and the SQL
 * that picks a rollup tier from the time range.
 *
 * The dashboards are written here in TypeScript, typed with Grafana's own
 * published dashboard types (`@grafana/schema`), and written out as the JSON
 * Grafana provisions with `npm run grafana:dashboards`; a test fails when the
 * JSON in deploy/grafana/dashboards/ is not what these sources give.
 */
import type { DataSourceRef, Panel, RowPanel, VariableModel } from '@grafana/schema';
import { VariableHide, VariableRefresh, VariableSort } from '@grafana/schema';

/** The folder every telehub dashboard is provisioned into (deploy/grafana/provisioning/dashboards). */
export const FOLDER_UID = 'telehub';

export const PG: DataSourceRef = { type: 'grafana-postgresql-datasource', uid: 'telehub-postgres' };
export const PROM: DataSourceRef = { type: 'prometheus', uid: 'telehub-prometheus' };

/** Widths of the tiers (docs/data-lifecycle.md), as stored in rollups.width_ms. */
export const TIER_1M = 60_000;
export const TIER_5M = 300_000;

/**
 * A CTE list ending in `s(ts, device_id, event_type, n, sum, min, max)`: the
 * numeric readings of the time range from the right tier, one row per raw
 * event or per tier bucket (ts = bucket start), so `sum(sum) / sum(n)`,
 * `min(min)` and `max(max)` over any group give exact averages and extrema.
 *
 * The tier follows Grafana's `$__interval` (the width of one point on the
 * panel: range / panel width, rounded): raw below 1 minute, the 1-minute
 * tier below 5 minutes, the 5-minute tier beyond; a year on a 1,000-pixel
 * panel is 5-minute rows, never raw. A range that starts before a finer
 * tier's retention (raw 7 days, 1-minute 90 days: the fixed ladder of this
 * version) moves to the next coarser tier, so an old range is not empty.
 * The choice is one constant row (`tier`); each branch is gated by it, and
 * PostgreSQL evaluates such a gate once, before the branch runs, so the
 * unchosen sources are never read (the test checks with EXPLAIN ANALYZE).
 *
 * `filter` is a condition on device_id / event_type, applied in both
 * branches. The caller's outer query adds `$__timeFilter(ts)`, which
 * PostgreSQL pushes into the raw branch (where ts is the indexed
 * COALESCE(ts_device, ts_server)); the tier branch bounds bucket_start
 * itself so its primary key is used. Buckets not yet rolled up (the last
 * TELEHUB_ROLLUP_REFRESH_S seconds) are missing from the tier panels until
 * the next refresh.
 */
export function tierSource(filter: string): string {
  return `WITH tier AS (
  SELECT CASE
    WHEN $__interval_ms < ${TIER_1M} AND $__timeFrom()::timestamptz >= now() - interval '7 days' THEN 0
    WHEN $__interval_ms < ${TIER_5M} AND $__timeFrom()::timestamptz >= now() - interval '90 days' THEN ${TIER_1M}
    ELSE ${TIER_5M}
  END AS width_ms
), s AS (
  SELECT COALESCE(ts_device, ts_server) AS ts, device_id, event_type,
    1::bigint AS n, value_num AS sum, value_num AS min, value_num AS max
  FROM events
  WHERE (SELECT width_ms FROM tier) = 0 AND value_num IS NOT NULL AND ${filter}
  UNION ALL
  SELECT to_timestamp(bucket_start / 1000.0), device_id, event_type, n, sum, min, max
  FROM rollups
  WHERE (SELECT width_ms FROM tier) > 0 AND width_ms = (SELECT width_ms FROM tier) AND n > 0 AND ${filter}
    AND bucket_start BETWEEN (extract(epoch FROM $__timeFrom()::timestamptz) * 1000)::bigint
                         AND (extract(epoch FROM $__timeTo()::timestamptz) * 1000)::bigint
)`;
}

export interface SqlTarget {
  refId: string;
  datasource: DataSourceRef;
  rawSql: string;
  format: 'time_series' | 'table';
  rawQuery: true;
  editorMode: 'code';
  [key: string]: unknown;
}

/** A PostgreSQL query in code mode. */
export function sql(rawSql: string, format: SqlTarget['format'], refId = 'A'): SqlTarget {
  return { refId, datasource: PG, rawSql, format, rawQuery: true, editorMode: 'code' };
}

/** A Prometheus query; `legend` is Grafana's legendFormat. */
export function promql(expr: string, legend: string, refId = 'A'): Record<string, unknown> {
  return { refId, datasource: PROM, expr, legendFormat: legend, range: true, editorMode: 'code' };
}

type Grid = { x: number; y: number; w: number; h: number };

interface PanelOpts {
  description?: string;
  unit?: string;
  repeat?: string;
  repeatDirection?: 'h' | 'v';
  maxPerRow?: number;
  decimals?: number;
  custom?: Record<string, unknown>;
  options?: Record<string, unknown>;
  transformations?: Panel['transformations'];
  overrides?: NonNullable<Panel['fieldConfig']>['overrides'];
}

function panel(type: string, id: number, title: string, gridPos: Grid, targets: Array<Record<string, unknown>>, o: PanelOpts): Panel {
  const ds = targets[0]?.datasource as DataSourceRef | undefined;
  return {
    id,
    type,
    title,
    ...(o.description ? { description: o.description } : {}),
    gridPos,
    datasource: ds,
    targets,
    ...(o.repeat ? { repeat: o.repeat, repeatDirection: o.repeatDirection ?? 'h', maxPerRow: o.maxPerRow ?? 4 } : {}),
    fieldConfig: {
      defaults: {
        ...(o.unit ? { unit: o.unit } : {}),
        ...(o.decimals !== undefined ? { decimals: o.decimals } : {}),
        ...(o.custom ? { custom: o.custom } : {}),
      },
      overrides: o.overrides ?? [],
    },
    options: o.options ?? {},
    ...(o.transformations ? { transformations: o.transformations } : {}),
  };
}

/** A time-series panel; gaps longer than two points are drawn as gaps. */
export function timeseries(id: number, title: string, gridPos: Grid, targets: Array<Record<string, unknown>>, o: PanelOpts = {}): Panel {
  return panel('timeseries', id, title, gridPos, targets, {
    ...o,
    custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: 10, showPoints: 'never', spanNulls: false, insertNulls: 120_000, ...o.custom },
    options: { legend: { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] }, tooltip: { mode: 'multi', sort: 'none' }, ...o.options },
  });
}

export function stat(id: number, title: string, gridPos: Grid, targets: Array<Record<string, unknown>>, o: PanelOpts = {}): Panel {
  return panel('stat', id, title, gridPos, targets, {
    ...o,
    options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'none', textMode: 'auto', justifyMode: 'auto', orientation: 'auto', ...o.options },
  });
}

/**
 * A table; `columns` are the query's columns in display order (an `organize`
 * transformation: the test checks each one is in the query's result).
 */
export function table(id: number, title: string, gridPos: Grid, target: Record<string, unknown>, columns: string[], o: PanelOpts = {}): Panel {
  return panel('table', id, title, gridPos, [target], {
    ...o,
    options: { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], countRows: false, fields: '' }, ...o.options },
    transformations: [{ id: 'organize', options: { indexByName: Object.fromEntries(columns.map((c, i) => [c, i])), excludeByName: {}, renameByName: {} } }, ...(o.transformations ?? [])],
  });
}

export function row(id: number, title: string, y: number, repeat?: string): RowPanel {
  return { id, type: 'row', title, collapsed: false, gridPos: { x: 0, y, w: 24, h: 1 }, panels: [], ...(repeat ? { repeat } : {}) };
}

/** A variable filled by a PostgreSQL query. */
export function queryVariable(name: string, label: string, query: string, o: { multi?: boolean; includeAll?: boolean } = {}): VariableModel {
  return {
    name,
    label,
    type: 'query',
    datasource: PG,
    query,
    refresh: VariableRefresh.onTimeRangeChanged,
    sort: VariableSort.alphabeticalAsc,
    multi: o.multi ?? false,
    includeAll: o.includeAll ?? false,
    hide: VariableHide.dontHide,
  };
}
