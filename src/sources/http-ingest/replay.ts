/**
 * Dead-letter replay: selected dead letters go through the pipeline again,
 * e.g. after a device's firmware or a limit was fixed. Each ends stored,
 * duplicate, or dead-lettered again (a new dead letter, source `replay`:
 * `rejected`, or `conflict` when its event_id is still taken by other content);
 * the original dead letter is kept for the record.
 *
 * Seed-001 payloads (MQTT and POST /ingest) are replayed with the device the
 * original topic named. Line-protocol lines are not: the request's precision
 * is not kept, so their timestamps could not be read back faithfully; they
 * are reported `skipped`.
 */
import type { Limits } from '../../core/config.js';
import type { ReasonCode } from '../../core/errors.js';
import { decodeSeed001 } from '../../codecs/seed001-json/index.js';
import type { BatchWriter, ItemOutcome } from '../../pipeline/batch-writer.js';
import { makeDeadLetter } from '../../pipeline/dead-letter.js';
import { compileTopicFilter } from '../../pipeline/topic-matcher.js';
import type { StoredDeadLetter } from '../../storage/store.js';
import { INGEST_ROUTE } from './index.js';

export interface ReplayResult {
  id: number;
  status: 'stored' | 'duplicate' | 'conflict' | 'rejected' | 'skipped';
  event_id?: string;
  reason?: ReasonCode;
  message?: string;
}

export class DeadLetterReplay {
  private readonly match: ReturnType<typeof compileTopicFilter>;

  constructor(
    private readonly writer: BatchWriter,
    private readonly limits: Limits,
    eventsTopic: string,
  ) {
    this.match = compileTopicFilter(eventsTopic);
  }

  async replay(dls: StoredDeadLetter[]): Promise<ReplayResult[]> {
    const receivedAt = Date.now();
    return Promise.all(
      dls.map((d) => {
        const m = this.match(d.topic);
        if (m === undefined && d.topic !== INGEST_ROUTE) {
          return Promise.resolve<ReplayResult>({ id: d.id, status: 'skipped', message: `dead letters from ${d.topic} cannot be replayed` });
        }
        const r = decodeSeed001(d.payload, { topicDeviceId: m?.deviceId, receivedAt, limits: this.limits });
        return new Promise<ReplayResult>((resolve) => {
          if (r.ok) {
            this.writer.submit({
              kind: 'event',
              event: r.event,
              raw: d.payload,
              topic: d.topic,
              source: 'replay',
              done: (o: ItemOutcome) =>
                resolve(
                  o.status === 'rejected' || o.status === 'conflict'
                    ? { id: d.id, status: o.status, event_id: r.event.eventId, reason: o.deadLetter.reason, message: o.deadLetter.message }
                    : { id: d.id, status: o.status, event_id: r.event.eventId },
                ),
            });
          } else {
            const deadLetter = makeDeadLetter({ reason: r.reason, message: r.message, topic: d.topic, deviceId: r.deviceId, payload: d.payload, receivedAt, source: 'replay' });
            this.writer.submit({ kind: 'dead', deadLetter, done: () => resolve({ id: d.id, status: 'rejected', reason: r.reason, message: r.message }) });
          }
        });
      }),
    );
  }
}
