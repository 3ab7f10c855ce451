/**
 * Thresholds per fleet and per vehicle: the config file's `trips:` section
 * (docs/trips.md, docs/configuration.md). Its top-level keys replace the
 * TELEHUB_TRIP_* settings for every vehicle (the fleet default); a
 * `vehicles:` entry replaces some of them again for the vehicles its `id`
 * names (an exact id, or a pattern with `*`; the first entry that matches
 * wins). Unknown keys are refused with their path, like every section.
 *
 * @example
 * // trips:
 * //   idle_timeout: 4m
 * //   vehicles:
 * //     - { id: taxi-*, resume_window: 2m }
 * //     - { id: van-7, speed_threshold: 8, min_trip_distance: 0.5 }
 * const settingsFor = tripSettingsResolver(fleetFromEnv, checkTripsSection(doc.trips, 'trips', problems));
 * settingsFor('van-7').speedThresholdKmh; // 8
 */
import { parseDuration } from '../alerts/rules.js';
import type { TripSettings } from './settings.js';

/** Some thresholds, as a section or a vehicle entry gives them. */
export type TripOverrides = Partial<TripSettings>;

/** The `trips:` section, validated. */
export interface FileTrips {
  /** Fleet default: replaces the TELEHUB_TRIP_* values for every vehicle. */
  fleet: TripOverrides;
  /** Per vehicle, in file order (the first match wins). */
  vehicles: Array<{ id: string; overrides: TripOverrides }>;
}

/** A vehicle's thresholds (defaults, fleet and its own entry merged). */
export type TripSettingsFor = (deviceId: string) => TripSettings;

interface KeySpec {
  key: string;
  field: keyof TripSettings;
  kind: 'number' | 'duration';
  min: number;
  max: number;
  description: string;
}

/** Keys that may be given for the fleet and per vehicle. */
export const TRIP_THRESHOLD_KEYS: readonly KeySpec[] = [
  { key: 'speed_threshold', field: 'speedThresholdKmh', kind: 'number', min: 0, max: 100, description: 'km/h: a point faster than this is moving.' },
  { key: 'idle_timeout', field: 'idleTimeoutMs', kind: 'duration', min: 1000, max: 86_400_000, description: 'Stopped (or silent) this long: the trip is Paused.' },
  { key: 'resume_window', field: 'resumeWindowMs', kind: 'duration', min: 0, max: 86_400_000, description: 'A Paused trip that moves again within this stays one trip.' },
  { key: 'min_trip_distance', field: 'minDistanceKm', kind: 'number', min: 0, max: 1000, description: 'km: a shorter segment is not a trip.' },
  { key: 'min_trip_duration', field: 'minDurationMs', kind: 'duration', min: 0, max: 86_400_000, description: 'A shorter segment is not a trip.' },
  { key: 'max_plausible_speed', field: 'maxPlausibleSpeedKmh', kind: 'number', min: 1, max: 2000, description: 'km/h: a GPS fix or odometer step implying more is a glitch.' },
];

/** Every key of the section (the top level and a `vehicles:` entry), for the docs test. */
export const TRIPS_SECTION_KEYS = [...TRIP_THRESHOLD_KEYS.map((k) => k.key), 'vehicles', 'id'] as const;

const isMapping = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function unknownKey(at: string, known: readonly string[]): string {
  return `${at}: unknown key; known here: ${known.join(', ')}`;
}

/** Reads the thresholds of one mapping (the section or a vehicle entry); other keys are the caller's. */
function readThresholds(o: Record<string, unknown>, path: string, problems: string[], allowed: readonly string[]): TripOverrides {
  const out: TripOverrides = {};
  for (const [k, v] of Object.entries(o)) {
    const spec = TRIP_THRESHOLD_KEYS.find((s) => s.key === k);
    if (spec === undefined) {
      if (!allowed.includes(k)) problems.push(unknownKey(`${path}.${k}`, [...TRIP_THRESHOLD_KEYS.map((s) => s.key), ...allowed]));
      continue;
    }
    const at = `${path}.${k}`;
    if (spec.kind === 'duration') {
      const ms = parseDuration(v);
      if (ms === undefined || ms < spec.min || ms > spec.max) {
        problems.push(`${at}: must be a duration from ${spec.min / 1000}s to 1d, such as 90s or 5m (or a number of seconds), got ${JSON.stringify(v)}`);
        continue;
      }
      out[spec.field] = ms;
    } else {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < spec.min || v > spec.max) {
        problems.push(`${at}: must be a number from ${spec.min} to ${spec.max}, got ${JSON.stringify(v)}`);
        continue;
      }
      out[spec.field] = v;
    }
  }
  return out;
}

/** Validates `trips:`; problems name their path (`trips.vehicles[1].idle_timout: unknown key …`). */
export function checkTripsSection(value: unknown, path: string, problems: string[]): FileTrips {
  const out: FileTrips = { fleet: {}, vehicles: [] };
  if (!isMapping(value)) {
    problems.push(`${path}: must be a mapping (${TRIP_THRESHOLD_KEYS.map((k) => k.key).join(', ')}, vehicles)`);
    return out;
  }
  out.fleet = readThresholds(value, path, problems, ['vehicles']);
  const vehicles = value.vehicles;
  if (vehicles === undefined) return out;
  if (!Array.isArray(vehicles)) {
    problems.push(`${path}.vehicles: must be a list of {id, thresholds…}`);
    return out;
  }
  const seen = new Set<string>();
  vehicles.forEach((item, i) => {
    const at = `${path}.vehicles[${i}]`;
    if (!isMapping(item)) {
      problems.push(`${at}: must be a mapping with id and some of ${TRIP_THRESHOLD_KEYS.map((k) => k.key).join(', ')}`);
      return;
    }
    const before = problems.length;
    const overrides = readThresholds(item, at, problems, ['id']);
    const id = item.id;
    if (typeof id !== 'string' || id === '') problems.push(`${at}.id: must be a non-empty string (a vehicle id, or a pattern with *)`);
    else if (seen.has(id)) problems.push(`${at}.id: ${id} is listed twice`);
    if (problems.length > before) return;
    seen.add(id as string);
    out.vehicles.push({ id: id as string, overrides });
  });
  return out;
}

function matcher(pattern: string): (id: string) => boolean {
  if (!pattern.includes('*')) return (id) => id === pattern;
  const re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
  return (id) => re.test(id);
}

/**
 * The thresholds of each vehicle: `base` (the settings), then the file's
 * fleet default, then the first `vehicles:` entry that names it. Results are
 * cached per vehicle (the processor asks on every batch).
 */
export function tripSettingsResolver(base: TripSettings, file: FileTrips | undefined): TripSettingsFor {
  const fleet: TripSettings = { ...base, ...file?.fleet };
  const entries = (file?.vehicles ?? []).map((v) => ({ match: matcher(v.id), settings: { ...fleet, ...v.overrides } as TripSettings }));
  if (entries.length === 0) return () => fleet;
  const cache = new Map<string, TripSettings>();
  return (deviceId) => {
    let s = cache.get(deviceId);
    if (s === undefined) {
      s = entries.find((e) => e.match(deviceId))?.settings ?? fleet;
      if (cache.size > 100_000) cache.clear();
      cache.set(deviceId, s);
    }
    return s;
  };
}
