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
import { deadLetterToJson, type SourceKind } from '../core/event.js';
import type { Metrics } from '../core/metrics.js';
import { decodeSeed001 } from '../codecs/seed001-json/index.js';
import type { BatchWriter, ItemOutcome } from './batch-writer.js';
import { makeDeadLetter } from './dead-letter.js';
import { ackTopic, compileTopicFilter, type TopicMatch } from './topic-matcher.js';

/** Where ACKs and dead letters are published: the source's own connection. */
export interface MessagePublisher {
  publish(topic: string, payload: Buffer, qos: 0 | 1): void;
}

export class Ingest {
  private readonly match: ReturnType<typeof compileTopicFilter>;

  constructor(
    private readonly writer: BatchWriter,
    private readonly config: Pick<Config, 'topics' | 'limits'>,
    private readonly log: Logger,
    private readonly metrics?: Metrics,
  ) {
    this.match = compileTopicFilter(config.topics.events);
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
    this.metrics?.received.inc({ source });
    const receivedAt = Date.now();
    const r = decodeSeed001(payload, { topicDeviceId: m.deviceId, receivedAt, limits: this.config.limits });
    if (r.ok) {
      const event = r.event;
      const done = (outcome: ItemOutcome) => {
        if (outcome.status === 'rejected') this.publishDeadLetter(outcome, out);
        else this.publishAck(event.eventId, event.deviceId, outcome.status, out);
        release(outcome);
      };
      this.writer.submit({ kind: 'event', event, raw: payload, topic, source, done });
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

  private publishDeadLetter(outcome: ItemOutcome, out: MessagePublisher): void {
    if (outcome.status !== 'rejected') return;
    out.publish(this.config.topics.deadLetter, Buffer.from(JSON.stringify(deadLetterToJson(outcome.deadLetter))), this.config.topics.ackQos);
  }

  private publishAck(eventId: string, deviceId: string, status: 'stored' | 'duplicate', out: MessagePublisher): void {
    const body = `{"schema":1,"event_id":${JSON.stringify(eventId)},"device_id":${JSON.stringify(deviceId)},"status":"${status}"}`;
    out.publish(ackTopic(this.config.topics.ackTemplate, deviceId), Buffer.from(body), this.config.topics.ackQos);
    this.metrics?.acksPublished.inc();
  }
}
