/**
 * InfluxDB line-protocol writes (`/api/v2/write`, v1 `/write`): the body goes
 * through the one ingest path with the line-protocol codec (each field of
 * each line becomes an event, see src/codecs/line-protocol/README.md).
 * Answers in InfluxDB's own terms so Telegraf and the InfluxDB client
 * libraries work unchanged: 204 when every line was written, 400
 * `{"code":"invalid","message":"partial write: …"}` when some were refused
 * (the others are written, the refused lines dead-lettered).
 */
import { mayWriteDevice, type TokenRecord } from '../../auth/tokens.js';
import type { Codec } from '../../codecs/codec.js';
import { LineProtocolCodec, parsePrecision } from '../../codecs/line-protocol/index.js';
import type { BatchWriter } from '../../pipeline/batch-writer.js';
import type { Ingest } from '../../pipeline/ingest.js';
import { admit, DEFAULT_ADMISSION_WAIT_MS, overloaded } from './admission.js';

export interface LineProtocolSettings {
  deviceTag: string;
  fallbackDeviceTags: string[];
  eventType: 'measurement.field' | 'field';
}

export type InfluxAnswer = { statusCode: 204 } | { statusCode: 400 | 401 | 403 | 503; body: { code: string; message: string }; headers?: Record<string, string> };

export class InfluxWrite {
  private readonly codec: Codec;

  constructor(
    private readonly ingest: Ingest,
    private readonly writer: BatchWriter,
    settings: LineProtocolSettings,
    readonly isReady: () => boolean,
    /** How long a request waits for room at TELEHUB_MAX_INFLIGHT before it is answered 503 (admission.ts). */
    private readonly admissionWaitMs = DEFAULT_ADMISSION_WAIT_MS,
  ) {
    this.codec = new LineProtocolCodec({ ...settings, precision: 'ns' });
  }

  async write(body: Buffer, precisionParam: string | undefined, route: string, token: TokenRecord): Promise<InfluxAnswer> {
    if (!this.isReady() || !this.writer.storeHealthy) {
      return { statusCode: 503, body: { code: 'unavailable', message: 'the store is not available; nothing was written' }, headers: { 'retry-after': '5' } };
    }
    const precision = precisionParam ?? 'ns';
    if (parsePrecision(precision) === undefined) return { statusCode: 400, body: { code: 'invalid', message: `invalid precision "${precision}"` } };
    const msg = this.ingest.decode(this.codec, body, { topic: route, source: 'http', contentType: '', precision });
    if (msg.whole !== undefined) return { statusCode: 400, body: { code: 'invalid', message: msg.whole.message } };
    const parts = msg.parts!;
    const denied = parts.find((p) => p.kind === 'event' && !mayWriteDevice(token, p.event.deviceId));
    if (denied?.kind === 'event') return { statusCode: 403, body: { code: 'forbidden', message: `this token may not write for device ${denied.event.deviceId}` } };
    if (!(await admit(this.writer, this.admissionWaitMs))) {
      return { statusCode: 503, body: { code: 'unavailable', message: overloaded().message }, headers: { 'retry-after': '1' } };
    }

    await this.ingest.submit(msg);
    // A conflict (the point's id is taken by other content) is dead-lettered like a refusal: not written.
    const dropped = msg.rejected + msg.conflict;
    if (dropped === 0) return { statusCode: 204 };
    // The first line the codec refused, else the first event the store refused.
    const refused = parts.find((p) => p.kind === 'dead') ?? parts.find((p) => p.outcome?.status === 'rejected' || p.outcome?.status === 'conflict');
    const o = refused?.outcome;
    const first = o?.status === 'rejected' || o?.status === 'conflict' ? o.deadLetter.message : undefined;
    return { statusCode: 400, body: { code: 'invalid', message: `partial write: ${first} dropped=${dropped}` } };
  }
}
