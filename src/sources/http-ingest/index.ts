/**
 * HTTP ingestion of seed-001 events (`POST /ingest`): one event, a JSON
 * array, or NDJSON. The body goes through the one ingest path
 * (pipeline/ingest.ts) with the seed001-json codec, like an MQTT message:
 * same checks, batch writer and dead letters. The answer is sent only after
 * the batches holding the request's events have committed.
 *
 * Takes: a body, its Content-Type, the caller's token. Gives: one result per event.
 */
import { mayWriteDevice, type TokenRecord } from '../../auth/tokens.js';
import type { ReasonCode } from '../../core/errors.js';
import { ApiError, storeUnavailable } from '../../core/http-error.js';
import { seed001Codec } from '../../codecs/seed001-json/index.js';
import type { BatchWriter } from '../../pipeline/batch-writer.js';
import type { Ingest } from '../../pipeline/ingest.js';
import { admit, DEFAULT_ADMISSION_WAIT_MS, overloaded } from './admission.js';

export const INGEST_ROUTE = 'POST /ingest';

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
    private readonly path: Ingest,
    private readonly writer: BatchWriter,
    /** False until the store is migrated and while shutting down. */
    readonly isReady: () => boolean = () => true,
    /** How long a request waits for room at TELEHUB_MAX_INFLIGHT before it is answered 503 (admission.ts). */
    private readonly admissionWaitMs = DEFAULT_ADMISSION_WAIT_MS,
  ) {}

  async ingest(body: Buffer, contentType: string | undefined, token: TokenRecord): Promise<IngestAnswer> {
    if (!this.isReady() || !this.writer.storeHealthy) {
      throw storeUnavailable();
    }
    const msg = this.path.decode(seed001Codec, body, { topic: INGEST_ROUTE, source: 'http', contentType: contentType ?? '' });
    // A body that cannot be read at all is the client's to fix: 400, nothing dead-lettered.
    if (msg.whole !== undefined) throw new ApiError(400, msg.whole.reason, msg.whole.message);
    const parts = msg.parts!;
    const n = parts.length;
    if (n === 0) throw new ApiError(400, 'invalid_request', 'the request holds no events');

    // A token bound to devices may not write for others: refuse the whole request, store nothing.
    const denied = new Set<string>();
    for (const p of parts) if (p.kind === 'event' && !mayWriteDevice(token, p.event.deviceId)) denied.add(p.event.deviceId);
    if (denied.size > 0) throw new ApiError(403, 'forbidden', `this token may not write for device ${[...denied].slice(0, 5).join(', ')}`);
    if (!(await admit(this.writer, this.admissionWaitMs))) throw overloaded();

    // One promise for the request, settled when its last part has committed.
    await this.path.submit(msg);

    const results: IngestResult[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const p = parts[i];
      const o = p.outcome!;
      if (o.status === 'rejected' || o.status === 'conflict') {
        const dl = o.deadLetter;
        const eventId = p.kind === 'event' ? p.event.eventId : p.eventId;
        results[i] = { index: p.part, event_id: eventId, device_id: dl.deviceId, status: o.status, reason: dl.reason, message: dl.message };
      } else {
        const e = (p as { event: { eventId: string; deviceId: string } }).event;
        results[i] = { index: p.part, event_id: e.eventId, device_id: e.deviceId, status: o.status };
      }
    }
    // Everything refused: the client must fix its input (the refusals are dead-lettered all the same).
    const statusCode = msg.rejected === n ? 400 : 202;
    return { statusCode, body: { accepted: msg.stored + msg.duplicate, stored: msg.stored, duplicate: msg.duplicate, conflict: msg.conflict, rejected: msg.rejected, results } };
  }
}
