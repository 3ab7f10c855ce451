/**
 * Where node status messages reach the dispatcher until the device
 * registry's status route (issue 9, "Devices and presence") offers a
 * listener: `iot/node/{id}/status` from the embedded broker (its onPublish
 * seam) or, with an external broker, from a small MQTT.js subscriber of
 * our own. Only command answers are acted on here; node health is left to
 * the registry.
 *
 * The external subscriber uses a clean session: an answer published while
 * telehub is down is not kept for it, and the command is then resent after
 * the restart; a node that dedupes by command_id answers the resend again
 * with its stored result (docs/devices.md).
 */
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import type { Logger } from 'pino';
import type { ExternalMqttConfig } from '../core/config.js';

export const STATUS_FILTER = 'iot/node/+/status';

/** The device of an `iot/node/{id}/status` topic, or undefined. */
export function statusDeviceOf(topic: string): string | undefined {
  const parts = topic.split('/');
  return parts.length === 4 && parts[0] === 'iot' && parts[1] === 'node' && parts[3] === 'status' && parts[2] !== '' ? parts[2] : undefined;
}

/** Decodes a status payload; status strings such as `online` and invalid JSON give undefined. */
export function decodeStatus(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

export type StatusHandler = (deviceId: string, message: unknown) => void;

/** Adapts a (topic, payload) callback to a StatusHandler. */
export const onStatusBytes =
  (handler: StatusHandler) =>
  (topic: string, payload: Buffer): void => {
    const device = statusDeviceOf(topic);
    if (device === undefined) return;
    const message = decodeStatus(payload);
    if (message !== undefined) handler(device, message);
  };

/** Subscribes to node status on an external broker; resolves once subscribed. */
export async function externalStatusInput(cfg: ExternalMqttConfig, handler: StatusHandler, log: Logger): Promise<{ close(): Promise<void> }> {
  const client = await mqtt.connectAsync(cfg.url, {
    clientId: `${cfg.clientId}-commands`,
    clean: true,
    username: cfg.username,
    password: cfg.password,
    ca: cfg.caFile ? readFileSync(cfg.caFile) : undefined,
    cert: cfg.certFile ? readFileSync(cfg.certFile) : undefined,
    key: cfg.keyFile ? readFileSync(cfg.keyFile) : undefined,
    protocolVersion: cfg.protocolVersion,
    reconnectPeriod: 1000,
  });
  const bytes = onStatusBytes(handler);
  client.on('message', (topic, payload) => bytes(topic, payload));
  client.on('error', (err) => log.warn({ err: err.message }, 'Command status subscriber error.'));
  await client.subscribeAsync(STATUS_FILTER, { qos: 1 });
  return { close: () => client.endAsync() };
}
