/**
 * Splits an HTTP ingest body into event documents: one JSON object, a JSON
 * array of objects, or NDJSON (one object per line). Each document keeps the
 * bytes a dead letter would carry: the whole body, the line, or the array
 * element exactly as sent.
 *
 * @example
 * splitIngestBody(Buffer.from('[{"a":1},{"a":2}]'), 'application/json')
 * // { ok: true, docs: [{ doc: {a:1}, raw: () => <{"a":1}> }, ...] }
 */
import { isUtf8 } from 'node:buffer';

export interface IngestDoc {
  /** Parsed JSON, or undefined when the NDJSON line did not parse (see `error`). */
  doc: unknown;
  /** Bytes for a dead letter: the line, the whole body, or the array element as sent. */
  raw(): Buffer;
  /** Set for an NDJSON line that is not JSON: that line alone is rejected. */
  error?: string;
}

export type SplitResult = { ok: true; docs: IngestDoc[] } | { ok: false; code: 'invalid_utf8' | 'invalid_json'; message: string };

/**
 * A document and where its bytes are in the body. A class rather than an
 * object with a closure: a 500-event batch makes 500 of these per request.
 */
class Doc implements IngestDoc {
  constructor(
    readonly doc: unknown,
    private readonly body: Buffer,
    private readonly start: number,
    private readonly end: number,
    readonly error?: string,
  ) {}

  raw(): Buffer {
    // A view, not a copy: the body stays referenced until the request's events are committed anyway.
    return this.start === 0 && this.end === this.body.length ? this.body : this.body.subarray(this.start, this.end);
  }
}

/** An array element whose bytes could not be located: re-serialised, as before the scanner. */
class Reserialised implements IngestDoc {
  constructor(readonly doc: unknown) {}
  raw(): Buffer {
    return Buffer.from(JSON.stringify(this.doc) ?? 'null');
  }
}

export function isNdjson(contentType: string | undefined): boolean {
  if (contentType === 'application/json') return false; // the common case, without the parsing below
  const t = (contentType ?? '').split(';')[0].trim().toLowerCase();
  return t === 'application/x-ndjson' || t === 'application/ndjson' || t === 'application/jsonl' || t === 'application/json-lines';
}

export function splitIngestBody(body: Buffer, contentType: string | undefined): SplitResult {
  if (!isUtf8(body)) return { ok: false, code: 'invalid_utf8', message: 'the request body is not valid UTF-8' };
  if (isNdjson(contentType)) return { ok: true, docs: splitNdjson(body) };
  let parsed: unknown;
  try {
    // One JSON.parse of the whole body: much faster than one per element.
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { ok: false, code: 'invalid_json', message: `the request body is not valid JSON: ${(err as Error).message}` };
  }
  if (!Array.isArray(parsed)) return { ok: true, docs: [new Doc(parsed, body, 0, body.length)] };
  const n = parsed.length;
  const docs: IngestDoc[] = new Array(n);
  const bounds = arrayElementBounds(body, n);
  if (bounds === undefined) {
    for (let i = 0; i < n; i++) docs[i] = new Reserialised(parsed[i]);
  } else {
    for (let i = 0; i < n; i++) docs[i] = new Doc(parsed[i], body, bounds[2 * i], bounds[2 * i + 1]);
  }
  return { ok: true, docs };
}

/** NDJSON lines are split on bytes (the offsets are the dead letters' bytes) and parsed one by one. */
function splitNdjson(body: Buffer): IngestDoc[] {
  const docs: IngestDoc[] = [];
  const len = body.length;
  let start = 0;
  while (start <= len) {
    let end = body.indexOf(10, start);
    const next = end === -1 ? len + 1 : end + 1;
    if (end === -1) end = len;
    if (end > start && body[end - 1] === 13) end--;
    const line = body.toString('utf8', start, end);
    if (line.trim() !== '') {
      try {
        docs.push(new Doc(JSON.parse(line), body, start, end));
      } catch (err) {
        docs.push(new Doc(undefined, body, start, end, (err as Error).message));
      }
    }
    start = next;
  }
  return docs;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/**
 * Start and end offsets of each element of the top-level JSON array in
 * `body` (already known to be valid JSON holding `count` elements), without
 * the whitespace around them. A byte scan is several times cheaper than
 * re-serialising each parsed element, and it keeps the bytes as sent.
 * Returns undefined if the scan does not find exactly `count` elements.
 */
export function arrayElementBounds(body: Buffer, count: number): Int32Array | undefined {
  const out = new Int32Array(count * 2);
  const n = body.length;
  let k = 0;
  let depth = 0;
  let start = -1;
  let last = -1;
  for (let i = 0; i < n; i++) {
    const c = body[i];
    if (c === QUOTE) {
      if (depth === 1 && start < 0) start = i;
      for (i++; i < n; i++) {
        const d = body[i];
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
      last = i;
    } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      // whitespace between tokens
    } else if (c === 0x5b || c === 0x7b) {
      if (depth === 1 && start < 0) start = i;
      depth++;
      last = i;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
      if (depth === 0) {
        if (start >= 0) {
          if (k >= out.length) return undefined;
          out[k++] = start;
          out[k++] = last + 1;
        }
        break;
      }
      last = i;
    } else if (c === COMMA && depth === 1) {
      if (k >= out.length || start < 0) return undefined;
      out[k++] = start;
      out[k++] = last + 1;
      start = -1;
    } else {
      // numbers, true, false, null
      if (depth === 1 && start < 0) start = i;
      last = i;
    }
  }
  return k === out.length ? out : undefined;
}
