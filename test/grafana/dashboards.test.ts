/**
 * telehub's Grafana provisioning (deploy/grafana), checked without a Grafana
 * server: the dashboard files are what their typed sources give, parse, use
 * only built-in panels; every PostgreSQL panel query, expanded as Grafana
 * does for several time ranges, runs as the read-only role against a real
 * PostgreSQL that telehub migrated and the simulator (plus history written
 * through the store) filled, and returns the columns its panel reads; the
 * tiered queries read raw events for an hour and only tier rows for a year;
 * every Prometheus expression names metrics telehub's /metrics exposes.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import YAML from 'yaml';
import type { DeadLetter, TelemetryEvent } from '../../src/core/event.js';
import { RollupRefresher } from '../../src/processors/rollups/refresher.js';
import { startSimulation } from '../../src/simulator/run.js';
import { DASHBOARDS, dashboardJson } from '../../deploy/grafana/src/index.js';
import { PG, PROM } from '../../deploy/grafana/src/common.js';
import { startInProcess, type InProcessTelehub } from '../helpers/inprocess.js';
import { stopTestPostgres, withPgClient } from '../helpers/postgres.js';
import { skipUnless } from '../helpers/skip.js';
import {
  allPanels,
  exposedMetricNames,
  isPostgres,
  isPrometheus,
  panelTypeProblems,
  parseDashboard,
  promMetricNames,
  resolveVariables,
  runTarget,
  type DashboardJson,
  type PanelJson,
  type RangeCase,
} from './dashboard-check.js';
import { expandGrafanaSql } from './grafana-sql.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = path.join(ROOT, 'deploy/grafana/dashboards');
const ROLE_SQL = path.join(ROOT, 'deploy/grafana/readonly-role.sql');

const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
const dashboards = files.map((f) => ({ file: f, d: parseDashboard(f, readFileSync(path.join(DIR, f), 'utf8')) }));

after(() => stopTestPostgres());

describe('Grafana dashboard files', () => {
  it('are exactly what deploy/grafana/src gives (run `npm run grafana:dashboards` after changing it)', () => {
    assert.deepEqual(files, Object.keys(DASHBOARDS).sort());
    for (const [file, d] of Object.entries(DASHBOARDS)) assert.equal(readFileSync(path.join(DIR, file), 'utf8'), dashboardJson(d), `${file} is stale`);
  });

  it('parse, have stable distinct uids and use only built-in panel types', () => {
    assert.deepEqual(dashboards.map((x) => x.d.uid).sort(), ['telehub-device', 'telehub-fleet', 'telehub-pipeline', 'telehub-trips']);
    for (const { file, d } of dashboards) {
      assert.deepEqual(panelTypeProblems(d), [], file);
      const ids = allPanels(d).map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, `${file}: panel ids are unique`);
    }
  });

  it('reject a file that does not parse and a panel that is not built in', () => {
    assert.throws(() => parseDashboard('broken.json', '{"panels": ['), /broken\.json is not valid JSON/);
    assert.match(panelTypeProblems({ panels: [{ id: 1, type: 'grafana-worldmap-panel', title: 'map' }] })[0], /not a built-in Grafana panel/);
    assert.match(panelTypeProblems({ panels: [{ id: 1, type: 'row', panels: [{ id: 2, type: 'grafana-clock-panel' }] }] })[0], /grafana-clock-panel/);
  });

  it('refer to the datasources and the folder that the provisioning files define', () => {
    const ds = YAML.parse(readFileSync(path.join(ROOT, 'deploy/grafana/provisioning/datasources/telehub.yaml'), 'utf8')) as { datasources: Array<{ uid: string; type: string }> };
    assert.deepEqual(ds.datasources.map((d) => [d.uid, d.type]), [[PG.uid, PG.type], [PROM.uid, PROM.type]]);
    for (const { file, d } of dashboards) {
      for (const p of allPanels(d)) for (const t of p.targets ?? []) assert.ok(isPostgres(t, p) || isPrometheus(t, p), `${file} panel ${p.id}: a target on an unknown datasource`);
    }
    const prov = YAML.parse(readFileSync(path.join(ROOT, 'deploy/grafana/provisioning/dashboards/telehub.yaml'), 'utf8')) as { providers: Array<{ folderUid: string; options: { path: string } }> };
    const compose = readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
    assert.ok(compose.includes(`./deploy/grafana/dashboards:${prov.providers[0].options.path}:ro`), 'the compose file mounts the dashboards where the provider reads them');
    assert.equal(prov.providers[0].folderUid, 'telehub');
  });
});

// ---------------------------------------------------------------------------

const hasPsql = spawnSync('psql', ['--version']).status === 0;
const NOW = Date.now();
const MIN = 60_000;
const DAY = 86_400_000;
/** Time ranges ending now: raw (1h), the 1-minute tier (24h), the 5-minute tier (7d, 30d, a year). */
const RANGES: Array<[string, number]> = [
  ['1h', 3600_000],
  ['24h', DAY],
  ['7d', 7 * DAY],
  ['30d', 30 * DAY],
  ['1y', 365 * DAY],
];
/** Where the ranges end: set once the data is in (the simulator's events are newer than NOW). */
let END = NOW;
/** The provisioned datasource's minimum interval (timeInterval), and a typical panel width. */
const rangeCase = (ms: number): RangeCase => ({ from: new Date(END - ms), to: new Date(END), maxDataPoints: 1000, minInterval: '1s' });

function ev(dev: string, type: string, ts: number, value: number | null, meta = '{}'): TelemetryEvent {
  return { eventId: `${dev}-${ts}-${type}`, deviceId: dev, schema: 1, eventType: type, valueNum: value, valueText: null, unit: null, tsDevice: ts, tsServer: NOW, meta };
}

/** A 20-minute drive at 50 km/h starting at `t0`, sampled every 5 s (speed, odometer, position). */
function drive(dev: string, t0: number, km0: number): TelemetryEvent[] {
  const out: TelemetryEvent[] = [];
  let km = km0;
  for (let t = t0; t < t0 + 20 * MIN; t += 5000) {
    out.push(ev(dev, 'speed', t, 50), ev(dev, 'odometer', t, Math.round(km * 1000) / 1000));
    out.push(ev(dev, 'position', t, null, JSON.stringify({ latitude: 48 + (km - km0) / 111.2, longitude: 11.5 })));
    km += (50 * 5) / 3600;
  }
  return out;
}

/** History the simulator cannot make in a test's time: 40 days of a sensor, two drives, dead letters. */
function history(): { events: TelemetryEvent[]; deadLetters: DeadLetter[] } {
  const events: TelemetryEvent[] = [];
  for (let t = NOW - 40 * DAY; t < NOW - 10 * MIN; t += 30 * MIN) events.push(ev('gf-hist-001', 'temperature', t, 20 + 5 * Math.sin(t / DAY)));
  events.push(...drive('gf-car-hist', NOW - 2 * DAY, 1000), ...drive('gf-car-hist', NOW - 50 * MIN, 1100));
  // One for each car: the device dashboard's variable starts at the first
  // device (the simulated car when it has stored a reading by then, else the history's).
  const deadLetters: DeadLetter[] = ['gf-car-001', 'gf-car-hist'].map((dev, i) => ({
    reason: 'invalid_json',
    message: 'The payload is not valid JSON.',
    topic: `qs/v1/${dev}/events`,
    deviceId: dev,
    payload: Buffer.from(`{not json ${i}`),
    receivedAt: NOW - (5 + i) * MIN,
    source: 'mqtt-embedded',
  }));
  return { events, deadLetters };
}

async function until(cond: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Plan {
  'Relation Name'?: string;
  'Actual Loops'?: number;
  Plans?: Plan[];
}
/** Loops over `table`, or over any of its partitions (events is partitioned by day: events_pYYYYMMDD, events_default, events_flat). */
function loopsOn(plan: Plan, table: string): number {
  const name = plan['Relation Name'];
  const hit = name !== undefined && (name === table || new RegExp(`^${table}_(p\\d{8}|default|flat)$`).test(name));
  return (hit ? (plan['Actual Loops'] ?? 0) : 0) + (plan.Plans ?? []).reduce((a, p) => a + loopsOn(p, table), 0);
}

const skip = skipUnless(hasPsql, 'psql is not installed (it runs deploy/grafana/readonly-role.sql)');

describe('Grafana dashboards on PostgreSQL filled by the simulator', { skip }, () => {
  let app: InProcessTelehub;
  let reader: pg.Client;
  let role: string;

  before(async () => {
    // The test drives the tiers' refresher itself.
    app = await startInProcess('postgres', { TELEHUB_ROLLUP_REFRESH_S: '3600' });
    const brokerUrl = `mqtt://127.0.0.1:${app.hub.mqttPort}`;
    const sims = await Promise.all([
      startSimulation({ devices: 3, rate: 2, profile: 'sensor', brokerUrl, idPrefix: 'gf', durationS: 3 }),
      startSimulation({ devices: 1, rate: 1, profile: 'car', brokerUrl, idPrefix: 'gf', durationS: 3 }),
    ]);
    for (const r of await Promise.all(sims.map((s) => s.done))) assert.ok(r.acknowledged > 0 && r.lost === 0, `simulation: ${JSON.stringify(r)}`);
    const h = history();
    for (let i = 0; i < h.events.length; i += 1000) await app.hub.store.writeBatch({ events: h.events.slice(i, i + 1000), deadLetters: i === 0 ? h.deadLetters : [] });
    await until(async () => (await app.hub.processors.status()).every((s) => s.lagEntries === 0), 'the processors to catch up');
    const refresher = new RollupRefresher(app.hub.store.processors, app.hub.store.kind, app.hub.config.tiers, { maxBucketsPerRun: 5000 });
    while ((await refresher.refreshOnce()).more);
    END = Date.now();

    role = `grafana_t_${randomBytes(5).toString('hex')}`;
    const url = new URL(app.db!.url);
    await promisify(execFile)('psql', [url.toString(), '-q', '-v', 'ON_ERROR_STOP=1', '-v', `reader=${role}`, '-v', 'reader_password=t3st', '-v', `owner=${decodeURIComponent(url.username) || 'postgres'}`, '-f', ROLE_SQL]);
    url.username = role;
    url.password = 't3st';
    reader = new pg.Client({ connectionString: url.toString() });
    await reader.connect();
  });

  after(async () => {
    await reader?.end().catch(() => {});
    const admin = process.env.TELEHUB_TEST_DATABASE_URL;
    await app?.close();
    if (role && admin) await withPgClient(admin, (c) => c.query(`DROP ROLE IF EXISTS ${role}`));
  });

  it('every PostgreSQL panel returns rows with the columns it reads, for 1h, 24h, 7d, 30d and a year, as the read-only role', async () => {
    const problems: string[] = [];
    let runs = 0;
    for (const { file, d } of dashboards) {
      for (const [label, ms] of RANGES) {
        const range = rangeCase(ms);
        const { values, options } = await resolveVariables(reader, d, range);
        for (const [name, opts] of Object.entries(options)) if (opts.length === 0) problems.push(`${file} ${label}: variable ${name} has no options`);
        for (const p of allPanels(d)) {
          for (const t of (p.targets ?? []).filter((x) => isPostgres(x, p))) {
            // A repeated panel is drawn once per value of its variable, with that value alone.
            const scopes = p.repeat ? options[p.repeat].map((v) => ({ ...values, [p.repeat!]: { ...values[p.repeat!], value: v } })) : [values];
            const results = [];
            for (const vars of scopes) results.push(await runTarget(reader, p, t, range, vars));
            runs += results.length;
            const where = `${file} ${label} panel ${p.id} "${p.title}" ${t.refId}`;
            for (const r of results) for (const x of r.problems.filter((m) => m !== 'the query returns no rows')) problems.push(`${where}: ${x}\n  ${r.sql}`);
            if (results.every((r) => r.rows === 0)) problems.push(`${where}: no rows${p.repeat ? ` for any ${p.repeat}` : ''}\n  ${results[0].sql}`);
          }
        }
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(runs > 50, `${runs} queries ran`);
  });

  it('tiered panels read raw events for an hour and only 5-minute rows for a year', async () => {
    const d = dashboards.find((x) => x.d.uid === 'telehub-fleet')!.d;
    const p = allPanels(d).find((x) => x.repeat === 'device')!;
    const explain = async (ms: number) => {
      const range = rangeCase(ms);
      const { values } = await resolveVariables(reader, d, range);
      const e = expandGrafanaSql(String(p.targets![0].rawSql), { ...range, variables: values });
      const rows = (await reader.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${e.sql}`)).rows as Array<{ 'QUERY PLAN': Array<{ Plan: Plan }> }>;
      const plan = rows[0]['QUERY PLAN'][0].Plan;
      return { events: loopsOn(plan, 'events'), rollups: loopsOn(plan, 'rollups'), interval: e.interval };
    };
    const hour = await explain(3600_000);
    assert.equal(hour.interval, '5s');
    assert.ok(hour.events > 0, 'an hour reads raw events');
    assert.equal(hour.rollups, 0, 'an hour reads no tier');
    const year = await explain(365 * DAY);
    assert.equal(year.interval, '6h');
    assert.equal(year.events, 0, 'a year never reads raw events');
    assert.ok(year.rollups > 0, 'a year reads the 5-minute tier');
  });

  it('reports a query on a column that does not exist, and a panel column the query lacks', async () => {
    const range = rangeCase(3600_000);
    const panel: PanelJson = { id: 1, type: 'table', title: 't', transformations: [{ id: 'organize', options: { indexByName: { device_id: 0, battery: 1 } } }] };
    const bad = await runTarget(reader, panel, { refId: 'A', rawSql: 'SELECT device_id, no_such_column FROM device_counters', format: 'table' }, range, {});
    assert.match(bad.problems.join('\n'), /the query fails: column "no_such_column" does not exist/);
    const missing = await runTarget(reader, panel, { refId: 'A', rawSql: 'SELECT device_id FROM device_counters', format: 'table' }, range, {});
    assert.deepEqual(missing.problems, [`the panel reads column "battery", which the query does not return (columns: device_id)`]);
    const series = await runTarget(reader, { id: 2, type: 'timeseries' }, { refId: 'A', rawSql: 'SELECT device_id, events FROM device_counters', format: 'time_series' }, range, {});
    assert.match(series.problems.join('\n'), /needs a "time" column/);
  });

  it('the read-only role reads the dashboards\' tables but cannot write or read API tokens', async () => {
    await assert.rejects(reader.query(`INSERT INTO device_counters (device_id, events, first_seen, last_seen, last_seq) VALUES ('x', 1, now(), now(), 1)`), /read-only transaction|permission denied/);
    await assert.rejects(reader.query('SELECT * FROM api_tokens'), /permission denied/);
    const ok = await reader.query('SELECT count(*)::int AS n FROM events');
    assert.ok(ok.rows[0].n > 0);
  });

  it('every Prometheus expression names metrics that telehub exposes on /metrics', async () => {
    const res = await fetch(`${app.base}/metrics`);
    assert.equal(res.status, 200);
    const exposed = exposedMetricNames(await res.text());
    const used = new Set<string>();
    for (const { file, d } of dashboards as Array<{ file: string; d: DashboardJson }>) {
      for (const p of allPanels(d)) {
        for (const t of (p.targets ?? []).filter((x) => isPrometheus(x, p))) {
          const names = promMetricNames(String(t.expr));
          assert.ok(names.length > 0, `${file} panel ${p.id}: no metric in ${String(t.expr)}`);
          for (const n of names) {
            assert.ok(exposed.has(n), `${file} panel ${p.id} "${p.title}": ${n} is not on /metrics`);
            used.add(n);
          }
        }
      }
    }
    assert.ok(used.size >= 10, `${used.size} metrics used`);
    assert.deepEqual(promMetricNames('sum by (status) (rate(telehub_nope_total{status="stored"}[$__rate_interval]))'), ['telehub_nope_total']);
    assert.ok(!exposed.has('telehub_nope_total'));
  });
});
