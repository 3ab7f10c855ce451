/**
 * The pure parts of alerting: the state machine (event time, hysteresis,
 * `for`, the clock's skew-corrected estimate, late readings), rule parsing
 * and the config file's `alerts:` section (unknown keys refused with their path).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkAlerts } from './config.js';
import { step, tick, transitionKey, type AlertState, type Reading } from './evaluate.js';
import { webhookRequest, notificationOf } from './notification.js';
import { deviceMatcher, parseDuration, parseRule, type AlertRule } from './rules.js';

function rule(spec: Record<string, unknown>): AlertRule {
  const problems: string[] = [];
  const r = parseRule(spec, 'r', problems, 'config');
  assert.deepEqual(problems, []);
  return r!;
}

const r = (time: number, value: number, server = time): Reading => ({ time, server, valueNum: value, valueText: null, seq: time });

function run(rl: AlertRule, readings: Reading[]): { state: AlertState | undefined; changes: string[] } {
  let state: AlertState | undefined;
  const changes: string[] = [];
  for (const x of readings) {
    const out = step(rl, 'd', state, x);
    if (out === undefined) continue;
    state = out.state;
    for (const c of out.changes) changes.push(`${c.state}@${c.at}`);
  }
  return { state, changes };
}

describe('alert state machine', () => {
  const below = rule({ name: 'cold', event_type: 't', below: 5, clear: 7, for: '10s' });

  it('below rules fire after `for` and resolve only past clear', () => {
    const { changes, state } = run(below, [r(0, 6), r(1000, 4), r(5000, 6), r(11_000, 4.5), r(12_000, 6.9), r(13_000, 7.1)]);
    // 6 at 5 s is inside the band (5..7): still pending; at 11 s the condition has held 10 s.
    assert.deepEqual(changes, ['firing@11000', 'resolved@13000']);
    assert.equal(state?.state, 'ok');
  });

  it('a condition that ends before `for` never fires', () => {
    assert.deepEqual(run(below, [r(0, 4), r(9_999, 8), r(30_000, 8)]).changes, []);
  });

  it('readings older than the last one applied are ignored', () => {
    assert.deepEqual(run(below, [r(10_000, 4), r(5_000, 9), r(25_000, 4)]).changes, ['firing@20000']);
  });

  it('the clock fires at since + for from the device-time estimate, not before', () => {
    const s = run(below, [r(1_000_000, 4, 5_000)]).state!; // device clock far from the server's
    assert.equal(tick(below, s, 5_000 + 9_999), undefined);
    const fired = tick(below, s, 5_000 + 10_000)!;
    assert.deepEqual(fired.changes.map((c) => [c.state, c.at, c.seq, c.key]), [['firing', 1_010_000, null, transitionKey('cold', 'd', 'firing', 1_010_000)]]);
    // The data path, had a reading come instead, records the same change (same key).
    const viaData = run(below, [r(1_000_000, 4, 5_000), r(1_020_000, 4)]);
    assert.deepEqual(viaData.changes, ['firing@1010000']);
  });

  it('presence rules fire on the listed states', () => {
    const p = rule({ name: 'down', presence: 'offline', for: '1m' });
    const pr = (time: number, state: string): Reading => ({ time, server: time, valueNum: null, valueText: state, seq: time });
    let s: AlertState | undefined;
    const out: string[] = [];
    for (const x of [pr(0, 'online'), pr(10_000, 'offline'), pr(80_000, 'online')]) {
      const o = step(p, 'n', s, x)!;
      s = o.state;
      out.push(...o.changes.map((c) => `${c.state}@${c.at}:${c.valueText}`));
    }
    assert.deepEqual(out, ['firing@70000:offline', 'resolved@80000:online']);
  });
});

describe('alert rules and the alerts section', () => {
  it('refuses rules that make no sense, each problem with its path', () => {
    const problems: string[] = [];
    assert.equal(parseRule({ name: 'x y', event_type: 't', above: 5, clear: 6, for: 'soon', colour: 1 }, 'rules[0]', problems, 'api'), undefined);
    assert.deepEqual(problems, [
      'rules[0].colour: unknown key; known here: name, devices, event_type, above, below, clear, presence, for, notify',
      "rules[0].name: is required: 1 to 64 letters, digits, '_', '.' or '-' (it is an MQTT topic level)",
      'rules[0].for: must be a duration such as 90s, 5m or 1h, got "soon"',
      'rules[0].clear: must be at or below above (the value resolves the alert on the way back)',
    ]);
  });

  it('reads durations and globs', () => {
    assert.deepEqual(['250ms', '90s', '5m', '1.5h', 2, 'x'].map(parseDuration), [250, 90_000, 300_000, 5_400_000, 2000, undefined]);
    const m = deviceMatcher('hp-?.*');
    assert.deepEqual(['hp-1.a', 'hp-12.a', 'hp-1x'].map(m), [true, false, false]);
  });

  it('the alerts section refuses unknown keys and unknown webhooks, with their paths', () => {
    const problems: string[] = [];
    checkAlerts({ tik: '1s', webhooks: [{ name: 'mqtt', type: 'slack', url: 'ftp://x' }], rules: [{ name: 'a', event_type: 't', above: 1, notify: ['nope'] }] }, 'alerts', problems);
    assert.deepEqual(problems, [
      'alerts.tik: unknown key; known here: rules, webhooks, mqtt, tick, retry_min, retry_max, timeout, poll, outbox_retention',
      'alerts.webhooks[0].name: mqtt is the MQTT publication\'s name; choose another',
      'alerts.webhooks[0].type: must be one of ntfy, gotify, json',
      'alerts.webhooks[0].url: must be an http:// or https:// URL',
      'alerts.rules[0].notify: no webhook is named nope',
    ]);
  });

  it('renders ntfy and Gotify requests with the idempotency key', () => {
    const rl = rule({ name: 'hot', event_type: 't', above: 1 });
    const n = notificationOf(rl, { key: 'k1', rule: 'hot', deviceId: 'd', state: 'firing', valueNum: 3, valueText: null, at: 0, seq: 1 });
    const ntfy = webhookRequest({ name: 'n', type: 'ntfy', url: 'https://ntfy.example/t', token: 'tk' }, n);
    assert.deepEqual([ntfy.url, ntfy.headers['idempotency-key'], ntfy.headers.title, ntfy.headers.authorization, ntfy.body], ['https://ntfy.example/t', 'k1', '[firing] hot on d', 'Bearer tk', 'hot is firing on d: t 3 (t > 1)']);
    const g = webhookRequest({ name: 'g', type: 'gotify', url: 'http://gotify/', token: 'app' }, n);
    assert.equal(g.url, 'http://gotify/message');
    assert.equal(g.headers['x-gotify-key'], 'app');
    assert.deepEqual(JSON.parse(g.body).extras['telehub::alert'], n);
  });
});
