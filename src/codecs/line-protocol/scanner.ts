/**
 * A hand-written scanner for the InfluxDB line protocol: it reads one point
 * (one line, or several when a quoted string field value holds raw newlines)
 * from a body by index, without regular expressions and without splitting the
 * body. The mapping to telehub events lives in `index.ts`.
 *
 * Why by hand: the npm packages for line protocol are clients that *write* it
 * (the InfluxDB client libraries, Telegraf senders); there is no maintained
 * server-side parser on npm that follows InfluxDB's escaping rules, keeps
 * int64/uint64 exact and reports per-line errors. The grammar is small, so it
 * is implemented here, following InfluxDB's documentation and its reference
 * grammar (github.com/influxdata/line-protocol, `line-protocol.ebnf`):
 *
 *   point       = measurement { "," tag } " " field { "," field } [ " " timestamp ]
 *   measurement : escapes `\,` `\ `           (any other backslash is literal)
 *   tag key/val : escapes `\,` `\=` `\ `      (any other backslash is literal)
 *   field key   : escapes `\,` `\=` `\ `      (any other backslash is literal)
 *   string value: "..." with escapes `\"` `\\` (any other backslash is literal;
 *                 a raw newline inside the quotes is part of the value)
 *   float 1 1.5 -1e3 .5 1.    integer 12i (int64)    unsigned 12u (uint64)
 *   boolean t T true True TRUE f F false False FALSE
 *   timestamp   = [ "-" ] digits, in the request's precision
 */

export const K_FLOAT = 0;
export const K_INT = 1;
export const K_UINT = 2;
export const K_STRING = 3;
export const K_BOOL = 4;

export const SCAN_OK = 0;
/** The point is malformed; only its first physical line is consumed. */
export const SCAN_SYNTAX = 1;
/** The point is well formed but a value cannot be taken (range, timestamp); the whole point is consumed. */
export const SCAN_VALUE = 2;

/** Precision of the timestamps of a request: how many nanoseconds one unit is. */
export interface Precision {
  /** Canonical (v2) name: ns, us, ms, s, or the v1-only m (minute), h (hour). */
  name: 'ns' | 'us' | 'ms' | 's' | 'm' | 'h';
  /** Digits of the largest absolute timestamp whose nanoseconds fit InfluxDB's range. */
  maxDigits: string;
  /** Decimal digits dropped to go from this unit to milliseconds (ns: 6, us: 3), else 0. */
  dropDigits: number;
  /** Milliseconds per unit when the unit is at least a millisecond, else 1. */
  msPerUnit: number;
  /** Zeros appended to a timestamp to get nanoseconds (ms: 6, s: 9), or -1 for m and h (multiplied). */
  nsZeros: number;
  nsPerUnit: bigint;
}

/**
 * InfluxDB's valid time range is [math.MinInt64 + 2, math.MaxInt64 - 1]
 * nanoseconds: ±9223372036854775806 ns (1677-09-21 to 2262-04-11).
 */
const MAX_NS = 9223372036854775806n;

function precision(name: Precision['name'], nsPerUnit: bigint, dropDigits: number, msPerUnit: number, nsZeros: number): Precision {
  return { name, maxDigits: (MAX_NS / nsPerUnit).toString(), dropDigits, msPerUnit, nsZeros, nsPerUnit };
}

const PRECISIONS: Record<Precision['name'], Precision> = {
  ns: precision('ns', 1n, 6, 1, 0),
  us: precision('us', 1000n, 3, 1, 3),
  ms: precision('ms', 1_000_000n, 0, 1, 6),
  s: precision('s', 1_000_000_000n, 0, 1000, 9),
  m: precision('m', 60_000_000_000n, 0, 60_000, -1),
  h: precision('h', 3_600_000_000_000n, 0, 3_600_000, -1),
};

/** v2 names (`ns us ms s`) and v1 names (`n u ms s m h`); empty means the default, ns. */
const PRECISION_ALIASES: Record<string, Precision['name']> = {
  '': 'ns',
  ns: 'ns',
  n: 'ns',
  us: 'us',
  u: 'us',
  ms: 'ms',
  s: 's',
  m: 'm',
  h: 'h',
};

/** The precision named by a `precision` request parameter, or undefined when it names none. */
export function parsePrecision(name: string): Precision | undefined {
  const canonical = Object.hasOwn(PRECISION_ALIASES, name) ? PRECISION_ALIASES[name] : undefined;
  return canonical === undefined ? undefined : PRECISIONS[canonical];
}

const BS = 92; // \
const COMMA = 44;
const SPACE = 32;
const TAB = 9;
const EQ = 61;
const QUOTE = 34;
const NL = 10;
const CR = 13;
const MINUS = 45;
const DOT = 46;
const D0 = 48;
const D9 = 57;
const LOWER_E = 101;
const UPPER_E = 69;
const PLUS = 43;
const LOWER_I = 105;
const LOWER_U = 117;

const INT64_MAX = '9223372036854775807';
const INT64_MIN_ABS = '9223372036854775808';
const UINT64_MAX = '18446744073709551615';

const isDigit = (c: number) => c >= D0 && c <= D9;

/** Compares two digit strings without leading zeros as numbers: true when a <= b. */
function digitsLte(a: string, b: string): boolean {
  return a.length < b.length || (a.length === b.length && a <= b);
}

/**
 * Scans points of one body. One instance per body; the result of the last
 * `scan` is held in its fields (scratch arrays are reused between points, so
 * read them before the next call).
 */
export class PointScanner {
  readonly body: string;
  readonly prec: Precision;

  // ---- result of the last scan
  measurement = '';
  tagCount = 0;
  readonly tagKeys: string[] = [];
  readonly tagVals: string[] = [];
  fieldCount = 0;
  readonly fieldKeys: string[] = [];
  readonly fieldKinds: number[] = [];
  readonly fieldNums: number[] = [];
  readonly fieldTexts: (string | null)[] = [];
  hasTimestamp = false;
  /** The timestamp in nanoseconds as a canonical decimal string (for ids). */
  tsNanos = '';
  /** The timestamp in epoch ms, floored. */
  tsMs = 0;
  /** Index just past the point's text (its last line, without the line break). */
  end = 0;
  /** Index where the next point may start. */
  next = 0;
  /** Physical lines the point spans after its first (a string value with raw newlines). */
  extraLines = 0;

  // ---- error of the last scan
  errWhat = '';
  /** Index in the body the error points at. */
  errAt = 0;
  /** For SCAN_VALUE: which reason (see index.ts). */
  errKind: 'value_not_finite' | 'invalid_timestamp' | 'invalid_line_protocol' = 'invalid_line_protocol';

  // ---- internal
  private esc = false;
  private hasValueError = false;
  private fieldIndex: Map<string, number> | null = null;
  /** Opening quote of the first string value that ran past the end of its line, or -1. */
  private crossedQuote = -1;
  private firstEnd = 0;
  private firstNext = 0;

  constructor(body: string, prec: Precision) {
    this.body = body;
    this.prec = prec;
  }

  /**
   * Scans the point starting at `start` (first non-blank character of a
   * line that is not a comment); `end` is the end of that line without its
   * line break, `next` the start of the line after it.
   */
  scan(start: number, end: number, next: number): number {
    this.tagCount = 0;
    this.fieldCount = 0;
    this.fieldIndex = null;
    this.hasTimestamp = false;
    this.hasValueError = false;
    this.crossedQuote = -1;
    this.extraLines = 0;
    this.firstEnd = end;
    this.firstNext = next;
    this.end = end;
    this.next = next;
    const r = this.scanPoint(start);
    const failed = r === SCAN_SYNTAX || this.hasValueError;
    if (failed && this.crossedQuote >= 0) {
      // A string ran past its line and the point is not valid as a whole:
      // take the simplest reading, an unclosed quote on the first line, and
      // read the next lines on their own, so a bad line never swallows the
      // lines after it. (A multi-line point is taken only when it is valid.)
      this.errAt = this.crossedQuote;
      this.errWhat = 'unterminated quoted string';
      this.errKind = 'invalid_line_protocol';
      this.end = this.firstEnd;
      this.next = this.firstNext;
      this.extraLines = 0;
      return SCAN_SYNTAX;
    }
    if (r === SCAN_SYNTAX) {
      this.end = this.firstEnd;
      this.next = this.firstNext;
      this.extraLines = 0;
      return SCAN_SYNTAX;
    }
    if (this.hasValueError) return SCAN_VALUE;
    return SCAN_OK;
  }

  private syntax(at: number, what: string): number {
    this.errAt = at;
    this.errWhat = what;
    this.errKind = 'invalid_line_protocol';
    return SCAN_SYNTAX;
  }

  /** Records the first value error of the point; scanning goes on to check the syntax. */
  private valueError(at: number, kind: PointScanner['errKind'], what: string): void {
    if (this.hasValueError) return;
    this.hasValueError = true;
    this.errAt = at;
    this.errKind = kind;
    this.errWhat = what;
  }

  private scanPoint(start: number): number {
    const b = this.body;
    // ---- measurement
    let i = this.scanName(start, false);
    if (i === start) return this.syntax(start, 'missing measurement');
    this.measurement = this.esc ? unescapeName(b, start, i, false) : b.slice(start, i);
    // ---- tags
    while (i < this.end && b.charCodeAt(i) === COMMA) {
      const ks = i + 1;
      const ke = this.scanName(ks, true);
      if (ke === ks) return this.syntax(ks, 'missing tag key');
      const key = this.esc ? unescapeName(b, ks, ke, true) : b.slice(ks, ke);
      if (ke >= this.end || b.charCodeAt(ke) !== EQ) return this.syntax(ke, `missing tag value for tag key "${clip(key)}"`);
      const vs = ke + 1;
      const ve = this.scanName(vs, true);
      if (ve === vs) return this.syntax(vs, `missing tag value for tag key "${clip(key)}"`);
      if (ve < this.end && b.charCodeAt(ve) === EQ) return this.syntax(ve, 'invalid tag format: unescaped "=" in tag value');
      const val = this.esc ? unescapeName(b, vs, ve, true) : b.slice(vs, ve);
      this.tagKeys[this.tagCount] = key;
      this.tagVals[this.tagCount] = val;
      this.tagCount++;
      i = ve;
    }
    if (i >= this.end) return this.syntax(i, 'missing fields');
    // b[i] is the space after the measurement and tags.
    i++;
    while (i < this.end && b.charCodeAt(i) === SPACE) i++;
    if (i >= this.end) return this.syntax(i, 'missing fields');
    // ---- fields
    for (;;) {
      const ks = i;
      const ke = this.scanName(ks, true);
      if (ke === ks) return this.syntax(ks, 'missing field key');
      const key = this.esc ? unescapeName(b, ks, ke, true) : b.slice(ks, ke);
      if (ke >= this.end || b.charCodeAt(ke) !== EQ) return this.syntax(ke, `invalid field format: expected "=" after field key "${clip(key)}"`);
      i = ke + 1;
      if (i >= this.end) return this.syntax(i, `missing field value for field key "${clip(key)}"`);
      const c = b.charCodeAt(i);
      let kind: number;
      let num = 0;
      let text: string | null = null;
      if (c === QUOTE) {
        const after = this.scanString(i);
        if (after < 0) return this.syntax(i, 'unterminated quoted string');
        kind = K_STRING;
        text = this.esc ? unescapeString(b, i + 1, after - 1) : b.slice(i + 1, after - 1);
        i = after;
        if (i < this.end) {
          const n = b.charCodeAt(i);
          if (n !== COMMA && n !== SPACE) return this.syntax(i, `invalid field format: unexpected character after the string value of field "${clip(key)}"`);
        }
      } else {
        const vs = i;
        while (i < this.end) {
          const n = b.charCodeAt(i);
          if (n === COMMA || n === SPACE) break;
          i++;
        }
        if (i === vs) return this.syntax(vs, `missing field value for field key "${clip(key)}"`);
        if (c === 116 /* t */ || c === 84 /* T */ || c === 102 /* f */ || c === 70 /* F */) {
          const v = parseBool(b, vs, i);
          if (v < 0) return this.syntax(vs, `invalid boolean "${clip(b.slice(vs, i))}" for field "${clip(key)}"`);
          kind = K_BOOL;
          num = v;
        } else if (c === MINUS || c === DOT || isDigit(c)) {
          kind = this.parseNumber(vs, i, key);
          if (kind < 0) return SCAN_SYNTAX;
          num = this.num;
          text = this.numText;
        } else {
          return this.syntax(vs, `invalid field value "${clip(b.slice(vs, i))}" for field "${clip(key)}": not a number, boolean or quoted string`);
        }
      }
      this.addField(key, kind, num, text);
      if (i >= this.end) return SCAN_OK;
      if (b.charCodeAt(i) === COMMA) {
        i++;
        continue;
      }
      break; // a space
    }
    // ---- timestamp
    while (i < this.end && isBlank(b.charCodeAt(i))) i++;
    if (i >= this.end) return SCAN_OK;
    const ts = i;
    while (i < this.end && !isBlank(b.charCodeAt(i))) i++;
    const te = i;
    while (i < this.end && isBlank(b.charCodeAt(i))) i++;
    if (i < this.end) return this.syntax(i, `unexpected text after timestamp: "${clip(b.slice(i, this.end))}"`);
    this.parseTimestamp(ts, te);
    return SCAN_OK;
  }

  private addField(key: string, kind: number, num: number, text: string | null): void {
    // Duplicate field keys: the last value wins (as in InfluxDB), in the first one's place.
    const n = this.fieldCount;
    const keys = this.fieldKeys;
    let at = n;
    if (n <= 16) {
      for (let k = 0; k < n; k++) {
        if (keys[k] === key) {
          at = k;
          break;
        }
      }
    } else {
      // Many fields: a map keeps a huge line linear.
      let index = this.fieldIndex;
      if (index === null) {
        index = new Map();
        for (let k = 0; k < n; k++) index.set(keys[k], k);
        this.fieldIndex = index;
      }
      const found = index.get(key);
      if (found !== undefined) at = found;
      else index.set(key, n);
    }
    keys[at] = key;
    this.fieldKinds[at] = kind;
    this.fieldNums[at] = num;
    this.fieldTexts[at] = text;
    if (at === n) this.fieldCount++;
  }

  /**
   * Scans a name (measurement, tag key or value, field key) from `i` to its
   * first unescaped separator. Sets `esc` when it holds escape sequences.
   */
  private scanName(i: number, eqSpecial: boolean): number {
    const b = this.body;
    const end = this.end;
    this.esc = false;
    while (i < end) {
      const c = b.charCodeAt(i);
      if (c === BS) {
        if (i + 1 < end) {
          const n = b.charCodeAt(i + 1);
          if (n === COMMA || n === SPACE || (eqSpecial && n === EQ)) {
            this.esc = true;
            i += 2;
            continue;
          }
        }
        i++;
        continue;
      }
      if (c === COMMA || c === SPACE || (eqSpecial && c === EQ)) break;
      i++;
    }
    return i;
  }

  /**
   * Scans a quoted string whose opening quote is at `q`; returns the index
   * after the closing quote, or -1 when there is none. The closing quote may
   * be on a later line (raw newlines are allowed inside the quotes): the
   * point then grows to the end of that line.
   */
  private scanString(q: number): number {
    const b = this.body;
    const len = b.length;
    this.esc = false;
    // The usual case: the closing quote is on the same line.
    const limit = this.end;
    let i = q + 1;
    while (i < limit) {
      const c = b.charCodeAt(i);
      if (c === QUOTE) return i + 1;
      if (c === BS && i + 1 < limit) {
        const n = b.charCodeAt(i + 1);
        if (n === QUOTE || n === BS) {
          this.esc = true;
          i += 2;
          continue;
        }
      }
      i++;
    }
    // The line ends inside the quotes: the line break (and a CR before it)
    // is part of the value; look for the closing quote on the next lines.
    if (this.next >= len) return -1;
    if (this.crossedQuote < 0) this.crossedQuote = q;
    let lines = 0;
    for (i = limit; i < len; i++) {
      const c = b.charCodeAt(i);
      if (c === QUOTE) break;
      if (c === NL) lines++;
      else if (c === BS && i + 1 < len) {
        const n = b.charCodeAt(i + 1);
        if (n === QUOTE || n === BS) {
          this.esc = true;
          i++;
        }
      }
    }
    if (i >= len) return -1;
    // The point now ends with the line holding the closing quote.
    this.extraLines += lines;
    const nl = b.indexOf('\n', i);
    this.next = nl < 0 ? len : nl + 1;
    let e = nl < 0 ? len : nl;
    if (e > i + 1 && b.charCodeAt(e - 1) === CR) e--;
    this.end = e;
    return i + 1;
  }

  private num = 0;
  private numText: string | null = null;

  /** Parses a float, `i` integer or `u` unsigned token in [s, e); returns its kind or -1 (syntax error set). */
  private parseNumber(s: number, e: number, key: string): number {
    const b = this.body;
    const last = b.charCodeAt(e - 1);
    this.numText = null;
    if (last === LOWER_I || last === LOWER_U) {
      const unsigned = last === LOWER_U;
      let i = s;
      const neg = b.charCodeAt(i) === MINUS;
      if (neg) i++;
      const ds = i;
      while (i < e - 1 && isDigit(b.charCodeAt(i))) i++;
      if (i !== e - 1 || i === ds || (neg && unsigned)) {
        this.syntax(s, `invalid ${unsigned ? 'unsigned' : 'integer'} "${clip(b.slice(s, e))}" for field "${clip(key)}"`);
        return -1;
      }
      let z = ds;
      while (z < e - 2 && b.charCodeAt(z) === D0) z++;
      const nd = e - 1 - z;
      if (nd <= 15) {
        let v = 0;
        for (let k = z; k < e - 1; k++) v = v * 10 + (b.charCodeAt(k) - D0);
        this.num = neg && v !== 0 ? -v : v;
        return unsigned ? K_UINT : K_INT;
      }
      const digits = b.slice(z, e - 1);
      const max = unsigned ? UINT64_MAX : neg ? INT64_MIN_ABS : INT64_MAX;
      if (!digitsLte(digits, max)) {
        this.valueError(s, 'invalid_line_protocol', `${unsigned ? 'unsigned' : 'integer'} value ${b.slice(s, e)} of field "${clip(key)}" is out of range (${unsigned ? '0..18446744073709551615' : '-9223372036854775808..9223372036854775807'})`);
        this.num = 0;
        return unsigned ? K_UINT : K_INT;
      }
      const exact = neg ? `-${digits}` : digits;
      this.num = Number(exact);
      // Beyond 2^53 a double cannot hold every integer: keep the exact digits too.
      if (!Number.isSafeInteger(this.num)) this.numText = exact;
      return unsigned ? K_UINT : K_INT;
    }
    // Float: [-] ( digits [ "." [digits] ] | "." digits ) [ (e|E) [+|-] digits ]
    let i = s;
    if (b.charCodeAt(i) === MINUS) i++;
    const is = i;
    while (i < e && isDigit(b.charCodeAt(i))) i++;
    let mant = i - is;
    if (i < e && b.charCodeAt(i) === DOT) {
      i++;
      const fs = i;
      while (i < e && isDigit(b.charCodeAt(i))) i++;
      mant += i - fs;
    }
    let ok = mant > 0;
    if (ok && i < e && (b.charCodeAt(i) === LOWER_E || b.charCodeAt(i) === UPPER_E)) {
      i++;
      if (i < e && (b.charCodeAt(i) === PLUS || b.charCodeAt(i) === MINUS)) i++;
      const xs = i;
      while (i < e && isDigit(b.charCodeAt(i))) i++;
      ok = i > xs;
    }
    if (!ok || i !== e) {
      this.syntax(s, `invalid number "${clip(b.slice(s, e))}" for field "${clip(key)}"`);
      return -1;
    }
    const v = Number(b.slice(s, e));
    if (!Number.isFinite(v)) {
      this.valueError(s, 'value_not_finite', `float value ${clip(b.slice(s, e))} of field "${clip(key)}" is out of the range of a double`);
      this.num = 0;
    } else {
      this.num = v === 0 ? 0 : v; // no -0
    }
    return K_FLOAT;
  }

  /** Reads the timestamp token [s, e) in the request's precision. */
  private parseTimestamp(s: number, e: number): void {
    const b = this.body;
    const p = this.prec;
    let i = s;
    const neg = b.charCodeAt(i) === MINUS;
    if (neg) i++;
    const ds = i;
    while (i < e && isDigit(b.charCodeAt(i))) i++;
    if (i !== e || i === ds) {
      this.valueError(s, 'invalid_timestamp', `bad timestamp "${clip(b.slice(s, e))}": want an integer in ${p.name}`);
      return;
    }
    let z = ds;
    while (z < e - 1 && b.charCodeAt(z) === D0) z++;
    const nd = e - z;
    const max = p.maxDigits;
    if (nd > max.length || (nd === max.length && digitsAbove(b, z, max))) {
      this.valueError(s, 'invalid_timestamp', `timestamp ${clip(b.slice(s, e))} (${p.name}) is out of range: InfluxDB keeps times between 1677-09-21 and 2262-04-11`);
      return;
    }
    const zero = nd === 1 && b.charCodeAt(z) === D0;
    // Milliseconds: drop the sub-millisecond digits (flooring), or scale up.
    const keep = nd - p.dropDigits;
    let q = 0;
    for (let k = z; k < z + keep; k++) q = q * 10 + (b.charCodeAt(k) - D0);
    let rem = false;
    for (let k = Math.max(z, e - p.dropDigits); k < e; k++) {
      if (b.charCodeAt(k) !== D0) {
        rem = true;
        break;
      }
    }
    q *= p.msPerUnit;
    const ms = neg ? -q - (rem ? 1 : 0) : q;
    this.tsMs = ms === 0 ? 0 : ms;
    if (zero) this.tsNanos = '0';
    else if (p.nsZeros >= 0) this.tsNanos = (neg ? '-' : '') + b.slice(z, e) + '000000000'.slice(0, p.nsZeros);
    else this.tsNanos = (BigInt(b.slice(neg ? s : z, e)) * p.nsPerUnit).toString();
    this.hasTimestamp = true;
  }
}

/** True when the max.length digits at b[z..] are a larger number than max. */
function digitsAbove(b: string, z: number, max: string): boolean {
  for (let k = 0; k < max.length; k++) {
    const d = b.charCodeAt(z + k) - max.charCodeAt(k);
    if (d !== 0) return d > 0;
  }
  return false;
}

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB;
}

/** 1 for true, 0 for false, -1 when [s, e) is not one of InfluxDB's boolean spellings. */
function parseBool(b: string, s: number, e: number): number {
  switch (e - s) {
    case 1: {
      const c = b.charCodeAt(s);
      return c === 116 || c === 84 ? 1 : c === 102 || c === 70 ? 0 : -1;
    }
    case 4:
      return b.startsWith('true', s) || b.startsWith('True', s) || b.startsWith('TRUE', s) ? 1 : -1;
    case 5:
      return b.startsWith('false', s) || b.startsWith('False', s) || b.startsWith('FALSE', s) ? 0 : -1;
    default:
      return -1;
  }
}

/** Unescapes a name: `\,` and `\ ` (and `\=` when eqSpecial); other backslashes stay. */
function unescapeName(b: string, s: number, e: number, eqSpecial: boolean): string {
  let out = '';
  let from = s;
  for (let i = s; i < e - 1; i++) {
    if (b.charCodeAt(i) !== BS) continue;
    const n = b.charCodeAt(i + 1);
    if (n === COMMA || n === SPACE || (eqSpecial && n === EQ)) {
      out += b.slice(from, i);
      from = i + 1;
      i++;
    }
  }
  return out + b.slice(from, e);
}

/** Unescapes a string field value: `\"` and `\\`; other backslashes stay. */
function unescapeString(b: string, s: number, e: number): string {
  let out = '';
  let from = s;
  for (let i = s; i < e - 1; i++) {
    if (b.charCodeAt(i) !== BS) continue;
    const n = b.charCodeAt(i + 1);
    if (n === QUOTE || n === BS) {
      out += b.slice(from, i);
      from = i + 1;
      i++;
    }
  }
  return out + b.slice(from, e);
}

/** Shortens a piece of input quoted in a message. */
function clip(s: string): string {
  return s.length <= 64 ? s : `${s.slice(0, 64)}…`;
}
