/**
 * `trips`: cars' trips, kept from the commit log (docs/trips.md). For each
 * vehicle a batch of entries touches (events the engine reads, with device
 * time no older than the lateness setting), it resumes the vehicle's stored
 * engine state with the new events when they are all in order after it
 * (incremental.ts), else recomputes the affected window of that vehicle from
 * the stored events (recompute.ts); it writes the changed trips and the new
 * engine state in the transaction that moves its checkpoint. Everything it decides comes
 * from stored events, never from the order they arrived in, so a rebuild
 * gives what live processing gave.
 *
 * A trip in progress ends by the clock too: `expireTrips` (run every
 * TELEHUB_TRIP_TICK_S by telehub start) closes trips whose last moving point
 * is idle_timeout + resume_window ago, and drops those too short to count.
 */
import type { Dialect, Processor } from '../../log/processor.js';
import type { LogEntry, ProcessorStatement, ProcessorStore } from '../../storage/log.js';
import type { TripInputEvent, TripSettings } from '../../trips/index.js';
import type { TripSettingsFor } from '../../trips/config.js';
import { applyIncrementally, stateAfterRecompute } from './incremental.js';
import { recomputeVehicle } from './recompute.js';
import { deleteEngineState, deleteTrip, hasEventsAfter, readEngineStates, TRIP_EVENT_TYPES, tripSql } from './sql.js';

export const TRIPS = 'trips';

export interface TripsOptions {
  /** The fleet's thresholds. */
  settings: TripSettings;
  /** A vehicle's thresholds (the config file's `trips.vehicles`); default: `settings` for all. */
  settingsFor?: TripSettingsFor;
  /** ms: data older than this by device time (against the clock) no longer changes trips live. */
  latenessMs: number;
  /** The clock (tests move it). */
  now?: () => number;
  /** false: always recompute windows from stored events (the behaviour before the incremental engine; for benches). */
  incremental?: boolean;
}

const TYPES = new Set<string>(TRIP_EVENT_TYPES);

/** Per vehicle, the device-time span of the new entries the engine reads, and those events. */
export function touchedVehicles(entries: readonly LogEntry[], notBefore: number): Map<string, { min: number; max: number; events: TripInputEvent[] }> {
  const out = new Map<string, { min: number; max: number; events: TripInputEvent[] }>();
  for (const entry of entries) {
    if (entry.kind !== 'event') continue;
    const e = entry.event;
    if (e.tsDevice === null || !TYPES.has(e.eventType) || e.tsDevice < notBefore) continue;
    const span = out.get(e.deviceId);
    if (span === undefined) out.set(e.deviceId, { min: e.tsDevice, max: e.tsDevice, events: [e] });
    else {
      if (e.tsDevice < span.min) span.min = e.tsDevice;
      if (e.tsDevice > span.max) span.max = e.tsDevice;
      span.events.push(e);
    }
  }
  return out;
}

/** How batches were applied (for tests and benches): incrementally from the stored state, or by the windowed recompute. */
export interface TripsCounters {
  incremental: number;
  recomputed: number;
}

/** The processor; it reads the store (`processors`) to recompute windows. */
export function tripsProcessor(processors: ProcessorStore, opts: TripsOptions, counters?: TripsCounters): Processor {
  const clock = opts.now ?? Date.now;
  const settingsFor = opts.settingsFor ?? (() => opts.settings);
  const select = (sql: string, params: unknown[]) => processors.select(sql, params);
  return {
    name: TRIPS,
    tables: ['trips', 'trip_engine_state'],
    async apply(entries: readonly LogEntry[], dialect: Dialect): Promise<ProcessorStatement[]> {
      const now = clock();
      const out: ProcessorStatement[] = [];
      const touched = touchedVehicles(entries, now - opts.latenessMs);
      // Events committed later than this batch are left to later batches (the state built below must not run ahead of them).
      const maxSeq = entries.length === 0 ? 0 : entries[entries.length - 1].seq;
      // One read for the engine states of every vehicle in the batch.
      const states = await readEngineStates(dialect, select, [...touched.keys()]);
      for (const [deviceId, span] of touched) {
        const s = settingsFor(deviceId);
        const inc = opts.incremental === false ? undefined : applyIncrementally(dialect, deviceId, states.get(deviceId), span.events, s, now);
        if (inc !== undefined) {
          if (counters) counters.incremental++;
          out.push(...inc.statements);
          continue;
        }
        if (counters) counters.recomputed++;
        // New points can join or split trips up to idle_timeout + resume_window away.
        const reach = s.idleTimeoutMs + s.resumeWindowMs;
        const r = await recomputeVehicle(dialect, processors, deviceId, span.min - reach, span.max + reach, s, now, maxSeq);
        out.push(...r.statements);
        const reachesEnd = !(await hasEventsAfter(dialect, select, deviceId, r.readTo, maxSeq));
        out.push(stateAfterRecompute(dialect, deviceId, r, reachesEnd, s, now));
      }
      return out;
    },
  };
}

/**
 * Ends in-progress trips the clock has ended (no data came): closed with
 * version + 1, or deleted when too short to be a trip, each by its vehicle's
 * thresholds. Runs in a transaction guarded by the processor's checkpoint
 * (moved to where it is), so it never interleaves with an apply (which would
 * move the checkpoint and make this commit fail). Returns false when the
 * processor moved meanwhile (the next tick tries again).
 */
export async function expireTrips(kind: Dialect, processors: ProcessorStore, settingsFor: TripSettingsFor | TripSettings, now: number): Promise<boolean> {
  const forVehicle = typeof settingsFor === 'function' ? settingsFor : () => settingsFor;
  const sql = tripSql(kind);
  const at = await processors.register(TRIPS);
  // At most one trip in progress per vehicle: few rows, judged here by each vehicle's thresholds.
  const running = await processors.select(sql.inProgress, []);
  const statements: ProcessorStatement[] = [];
  for (const r of running) {
    const deviceId = String(r.device_id);
    const s = forVehicle(deviceId);
    if (Number(r.end_time) >= now - (s.idleTimeoutMs + s.resumeWindowMs)) continue;
    const short = Number(r.distance_km) < s.minDistanceKm || Number(r.duration_ms) < s.minDurationMs;
    statements.push(short ? deleteTrip(kind, String(r.trip_id)) : { sql: sql.expire, params: [now, String(r.trip_id)] });
    // The vehicle's engine state stood for the row as it was: the next batch recomputes and builds a new one.
    statements.push(deleteEngineState(kind, deviceId));
  }
  if (statements.length === 0) return true;
  try {
    await processors.commit(TRIPS, at, at, statements);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'TELEHUB_CHECKPOINT_MOVED') return false;
    throw err;
  }
}
