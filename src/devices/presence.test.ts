/**
 * Presence rules (pure logic): each cause, a keep-alive-only connection
 * turning silent, learned and overridden intervals, offline after longer
 * silence only when no connection is open, and recomputation after a restart.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyEvidence, evaluateSilence, expectedIntervalMs, newDeviceState, nextDeadline, recompute, type PresenceSettings } from './presence.js';

const CFG: PresenceSettings = { defaultIntervalMs: 60_000, minIntervalMs: 5_000, maxIntervalMs: 3_600_000, graceFactor: 2, offlineAfterTimeouts: 3 };
const T = 1_700_000_000_000;
const tos = (ts: { to: string; cause: string }[]) => ts.map((t) => `${t.to}/${t.cause}`);

describe('presence', () => {
  it('connect, data, clean disconnect and will give their causes', () => {
    const s = newDeviceState('n1', T);
    assert.equal(s.presence, 'unknown');
    assert.deepEqual(tos(applyEvidence(s, { kind: 'connect', at: T }, CFG)), ['online/connected']);
    assert.deepEqual(tos(applyEvidence(s, { kind: 'data', at: T + 1000 }, CFG)), []);
    assert.deepEqual(tos(applyEvidence(s, { kind: 'disconnect', at: T + 2000, will: false }, CFG)), ['offline/disconnected']);
    assert.deepEqual(tos(applyEvidence(s, { kind: 'data', at: T + 3000 }, CFG)), ['online/data']);
    assert.deepEqual(tos(applyEvidence(s, { kind: 'disconnect', at: T + 4000, will: true }, CFG)), ['offline/will']);
    assert.deepEqual(tos(applyEvidence(s, { kind: 'status', at: T + 5000, state: 'online' }, CFG)), ['online/status']);
    assert.deepEqual(tos(applyEvidence(s, { kind: 'status', at: T + 6000, state: 'offline' }, CFG)), ['offline/status']);
  });

  it('a connection sending only keep-alives turns silent after its timeout, and stays silent (not offline) while connected', () => {
    const s = newDeviceState('n1', T);
    applyEvidence(s, { kind: 'connect', at: T }, CFG);
    applyEvidence(s, { kind: 'data', at: T + 1000 }, CFG);
    const timeout = 2 * 60_000;
    assert.deepEqual(evaluateSilence(s, T + 1000 + timeout, CFG), []);
    assert.equal(nextDeadline(s, CFG), T + 1000 + timeout + 1);
    assert.deepEqual(tos(evaluateSilence(s, T + 1000 + timeout + 1, CFG)), ['silent/silence']);
    assert.deepEqual(evaluateSilence(s, T + 100 * timeout, CFG), [], 'an open connection is not offline');
    assert.equal(nextDeadline(s, CFG), null);
    // A health report is not data: still silent.
    assert.deepEqual(applyEvidence(s, { kind: 'status', at: T + 200 * timeout, state: null, status: { uptime: 9 } }, CFG), []);
    assert.equal(s.presence, 'silent');
    assert.equal(s.status.uptime, 9);
  });

  it('without a visible connection (external broker) long silence is offline', () => {
    const s = newDeviceState('n2', T);
    applyEvidence(s, { kind: 'data', at: T }, CFG);
    assert.deepEqual(tos(evaluateSilence(s, T + 120_001, CFG)), ['silent/silence']);
    assert.equal(nextDeadline(s, CFG), T + 360_001);
    assert.deepEqual(evaluateSilence(s, T + 360_000, CFG), []);
    assert.deepEqual(tos(evaluateSilence(s, T + 360_001, CFG)), ['offline/silence']);
  });

  it('learns the interval from the cadence, bounded, and a per-device override wins', () => {
    const s = newDeviceState('n3', T);
    for (let i = 0; i < 20; i++) applyEvidence(s, { kind: 'data', at: T + i * 10_000 }, CFG);
    assert.equal(expectedIntervalMs(s, CFG), 10_000);
    const fast = newDeviceState('n4', T);
    for (let i = 0; i < 20; i++) applyEvidence(fast, { kind: 'data', at: T + i * 100 }, CFG);
    assert.equal(expectedIntervalMs(fast, CFG), 5_000, 'bounded below by minIntervalMs');
    s.intervalOverrideMs = 300_000;
    assert.equal(expectedIntervalMs(s, CFG), 300_000);
    assert.deepEqual(evaluateSilence(s, T + 190_000 + 500_000, CFG), []);
  });

  it('a reconnect after long quiet gets a full timeout before it is silent', () => {
    const s = newDeviceState('n5', T);
    applyEvidence(s, { kind: 'data', at: T }, CFG);
    evaluateSilence(s, T + 10_000_000, CFG);
    assert.equal(s.presence, 'offline');
    applyEvidence(s, { kind: 'connect', at: T + 20_000_000 }, CFG);
    assert.deepEqual(evaluateSilence(s, T + 20_000_000 + 60_000, CFG), []);
    assert.equal(s.presence, 'online');
  });

  it('after a restart nothing stays online on lost state, and quiet devices are not shown online', () => {
    const fresh = newDeviceState('a', T);
    applyEvidence(fresh, { kind: 'connect', at: T }, CFG);
    applyEvidence(fresh, { kind: 'data', at: T + 1000 }, CFG);
    const quiet = structuredClone(fresh);
    quiet.deviceId = 'b';
    const gone = structuredClone(fresh);
    gone.deviceId = 'c';
    assert.deepEqual(recompute(fresh, T + 2000, CFG), []);
    assert.equal(fresh.connected, null);
    assert.deepEqual(tos(recompute(quiet, T + 1000 + 120_001, CFG)), ['silent/silence']);
    assert.deepEqual(tos(recompute(gone, T + 1000 + 360_001, CFG)), ['offline/silence']);
    // The one still online turns silent then offline by the timers, the connection being unknown now.
    assert.deepEqual(tos(evaluateSilence(fresh, T + 1000 + 360_001, CFG)), ['silent/silence', 'offline/silence']);
  });

  it('evidence older than the last change updates times but does not undo it', () => {
    const s = newDeviceState('n6', T);
    applyEvidence(s, { kind: 'disconnect', at: T + 5000, will: true }, CFG);
    assert.deepEqual(applyEvidence(s, { kind: 'data', at: T + 1000 }, CFG), []);
    assert.equal(s.presence, 'offline');
    assert.equal(s.lastDataAt, T + 1000);
  });
});
