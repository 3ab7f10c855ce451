/**
 * Simulated devices for end-to-end tests: N devices publish seed-001 events
 * at QoS 1 with a share of redelivered ids and of malformed payloads of every
 * reason code, and collect the ACKs and dead letters telehub sends back.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { randomBytes } from 'node:crypto';
import { ALL_REASON_CODES, type ReasonCode } from '../../src/core/errors.js';

export interface Publish {
  device: string;
  topic: string;
  payload: Buffer;
  kind: 'good' | 'dup' | 'bad';
  eventId?: string;
  reason?: ReasonCode;
}

/**
 * Codes one malformed seed-001 MQTT message can cause (store_rejected comes
 * from the store; invalid_line_protocol from the HTTP write API;
 * event_id_conflict needs an earlier event with the same id, see
 * test/e2e/event-id-conflict.test.ts).
 */
export const INPUT_REASON_CODES = ALL_REASON_CODES.filter((c) => c !== 'store_rejected' && c !== 'invalid_line_protocol' && c !== 'event_id_conflict');

export function malformed(reason: ReasonCode, device: string, i: number, maxPayloadBytes = 65536): { topic: string; payload: Buffer } {
  const topic = `qs/v1/${device}/events`;
  const base = { schema: 1, event_id: `${device}-bad-${i}`, device_id: device, event_type: 'temperature' };
  const json = (o: unknown) => Buffer.from(JSON.stringify(o));
  switch (reason) {
    case 'invalid_utf8':
      return { topic, payload: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]) };
    case 'invalid_json':
      return { topic, payload: Buffer.from(`{"schema":1,"event_id":"${device}-${i}"`) };
    case 'not_an_object':
      return { topic, payload: Buffer.from('[1,2,3]') };
    case 'missing_field':
      return { topic, payload: json({ schema: 1, device_id: device, event_type: 't' }) };
    case 'wrong_type':
      return { topic, payload: json({ ...base, event_id: 12345 }) };
    case 'unsupported_schema':
      return { topic, payload: json({ ...base, schema: 2 }) };
    case 'topic_device_mismatch':
      return { topic, payload: json({ ...base, device_id: `${device}-other` }) };
    case 'payload_too_large':
      return { topic, payload: json({ ...base, meta: { pad: 'x'.repeat(maxPayloadBytes) } }) };
    case 'invalid_timestamp':
      return { topic, payload: json({ ...base, ts_device: '2024-02-30T00:00:00Z' }) };
    case 'value_not_finite':
      return { topic, payload: Buffer.from(`{"schema":1,"event_id":"${device}-bad-${i}","device_id":"${device}","event_type":"t","value":1e999}`) };
    case 'meta_too_large':
      return { topic, payload: json({ ...base, meta: { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } } }) };
    case 'field_too_long':
      return { topic, payload: json({ ...base, event_id: 'e'.repeat(129) }) };
    case 'invalid_string':
      return { topic, payload: json({ ...base, event_id: `${device}-nul\u0000-${i}` }) };
    default:
      throw new Error(`no malformed payload for ${reason}`);
  }
}

export function goodEvent(device: string, i: number, runId: string): { eventId: string; payload: Buffer } {
  const eventId = `${runId}-${device}-${i}`;
  const payload = Buffer.from(
    JSON.stringify({ schema: 1, event_id: eventId, device_id: device, event_type: i % 2 ? 'temperature' : 'humidity', value: (i % 500) / 10, unit: 'C', ts_device: new Date(1_700_000_000_000 + i * 1000).toISOString(), meta: { seq: i } }),
  );
  return { eventId, payload };
}

/**
 * Builds `total` publishes over `devices` devices: `dupRate` of them resend an
 * earlier event of the same device, `badRate` are malformed (reason codes in
 * turn), the rest are new events.
 */
export function makeWorkload(opts: { devices: number; total: number; dupRate: number; badRate: number; runId?: string }): Publish[][] {
  const runId = opts.runId ?? randomBytes(4).toString('hex');
  const perDevice: Publish[][] = Array.from({ length: opts.devices }, () => []);
  let badN = 0;
  for (let n = 0; n < opts.total; n++) {
    const d = n % opts.devices;
    const device = `dev-${d}`;
    const list = perDevice[d];
    const goods = list.filter((p) => p.kind === 'good');
    const r = (n * 7919) % 100; // deterministic spread
    if (r < opts.badRate * 100) {
      const reason = INPUT_REASON_CODES[badN++ % INPUT_REASON_CODES.length];
      const m = malformed(reason, device, n);
      list.push({ device, topic: m.topic, payload: m.payload, kind: 'bad', reason });
    } else if (r < (opts.badRate + opts.dupRate) * 100 && goods.length > 0) {
      const orig = goods[(n >> 3) % goods.length];
      list.push({ ...orig, kind: 'dup' });
    } else {
      const g = goodEvent(device, n, runId);
      list.push({ device, topic: `qs/v1/${device}/events`, payload: g.payload, kind: 'good', eventId: g.eventId });
    }
  }
  return perDevice;
}

export interface Collected {
  /** event_id -> statuses of the ACKs received, in order. */
  acks: Map<string, string[]>;
  deadLetters: Array<{ reason: string; topic: string; payload: string; payload_encoding: string }>;
  ackCount(): number;
  /** Event ids whose PUBLISH the broker acknowledged to the device (PUBACK received). */
  pubacked: Set<string>;
}

export interface Fleet {
  collected: Collected;
  /** Publishes every device's list (bounded window per device); resolves when the broker acknowledged all. */
  publishAll(lists: Publish[][], window?: number, timeoutMs?: number): Promise<{ pubacked: number; failed: number }>;
  waitFor(cond: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Connects one MQTT client per device (subscribed to its ACK topic) plus a dead-letter observer. */
export async function connectFleet(url: string, devices: number, opts: { protocolVersion?: 4 | 5; idPrefix?: string } = {}): Promise<Fleet> {
  const acks = new Map<string, string[]>();
  const deadLetters: Collected['deadLetters'] = [];
  let ackTotal = 0;
  const pubackedIds = new Set<string>();
  const prefix = opts.idPrefix ?? `t-${randomBytes(3).toString('hex')}`;
  const clients: MqttClient[] = [];
  const observer = await mqtt.connectAsync(url, { clientId: `${prefix}-observer`, protocolVersion: opts.protocolVersion ?? 4, reconnectPeriod: 200 });
  await observer.subscribeAsync('qs/v1/deadletter', { qos: 1 });
  observer.on('message', (_t, p) => deadLetters.push(JSON.parse(p.toString())));
  await Promise.all(
    Array.from({ length: devices }, async (_, d) => {
      const c = await mqtt.connectAsync(url, { clientId: `${prefix}-dev-${d}`, protocolVersion: opts.protocolVersion ?? 4, reconnectPeriod: 200, clean: true });
      await c.subscribeAsync(`qs/v1/dev-${d}/acks`, { qos: 1 });
      c.on('message', (_t, p) => {
        const a = JSON.parse(p.toString()) as { event_id: string; status: string };
        const list = acks.get(a.event_id);
        if (list) list.push(a.status);
        else acks.set(a.event_id, [a.status]);
        ackTotal++;
      });
      clients[d] = c;
    }),
  );

  const waitFor = async (cond: () => boolean, what: string, timeoutMs = 60_000) => {
    const end = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  return {
    collected: { acks, deadLetters, ackCount: () => ackTotal, pubacked: pubackedIds },
    waitFor,
    async publishAll(lists, window = 50, timeoutMs = 120_000) {
      let pubacked = 0;
      let failed = 0;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`publishing did not finish in ${timeoutMs} ms (${pubacked} PUBACKs)`)), timeoutMs);
        timer.unref();
      });
      const all = Promise.all(
        lists.map(async (list, d) => {
          const c = clients[d];
          let next = 0;
          const worker = async () => {
            while (next < list.length) {
              const p = list[next++];
              try {
                await c.publishAsync(p.topic, p.payload, { qos: 1 });
                pubacked++;
                if (p.eventId) pubackedIds.add(p.eventId);
              } catch {
                failed++;
              }
            }
          };
          // Several workers per device keep `window` publishes in flight, in order of issue.
          await Promise.all(Array.from({ length: Math.min(window, list.length) }, worker));
        }),
      );
      try {
        await Promise.race([all, timeout]);
      } finally {
        clearTimeout(timer);
      }
      return { pubacked, failed };
    },
    async close() {
      await Promise.all([...clients.map((c) => c.endAsync(true)), observer.endAsync(true)]);
    },
  };
}

/** Expected outcome of a workload: distinct good ids, duplicate resends, malformed by reason. */
export function expectations(lists: Publish[][]) {
  const goodIds = new Set<string>();
  const publishesPerId = new Map<string, number>();
  const badByReason = new Map<string, number>();
  let bad = 0;
  for (const list of lists) {
    for (const p of list) {
      if (p.kind === 'bad') {
        bad++;
        badByReason.set(p.reason!, (badByReason.get(p.reason!) ?? 0) + 1);
      } else {
        goodIds.add(p.eventId!);
        publishesPerId.set(p.eventId!, (publishesPerId.get(p.eventId!) ?? 0) + 1);
      }
    }
  }
  const dups = [...publishesPerId.values()].reduce((a, b) => a + b, 0) - goodIds.size;
  return { goodIds, publishesPerId, badByReason, bad, dups };
}
