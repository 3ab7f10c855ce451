/**
 * The trips processor's common case, incrementally: a vehicle's new events,
 * all in device-time order after what its persisted engine state has seen,
 * are fed to that state (src/trips/stream.ts) from the log entries
 * themselves, without reading the store; only the trips still open to change
 * (the one in progress, or one the new data just ended) are written, one
 * upsert each, and the state is written back in the same transaction.
 *
 * The state is derived, never trusted beyond what it can show: it records
 * the thresholds it was computed with and the clock the trip rows were
 * written with, so the rows it stands for are exactly `asTrips(finish(state),
 * writtenAt)`. Anything else — no state (a new vehicle, after a rebuild or
 * the clock ended its trip), other thresholds, an event older than the state's
 * open instant (late or reordered data) — returns undefined, and the caller
 * recomputes the window from the stored events (recompute.ts), then builds a
 * fresh state from the events it read (`stateAfterRecompute`) when they
 * reach the vehicle's latest data.
 */
import type { Dialect } from '../../log/processor.js';
import type { ProcessorStatement } from '../../storage/log.js';
import type { TripInputEvent, TripSettings } from '../../trips/index.js';
import {
  asTrips,
  engineFromEvents,
  finish,
  openSegmentStart,
  pendingPoints,
  pushEvents,
  type EngineState,
} from '../../trips/stream.js';
import type { TripSummary } from '../../trips/summary.js';
import { newTripId, type RecomputedWindow } from './recompute.js';
import { deleteEngineState, deleteTrip, upsertEngineState, upsertTrip, type EngineStateRow } from './sql.js';

/** Points waiting for a first GPS fix to be judged beyond which the state is not kept (a stray fix, then none). */
export const MAX_PENDING_POINTS = 2000;

/** What the state records of the thresholds it was computed with. */
export const settingsKey = (s: TripSettings) => JSON.stringify(s);

type Trip = TripSummary & { inProgress: boolean };

const idFor = (deviceId: string, curStart: number | null, curTripId: string | null) => (startTs: number) =>
  curStart !== null && startTs === curStart && curTripId !== null ? curTripId : newTripId(deviceId, startTs);

/**
 * Applies in-order `events` of one vehicle to its stored state; undefined when
 * this batch needs the windowed recompute instead.
 */
export function applyIncrementally(
  d: Dialect,
  deviceId: string,
  row: EngineStateRow | undefined,
  events: readonly TripInputEvent[],
  s: TripSettings,
  now: number,
): { statements: ProcessorStatement[]; trips: number } | undefined {
  if (row === undefined || row.settings !== settingsKey(s)) { return undefined; }
  const st = JSON.parse(row.state) as EngineState;
  if (st.v !== 1) return undefined;
  const oldStart = openSegmentStart(st);
  const ids = idFor(deviceId, oldStart, row.tripId);
  // The rows as they stand: the trips still open to change, as last written.
  const before = asTrips(finish(st, s), s, row.writtenAt);
  const closed: TripSummary[] = [];
  if (!pushEvents(st, events, s, closed)) { return undefined; }
  if (pendingPoints(st) > MAX_PENDING_POINTS) return undefined;
  const front = finish(st, s);
  const endAfter = s.idleTimeoutMs + s.resumeWindowMs;
  // A trip the data ended that would still show as in progress (a device clock ahead of ours): the window recompute judges it.
  if (front.length === 0 && closed.length > 0 && now - closed.at(-1)!.endTs < endAfter) return undefined;
  const after = asTrips([...closed, ...front], s, now);
  const statements = diffById(d, deviceId, before, after, ids, now);
  const newStart = openSegmentStart(st);
  const state = JSON.stringify(st);
  if (statements.length > 0 || state !== row.state) {
    statements.push(upsertEngineState(d, { deviceId, settings: row.settings, writtenAt: now, tripId: newStart === null ? null : ids(newStart), state }));
  }
  return { statements, trips: statements.length };
}

/** Upserts of the trips that changed, deletes of those gone; an unchanged trip is not written. */
function diffById(d: Dialect, deviceId: string, before: readonly Trip[], after: readonly Trip[], ids: (startTs: number) => string, now: number): ProcessorStatement[] {
  const was = new Map(before.map((t) => [ids(t.startTs), JSON.stringify(t)]));
  const out: ProcessorStatement[] = [];
  const kept = new Set<string>();
  for (const t of after) {
    const id = ids(t.startTs);
    kept.add(id);
    if (was.get(id) === JSON.stringify(t)) continue;
    out.push(upsertTrip(d, { ...t, tripId: id, deviceId, updatedAt: now }));
  }
  for (const id of was.keys()) if (!kept.has(id)) out.push(deleteTrip(d, id));
  return out;
}

/**
 * After a windowed recompute whose events reach the vehicle's latest data
 * (`reachesEnd`): the engine state of those events, kept only when the trip
 * rows the recompute left are exactly those the state stands for; else the
 * stored state is dropped (the next batch recomputes again).
 */
export function stateAfterRecompute(d: Dialect, deviceId: string, r: RecomputedWindow, reachesEnd: boolean, s: TripSettings, now: number): ProcessorStatement {
  if (!reachesEnd) { return deleteEngineState(d, deviceId); }
  const { state, closed } = engineFromEvents(r.events, s);
  if (pendingPoints(state) > MAX_PENDING_POINTS) return deleteEngineState(d, deviceId);
  const segs = finish(state, s);
  if (segs.length === 0 && closed.length > 0 && now - closed.at(-1)!.endTs < s.idleTimeoutMs + s.resumeWindowMs) return deleteEngineState(d, deviceId);
  const all = asTrips([...closed, ...segs], s, now);
  const frontFrom = segs.length === 0 ? Number.POSITIVE_INFINITY : segs[0].startTs;
  const front = all.filter((t) => t.startTs >= frontFrom);
  const curStart = openSegmentStart(state);
  const curTripId = curStart === null ? null : (r.assigned.find((a) => a.c.startTs === curStart)?.id ?? newTripId(deviceId, curStart));
  const ids = idFor(deviceId, curStart, curTripId);
  const stored = r.assigned.filter((a) => a.c.startTs >= frontFrom);
  const agrees =
    stored.length === front.length &&
    front.every((t) => {
      const a = stored.find((x) => x.c.startTs === t.startTs);
      return a !== undefined && a.id === ids(t.startTs) && JSON.stringify(a.c) === JSON.stringify(t);
    });
  if (!agrees) { return deleteEngineState(d, deviceId); }
  return upsertEngineState(d, { deviceId, settings: settingsKey(s), writtenAt: now, tripId: curTripId, state: JSON.stringify(state) });
}
