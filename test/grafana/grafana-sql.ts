/**
 * Grafana's query expansion for its PostgreSQL datasource, done here because
 * no Grafana server can run in the tests. Two steps, as in Grafana:
 *
 * 1. The frontend (template service) replaces template variables and the
 *    built-ins `$__interval` / `$__interval_ms` (`interpolateTemplate`). A
 *    multi-value or include-All variable is quoted per value ('a','b'), a
 *    single-value one is inserted with quotes doubled but not wrapped
 *    (Grafana's SqlDatasource.interpolateVariable); an explicit format
 *    (`${v:sqlstring}`, `${v:csv}`, ...) wins over both.
 * 2. The backend macro engine (pkg/tsdb/grafana-postgresql-datasource/macros.go)
 *    replaces `$__name(args)`: times in RFC 3339 (UTC, fractional seconds
 *    without trailing zeros), `$__timeGroup` as `floor(extract(epoch from
 *    col)/S)*S` with S printed as Go's `%v` prints a float64, and the
 *    pre-5.3 rule that `$__timeGroup(...)` directly followed by a comma
 *    gets ` AS "time"` like `$__timeGroupAlias`. Like Grafana, a macro's
 *    arguments cannot contain `)`: `$__timeFilter(COALESCE(a, b))` breaks
 *    there too, so dashboards must pass a plain column.
 *
 * `$__interval` itself comes from the time range and the panel's width, as
 * Grafana's `calculateInterval` does (`rangeutil.ts`): range / max data
 * points, rounded to its ladder of nice intervals, never below the panel's
 * or datasource's minimum interval. Hand-written because Grafana publishes
 * this only as part of its application (the `@grafana/data` package would
 * pull in a browser framework for three small functions).
 */

/** A template variable's current value, and whether it is multi-value / has "All". */
export interface VariableValue {
  value: string | string[];
  multi?: boolean;
  includeAll?: boolean;
}

export interface ExpandOptions {
  from: Date;
  to: Date;
  /** Panel width in data points (Grafana uses the panel's pixel width, or its maxDataPoints). */
  maxDataPoints: number;
  /** The panel's `interval` or the datasource's `timeInterval` (Grafana's default for SQL datasources: '1m'). */
  minInterval?: string;
  variables?: Record<string, VariableValue>;
}

export interface Expanded {
  sql: string;
  intervalMs: number;
  interval: string;
}

/** Expands `sql` as Grafana's frontend and its PostgreSQL backend would, for one time range. */
export function expandGrafanaSql(sql: string, o: ExpandOptions): Expanded {
  const { intervalMs, interval } = calculateInterval(o.to.getTime() - o.from.getTime(), o.maxDataPoints, o.minInterval ?? '1m');
  const templated = interpolateTemplate(sql, { ...o.variables }, { interval, intervalMs, from: o.from, to: o.to });
  return { sql: expandMacros(templated, o.from, o.to), intervalMs, interval };
}

// Grafana's TemplateSrv variable regex: $name, [[name:fmt]], ${name:fmt}.
const VARIABLE = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}/g;

/** Step 1: template variables and interval built-ins. Unknown names are left as they are (Grafana does too). */
export function interpolateTemplate(sql: string, vars: Record<string, VariableValue>, builtins: { interval: string; intervalMs: number; from: Date; to: Date }): string {
  const builtin: Record<string, string> = {
    __interval: builtins.interval,
    __interval_ms: String(builtins.intervalMs),
    __from: String(builtins.from.getTime()),
    __to: String(builtins.to.getTime()),
  };
  return sql.replace(VARIABLE, (match, n1?: string, n2?: string, f2?: string, n3?: string, field?: string, f3?: string) => {
    const name = n1 ?? n2 ?? n3 ?? '';
    const format = f2 ?? f3;
    if (field !== undefined) throw new Error(`variable fields (${match}) are not supported here`);
    if (name in builtin) {
      if (format !== undefined) throw new Error(`a format on ${match} is not supported here`);
      return builtin[name];
    }
    const v = vars[name];
    if (v === undefined) return match;
    return format === undefined ? sqlDatasourceFormat(v) : applyFormat(v.value, format, match);
  });
}

/** What Grafana's SQL datasources do with a variable that has no explicit format. */
function sqlDatasourceFormat(v: VariableValue): string {
  const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;
  if (Array.isArray(v.value)) return v.value.map(quote).join(',');
  if (v.multi || v.includeAll) return quote(v.value);
  return v.value.replace(/'/g, "''");
}

function applyFormat(value: string | string[], format: string, match: string): string {
  const values = Array.isArray(value) ? value : [value];
  switch (format) {
    case 'sqlstring':
      return values.map((s) => `'${s.replace(/'/g, "''")}'`).join(',');
    case 'singlequote':
      return values.map((s) => `'${s.replace(/'/g, "\\'")}'`).join(',');
    case 'csv':
      return values.join(',');
    case 'raw':
      return values.join(',');
    default:
      throw new Error(`format ${format} (${match}) is not supported here`);
  }
}

// macros.go: const sExpr = `\$` + `([_a-zA-Z0-9]+)` + `\(([^\)]*)\)`
const MACRO = /\$([_a-zA-Z0-9]+)\(([^)]*)\)/g;

/** Step 2: the backend's macros, for a datasource with `timescaledb: false`. */
export function expandMacros(sql: string, from: Date, to: Date): string {
  return sql.replace(MACRO, (whole: string, name: string, rawArgs: string, offset: number) => {
    // Pre-5.3 compatibility: `$__timeGroup(...)` followed directly by ',' is aliased.
    if (name === '__timeGroup' && sql[offset + whole.length] === ',') name = '__timeGroupAlias';
    const args = rawArgs.split(',').map((a) => a.trim());
    return evaluateMacro(name, args, from, to);
  });
}

function evaluateMacro(name: string, args: string[], from: Date, to: Date): string {
  const col = () => {
    if (args.length === 0 || args[0] === '') throw new Error(`missing time column argument for macro ${name}`);
    return args[0];
  };
  const group = () => {
    if (args.length < 2) throw new Error(`macro ${name} needs time column and interval and optional fill value`);
    if (args.length === 3) throw new Error(`fill modes (${name}) are not supported here`);
    return goFloat(parseGoInterval(args[1].replace(/^'+|'+$/g, '')) / 1000);
  };
  switch (name) {
    case '__time':
      return `${col()} AS "time"`;
    case '__timeEpoch':
      return `extract(epoch from ${col()}) as "time"`;
    case '__timeFilter':
      return `${col()} BETWEEN '${rfc3339Nano(from)}' AND '${rfc3339Nano(to)}'`;
    case '__timeFrom':
      return `'${rfc3339Nano(from)}'`;
    case '__timeTo':
      return `'${rfc3339Nano(to)}'`;
    case '__timeGroup': {
      const s = group();
      return `floor(extract(epoch from ${col()})/${s})*${s}`;
    }
    case '__timeGroupAlias':
      return `${evaluateMacro('__timeGroup', args, from, to)} AS "time"`;
    case '__unixEpochFilter':
      return `${col()} >= ${Math.floor(from.getTime() / 1000)} AND ${col()} <= ${Math.floor(to.getTime() / 1000)}`;
    case '__unixEpochFrom':
      return String(Math.floor(from.getTime() / 1000));
    case '__unixEpochTo':
      return String(Math.floor(to.getTime() / 1000));
    case '__unixEpochGroup': {
      const s = group();
      return `floor((${col()})/${s})*${s}`;
    }
    case '__unixEpochGroupAlias':
      return `${evaluateMacro('__unixEpochGroup', args, from, to)} AS "time"`;
    default:
      throw new Error(`unknown macro "${name}"`);
  }
}

/** Go's time.RFC3339Nano in UTC: no fraction when it is zero, else without trailing zeros. */
export function rfc3339Nano(d: Date): string {
  const iso = d.toISOString(); // 2024-02-10T08:00:00.120Z
  const [base, frac] = iso.slice(0, -1).split('.');
  const f = (frac ?? '').replace(/0+$/, '');
  return `${base}${f ? `.${f}` : ''}Z`;
}

/**
 * Go's `fmt.Sprintf("%v", float64)` = strconv.FormatFloat(x, 'g', -1, 64):
 * shortest digits, exponent form when the exponent is < -4 or >= 6 (so a
 * 30-day group prints as 2.592e+06, which PostgreSQL reads as a number).
 */
export function goFloat(x: number): string {
  if (x === 0) return '0';
  const [mant, expText] = x.toExponential().split('e');
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(x);
}

const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * gtime.ParseInterval: `<n>d` and `<n>w` are days and weeks, anything else
 * Go's time.ParseDuration ("1m30s", "500ms"). `M` and `y` are calendar
 * months/years from now in Grafana; refused here rather than guessed.
 */
export function parseGoInterval(s: string): number {
  const dw = /^(\d+)([dwMy])$/.exec(s);
  if (dw) {
    if (dw[2] === 'd') return Number(dw[1]) * 86_400_000;
    if (dw[2] === 'w') return Number(dw[1]) * 7 * 86_400_000;
    throw new Error(`calendar interval ${s} is not supported here`);
  }
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let ms = 0;
  let at = 0;
  if (s === '' || s === '0') return 0;
  while (at < s.length) {
    re.lastIndex = at;
    const m = re.exec(s);
    if (!m) throw new Error(`error parsing interval ${s}`);
    ms += Number(m[1]) * GO_UNITS[m[2]];
    at = re.lastIndex;
  }
  return ms;
}

/** rangeutil.calculateInterval. */
export function calculateInterval(rangeMs: number, resolution: number, lowLimitInterval?: string): { intervalMs: number; interval: string } {
  const lowLimitMs = lowLimitInterval ? intervalToMs(lowLimitInterval) : 1;
  let intervalMs = roundInterval(rangeMs / resolution);
  if (lowLimitMs > intervalMs) intervalMs = lowLimitMs;
  return { intervalMs, interval: secondsToHms(intervalMs / 1000) };
}

const INTERVAL_SECONDS: Record<string, number> = { y: 31536000, M: 2592000, w: 604800, d: 86400, h: 3600, m: 60, s: 1, ms: 0.001 };

/** rangeutil.intervalToMs (describeInterval: unit-less means seconds). */
export function intervalToMs(str: string): number {
  if (Number(str)) return parseInt(str, 10) * 1000;
  const m = /(-?\d+(?:\.\d+)?)(ms|[Mwdhmsy])/.exec(str);
  if (!m) throw new Error(`invalid interval string ${str}`);
  return INTERVAL_SECONDS[m[2]] * 1000 * parseInt(m[1], 10);
}

// rangeutil.roundInterval: [upper bound (exclusive), value], in ms.
const LADDER: Array<[number, number]> = [
  [10, 1], [15, 10], [35, 20], [75, 50], [150, 100], [350, 200], [750, 500], [1500, 1000], [3500, 2000],
  [7500, 5000], [12500, 10000], [17500, 15000], [25000, 20000], [45000, 30000], [90000, 60000],
  [210000, 120000], [450000, 300000], [750000, 600000], [1050000, 900000], [1500000, 1200000],
  [2700000, 1800000], [5400000, 3600000], [9000000, 7200000], [16200000, 10800000], [32400000, 21600000],
  [86400000, 43200000], [604800000, 86400000], [1814400000, 604800000], [3628800000, 2592000000],
];

/** rangeutil.roundInterval. */
export function roundInterval(ms: number): number {
  for (const [below, value] of LADDER) if (ms < below) return value;
  return 31536000000;
}

/** rangeutil.secondsToHms. */
export function secondsToHms(seconds: number): string {
  const years = Math.floor(seconds / 31536000);
  if (years) return `${years}y`;
  const days = Math.floor((seconds % 31536000) / 86400);
  if (days) return `${days}d`;
  const hours = Math.floor(((seconds % 31536000) % 86400) / 3600);
  if (hours) return `${hours}h`;
  const minutes = Math.floor((((seconds % 31536000) % 86400) % 3600) / 60);
  if (minutes) return `${minutes}m`;
  const secs = Math.floor((((seconds % 31536000) % 86400) % 3600) % 60);
  if (secs) return `${secs}s`;
  const ms = Math.floor(seconds * 1000.0);
  if (ms) return `${ms}ms`;
  return 'less than a millisecond';
}
