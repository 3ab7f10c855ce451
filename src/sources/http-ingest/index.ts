/**
 * HTTP ingestion of seed-001 events (`POST /ingest`): one event, a JSON
 * array, or NDJSON. Every event goes through the same codec checks, batch
 * writer and dead letters as MQTT ones; the answer is sent only after the
 * batches holding the request's events have committed.
 *
 * Takes: a parsed body, the caller's token. Gives: one result per event.
 */
import type { Logger } from 'pino';
import { mayWriteDevice, type TokenRecord } from '../../auth/tokens.js';
import type { Limits } from '../../core/config.js';
import { deadLetterToJson, type DeadLetter, type TelemetryEvent } from '../../core/event.js';
import type { ReasonCode } from '../../core/errors.js';
import { validateSeed001, type DecodeContext, type DecodeResult } from '../../codecs/seed001-json/index.js';
import { ApiError } from '../../api/errors.js';
import type { BatchWriter, ItemOutcome } from '../../pipeline/batch-writer.js';
import { makeDeadLetter } from '../../pipeline/dead-letter.js';
import type { MessagePublisher } from '../../pipeline/ingest.js';
import { admit, DEFAULT_ADMISSION_WAIT_MS, overloaded } from './admission.js';
import { splitIngestBody } from './body.js';

export const INGEST_ROUTE = 'POST /ingest';

export function storeUnavailable(): ApiError {
  return new ApiError(503, 'store_unavailable', 'the store is not available (starting, failing or shutting down); nothing was acknowledged', undefined, { 'retry-after': '5' });
}

export interface IngestResult {
  index: number;
  event_id: string | null;
  device_id: string | null;
  status: 'stored' | 'duplicate' | 'conflict' | 'rejected';
  reason?: ReasonCode;
  message?: string;
}

export interface IngestAnswer {
  statusCode: 202 | 400;
  body: { accepted: number; stored: number; duplicate: number; conflict: number; rejected: number; results: IngestResult[] };
}

export class HttpIngest {
  constructor(
    private readonly writer: BatchWriter,
    private readonly limits: Limits,
    private readonly deadLetterTopic: string,
    private readonly ackQos: 0 | 1,
    private readonly log: Logger,
    /** Where dead letters are also published (the MQTT side), when there is one. */
    private readonly publisher?: MessagePublisher,
    /** False until the store is migrated and while shutting down. */
    readonly isReady: () => boolean = () => true,
    /** How long a request waits for room at TELEHUB_MAX_INFLIGHT before it is answered 503 (admission.ts). */
    private readonly admissionWaitMs = DEFAULT_ADMISSION_WAIT_MS,
  ) {}

  async ingest(body: Buffer, contentType: string | undefined, token: TokenRecord): Promise<IngestAnswer> {
    if (!this.isReady() || !this.writer.storeHealthy) {
      throw storeUnavailable();
    }
    const split = splitIngestBody(body, contentType);
    if (!split.ok) throw new ApiError(400, split.code, split.message);
    const docs = split.docs;
    const n = docs.length;
    if (n === 0) throw new ApiError(400, 'invalid_request', 'the request holds no events');

    const receivedAt = Date.now();
    const ctx: DecodeContext = { topicDeviceId: undefined, receivedAt, limits: this.limits };
    const decoded: DecodeResult[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const d = docs[i];
      decoded[i] = d.error !== undefined ? { ok: false, reason: 'invalid_json', message: `line is not valid JSON: ${d.error}`, deviceId: null } : validateSeed001(d.doc, ctx);
    }

    // A token bound to devices may not write for others: refuse the whole request, store nothing.
    const denied = new Set<string>();
    for (const r of decoded) if (r.ok && !mayWriteDevice(token, r.event.deviceId)) denied.add(r.event.deviceId);
    if (denied.size > 0) throw new ApiError(403, 'forbidden', `this token may not write for device ${[...denied].slice(0, 5).join(', ')}`);
    if (!(await admit(this.writer, this.admissionWaitMs))) throw overloaded();

    // One promise for the request, settled when the last event's batch has
    // committed (not one per event: a 500-event batch would make 500).
    const results: IngestResult[] = new Array(n);
    await new Promise<void>((resolve) => {
      let left = n;
      for (let index = 0; index < n; index++) {
        const r = decoded[index];
        const d = docs[index];
        const done = (outcome: ItemOutcome) => {
          if (outcome.status === 'rejected' || outcome.status === 'conflict') {
            const dl = outcome.deadLetter;
            results[index] = { index, event_id: r.ok ? r.event.eventId : rejectedEventId(d.doc), device_id: dl.deviceId, status: outcome.status, reason: dl.reason, message: dl.message };
            this.publishDeadLetter(dl);
          } else {
            const e = (r as { event: TelemetryEvent }).event;
            results[index] = { index, event_id: e.eventId, device_id: e.deviceId, status: outcome.status };
          }
          if (--left === 0) resolve();
        };
        if (r.ok) {
          this.writer.submit({ kind: 'event', event: r.event, raw: d.raw(), topic: INGEST_ROUTE, source: 'http', done });
        } else {
          const deadLetter: DeadLetter = makeDeadLetter({ reason: r.reason, message: r.message, topic: INGEST_ROUTE, deviceId: r.deviceId, payload: d.raw(), receivedAt, source: 'http' });
          this.writer.submit({ kind: 'dead', deadLetter, done });
        }
      }
    });

    let stored = 0;
    let duplicate = 0;
    let conflict = 0;
    let rejected = 0;
    for (const r of results) {
      if (r.status === 'stored') stored++;
      else if (r.status === 'duplicate') duplicate++;
      else if (r.status === 'conflict') conflict++;
      else rejected++;
    }
    // Everything refused: the client must fix its input (the refusals are dead-lettered all the same).
    const statusCode = rejected === results.length ? 400 : 202;
    return { statusCode, body: { accepted: stored + duplicate, stored, duplicate, conflict, rejected, results } };
  }

  private publishDeadLetter(dl: DeadLetter): void {
    if (!this.publisher) return;
    try {
      this.publisher.publish(this.deadLetterTopic, Buffer.from(JSON.stringify(deadLetterToJson(dl))), this.ackQos);
    } catch (err) {
      this.log.warn({ err }, 'Could not publish an HTTP dead letter on MQTT; it is kept in the store.');
    }
  }
}

/** The event_id a refused document gave, if it gave one as a string (clipped: it may be why it was refused). */
function rejectedEventId(doc: unknown): string | null {
  const id = (doc as { event_id?: unknown } | null | undefined)?.event_id;
  return typeof id === 'string' ? id.slice(0, 256) : null;
}
