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
