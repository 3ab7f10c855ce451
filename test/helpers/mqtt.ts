/**
 * The real Mosquitto for tests that need it: TELEHUB_TEST_MQTT_URL (CI sets it
 * to a Mosquitto run with deploy/mosquitto/mosquitto.conf, see .ci/run).
 * Unset: those tests are skipped, and say so; in CI they fail instead (see skip.ts).
 */
import mqtt from 'mqtt';
import { skipUnless } from './skip.js';

export const mosquittoUrl = process.env.TELEHUB_TEST_MQTT_URL;

/** Pass to `describe`/`it` options: skips with a clear reason when Mosquitto is not configured. */
export const needsMosquitto = skipUnless(
  mosquittoUrl !== undefined && mosquittoUrl !== '',
  'needs a real Mosquitto; set TELEHUB_TEST_MQTT_URL (e.g. mqtt://127.0.0.1:1883) to run it',
);

if (!mosquittoUrl && process.env.TELEHUB_TEST_QUIET !== '1') {
  process.stderr.write('# Mosquitto tests skipped: TELEHUB_TEST_MQTT_URL is not set\n');
}

/**
 * Removes a persistent session from the broker (so a test's queue does not
 * live on in the shared Mosquitto): connect with the same id and a clean
 * start and no expiry, then disconnect.
 */
export async function clearSession(url: string, clientId: string): Promise<void> {
  const c = await mqtt.connectAsync(url, { clientId, clean: true, protocolVersion: 5, properties: { sessionExpiryInterval: 0 }, reconnectPeriod: 0 });
  await c.endAsync();
}

/**
 * Settings that move a telehub's built-in node and car routes under
 * `prefix`, for tests that count every row on the shared Mosquitto: other
 * tests publish seed-003 telemetry and status (`iot/node/…`) there, which
 * every telehub with the default routes would store too.
 */
export function ownDefaultRoutes(prefix: string): Record<string, string> {
  return {
    TELEHUB_NODE_TELEMETRY_TOPIC: `${prefix}/iot/node/+/telemetry`,
    TELEHUB_NODE_STATUS_TOPIC: `${prefix}/iot/node/+/status`,
    TELEHUB_CAR_TELEMETRY_TOPIC: `${prefix}/fleet/v1/+/telemetry`,
  };
}
