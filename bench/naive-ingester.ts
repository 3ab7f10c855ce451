/**
 * The baseline of the benchmark (mode c): a naive ingester written the way
 * the seed's Python ingester works, one message at a time.
 *
 * It subscribes with MQTT.js to `qs/v1/+/events` at QoS 1 and, for each
 * message, in MQTT.js's normal `handleMessage` flow: decodes it, runs ONE
 * `INSERT ... ON CONFLICT DO NOTHING` (pg Client, autocommit), publishes ONE
 * ACK, and only then calls back, so MQTT.js sends the PUBACK after the
 * insert and reads the next message. No batching, no pipelining.
 *
 * Env: NAIVE_MQTT_URL, NAIVE_DATABASE_URL, NAIVE_CLIENT_ID (optional).
 * Prints `ready` on stdout once subscribed. Stops on SIGTERM/SIGINT.
 *
 *   NAIVE_MQTT_URL=mqtt://127.0.0.1:1883 NAIVE_DATABASE_URL=postgres://... node --import tsx bench/naive-ingester.ts
 */
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import pg from 'pg';
import { MIGRATIONS } from '../src/storage/migrations/index.js';

const mqttUrl = process.env.NAIVE_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const dbUrl = process.env.NAIVE_DATABASE_URL;
if (!dbUrl) {
  process.stderr.write('naive-ingester: NAIVE_DATABASE_URL is required\n');
  process.exit(2);
}

// The same events table telehub creates (seed 001's columns and indexes).
const CREATE = MIGRATIONS[0].postgres;

const INSERT = `INSERT INTO events (event_id, device_id, schema, event_type, value_num, value_text, unit, ts_device, meta)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_id) DO NOTHING`;

const db = new pg.Client({ connectionString: dbUrl });
db.on('error', (err) => {
  process.stderr.write(`naive-ingester: database error: ${err.message}\n`);
  process.exit(1);
});
await db.connect();
await db.query(CREATE);

const client = mqtt.connect(mqttUrl, {
  clientId: process.env.NAIVE_CLIENT_ID ?? `naive-ingester-${randomBytes(4).toString('hex')}`,
  clean: true,
  reconnectPeriod: 1000,
});

let stored = 0;
let duplicates = 0;
let rejected = 0;

client.handleMessage = (packet, callback) => {
  handle(packet.topic, packet.payload as Buffer).then(
    () => callback(),
    (err: Error) => {
      process.stderr.write(`naive-ingester: ${err.message}\n`);
      callback(); // like the seed: log and move on (the message is acknowledged)
    },
  );
};

async function handle(topic: string, payload: Buffer): Promise<void> {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(payload.toString('utf8'));
  } catch {
    rejected++;
    return;
  }
  const deviceId = e.device_id;
  if (typeof e.event_id !== 'string' || typeof deviceId !== 'string' || typeof e.event_type !== 'string' || topic.split('/')[2] !== deviceId) {
    rejected++;
    return;
  }
  const value = e.value;
  const r = await db.query(INSERT, [
    e.event_id,
    deviceId,
    typeof e.schema === 'number' ? e.schema : 1,
    e.event_type,
    typeof value === 'number' ? value : null,
    typeof value === 'string' ? value : null,
    typeof e.unit === 'string' ? e.unit : null,
    typeof e.ts_device === 'string' ? e.ts_device : null,
    JSON.stringify(e.meta ?? {}),
  ]);
  const status = r.rowCount === 1 ? 'stored' : 'duplicate';
  if (status === 'stored') stored++;
  else duplicates++;
  const ack = JSON.stringify({ schema: 1, event_id: e.event_id, device_id: deviceId, status });
  client.publish(`qs/v1/${deviceId}/acks`, ack, { qos: 1 });
}

client.on('connect', () => {
  client.subscribe('qs/v1/+/events', { qos: 1 }, (err) => {
    if (err) {
      process.stderr.write(`naive-ingester: subscribe failed: ${err.message}\n`);
      process.exit(1);
    }
    process.stdout.write('ready\n');
  });
});
client.on('error', (err) => process.stderr.write(`naive-ingester: mqtt error: ${err.message}\n`));

let stopping = false;
const stop = () => {
  if (stopping) process.exit(1);
  stopping = true;
  process.stdout.write(`stopping: stored ${stored}, duplicate ${duplicates}, rejected ${rejected}\n`);
  client.end(false, {}, () => {
    db.end().finally(() => process.exit(0));
  });
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
