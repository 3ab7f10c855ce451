/**
 * The one ingest path. Every source hands it bytes: both MQTT sources (a
 * message on a routed topic), `POST /ingest`, the line-protocol endpoints and
 * dead-letter replay. It decodes them with the route's codec, dead-letters
 * what the codec refused, submits events and dead letters to the batch
 * writer, and once the batches holding them have committed publishes each
 * event's reply (seed 001's ACK message, if the route sends one) or dead
 * letter, and only then completes the message so the source can send its
 * PUBACK / HTTP answer.
 *
 * The order "publish ACK, then release the PUBACK" means a crash between the
 * two yields a redelivery answered `duplicate`, never a lost ACK (design §4).
 *
 * @example
 * const m = ingest.route(topic);
 * if (m) ingest.take(m, topic, payload, 'mqtt', publisher, (msg) => sendPuback());
 */
import type { Logger } from 'pino';
import type { Codec, CodecContext, CodecRejection } from '../codecs/codec.js';
import type { Config } from '../core/config.js';
import { deadLetterToJson, type DeadLetter, type SourceKind, type StoreStatus, type TelemetryEvent } from '../core/event.js';
import type { Metrics } from '../core/metrics.js';
import type { BatchWriter } from './batch-writer.js';
import { IngestMessage, type DeadPart, type EventPart, type MessageDone, type MessageHost, type MessagePublisher } from './message.js';
import type { AckTopic, RouteMatch, RouteTable } from './routes.js';

export { IngestMessage, type MessageDone, type MessagePublisher } from './message.js';

/** What HTTP and replay tell about a message besides its bytes. */
export interface MessageOrigin {
  /** The topic or HTTP route it came by (`POST /ingest`), kept with its dead letters. */
  topic: string;
  source: SourceKind;
  /** The device the topic names, if any. */
  topicDeviceId?: string;
  /** HTTP: the request's Content-Type and, for the line protocol, its precision. */
  contentType?: string;
  precision?: string;
  /** The seed001-ack reply to publish per event, if any. */
  ack?: AckTopic;
}

export class Ingest implements MessageHost {
  /** Where messages without a connection of their own (HTTP, replay) publish dead letters; set once a broker runs. */
  deadLetterOut: MessagePublisher | undefined;

  constructor(
    private readonly writer: BatchWriter,
    readonly routes: RouteTable,
    private readonly config: Pick<Config, 'topics' | 'limits'>,
    private readonly log: Logger,
    private readonly metrics?: Metrics,
  ) {}

  /** The route that takes this topic, or undefined when telehub does not ingest it. */
  route(topic: string): RouteMatch | undefined {
    return this.routes.match(topic);
  }

  /**
   * Takes one MQTT message on a routed topic: decodes it and submits its parts
   * as they come. `done(message)` is called exactly once, after every part
   * has committed and its reply or dead letter has been handed to `out`.
   */
  take(m: RouteMatch, topic: string, payload: Buffer, source: SourceKind, out: MessagePublisher, done: MessageDone): void {
    this.metrics?.countReceived(source);
    const receivedAt = Date.now();
    const msg = new IngestMessage(this, topic, source, receivedAt, m.route.ack, out, done, false);
    const ctx: CodecContext = { topicDeviceId: m.deviceId, receivedAt, limits: this.config.limits };
    m.route.codec.decode(payload, ctx, msg);
    msg.release();
  }

  /**
   * Decodes a message and keeps its parts, so the caller can look at them
   * (a token's devices, the in-flight cap) before `submit`ting it.
   */
  decode(codec: Codec, payload: Buffer, origin: MessageOrigin): IngestMessage {
    this.metrics?.countReceived(origin.source);
    const receivedAt = Date.now();
    const msg = new IngestMessage(this, origin.topic, origin.source, receivedAt, origin.ack, this.deadLetterOut, undefined, true);
    codec.decode(payload, { topicDeviceId: origin.topicDeviceId, receivedAt, limits: this.config.limits, contentType: origin.contentType, precision: origin.precision }, msg);
    return msg;
  }

  /** Submits a decoded message; resolves once every part has completed (and was replied to). */
  submit(msg: IngestMessage): Promise<IngestMessage> {
    return new Promise((resolve) => {
      msg.onDone = resolve;
      msg.submitParts();
      msg.release();
    });
  }

  /** @internal */
  submitPart(part: EventPart | DeadPart | IngestMessage): void {
    this.writer.submit(part);
  }

  /** @internal */
  logRejection(r: CodecRejection, topic: string): void {
    this.log.debug({ reason: r.reason, topic }, 'Message dead-lettered.');
  }

  /** @internal */
  publishDeadLetter(dl: DeadLetter, out: MessagePublisher | undefined): void {
    if (out === undefined) return;
    try {
      out.publish(this.config.topics.deadLetter, Buffer.from(JSON.stringify(deadLetterToJson(dl))), this.config.topics.ackQos);
    } catch (err) {
      this.log.warn({ err }, 'Could not publish a dead letter on MQTT; it is kept in the store.');
    }
  }

  /** @internal */
  publishAck(ack: AckTopic, event: TelemetryEvent, status: StoreStatus, out: MessagePublisher): void {
    const body = '{"schema":1,"event_id":' + JSON.stringify(event.eventId) + ',"device_id":' + JSON.stringify(event.deviceId) + ',"status":"' + status + '"}';
    out.publish(ack.topic(event.deviceId), body, this.config.topics.ackQos);
    this.metrics?.countAcks(1);
  }
}
