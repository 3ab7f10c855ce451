/**
 * Calendar-day boundaries in a time zone, DST-correct: a day is from one
 * local midnight to the next, so it lasts 23, 24 or 25 hours (or other
 * lengths in zones that moved their clocks by other amounts). Built on
 * Intl.DateTimeFormat: Node ships the full ICU time-zone data.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

/** True when `tz` is an IANA zone name Intl knows (`Europe/Berlin`, `UTC`). */
export function isTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(tz, f);
  }
  return f;
}

/** The zone's offset from UTC at instant `t`, ms (positive east of Greenwich). */
export function offsetAt(t: number, tz: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(new Date(t))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const asUtc = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return asUtc - (t - (((t % 1000) + 1000) % 1000));
}

/** Local calendar date (y, m 1-12, d) at instant `t`. */
function localDate(t: number, tz: string): [number, number, number] {
  const d = new Date(t + offsetAt(t, tz));
  return [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()];
}

/**
 * The instant of local midnight starting (y, m, d) in `tz`. Where midnight
 * does not exist (a DST jump at 00:00), the first instant of the day.
 */
export function localMidnight(y: number, m: number, d: number, tz: string): number {
  const wall = Date.UTC(y, m - 1, d);
  // Two passes settle the offset in force at that wall time.
  let t = wall - offsetAt(wall, tz);
  t = wall - offsetAt(t, tz);
  // A gap at midnight: the wall time never happened; the day starts at the jump.
  const [ly, lm, ld] = localDate(t, tz);
  if (ly !== y || lm !== m || ld !== d) {
    let lo = t;
    let hi = t + 3 * 3_600_000;
    while (hi - lo > 1000) {
      const mid = Math.floor((lo + hi) / 2 / 1000) * 1000;
      const [a, b, c] = localDate(mid, tz);
      if (a === y && b === m && c === d) hi = mid;
      else lo = mid;
    }
    t = hi;
  }
  return t;
}

/**
 * Boundaries of the local days (each `days` long) that cover [from, to): the
 * first is the local midnight at or before `from`, the last at or after `to`.
 * Days are counted from 1970-01-01 so that multi-day buckets are stable.
 */
export function dayBoundaries(from: number, to: number, tz: string, days = 1): number[] {
  const [y, m, d] = localDate(from, tz);
  let dayNo = Math.floor(Date.UTC(y, m - 1, d) / 86_400_000);
  dayNo -= ((dayNo % days) + days) % days;
  const out: number[] = [];
  for (;;) {
    const date = new Date(dayNo * 86_400_000);
    const b = localMidnight(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), tz);
    out.push(b);
    if (b >= to) break;
    dayNo += days;
  }
  return out;
}
