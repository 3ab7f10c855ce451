/**
 * The simulator against real telehubs: the embedded broker (SQLite), Mosquitto
 * with PostgreSQL, and HTTP ingestion. What it counts as acknowledged must be
 * exactly what the store holds, and a command id sent twice runs once.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { startInProcess, type InProcessTelehub } from '../../test/helpers/inprocess.js';
import { clearSession, mosquittoUrl, needsMosquitto } from '../../test/helpers/mqtt.js';
import { PROFILES } from './profiles/index.js';
import { seededRandom } from './profiles/profile.js';
import { startSimulation, type Simulation } from './run.js';
import { percentile, type SimReport } from './stats.js';

/**
 * Rows of these devices in the store, by kind, checking that every row is
 * one the simulator caused: a seed-001 event (`{id}-b1-NNNNNN`), a seed-003
 * telemetry reading (`{id}:{unix s}:{sensor}`, node-telemetry route) or a
 * status entry (`{id}:status:…`, node-status route).
 */
async function storedRows(t: InProcessTelehub, sim: Simulation): Promise<{ events: number; readings: number; status: number }> {
  const n = { events: 0, readings: 0, status: 0 };
  for (const d of sim.devices) {
    const id = d.id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const event = new RegExp(`^${id}-b1-\\d{6}$`);
    const reading = new RegExp(`^${id}:\\d+:[a-z_]+$`);
    const status = new RegExp(`^${id}:status:`);
    for (const e of await t.hub.store.recentEvents(10_000, d.id)) {
      if (event.test(e.eventId)) n.events++;
      else if (reading.test(e.eventId)) n.readings++;
      else if (status.test(e.eventId)) n.status++;
      else assert.fail(`unexpected row ${e.eventId}`);
    }
  }
  return n;
}

/** Sensors in one reading of a profile (each telemetry message stores one row per sensor). */
function sensorsPerReading(profile: keyof typeof PROFILES): number {
  const s = { random: seededRandom(1) };
  PROFILES[profile].init(s);
  return PROFILES[profile].read(s, 1).length;
}

function assertNothingLost(r: SimReport): void {
  assert.ok(r.events.sent > 0, 'some events were sent');
  assert.equal(r.lost, 0, JSON.stringify(r));
  assert.equal(r.refused, 0);
  assert.equal(r.acknowledged, r.sent);
  assert.equal(r.events.acknowledged, r.events.sent);
  assert.ok(r.latencyMs.p50 !== null && r.latencyMs.p99! >= r.latencyMs.p50);
}

describe('profiles', () => {
  it('are deterministic per seed and stay in range', () => {
    for (const p of Object.values(PROFILES)) {
      const run = (seed: number) => {
        const s = { random: seededRandom(seed) };
        p.init(s);
        return Array.from({ length: 50 }, () => p.read(s, 1));
      };
      assert.deepEqual(run(7), run(7), p.name);
      assert.notDeepEqual(run(7), run(8), p.name);
      for (const reading of run(3)) for (const m of reading) assert.ok(Number.isFinite(m.value), `${p.name}.${m.name}`);
    }
  });

  it('energy: the kWh counter never goes down', () => {
    const s = { random: seededRandom(1) };
    PROFILES.energy.init(s);
    let last = -Infinity;
    for (let i = 0; i < 200; i++) {
      const kwh = PROFILES.energy.read(s, 60).find((m) => m.name === 'energy')!.value;
      assert.ok(kwh >= last);
      last = kwh;
    }
  });

  it('percentile is nearest-rank', () => {
    assert.equal(percentile([], 0.5), null);
    assert.equal(percentile([1, 2, 3, 4], 0.5), 2);
    assert.equal(percentile([1, 2, 3, 4], 0.99), 4);
  });
});

describe('simulator against the embedded broker', () => {
  let t: InProcessTelehub;
  before(async () => (t = await startInProcess('sqlite')));
  after(() => t.close());

  it('every event it counts as acknowledged is stored once, none lost', async () => {
    const sim = await startSimulation({ devices: 4, rate: 5, profile: 'heatpump', durationS: 1.5, brokerUrl: `mqtt://127.0.0.1:${t.hub.mqttPort}`, idPrefix: 'simt-emb' });
    const r = await sim.done;
    assertNothingLost(r);
    assert.ok(r.telemetry.acknowledged > 0);
    const rows = await storedRows(t, sim);
    assert.equal(rows.events, r.events.acknowledged);
    // The embedded broker PUBACKs telemetry only after its readings committed.
    assert.equal(rows.readings, r.telemetry.acknowledged * sensorsPerReading('heatpump'));
  });

  it('runs a command once when the same command_id comes twice, and answers both', async () => {
    const sim = await startSimulation({ devices: 1, rate: 1, profile: 'sensor', brokerUrl: `mqtt://127.0.0.1:${t.hub.mqttPort}`, idPrefix: 'simt-cmd' });
    const id = sim.devices[0].id;
    const operator = await mqtt.connectAsync(`mqtt://127.0.0.1:${t.hub.mqttPort}`, { clientId: `op-${randomBytes(3).toString('hex')}` });
    try {
      await operator.subscribeAsync(`iot/node/${id}/status`, { qos: 1 });
      const answers: Record<string, unknown>[] = [];
      const finals = new Promise<void>((resolve) => {
        operator.on('message', (_topic, payload) => {
          let m: Record<string, unknown>;
          try {
            m = JSON.parse(payload.toString());
          } catch {
            return; // `online` / `offline`
          }
          if (typeof m.command_id !== 'string') return; // health
          answers.push(m);
          if (answers.filter((a) => a.status !== 'received').length === 3) resolve();
        });
      });
      const cmd = JSON.stringify({ command: 'set_interval', params: { seconds: 2 }, command_id: 'c-1' });
      await operator.publishAsync(`iot/node/${id}/command`, cmd, { qos: 1 });
      await operator.publishAsync(`iot/node/${id}/command`, cmd, { qos: 1 });
      await operator.publishAsync(`iot/node/${id}/command`, JSON.stringify({ command: 'self_destruct', params: {}, command_id: 'c-2' }), { qos: 1 });
      await finals;
      assert.equal(sim.stats.executions.get(`${id}/c-1`), 1, 'c-1 executed exactly once');
      assert.equal(sim.stats.executions.get(`${id}/c-2`), 1);
      assert.equal(sim.stats.commandsRepeated, 1);
      const c1 = answers.filter((a) => a.command_id === 'c-1');
      assert.deepEqual(c1.map((a) => a.status), ['received', 'succeeded', 'succeeded']);
      assert.deepEqual(c1[1].result, { interval_s: 2 });
      const c2 = answers.filter((a) => a.command_id === 'c-2');
      assert.deepEqual(c2.map((a) => a.status), ['received', 'failed']);
      assert.match(String((c2[1].result as { error?: unknown }).error), /unknown command/);
    } finally {
      await operator.endAsync();
      await sim.stop();
    }
  });

  it('sets a will: a device that dies is reported offline, retained', async () => {
    const sim = await startSimulation({ devices: 1, rate: 1, profile: 'sensor', brokerUrl: `mqtt://127.0.0.1:${t.hub.mqttPort}`, idPrefix: 'simt-will' });
    const id = sim.devices[0].id;
    const watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${t.hub.mqttPort}`);
    try {
      await watcher.subscribeAsync(`iot/node/${id}/status`, { qos: 1 });
      // The retained `online` comes first (on subscribe), then the will.
      const [, first] = (await once(watcher as unknown as NodeJS.EventEmitter, 'message')) as [string, Buffer];
      assert.equal(first.toString(), 'online');
      const will = new Promise<string>((resolve) => watcher.on('message', (_t, p) => resolve(p.toString())));
      sim.devices[0].kill();
      assert.equal(await will, 'offline');
      // Retained: whoever subscribes later learns it too.
      const late = await mqtt.connectAsync(`mqtt://127.0.0.1:${t.hub.mqttPort}`);
      const retained = once(late as unknown as NodeJS.EventEmitter, 'message');
      await late.subscribeAsync(`iot/node/${id}/status`, { qos: 1 });
      const [, payload, packet] = (await retained) as [string, Buffer, { retain: boolean }];
      await late.endAsync();
      assert.equal(payload.toString(), 'offline');
      assert.equal(packet.retain, true);
    } finally {
      await watcher.endAsync();
      await sim.stop();
    }
  });

  it('sends events by HTTP with a token, with the same accounting', async () => {
    const token = await t.token('ingest');
    const sim = await startSimulation({ devices: 3, rate: 4, profile: 'energy', durationS: 1.2, http: { url: t.base, token }, idPrefix: 'simt-http' });
    const r = await sim.done;
    assertNothingLost(r);
    assert.equal(r.telemetry.sent, 0, 'no broker, no telemetry');
    assert.deepEqual(await storedRows(t, sim), { events: r.events.acknowledged, readings: 0, status: 0 });
  });
});

describe('simulator against Mosquitto and PostgreSQL', { skip: needsMosquitto }, () => {
  it('zero lost events: rows in the store equal acknowledged', async () => {
    const run = randomBytes(3).toString('hex');
    const prefix = `simt-${run}`;
    const clientId = `telehub-sim-${run}`;
    // Own topics: other telehubs on the shared Mosquitto must not answer these devices.
    const t = await startInProcess('postgres', {
      MQTT_URL: mosquittoUrl!,
      MQTT_CLIENT_ID: clientId,
      MQTT_EVENTS_TOPIC: `${prefix}/+/events`,
      ACK_TEMPLATE: `${prefix}/{device_id}/acks`,
      MQTT_DEADLETTER_TOPIC: `${prefix}/deadletter`,
    });
    const sim = await startSimulation({ devices: 5, rate: 4, profile: 'sensor', durationS: 2, brokerUrl: mosquittoUrl!, idPrefix: prefix, eventsPrefix: prefix });
    try {
      const r = await sim.done;
      assertNothingLost(r);
      // Mosquitto PUBACKs telemetry on receipt, so only the seed-001 events (ACKed after commit) are counted exactly here.
      assert.equal((await storedRows(t, sim)).events, r.events.acknowledged);
    } finally {
      await sim.stop();
      await clearRetained(mosquittoUrl!, sim.devices.map((d) => `iot/node/${d.id}/status`));
      await t.close();
      await clearSession(mosquittoUrl!, clientId);
    }
  });
});

/** Removes the retained status messages the simulated devices left on the shared broker. */
async function clearRetained(url: string, topics: string[]): Promise<void> {
  const c = await mqtt.connectAsync(url);
  for (const topic of topics) await c.publishAsync(topic, '', { qos: 1, retain: true });
  await c.endAsync();
}
