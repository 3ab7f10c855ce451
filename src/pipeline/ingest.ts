/**
 * What every MQTT source does with one received message: match the topic,
 * decode, hand the event (or its dead letter) to the batch writer, and once
 * the batch has committed publish the ACK (or the dead letter) and only then
 * call `release` so the source can send its PUBACK / HTTP answer.
 *
 * The order "publish ACK, then release the PUBACK" means a crash between the
 * two yields a redelivery answered `duplicate`, never a lost ACK (design §4).
 */
import type { Logger } from 'pino';
import type { Config } from '../core/config.js';
import { deadLetterToJson, type SourceKind, type StoreStatus, type TelemetryEvent } from '../core/event.js';
import type { Metrics } from '../core/metrics.js';
import { decodeSeed001 } from '../codecs/seed001-json/index.js';
import type { BatchWriter, EventItem, ItemOutcome } from './batch-writer.js';
import { makeDeadLetter } from './dead-letter.js';
import { compileTopicFilter, type TopicMatch } from './topic-matcher.js';

/** Where ACKs and dead letters are published: the source's own connection. A string payload is sent as UTF-8. */
export interface MessagePublisher {
  publish(topic: string, payload: Buffer | string, qos: 0 | 1): void;
}

/**
 * One event on its way through the batch writer: the batch writer's item and
 * its acknowledgement in one object (no closure per message).
 */
class IngestEventItem implements EventItem {
  readonly kind = 'event' as const;
  constructor(
    readonly event: TelemetryEvent,
    readonly raw: Buffer,
    readonly topic: string,
    readonly source: SourceKind,
    private readonly ingest: Ingest,
    private readonly out: MessagePublisher,
    private readonly release: (outcome: ItemOutcome) => void,
  ) {}

  done(outcome: ItemOutcome): void {
    if (outcome.status === 'rejected') this.ingest.publishDeadLetter(outcome, this.out);
    else {
      // A conflict is answered on the ACK topic too, so the device learns its id was refused.
      if (outcome.status === 'conflict') this.ingest.publishDeadLetter(outcome, this.out);
      this.ingest.publishAck(this.event.eventId, this.event.deviceId, outcome.status, this.out);
    }
    this.release(outcome);
  }
}

export class Ingest {
  private readonly match: ReturnType<typeof compileTopicFilter>;
  /** ACK_TEMPLATE around its first `{device_id}`. */
  private readonly ackPrefix: string;
  private readonly ackSuffix: string;
  private readonly ackTemplateHasDevice: boolean;

  constructor(
    private readonly writer: BatchWriter,
    private readonly config: Pick<Config, 'topics' | 'limits'>,
    private readonly log: Logger,
    private readonly metrics?: Metrics,
  ) {
    this.match = compileTopicFilter(config.topics.events);
    const template = config.topics.ackTemplate;
    const at = template.indexOf('{device_id}');
    this.ackTemplateHasDevice = at >= 0;
    this.ackPrefix = at >= 0 ? template.slice(0, at) : template;
    this.ackSuffix = at >= 0 ? template.slice(at + '{device_id}'.length) : '';
  }

  /** The topic's match against the events filter, or undefined when telehub does not ingest it. */
  matchTopic(topic: string): TopicMatch | undefined {
    return this.match(topic);
  }

  /**
   * Takes one message. `release(outcome)` is called exactly once, after the
   * commit and after the ACK or dead letter has been handed to `out`.
   * Returns false (and never calls release) when the topic is not an events topic.
   */
  handle(topic: string, payload: Buffer, source: SourceKind, out: MessagePublisher, release: (outcome: ItemOutcome) => void): boolean {
    const m = this.match(topic);
    if (m === undefined) return false;
    this.handleMatched(m, topic, payload, source, out, release);
    return true;
  }

  /** As `handle`, for a topic already matched with `matchTopic`. */
  handleMatched(m: TopicMatch, topic: string, payload: Buffer, source: SourceKind, out: MessagePublisher, release: (outcome: ItemOutcome) => void): void {
    this.metrics?.countReceived(source);
    const receivedAt = Date.now();
    const r = decodeSeed001(payload, { topicDeviceId: m.deviceId, receivedAt, limits: this.config.limits });
    if (r.ok) {
      this.writer.submit(new IngestEventItem(r.event, payload, topic, source, this, out, release));
    } else {
      const deadLetter = makeDeadLetter({ reason: r.reason, message: r.message, topic, deviceId: r.deviceId, payload, receivedAt, source });
      this.log.debug({ reason: r.reason, topic }, 'Message dead-lettered.');
      const done = (outcome: ItemOutcome) => {
        this.publishDeadLetter(outcome, out);
        release(outcome);
      };
      this.writer.submit({ kind: 'dead', deadLetter, done });
    }
  }

  /** @internal */
  publishDeadLetter(outcome: ItemOutcome, out: MessagePublisher): void {
    if (outcome.status !== 'rejected' && outcome.status !== 'conflict') return;
    out.publish(this.config.topics.deadLetter, Buffer.from(JSON.stringify(deadLetterToJson(outcome.deadLetter))), this.config.topics.ackQos);
  }

  /** @internal */
  publishAck(eventId: string, deviceId: string, status: StoreStatus, out: MessagePublisher): void {
    const body = '{"schema":1,"event_id":' + JSON.stringify(eventId) + ',"device_id":' + JSON.stringify(deviceId) + ',"status":"' + status + '"}';
    const topic = this.ackTemplateHasDevice ? this.ackPrefix + deviceId + this.ackSuffix : this.ackPrefix;
    out.publish(topic, body, this.config.topics.ackQos);
    this.metrics?.countAcks(1);
  }
}
