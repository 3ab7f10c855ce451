import type { DeadLetter } from '../core/event.js';

/** Makes a string storable in any store: no NUL, no lone surrogates, bounded. */
function clean(s: string, max: number): string {
  const t = s.length > max ? s.slice(0, max) : s;
  return t.toWellFormed().replace(/\u0000/g, '\uFFFD');
}

/**
 * Builds a dead letter whose text fields are safe to store: topics and
 * device ids come from the wire and may hold anything, and a dead letter
 * that cannot itself be stored would be lost.
 */
export function makeDeadLetter(d: DeadLetter): DeadLetter {
  return {
    ...d,
    message: clean(d.message, 2048),
    topic: clean(d.topic, 1024),
    deviceId: d.deviceId === null ? null : clean(d.deviceId, 256),
  };
}
