/**
 * Strict ISO-8601 date-time parsing for `ts_device`.
 *
 * `Date.parse` accepts many non-ISO shapes ("Feb 10 2024", "2024-02-31" rolls
 * over on some engines), so the shape is checked first and the calendar date
 * verified after. Accepted: `YYYY-MM-DDTHH:MM[:SS[.fraction]]` with `Z`,
 * `±HH:MM` or `±HHMM`, a space instead of `T`, and no offset (read as UTC).
 * Fractions beyond milliseconds are truncated (the stores keep milliseconds).
 *
 * @example
 * parseIsoTimestamp('2024-02-10T00:00:00Z') // 1707523200000
 * parseIsoTimestamp('yesterday')            // undefined
 */
const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

export function parseIsoTimestamp(text: string): number | undefined {
  if (text.length > 40) return undefined;
  const m = ISO.exec(text);
  if (!m) return undefined;
  const year = +m[1];
  const month = +m[2];
  const day = +m[3];
  const hour = +m[4];
  const minute = +m[5];
  const second = m[6] === undefined ? 0 : +m[6];
  const ms = m[7] === undefined ? 0 : +m[7].slice(0, 3).padEnd(3, '0');
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return undefined;
  let offsetMin = 0;
  const tz = m[8];
  if (tz && tz !== 'Z' && tz !== 'z') {
    const sign = tz[0] === '-' ? -1 : 1;
    const digits = tz.slice(1).replace(':', '');
    const oh = +digits.slice(0, 2);
    const om = digits.length > 2 ? +digits.slice(2, 4) : 0;
    if (oh > 23 || om > 59) return undefined;
    offsetMin = sign * (oh * 60 + om);
  }
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, ms);
  return d.getTime() - offsetMin * 60000;
}

/** 2000-01-01T00:00:00Z: the earliest time a numeric ts_device may name. */
export const EPOCH_NUMBER_MIN_MS = Date.UTC(2000, 0, 1);
/** 9999-12-31T23:59:59.999Z: the latest, as for ISO-8601 strings. */
export const EPOCH_NUMBER_MAX_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
/** Numbers below this are seconds, from it on milliseconds (1e11 s is the year 5138; 1e11 ms is 1973). */
export const EPOCH_SECONDS_BELOW = 1e11;

/**
 * `ts_device` sent as a number (as many ESP32 sketches do with `time(nullptr)`
 * or an epoch in ms): epoch seconds or milliseconds, told apart by magnitude.
 * A number has no unit, so a window is needed to tell the two apart, and the
 * same window catches a board that sends its uptime (`millis()`, seconds since
 * boot) because its clock was never set: that would silently become a time in
 * 1970. Below 1e11 the number is seconds, from 1e11 on milliseconds; the result
 * must lie between 2000-01-01 and 9999-12-31T23:59:59.999Z, so 1e11 up to
 * 946684800000 (milliseconds before 2000, or seconds after the year 5138) is
 * refused. Fractions are allowed and rounded to the nearest millisecond (a
 * binary double cannot hold most decimal fractions exactly, so truncating
 * 1707523200.123 × 1000 could give …122).
 *
 * @example
 * epochNumberToMs(1707523200)      // { ok: true, ms: 1707523200000 }
 * epochNumberToMs(1707523200123)   // { ok: true, ms: 1707523200123 }
 * epochNumberToMs(86400)           // { ok: false, message: '… before 2000-01-01 …' }
 */
export function epochNumberToMs(n: number): { ok: true; ms: number } | { ok: false; message: string } {
  if (!Number.isFinite(n)) return { ok: false, message: 'ts_device is a number outside the range of a double' };
  if (n < 0) return { ok: false, message: `ts_device ${n} is negative; send seconds or milliseconds since 1970-01-01T00:00:00Z` };
  const seconds = n < EPOCH_SECONDS_BELOW;
  const ms = Math.round(seconds ? n * 1000 : n);
  const unit = seconds ? 'seconds' : 'milliseconds';
  if (ms < EPOCH_NUMBER_MIN_MS) {
    return {
      ok: false,
      message: `ts_device ${n}, read as epoch ${unit}, is before 2000-01-01 (an uptime rather than a clock time?); set the clock (SNTP) or leave ts_device out`,
    };
  }
  if (ms > EPOCH_NUMBER_MAX_MS) return { ok: false, message: `ts_device ${n}, read as epoch ${unit}, is after 9999-12-31` };
  return { ok: true, ms };
}
