/**
 * Checks of a provisioned dashboard, as far as they can be made without a
 * Grafana server: the file parses, every panel is one of Grafana's built-in
 * panel types, and each PostgreSQL query, expanded as Grafana would
 * (grafana-sql.ts), runs and returns the columns its panel reads.
 */
import type pg from 'pg';
import { expandGrafanaSql } from './grafana-sql.js';
import type { VariableValue } from './grafana-sql.js';

/** Panel types shipped inside Grafana (public/app/plugins/panel), by plugin id; anything else is a plugin to install. */
export const BUILT_IN_PANELS = new Set([
  'alertlist', 'annolist', 'barchart', 'bargauge', 'candlestick', 'canvas', 'dashlist', 'datagrid', 'debug', 'flamegraph',
  'gauge', 'geomap', 'heatmap', 'histogram', 'logs', 'news', 'nodeGraph', 'piechart', 'row', 'stat', 'state-timeline',
  'status-history', 'table', 'text', 'timeseries', 'traces', 'trend', 'xychart',
]);

/** The parts of a dashboard's JSON these checks read (the file is untyped JSON). */
export interface PanelJson {
  id?: number;
  type?: string;
  title?: string;
  repeat?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Array<Record<string, unknown>>;
  panels?: PanelJson[];
  transformations?: Array<{ id: string; options?: { indexByName?: Record<string, number> } }>;
  fieldConfig?: { overrides?: Array<{ matcher?: { id?: string; options?: unknown } }> };
}

export interface DashboardJson {
  uid?: string;
  title?: string;
  panels?: PanelJson[];
  templating?: { list?: Array<{ name: string; type: string; query?: unknown; multi?: boolean; includeAll?: boolean; datasource?: { type?: string } }> };
}

/** Parses a dashboard file; the error names the file. */
export function parseDashboard(file: string, text: string): DashboardJson {
  try {
    return JSON.parse(text) as DashboardJson;
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Every panel, rows' nested panels included. */
export function allPanels(d: DashboardJson): PanelJson[] {
  return (d.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Problems with panel types (empty when every panel is built in). */
export function panelTypeProblems(d: DashboardJson): string[] {
  return allPanels(d)
    .filter((p) => !BUILT_IN_PANELS.has(String(p.type)))
    .map((p) => `panel ${p.id} "${p.title}" has type ${JSON.stringify(p.type)}, which is not a built-in Grafana panel`);
}

export const isPostgres = (t: Record<string, unknown>, p: PanelJson) => ((t.datasource as PanelJson['datasource']) ?? p.datasource)?.type === 'grafana-postgresql-datasource';
export const isPrometheus = (t: Record<string, unknown>, p: PanelJson) => ((t.datasource as PanelJson['datasource']) ?? p.datasource)?.type === 'prometheus';

/** Columns a panel reads by name: an `organize` transformation's order and by-name overrides. */
export function expectedColumns(p: PanelJson): string[] {
  const names = new Set<string>();
  for (const t of p.transformations ?? []) if (t.id === 'organize') for (const c of Object.keys(t.options?.indexByName ?? {})) names.add(c);
  for (const o of p.fieldConfig?.overrides ?? []) if (o.matcher?.id === 'byName' && typeof o.matcher.options === 'string') names.add(o.matcher.options);
  return [...names];
}

const NUMERIC = new Set([20, 21, 23, 700, 701, 1700]);
const TIME = new Set([1114, 1184, ...NUMERIC]);

export interface QueryRun {
  sql: string;
  interval: string;
  rows: number;
  problems: string[];
}

export interface RangeCase {
  from: Date;
  to: Date;
  maxDataPoints: number;
  minInterval: string;
}

/**
 * Expands and runs one PostgreSQL target for a time range; the problems say
 * what a Grafana panel would lack (no rows, no `time` column, a column the
 * panel names that the query does not return, unsorted time series).
 */
export async function runTarget(client: pg.ClientBase, p: PanelJson, target: Record<string, unknown>, range: RangeCase, variables: Record<string, VariableValue>): Promise<QueryRun> {
  const raw = String(target.rawSql ?? '');
  const problems: string[] = [];
  // Grafana 13 strips SQL comments before expanding macros, older versions do not: avoid the difference.
  if (raw.includes('--') || raw.includes('/*')) problems.push('the query has an SQL comment');
  const e = expandGrafanaSql(raw, { ...range, variables });
  let res: pg.QueryResult;
  try {
    res = await client.query(e.sql);
  } catch (err) {
    return { sql: e.sql, interval: e.interval, rows: 0, problems: [...problems, `the query fails: ${(err as Error).message}`] };
  }
  const cols = new Map(res.fields.map((f) => [f.name, f.dataTypeID]));
  if (res.rows.length === 0) problems.push('the query returns no rows');
  if (target.format === 'time_series') {
    const t = cols.get('time');
    if (t === undefined || !TIME.has(t)) problems.push(`a time series needs a "time" column of a time or number type (columns: ${[...cols.keys()].join(', ')})`);
    if (![...cols].some(([n, oid]) => n !== 'time' && NUMERIC.has(oid))) problems.push('a time series needs a numeric value column');
    const times = res.rows.map((r) => Number(r.time instanceof Date ? r.time.getTime() : r.time));
    if (times.some((x, i) => i > 0 && x < times[i - 1])) problems.push('the time series is not sorted by time');
  } else {
    for (const c of expectedColumns(p)) if (!cols.has(c)) problems.push(`the panel reads column "${c}", which the query does not return (columns: ${[...cols.keys()].join(', ')})`);
    if (p.type === 'stat' && ![...cols.values()].some((oid) => NUMERIC.has(oid))) problems.push('a stat panel needs a numeric column');
  }
  return { sql: e.sql, interval: e.interval, rows: res.rows.length, problems };
}

/**
 * Values of the dashboard's query variables for a range, in order, as
 * Grafana resolves them: each variable's query (with the earlier variables
 * expanded) gives its options, and "All" selects them all.
 */
export async function resolveVariables(client: pg.ClientBase, d: DashboardJson, range: RangeCase): Promise<{ values: Record<string, VariableValue>; options: Record<string, string[]> }> {
  const values: Record<string, VariableValue> = {};
  const options: Record<string, string[]> = {};
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query' || v.datasource?.type !== 'grafana-postgresql-datasource') throw new Error(`variable ${v.name}: only PostgreSQL query variables are checked here`);
    const e = expandGrafanaSql(String(v.query), { ...range, variables: values });
    const rows = (await client.query({ text: e.sql, rowMode: 'array' })).rows as unknown[][];
    options[v.name] = rows.map((r) => String(r[0]));
    const multi = v.multi === true || v.includeAll === true;
    values[v.name] = { value: multi ? options[v.name] : (options[v.name][0] ?? ''), multi: v.multi, includeAll: v.includeAll };
  }
  return { values, options };
}

// PromQL words that are not metric names.
const PROMQL_WORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'sum', 'min', 'max', 'avg',
  'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group', 'inf', 'nan',
]);

/**
 * Metric names used in a PromQL expression: identifiers that are not
 * functions (followed by "("), aggregation keywords, label names in
 * matchers or grouping lists, durations, strings or Grafana's `$__` variables.
 * Hand-written: no PromQL parser is published for Node, and the dashboards'
 * expressions are simple.
 */
export function promMetricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // range selectors
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // grouping labels
    .replace(/\$\w+/g, '');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = stripped.slice((m.index ?? 0) + m[0].length).trimStart();
    if (after.startsWith('(')) continue; // a function or an aggregation
    if (PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** Sample names in a Prometheus text exposition: every `# TYPE` family, with _bucket/_sum/_count for histograms and summaries. */
export function exposedMetricNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(m[1]);
    if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m[1] + s);
    if (m[2] === 'summary') for (const s of ['_sum', '_count']) names.add(m[1] + s);
  }
  return names;
}
