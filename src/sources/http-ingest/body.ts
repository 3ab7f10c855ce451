/**
 * Splits an HTTP ingest body into event documents: one JSON object, a JSON
 * array of objects, or NDJSON (one object per line). Each document keeps the
 * bytes a dead letter would carry.
 *
 * @example
 * splitIngestBody(Buffer.from('[{"a":1},{"a":2}]'), 'application/json')
 * // { ok: true, docs: [{ doc: {a:1}, raw: <{"a":1}> }, ...] }
 */
import { isUtf8 } from 'node:buffer';

export interface IngestDoc {
  /** Parsed JSON, or undefined when the NDJSON line did not parse (see `error`). */
  doc: unknown;
  /** Bytes for a dead letter: the line, the whole body, or the element re-serialised. */
  raw: () => Buffer;
  /** Set for an NDJSON line that is not JSON: that line alone is rejected. */
  error?: string;
}

export type SplitResult = { ok: true; docs: IngestDoc[] } | { ok: false; code: 'invalid_utf8' | 'invalid_json'; message: string };

export function isNdjson(contentType: string | undefined): boolean {
  const t = (contentType ?? '').split(';')[0].trim().toLowerCase();
  return t === 'application/x-ndjson' || t === 'application/ndjson' || t === 'application/jsonl' || t === 'application/json-lines';
}

export function splitIngestBody(body: Buffer, contentType: string | undefined): SplitResult {
  if (!isUtf8(body)) return { ok: false, code: 'invalid_utf8', message: 'the request body is not valid UTF-8' };
  const text = body.toString('utf8');
  if (isNdjson(contentType)) {
    const docs: IngestDoc[] = [];
    let start = 0;
    while (start <= text.length) {
      let end = text.indexOf('\n', start);
      if (end === -1) end = text.length;
      const line = text.slice(start, end).replace(/\r$/, '');
      start = end + 1;
      if (line.trim() === '') continue;
      try {
        const doc = JSON.parse(line);
        docs.push({ doc, raw: () => Buffer.from(line) });
      } catch (err) {
        docs.push({ doc: undefined, raw: () => Buffer.from(line), error: (err as Error).message });
      }
    }
    return { ok: true, docs };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { ok: false, code: 'invalid_json', message: `the request body is not valid JSON: ${(err as Error).message}` };
  }
  if (Array.isArray(parsed)) {
    return { ok: true, docs: parsed.map((doc) => ({ doc, raw: () => Buffer.from(JSON.stringify(doc) ?? 'null') })) };
  }
  return { ok: true, docs: [{ doc: parsed, raw: () => body }] };
}
