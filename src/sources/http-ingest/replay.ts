/**
 * Dead-letter replay: selected dead letters go through the one ingest path
 * again, e.g. after a device's firmware or a limit was fixed. Each ends
 * stored, duplicate, or dead-lettered again (a new dead letter, source
 * `replay`: `rejected`, or `conflict` when its event_id is still taken by
 * other content); the original dead letter is kept for the record. No reply (ACK
 * message) is sent: the device is not waiting for one.
 *
 * A dead letter from an MQTT topic is decoded by the route that takes the
 * topic now, with the device it names; one from `POST /ingest` by the
 * seed001-json codec. Line-protocol writes over HTTP are not replayed: the
 * request's precision is not kept, so their timestamps could not be read
 * back faithfully; they are reported `skipped`, as is a topic no route takes.
 */
import type { Codec } from '../../codecs/codec.js';
import { seed001Codec } from '../../codecs/seed001-json/index.js';
import type { ReasonCode } from '../../core/errors.js';
import type { Ingest, IngestMessage } from '../../pipeline/ingest.js';
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
  constructor(private readonly ingest: Ingest) {}

  async replay(dls: StoredDeadLetter[]): Promise<ReplayResult[]> {
    return Promise.all(
      dls.map((d) => {
        let codec: Codec;
        let topicDeviceId: string | undefined;
        if (d.topic === INGEST_ROUTE) {
          codec = seed001Codec;
        } else {
          // HTTP routes are not topics, whatever a `#` route would say.
          const m = d.topic.startsWith('POST /') ? undefined : this.ingest.route(d.topic);
          if (m === undefined) return Promise.resolve<ReplayResult>({ id: d.id, status: 'skipped', message: `dead letters from ${d.topic} cannot be replayed` });
          codec = m.route.codec;
          topicDeviceId = m.deviceId;
        }
        const msg = this.ingest.decode(codec, d.payload, { topic: d.topic, source: 'replay', topicDeviceId });
        return this.ingest.submit(msg).then((done) => summarise(d.id, done));
      }),
    );
  }
}

/** One result for the message: its first refusal if any part was refused, else stored (or duplicate). */
function summarise(id: number, msg: IngestMessage): ReplayResult {
  const parts = msg.parts!;
  const refused = parts.find((p) => p.outcome?.status === 'rejected' || p.outcome?.status === 'conflict');
  const o = refused?.outcome;
  if (refused !== undefined && (o?.status === 'rejected' || o?.status === 'conflict')) {
    const dl = o.deadLetter;
    const eventId = refused.kind === 'event' ? refused.event.eventId : refused.eventId;
    return eventId === null ? { id, status: o.status, reason: dl.reason, message: dl.message } : { id, status: o.status, event_id: eventId, reason: dl.reason, message: dl.message };
  }
  const first = parts.find((p) => p.kind === 'event');
  if (first?.kind !== 'event') return { id, status: 'skipped', message: 'the payload holds no events' };
  return { id, status: msg.stored > 0 ? 'stored' : 'duplicate', event_id: first.event.eventId };
}
