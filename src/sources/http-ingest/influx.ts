/**
 * InfluxDB line-protocol writes (`/api/v2/write`, v1 `/write`): each field of
 * each line becomes an event (see src/codecs/line-protocol/README.md), stored
 * through the same batch writer. Answers in InfluxDB's own terms so Telegraf
 * and the InfluxDB client libraries work unchanged: 204 when every line was
 * written, 400 `{"code":"invalid","message":"partial write: …"}` when some were
 * refused (the others are written, the refused lines dead-lettered).
 */
import { isUtf8 } from 'node:buffer';
import { mayWriteDevice, type TokenRecord } from '../../auth/tokens.js';
import type { Limits } from '../../core/config.js';
import type { DeadLetter } from '../../core/event.js';
import { parseLineProtocol, parsePrecision } from '../../codecs/line-protocol/index.js';
import type { BatchWriter, ItemOutcome } from '../../pipeline/batch-writer.js';
import { makeDeadLetter } from '../../pipeline/dead-letter.js';
import { admit, DEFAULT_ADMISSION_WAIT_MS, overloaded } from './admission.js';

export interface LineProtocolSettings {
  deviceTag: string;
  fallbackDeviceTags: string[];
  eventType: 'measurement.field' | 'field';
}

export type InfluxAnswer = { statusCode: 204 } | { statusCode: 400 | 401 | 403 | 503; body: { code: string; message: string }; headers?: Record<string, string> };

export class InfluxWrite {
  constructor(
    private readonly writer: BatchWriter,
    private readonly limits: Limits,
    private readonly settings: LineProtocolSettings,
    readonly isReady: () => boolean,
    /** How long a request waits for room at TELEHUB_MAX_INFLIGHT before it is answered 503 (admission.ts). */
    private readonly admissionWaitMs = DEFAULT_ADMISSION_WAIT_MS,
  ) {}

  async write(body: Buffer, precisionParam: string | undefined, route: string, token: TokenRecord): Promise<InfluxAnswer> {
    if (!this.isReady() || !this.writer.storeHealthy) {
      return { statusCode: 503, body: { code: 'unavailable', message: 'the store is not available; nothing was written' }, headers: { 'retry-after': '5' } };
    }
    const precision = precisionParam ?? 'ns';
    if (parsePrecision(precision) === undefined) return { statusCode: 400, body: { code: 'invalid', message: `invalid precision "${precision}"` } };
    if (!isUtf8(body)) return { statusCode: 400, body: { code: 'invalid', message: 'the body is not valid UTF-8' } };
    const receivedAt = Date.now();
    const parsed = parseLineProtocol(body.toString('utf8'), {
      precision,
      receivedAt,
      deviceTag: this.settings.deviceTag,
      fallbackDeviceTags: this.settings.fallbackDeviceTags,
      eventTypeTemplate: this.settings.eventType,
      limits: this.limits,
    });
    const denied = parsed.events.find((e) => !mayWriteDevice(token, e.event.deviceId));
    if (denied) return { statusCode: 403, body: { code: 'forbidden', message: `this token may not write for device ${denied.event.deviceId}` } };
    if (!(await admit(this.writer, this.admissionWaitMs))) {
      return { statusCode: 503, body: { code: 'unavailable', message: overloaded().message }, headers: { 'retry-after': '1' } };
    }

    const starts = lineStarts(body);
    let rawLine = 0;
    let raw: Buffer = Buffer.alloc(0);
    let rejectedLines = parsed.errors.length;
    let firstStoreRefusal: string | undefined;
    const total = parsed.events.length + parsed.errors.length;
    // One promise for the request and one callback shared by its items,
    // rather than a promise and a closure per event.
    await new Promise<void>((resolve) => {
      let left = total;
      if (left === 0) return resolve();
      const done = (o: ItemOutcome) => {
        // A conflict (the point's id is taken by other content) is dead-lettered like a refusal: not written.
        if (o.status === 'rejected' || o.status === 'conflict') {
          rejectedLines++;
          firstStoreRefusal ??= o.deadLetter.message;
        }
        if (--left === 0) resolve();
      };
      // Unparsable lines are counted in rejectedLines already.
      const deadLettered = () => {
        if (--left === 0) resolve();
      };
      for (const { event, line } of parsed.events) {
        // Fields of one line share its bytes (kept for a dead letter should the store refuse it).
        if (line !== rawLine) {
          rawLine = line;
          raw = lineBytes(body, starts, line);
        }
        this.writer.submit({ kind: 'event', event, raw, topic: route, source: 'http', done });
      }
      for (const err of parsed.errors) {
        const deadLetter: DeadLetter = makeDeadLetter({ reason: err.reason, message: `line ${err.line}: ${err.message}`, topic: route, deviceId: null, payload: Buffer.from(err.text), receivedAt, source: 'http' });
        this.writer.submit({ kind: 'dead', deadLetter, done: deadLettered });
      }
    });
    if (rejectedLines === 0) return { statusCode: 204 };
    const first = parsed.errors[0] ? `line ${parsed.errors[0].line}: ${parsed.errors[0].message}` : firstStoreRefusal;
    return { statusCode: 400, body: { code: 'invalid', message: `partial write: ${first} dropped=${rejectedLines}` } };
  }
}

/** Offsets where each line of the body starts. */
function lineStarts(body: Buffer): number[] {
  const starts = [0];
  for (let i = body.indexOf(10); i !== -1; i = body.indexOf(10, i + 1)) starts.push(i + 1);
  return starts;
}

/** The bytes of 1-based line `n`, without its line break. */
function lineBytes(body: Buffer, starts: number[], n: number): Buffer {
  const start = starts[n - 1] ?? body.length;
  let end = n < starts.length ? starts[n] - 1 : body.length;
  if (end > start && body[end - 1] === 13) end--;
  return body.subarray(start, end);
}
