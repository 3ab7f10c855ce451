/**
 * A car's samples on the wire (docs/trips.md "Reporting car telemetry"): the
 * compact record of `fleet/v1/{id}/telemetry`, or seed-001 events (MQTT
 * `qs/v1/{id}/events` or HTTP `POST /ingest`) with deterministic ids, so a
 * record sent twice is answered `duplicate`.
 */
import type { CarSample } from './plan.js';

/** The compact record of one sample (`ts` ISO-8601). */
export function compactRecord(s: CarSample): Record<string, unknown> {
  const { ts, ...rest } = s;
  return { ts: new Date(ts).toISOString(), ...rest };
}

/** A message's payload: one record, or an array of them (a flush). */
export function compactPayload(samples: readonly CarSample[]): string {
  return samples.length === 1 ? JSON.stringify(compactRecord(samples[0])) : JSON.stringify(samples.map(compactRecord));
}

const UNITS: Readonly<Record<string, string | undefined>> = { speed: 'km/h', rpm: 'rpm', odometer: 'km', coolant_temp: 'C', fuel_level: '%' };

/** One sample as seed-001 events: one per quantity, `position` carrying latitude/longitude/heading in meta. */
export function seed001Events(deviceId: string, s: CarSample): Array<Record<string, unknown>> {
  const ts = new Date(s.ts).toISOString();
  const id = (type: string) => `${deviceId}-${s.ts}-${type}`;
  const out: Array<Record<string, unknown>> = [];
  for (const type of ['speed', 'rpm', 'odometer', 'coolant_temp', 'fuel_level'] as const) {
    const v = s[type];
    if (v !== undefined) out.push({ schema: 1, event_id: id(type), device_id: deviceId, event_type: type, value: v, unit: UNITS[type], ts_device: ts });
  }
  if (s.ignition !== undefined) out.push({ schema: 1, event_id: id('ignition'), device_id: deviceId, event_type: 'ignition', value: s.ignition ? 1 : 0, ts_device: ts });
  if (s.lat !== undefined && s.lon !== undefined) {
    out.push({ schema: 1, event_id: id('position'), device_id: deviceId, event_type: 'position', ts_device: ts, meta: { latitude: s.lat, longitude: s.lon, heading: s.heading } });
  }
  return out;
}
