/**
 * The expansion of Grafana's PostgreSQL queries (grafana-sql.ts) against the
 * cases of Grafana's own macro tests (macros_test.go) and its documented
 * interval and variable rules.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calculateInterval, expandGrafanaSql, expandMacros, goFloat, interpolateTemplate, rfc3339Nano } from './grafana-sql.js';

const from = new Date('2018-04-12T18:00:00Z');
const to = new Date('2018-04-12T18:05:00Z');
const builtins = { interval: '1m', intervalMs: 60000, from, to };

describe('Grafana PostgreSQL macros', () => {
  it('expands time macros as the backend does', () => {
    assert.equal(expandMacros('select $__time(time_column)', from, to), 'select time_column AS "time"');
    assert.equal(expandMacros('WHERE $__timeFilter(time_column)', from, to), "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'");
    assert.equal(expandMacros('select $__timeFrom()', from, to), "select '2018-04-12T18:00:00Z'");
    assert.equal(expandMacros('select $__timeTo()', from, to), "select '2018-04-12T18:05:00Z'");
    assert.equal(expandMacros('select $__unixEpochFilter(time)', from, to), `select time >= ${from.getTime() / 1000} AND time <= ${to.getTime() / 1000}`);
    assert.equal(expandMacros("SELECT $__unixEpochGroup(time_column+time_adjustment,'5m')", from, to), 'SELECT floor((time_column+time_adjustment)/300)*300');
  });

  it('groups by interval, with the pre-5.3 alias rule', () => {
    assert.equal(expandMacros("SELECT $__timeGroup(time_column,'5m')", from, to), 'SELECT floor(extract(epoch from time_column)/300)*300');
    assert.equal(expandMacros("SELECT $__timeGroupAlias(time_column , '5m')", from, to), 'SELECT floor(extract(epoch from time_column)/300)*300 AS "time"');
    assert.equal(expandMacros("SELECT $__timeGroup(time_column,'5m'), value", from, to), 'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value');
    assert.equal(expandMacros("SELECT $__timeGroup(time_column,'5m') as time, value", from, to), 'SELECT floor(extract(epoch from time_column)/300)*300 as time, value');
    assert.equal(expandMacros('SELECT $__timeGroup(t, 20ms)', from, to), 'SELECT floor(extract(epoch from t)/0.02)*0.02');
    assert.equal(expandMacros('SELECT $__timeGroup(t, 30d)', from, to), 'SELECT floor(extract(epoch from t)/2.592e+06)*2.592e+06');
    assert.equal(expandMacros('SELECT $__timeGroup(t, 1h30m)', from, to), 'SELECT floor(extract(epoch from t)/5400)*5400');
  });

  it('keeps fractional seconds without trailing zeros (RFC 3339 nano)', () => {
    assert.equal(rfc3339Nano(new Date(Date.UTC(1960, 1, 1, 7, 0, 0, 500))), '1960-02-01T07:00:00.5Z');
    assert.equal(rfc3339Nano(new Date(Date.UTC(2024, 1, 10, 8, 0, 0, 120))), '2024-02-10T08:00:00.12Z');
  });

  it('prints floats as Go does', () => {
    assert.deepEqual([60, 300, 86400, 604800, 0.5, 1e6, 0.00001].map(goFloat), ['60', '300', '86400', '604800', '0.5', '1e+06', '1e-05']);
  });

  it('refuses unknown macros and a macro without its column', () => {
    assert.throws(() => expandMacros('SELECT $__nope(x)', from, to), /unknown macro/);
    assert.throws(() => expandMacros('SELECT $__timeFilter()', from, to), /missing time column/);
  });
});

describe('Grafana template variables and $__interval', () => {
  it('quotes multi-value and All variables per value, and not a single value', () => {
    const vars = {
      multi: { value: ['a', "o'b"], multi: true },
      one: { value: 'x', multi: true },
      single: { value: "it's" },
    };
    assert.equal(interpolateTemplate('IN ($multi) AND IN ($one) AND = \'$single\'', vars, builtins), "IN ('a','o''b') AND IN ('x') AND = 'it''s'");
    assert.equal(interpolateTemplate('= ${single:sqlstring} AND ${multi:csv}', vars, builtins), "= 'it''s' AND a,o'b");
    assert.equal(interpolateTemplate('$__interval $__interval_ms $unknown $__timeFilter(t)', vars, builtins), '1m 60000 $unknown $__timeFilter(t)');
  });

  it('computes $__interval from range and width, rounded, at least the minimum interval', () => {
    assert.deepEqual(calculateInterval(6 * 3600_000, 1000), { intervalMs: 20000, interval: '20s' });
    assert.deepEqual(calculateInterval(24 * 3600_000, 1000), { intervalMs: 60000, interval: '1m' });
    assert.deepEqual(calculateInterval(7 * 86400_000, 1000), { intervalMs: 600000, interval: '10m' });
    assert.deepEqual(calculateInterval(365 * 86400_000, 1000), { intervalMs: 21600000, interval: '6h' });
    assert.deepEqual(calculateInterval(5 * 60_000, 1000), { intervalMs: 200, interval: '200ms' });
    assert.deepEqual(calculateInterval(5 * 60_000, 1000, '1m'), { intervalMs: 60000, interval: '1m' });
    assert.equal(calculateInterval(5 * 60_000, 1000, '1s').interval, '1s');
  });

  it('expands a whole query for a time range', () => {
    const e = expandGrafanaSql('SELECT $__timeGroupAlias(ts, $__interval) FROM t WHERE $__timeFilter(ts) AND d IN ($d)', {
      from: new Date('2024-01-01T00:00:00Z'),
      to: new Date('2024-01-02T00:00:00Z'),
      maxDataPoints: 1000,
      minInterval: '1s',
      variables: { d: { value: ['a'], multi: true } },
    });
    assert.equal(e.interval, '1m');
    assert.equal(e.sql, `SELECT floor(extract(epoch from ts)/60)*60 AS "time" FROM t WHERE ts BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-02T00:00:00Z' AND d IN ('a')`);
  });
});
