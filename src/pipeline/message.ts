/**
 * One message on the ingest path: the codec's sink while it is decoded, and
 * a small counter while its parts (events and dead letters) go through the
 * batch writer. It completes once, when the last part has committed and its
 * reply (ACK message) or dead letter has been handed to the publisher.
 *
 * The parts are classes, not objects with closures (see EventItem). A
 * message submitted as it is decoded (MQTT) is itself the batch writer's
 * item for its first event, so the common one-event message costs the
 * message and its event, as the single-event item it replaced did.
 */
import type { CodecRejection, DecodeSink } from '../codecs/codec.js';
import { WHOLE_MESSAGE } from '../codecs/codec.js';
import type { DeadLetter, SourceKind, StoreStatus, TelemetryEvent } from '../core/event.js';
import type { DeadLetterItem, EventItem, ItemOutcome } from './batch-writer.js';
import { makeDeadLetter } from './dead-letter.js';
import type { AckTopic } from './routes.js';

/** Where ACKs and dead letters are published: the source's own connection. A string payload is sent as UTF-8. */
export interface MessagePublisher {
  publish(topic: string, payload: Buffer | string, qos: 0 | 1): void;
}

/** What a message needs from the ingest path (ingest.ts). */
export interface MessageHost {
  submitPart(part: EventPart | DeadPart | IngestMessage): void;
  publishAck(ack: AckTopic, event: TelemetryEvent, status: StoreStatus, out: MessagePublisher): void;
  publishDeadLetter(dl: DeadLetter, out: MessagePublisher | undefined): void;
  logRejection(r: CodecRejection, topic: string): void;
}

/** Called once, when every part of the message has completed. */
export type MessageDone = (message: IngestMessage) => void;

/** An event of a message, as the batch writer's item. */
export class EventPart implements EventItem {
  readonly kind = 'event' as const;
  /** Set when the message keeps its parts (HTTP, replay). */
  outcome: ItemOutcome | undefined;
  constructor(
    readonly message: IngestMessage,
    readonly event: TelemetryEvent,
    readonly raw: Buffer,
    readonly part: number,
  ) {}
  get topic(): string {
    return this.message.topic;
  }
  get source(): SourceKind {
    return this.message.source;
  }
  done(outcome: ItemOutcome): void {
    this.message.partDone(this, outcome);
  }
}

/** A rejected part of a message: its dead letter, as the batch writer's item. */
export class DeadPart implements DeadLetterItem {
  readonly kind = 'dead' as const;
  outcome: ItemOutcome | undefined;
  constructor(
    readonly message: IngestMessage,
    readonly deadLetter: DeadLetter,
    readonly part: number,
    /** The event id the part gave, when it gave one. */
    readonly eventId: string | null,
  ) {}
  done(outcome: ItemOutcome): void {
    this.message.partDone(this, outcome);
  }
}

export class IngestMessage implements DecodeSink, EventItem {
  // As the batch writer's item for its first event (see the file comment); unset otherwise.
  readonly kind = 'event' as const;
  event!: TelemetryEvent;
  raw!: Buffer;
  part = 0;
  stored = 0;
  duplicate = 0;
  /** Events not stored because their event_id is taken by other content (dead-lettered as event_id_conflict). */
  conflict = 0;
  rejected = 0;
  /** The parts, in the codec's order, when kept for the caller; undefined when submitted as decoded. */
  readonly parts: Array<EventPart | DeadPart> | undefined;
  /** The codec's WHOLE_MESSAGE rejection, if it gave one (the message could not be read at all). */
  whole: CodecRejection | undefined;
  /** Parts not yet completed, plus one held until decoding (or submission) is over. */
  private left = 1;

  constructor(
    private readonly host: MessageHost,
    readonly topic: string,
    readonly source: SourceKind,
    readonly receivedAt: number,
    /** The route's seed001-ack reply topic, or undefined for no reply. */
    readonly ack: AckTopic | undefined,
    /** Where the reply and dead letters are published (undefined: nowhere, they are only stored). */
    readonly out: MessagePublisher | undefined,
    /** Called once every part has completed. */
    public onDone: MessageDone | undefined,
    /** Keep the parts and submit them later (`submitParts`) rather than as they are decoded. */
    keepParts: boolean,
  ) {
    this.parts = keepParts ? [] : undefined;
  }

  accept(event: TelemetryEvent, raw: Buffer, part: number): void {
    if (this.parts === undefined && this.event === undefined) {
      this.event = event;
      this.raw = raw;
      this.part = part;
      this.left++;
      this.host.submitPart(this);
      return;
    }
    this.add(new EventPart(this, event, raw, part));
  }

  /** @internal As the item of its first event: called once that event's batch has committed. */
  done(outcome: ItemOutcome): void {
    this.partDone(this, outcome);
  }

  reject(r: CodecRejection): void {
    if (r.part === WHOLE_MESSAGE) this.whole ??= r;
    this.host.logRejection(r, this.topic);
    const dl = makeDeadLetter({ reason: r.reason, message: r.message, topic: this.topic, deviceId: r.deviceId, payload: r.raw, receivedAt: this.receivedAt, source: this.source });
    this.add(new DeadPart(this, dl, r.part, r.eventId ?? null));
  }

  private add(p: EventPart | DeadPart): void {
    if (this.parts !== undefined) {
      this.parts.push(p);
    } else {
      this.left++;
      this.host.submitPart(p);
    }
  }

  /** Submits the kept parts. */
  submitParts(): void {
    const parts = this.parts!;
    this.left += parts.length;
    for (let i = 0; i < parts.length; i++) this.host.submitPart(parts[i]);
  }

  /** Ends the hold taken at creation: the message completes when its last part does (at once if it has none). */
  release(): void {
    if (--this.left === 0) this.onDone?.(this);
  }

  /** @internal Called by a part once the batch holding it has committed. */
  partDone(p: EventPart | DeadPart | IngestMessage, outcome: ItemOutcome): void {
    if (this.parts !== undefined) (p as EventPart | DeadPart).outcome = outcome;
    if (outcome.status === 'rejected') {
      this.rejected++;
      this.host.publishDeadLetter(outcome.deadLetter, this.out);
    } else {
      if (outcome.status === 'stored') this.stored++;
      else if (outcome.status === 'duplicate') this.duplicate++;
      else if (outcome.status === 'conflict') {
        // A conflict is answered on the ACK topic too, so the device learns its id was refused.
        this.conflict++;
        this.host.publishDeadLetter(outcome.deadLetter, this.out);
      }
      if (this.ack !== undefined && this.out !== undefined) this.host.publishAck(this.ack, (p as EventPart | IngestMessage).event, outcome.status, this.out);
    }
    if (--this.left === 0) this.onDone?.(this);
  }
}
