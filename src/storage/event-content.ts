/**
 * When is an event that reuses a stored `event_id` the same event (a
 * redelivery, answered `duplicate`) and when is it another one (a `conflict`,
 * dead-lettered as `event_id_conflict`)?
 *
 * Same content means equal in every field the device sent: device_id,
 * schema, event_type, value (value_num and value_text), unit, ts_device and
 * meta. `ts_server` does not count: it is telehub's receive time and differs
 * on every redelivery. `meta` is compared as JSON values (key order and
 * formatting do not count), since PostgreSQL keeps it as jsonb and returns it
 * reformatted; numbers compare as doubles, so `0` and `-0` are equal.
 *
 * Both stores run this one function, the SQLite writer thread from its source
 * text (so it must stay self-contained: no imports, no outer variables).
 */
import type { TelemetryEvent } from '../core/event.js';

/** The fields of an event that decide whether two events with one id are the same. */
export type EventContent = Pick<TelemetryEvent, 'deviceId' | 'schema' | 'eventType' | 'valueNum' | 'valueText' | 'unit' | 'tsDevice' | 'meta'>;

/**
 * The names (as in the device's JSON) of the fields where `incoming` differs
 * from `stored`; empty when they are the same event.
 *
 * @example
 * differingFields(stored, { ...stored, deviceId: 'esp32-02' }) // ['device_id']
 */
export function differingFields(stored: EventContent, incoming: EventContent): string[] {
  const out: string[] = [];
  if (stored.deviceId !== incoming.deviceId) out.push('device_id');
  if (stored.schema !== incoming.schema) out.push('schema');
  if (stored.eventType !== incoming.eventType) out.push('event_type');
  // `===` on numbers: 0 and -0 are equal; NaN never reaches a store (the codecs refuse it).
  if (stored.valueNum !== incoming.valueNum || stored.valueText !== incoming.valueText) out.push('value');
  if (stored.unit !== incoming.unit) out.push('unit');
  if (stored.tsDevice !== incoming.tsDevice) out.push('ts_device');
  if (stored.meta !== incoming.meta) {
    // Different text may still be the same JSON value: compare structurally,
    // with an explicit stack (no inner functions: see the note above).
    let same = true;
    try {
      const stack: unknown[][] = [[JSON.parse(stored.meta || '{}'), JSON.parse(incoming.meta || '{}')]];
      while (same && stack.length > 0) {
        const [a, b] = stack.pop()!;
        if (a === b) continue;
        if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) !== Array.isArray(b)) {
          same = false;
        } else if (Array.isArray(a)) {
          const bb = b as unknown[];
          if (a.length !== bb.length) same = false;
          else for (let i = 0; i < a.length; i++) stack.push([a[i], bb[i]]);
        } else {
          const ao = a as Record<string, unknown>;
          const bo = b as Record<string, unknown>;
          const keys = Object.keys(ao);
          if (keys.length !== Object.keys(bo).length) same = false;
          else for (const k of keys) {
            if (!Object.prototype.hasOwnProperty.call(bo, k)) {
              same = false;
              break;
            }
            stack.push([ao[k], bo[k]]);
          }
        }
      }
    } catch {
      same = false;
    }
    if (!same) out.push('meta');
  }
  return out;
}
