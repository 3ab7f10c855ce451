/**
 * The load generators. Two transports share the bookkeeping in fleet.ts:
 *
 *   lean    (default) lean-device.ts: one raw TCP socket per device speaking
 *           MQTT 3.1.1 via mqtt-packet, every PUBLISH encoded before the clock
 *           starts, one write per window refill. Cheap on the bench's CPU.
 *   mqttjs  this file: one MQTT.js connection per device, one
 *           `client.publish` per event. The original generator; it costs the
 *           bench process several times the CPU of `lean`.
 *
 * Either way: D devices, each subscribed at QoS 1 to its own ACK topic and
 * publishing seed-001 events at QoS 1 to its events topic. A device does not
 * wait for each ACK: it keeps up to `window` events published and not yet
 * answered (by the telehub-level ACK message, not the MQTT PUBACK, which a
 * broker like Mosquitto sends at once), so the offered load is high but
 * bounded (D x window events in flight at most).
 */
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { eventPayload, FleetBase, type BaseDevice, type Fleet, type LoadOptions } from './fleet.js';
import { LeanFleet } from './lean-device.js';

export type { Fleet, LoadOptions, LoadResult } from './fleet.js';

export const GENERATORS = ['lean', 'mqttjs'] as const;
export type Generator = (typeof GENERATORS)[number];

export const GENERATOR_LABEL: Record<Generator, string> = {
  lean: 'lean (raw TCP sockets + mqtt-packet, pre-encoded PUBLISHes)',
  mqttjs: 'mqttjs (MQTT.js clients)',
};

export function createFleet(generator: Generator, o: LoadOptions): Fleet {
  return generator === 'lean' ? new LeanFleet(o) : new MqttJsFleet(o);
}

interface MqttJsDevice extends BaseDevice {
  client: MqttClient;
}

/** The MQTT.js generator (BENCH_CLIENT=mqttjs). */
export class MqttJsFleet extends FleetBase<MqttJsDevice> {
  constructor(o: LoadOptions) {
    super(o);
  }

  async connect(): Promise<void> {
    const pending: Array<Promise<void>> = [];
    for (const p of this.plan()) {
      const id = p.id;
      const client = mqtt.connect(this.o.url, { clientId: id, clean: true, reconnectPeriod: 0, connectTimeout: 10_000, keepalive: 60 });
      const d: MqttJsDevice = { ...p, client };
      this.devices.push(d);
      client.on('message', (topic, payload) => this.onAck(d, topic, payload));
      client.on('error', (err) => this.abort(new Error(`device ${id}: ${err.message}`)));
      client.on('close', () => {
        if (this.running) this.abort(new Error(`device ${id}: connection closed during the run`));
      });
      pending.push(
        new Promise<void>((resolve, reject) => {
          client.once('error', reject);
          client.once('connect', () => {
            client.subscribe(d.ackTopic, { qos: 1 }, (err, granted) => {
              if (err) return reject(err);
              if (!granted || granted[0]?.qos !== 1) return reject(new Error(`device ${id}: ACK subscription not granted at QoS 1 (${JSON.stringify(granted)})`));
              resolve();
            });
          });
        }),
      );
    }
    await Promise.all(pending);
  }

  async close(): Promise<void> {
    this.running = false;
    await Promise.all(
      this.devices.map(
        (d) =>
          new Promise<void>((resolve) => {
            d.client.removeAllListeners('close');
            d.client.end(true, {}, () => resolve());
          }),
      ),
    );
  }

  protected startSending(): void {
    for (const d of this.devices) this.fill(d);
  }

  private fill(d: MqttJsDevice): void {
    while (d.inflight < this.o.window && d.next < d.end) {
      const gi = d.next++;
      d.inflight++;
      const payload = eventPayload(this.eventId(gi), d.id, gi);
      this.sentAt[gi] = performance.now();
      d.client.publish(d.eventsTopic, payload, { qos: 1 }, (err) => {
        if (err) this.abort(new Error(`device ${d.id}: publish failed: ${err.message}`));
      });
    }
  }

  private onAck(d: MqttJsDevice, topic: string, payload: Buffer): void {
    if (this.acceptAck(d, topic, payload, performance.now())) this.fill(d);
  }
}
