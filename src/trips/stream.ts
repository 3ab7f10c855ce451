/**
 * The trip engine, incrementally: the same state machine as clean.ts +
 * segment.ts + summary.ts, fed events in device-time order a few at a time,
 * with all it needs to go on kept in a small plain-JSON state (the trips
 * processor persists it per vehicle, docs/trips.md). Whatever way in-order
 * input is split into calls, the segments found equal computeTrips over the
 * whole input (property test in stream.test.ts).
 *
 * Where the batch engine looks ahead, the state holds the pending tail:
 * - the last instant stays *open* (more events of the same ts_device may come
 *   and settle its quantities, as toPoints does);
 * - until the vehicle's first GPS fix is judged (it needs up to the next two
 *   fixes, clean.ts firstFixPlausible), points wait uncleaned in `queue`;
 * - the still points after a trip's last moving point wait in `cur.tail`:
 *   they join the trip only if it moves again (the first of them is the stop
 *   the trip's distance runs into).
 * `finish` gives the segments as if the input ended here, without changing
 * the state.
 */
import { haversineKm } from './geo.js';
import type { TripInputEvent, TripPoint } from './points.js';
import type { TripGap } from './segment.js';
import type { TripSettings } from './settings.js';
import { finishSummary, foldPoint, newSummaryAcc, type SummaryAcc, type TripSummary } from './summary.js';

const MS_PER_HOUR = 3_600_000;

/** A cleaned point: its judged speed (null: unknown) and whether its fix and odometer are believed. */
export interface StreamPoint extends TripPoint {
  j: number | null;
  gf: 0 | 1;
  go: 0 | 1;
}

interface OpenSegment {
  startTs: number;
  gaps: TripGap[];
  /** Figures folded up to the last moving point. */
  acc: SummaryAcc;
  /** The last moving point. */
  last: StreamPoint;
  /** Still points after it. */
  tail: StreamPoint[];
}

export interface EngineState {
  v: 1;
  /** The last instant, still open to more events at the same ts_device; per quantity the event id that set it. */
  open: { p: TripPoint; ids: Record<string, string> } | null;
  /** Points waiting for the first fix to be judged (only before any fix is believed). */
  queue: TripPoint[];
  lastFix: { ts: number; lat: number; lon: number } | null;
  lastOdo: { ts: number; odometer: number } | null;
  /** The last point fed to the state machine. */
  prev: StreamPoint | null;
  /** The segment not ended by the data so far. */
  cur: OpenSegment | null;
}

export function newEngine(): EngineState {
  return { v: 1, open: null, queue: [], lastFix: null, lastOdo: null, prev: null, cur: null };
}

const NUMERIC: Readonly<Record<string, keyof TripPoint>> = {
  speed: 'speed', rpm: 'rpm', coolant_temp: 'coolant', fuel_level: 'fuel', odometer: 'odometer', ignition: 'ignition',
};

/** What an event sets on its point (as toPoints reads it), or undefined when it sets nothing. */
function reading(e: TripInputEvent): { field: string; value: number | [number, number] } | undefined {
  const f = NUMERIC[e.eventType];
  if (f !== undefined) return e.valueNum === null || !Number.isFinite(e.valueNum) ? undefined : { field: f, value: e.valueNum };
  if (e.eventType !== 'position') return undefined;
  let m: unknown;
  try {
    m = JSON.parse(e.meta);
  } catch {
    return undefined;
  }
  const o = m as { latitude?: unknown; longitude?: unknown };
  if (typeof o?.latitude !== 'number' || typeof o.longitude !== 'number') return undefined;
  if (o.latitude === 0 && o.longitude === 0) return undefined;
  if (Math.abs(o.latitude) > 90 || Math.abs(o.longitude) > 180) return undefined;
  return { field: 'position', value: [o.latitude, o.longitude] };
}

/** Device time of the open instant: events before it are out of order for this state. */
export function openTs(st: EngineState): number | null {
  return st.open?.p.ts ?? null;
}

/**
 * Feeds events (any order among themselves, none before the open instant:
 * check with openTs first; returns false and changes nothing otherwise).
 * Segments the data ends are appended to `closed`.
 */
export function pushEvents(st: EngineState, events: readonly TripInputEvent[], s: TripSettings, closed: TripSummary[]): boolean {
  const usable: Array<{ e: TripInputEvent; r: { field: string; value: number | [number, number] } }> = [];
  const from = openTs(st);
  for (const e of events) {
    if (e.tsDevice === null) continue;
    const r = reading(e);
    if (r === undefined) continue;
    if (from !== null && e.tsDevice < from) return false;
    usable.push({ e, r });
  }
  usable.sort((a, b) => a.e.tsDevice! - b.e.tsDevice!);
  for (const { e, r } of usable) {
    const ts = e.tsDevice!;
    if (st.open === null || ts > st.open.p.ts) {
      if (st.open !== null) {
        st.queue.push(st.open.p);
        drain(st, s, false, closed);
      }
      st.open = { p: { ts }, ids: {} };
    }
    const prev = st.open.ids[r.field];
    if (prev !== undefined && prev >= e.eventId) continue;
    st.open.ids[r.field] = e.eventId;
    if (r.field === 'position') {
      const [lat, lon] = r.value as [number, number];
      st.open.p.lat = lat;
      st.open.p.lon = lon;
    } else {
      (st.open.p as unknown as Record<string, number>)[r.field] = r.value as number;
    }
  }
  return true;
}

/** The segments as if the input ended now: those still open to change, in time order (the state is left as it was). */
export function finish(st: EngineState, s: TripSettings): TripSummary[] {
  const c = structuredClone(st);
  const out: TripSummary[] = [];
  if (c.open !== null) c.queue.push(c.open.p);
  c.open = null;
  drain(c, s, true, out);
  if (c.cur !== null) out.push(close(c.cur, undefined, s));
  return out;
}

/** Start of the segment the data has not ended yet (null: none). */
export function openSegmentStart(st: EngineState): number | null {
  return st.cur?.startTs ?? null;
}

/** Points waiting for the first fix to be judged. */
export function pendingPoints(st: EngineState): number {
  return st.queue.length;
}

/** An engine state from a vehicle's events (any order), and the segments they end. */
export function engineFromEvents(events: readonly TripInputEvent[], s: TripSettings): { state: EngineState; closed: TripSummary[] } {
  const state = newEngine();
  const closed: TripSummary[] = [];
  pushEvents(state, events, s, closed);
  return { state, closed };
}

const hasFix = (p: TripPoint) => p.lat !== undefined && p.lon !== undefined;

/** Cleans and feeds queued points, as far as the first-fix judgement allows (all of them when `final`). */
function drain(st: EngineState, s: TripSettings, final: boolean, closed: TripSummary[]): void {
  let k = 0;
  const q = st.queue;
  for (; k < q.length; k++) {
    const p = q[k];
    let firstOk: boolean | undefined;
    if (hasFix(p) && st.lastFix === null) {
      // clean.ts firstFixPlausible: believed when one of the next two fixes is reachable from it, or none follows.
      let seen = 0;
      for (let j = k + 1; j < q.length && seen < 2 && firstOk === undefined; j++) {
        const n = q[j];
        if (!hasFix(n)) continue;
        seen++;
        const km = haversineKm(p.lat!, p.lon!, n.lat!, n.lon!);
        if (km <= s.maxPlausibleSpeedKmh * ((n.ts - p.ts) / MS_PER_HOUR) + 0.05) firstOk = true;
      }
      if (firstOk === undefined) {
        if (seen >= 2) firstOk = false;
        else if (final) firstOk = seen === 0;
        else break;
      }
    }
    feed(st, cleanOne(st, p, firstOk, s), s, closed);
  }
  if (k > 0) st.queue = q.slice(k);
}

/** clean.ts for one point, given the last believed fix and odometer reading before it. */
function cleanOne(st: EngineState, p: TripPoint, firstOk: boolean | undefined, s: TripSettings): StreamPoint {
  let gf = false;
  let go = false;
  const lf = st.lastFix;
  const lo = st.lastOdo;
  if (hasFix(p)) {
    if (lf === null) gf = firstOk === true;
    else {
      const km = haversineKm(lf.lat, lf.lon, p.lat!, p.lon!);
      gf = km <= s.maxPlausibleSpeedKmh * ((p.ts - lf.ts) / MS_PER_HOUR) + 0.05;
    }
  }
  if (p.odometer !== undefined) {
    if (lo === null) go = true;
    else {
      const km = p.odometer - lo.odometer;
      go = km >= 0 && km <= s.maxPlausibleSpeedKmh * ((p.ts - lo.ts) / MS_PER_HOUR) + 0.05;
    }
  }
  let j = Number.NaN;
  if (p.speed !== undefined) j = p.speed;
  else if (go && lo !== null && p.ts - lo.ts <= s.idleTimeoutMs) j = (p.odometer! - lo.odometer) / ((p.ts - lo.ts) / MS_PER_HOUR);
  else if (gf && lf !== null && p.ts - lf.ts <= s.idleTimeoutMs) j = haversineKm(lf.lat, lf.lon, p.lat!, p.lon!) / ((p.ts - lf.ts) / MS_PER_HOUR);
  if (gf) st.lastFix = { ts: p.ts, lat: p.lat!, lon: p.lon! };
  if (go) st.lastOdo = { ts: p.ts, odometer: p.odometer! };
  return { ...p, j: Number.isNaN(j) ? null : j, gf: gf ? 1 : 0, go: go ? 1 : 0 };
}

const judged = (p: StreamPoint) => (p.j === null ? Number.NaN : p.j);

function fold(acc: SummaryAcc, p: StreamPoint, q: StreamPoint | undefined, inside: boolean, afterStart: boolean, s: TripSettings): void {
  foldPoint(acc, p, p.gf === 1, p.go === 1, judged(p), q, q === undefined ? Number.NaN : judged(q), inside, afterStart, s);
}

/** Ends a segment at its last moving point; `next` is the point after it when the tail is empty. */
function close(cur: OpenSegment, next: StreamPoint | undefined, s: TripSettings): TripSummary {
  const hi = cur.tail[0] ?? next;
  if (hi !== undefined && hi.ts - cur.last.ts <= s.idleTimeoutMs) fold(cur.acc, hi, cur.last, false, true, s);
  return finishSummary(cur.acc, cur.startTs, cur.last.ts, cur.gaps);
}

/** The trip moved again at `c`: the still points before it join the trip. */
function advance(cur: OpenSegment, c: StreamPoint, s: TripSettings): void {
  let q = cur.last;
  for (const t of cur.tail) {
    fold(cur.acc, t, q, true, true, s);
    q = t;
  }
  fold(cur.acc, c, q, true, true, s);
  cur.tail = [];
  cur.last = c;
}

/** segment.ts for one point. */
function feed(st: EngineState, c: StreamPoint, s: TripSettings, closed: TripSummary[]): void {
  const moving = judged(c) > s.speedThresholdKmh;
  const prev = st.prev;
  st.prev = c;
  const cur = st.cur;
  if (cur !== null && prev !== null) {
    const silence = c.ts - prev.ts;
    if (silence > s.idleTimeoutMs) {
      const across = droveAcross(prev, c, s);
      if (across !== undefined) {
        cur.gaps.push({ from: prev.ts, to: c.ts, durationMs: silence, distanceKm: across });
        if (moving || across > 0) advance(cur, c, s);
        else cur.tail.push(c);
        return;
      }
      closed.push(close(cur, c, s));
      st.cur = null;
    } else if (c.ts - cur.last.ts >= s.idleTimeoutMs + s.resumeWindowMs) {
      // Stopped for idle_timeout (Paused), then resume_window passed without moving (EndTrip).
      closed.push(close(cur, c, s));
      st.cur = null;
    } else {
      if (moving) advance(cur, c, s);
      else cur.tail.push(c);
      return;
    }
  }
  if (moving) {
    const acc = newSummaryAcc();
    const lo = prev !== null && c.ts - prev.ts <= s.idleTimeoutMs ? prev : undefined;
    if (lo !== undefined) fold(acc, lo, undefined, false, false, s);
    fold(acc, c, lo, true, false, s);
    st.cur = { startTs: c.ts, gaps: [], acc, last: c, tail: [] };
  }
}

/** segment.ts droveAcross. */
function droveAcross(a: StreamPoint, b: StreamPoint, s: TripSettings): number | undefined {
  const h = (b.ts - a.ts) / 3_600_000;
  let km: number | undefined;
  if (a.go && b.go) km = b.odometer! - a.odometer!;
  else if (a.gf && b.gf) km = haversineKm(a.lat!, a.lon!, b.lat!, b.lon!);
  if (km === undefined) return undefined;
  return km / h > s.speedThresholdKmh ? km : undefined;
}

/**
 * The trips of a list of segments as computeTrips reports them: the last
 * one is in progress while its last moving point is less than idle_timeout +
 * resume_window before `now`; a short segment that is not in progress is no trip.
 */
export function asTrips<T extends TripSummary>(segments: readonly T[], s: TripSettings, now: number): Array<T & { inProgress: boolean }> {
  const out: Array<T & { inProgress: boolean }> = [];
  segments.forEach((seg, i) => {
    const inProgress = i === segments.length - 1 && now - seg.endTs < s.idleTimeoutMs + s.resumeWindowMs;
    if (!inProgress && (seg.distanceKm < s.minDistanceKm || seg.durationMs < s.minDurationMs)) return;
    out.push({ ...seg, inProgress });
  });
  return out;
}
