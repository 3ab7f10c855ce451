/**
 * The trip engine on one core from stored events (the rebuild path): events/s
 * of computeTrips over a synthetic day of one car (1 Hz, speed + odometer +
 * position per second, stops and parks between drives). Run:
 * `npx tsx bench/trips-engine.ts [seconds-of-data]`. Prints one JSON line.
 */
import type { TelemetryEvent } from '../src/core/event.js';
import { computeTrips, DEFAULT_TRIP_SETTINGS } from '../src/trips/index.js';

const seconds = Number(process.argv[2] ?? 100_000);
const t0 = Date.UTC(2024, 1, 10);
const events: TelemetryEvent[] = [];
let odo = 1000;
let lon = 11.5;
for (let k = 0; k < seconds; k++) {
  // 20 min drives at 30–70 km/h with a 1 min light every 5 min, then a 15 min park.
  const phase = k % 2100;
  const kmh = phase >= 1200 || phase % 300 >= 240 ? 0 : 30 + ((k * 7) % 40);
  odo += kmh / 3600;
  lon += kmh / 3600 / 74;
  const ts = t0 + k * 1000;
  const base = { deviceId: 'car-1', schema: 1, valueText: null, tsDevice: ts, tsServer: ts };
  events.push({ ...base, eventId: `s${k}`, eventType: 'speed', valueNum: kmh, unit: 'km/h', meta: '{}' });
  events.push({ ...base, eventId: `o${k}`, eventType: 'odometer', valueNum: odo, unit: 'km', meta: '{}' });
  events.push({ ...base, eventId: `p${k}`, eventType: 'position', valueNum: null, unit: null, meta: `{"latitude":48.1,"longitude":${lon.toFixed(6)}}` });
}
computeTrips(events.slice(0, 30_000), DEFAULT_TRIP_SETTINGS, t0); // warm-up
const runs = 5;
const started = process.hrtime.bigint();
let trips = 0;
for (let r = 0; r < runs; r++) trips = computeTrips(events, DEFAULT_TRIP_SETTINGS, t0 + seconds * 1000 + 86_400_000).trips.length;
const ms = Number(process.hrtime.bigint() - started) / 1e6 / runs;
console.log(JSON.stringify({ bench: 'trips-engine', events: events.length, trips, ms: Math.round(ms), eventsPerSecond: Math.round(events.length / (ms / 1000)) }));
