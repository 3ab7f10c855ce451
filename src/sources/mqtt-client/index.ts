/**
 * Source for an external broker (Mosquitto, EMQX, HiveMQ Cloud over TLS):
 * one subscriber connection (connection.ts) on a persistent session (fixed
 * client id, `clean: false`, MQTT 5 session expiry) subscribed at QoS 1 to
 * every filter of the route table. Start-up fails (ConfigError) when the
 * broker refuses one of them; a filter granted only QoS 0 is warned about.
 * A message on a topic no route takes (a filter since removed from the
 * table, still in the persistent session) is acknowledged and not touched.
 *
 * Each PUBLISH is decoded and batched at once; its PUBACK waits on a ticket
 * and is sent in arrival order after its batch commits and its ACK has been
 * queued on the same connection (puback-queue.ts), behind that ACK (the
 * connection's flow control, connection.ts). When TELEHUB_MAX_INFLIGHT
 * is reached the connection stops reading, so the broker keeps the rest and
 * memory stays bounded.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { ExternalMqttConfig } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import type { Metrics } from '../../core/metrics.js';
import type { BatchWriter } from '../../pipeline/batch-writer.js';
import type { Ingest, MessagePublisher } from '../../pipeline/ingest.js';
import { BROKER_STATUS_TOPIC } from '../broker-health/index.js';
import { SubscriberConnection, SubscriptionRefused } from './connection.js';
import { PUBACK, PUBREC, type PublishFrame } from './frames.js';
import { PubackQueue } from './puback-queue.js';

export class MqttClientSource {
  private conn!: SubscriberConnection;
  private readonly pubacks: PubackQueue;
  private accepting = true;
  private subscribed = false;
  /** Publishes on this source's broker (ACKs, dead letters). */
  readonly publisher: MessagePublisher;
  /**
   * Broker health: set before `start` to connect with the will
   * `iot/broker/status` = `offline` (retained), say `online` (retained) on
   * every connect and `offline` on a clean close.
   */
  announceStatus = false;
  private readonly onCapacity = () => {
    if (this.accepting) this.conn.resumeIntake();
  };

  constructor(
    private readonly ingest: Ingest,
    private readonly writer: BatchWriter,
    private readonly cfg: ExternalMqttConfig,
    /** The route table's filters. */
    private readonly filters: readonly string[],
    private readonly maxInflight: number,
    private readonly log: Logger,
    private readonly metrics?: Metrics,
  ) {
    this.publisher = { publish: (topic, payload, qos) => this.publish(topic, payload, qos) };
    this.pubacks = new PubackQueue((type, packetId, generation) => this.conn.ack(type, packetId, generation));
  }

  get connected(): boolean {
    return this.conn?.connected ?? false;
  }

  /**
   * Connects and subscribes; resolves once every subscription is granted
   * (retrying the connection until then). Rejects with a ConfigError when
   * the broker refuses a subscription at start-up.
   */
  async start(): Promise<void> {
    const topics = this.filters.map((f) => (this.cfg.shareGroup ? `$share/${this.cfg.shareGroup}/${f}` : f));
    let firstSubscription!: () => void;
    let refusedAtStart!: (err: Error) => void;
    const subscribedOnce = new Promise<void>((resolve, reject) => {
      firstSubscription = resolve;
      refusedAtStart = reject;
    });
    this.conn = new SubscriberConnection(
      {
        url: this.cfg.url,
        clientId: this.cfg.clientId,
        protocolVersion: this.cfg.protocolVersion,
        keepaliveSeconds: this.cfg.keepaliveSeconds,
        sessionExpirySeconds: this.cfg.sessionExpirySeconds,
        username: this.cfg.username,
        password: this.cfg.password,
        ca: this.cfg.caFile ? readFileSync(this.cfg.caFile) : undefined,
        cert: this.cfg.certFile ? readFileSync(this.cfg.certFile) : undefined,
        key: this.cfg.keyFile ? readFileSync(this.cfg.keyFile) : undefined,
        subscriptions: topics,
        // Tell the broker how many unacknowledged PUBLISHes we can hold.
        receiveMaximum: Math.min(65535, this.maxInflight),
        reconnectMs: 1000,
        connectTimeoutMs: 10_000,
        will: this.announceStatus ? { topic: BROKER_STATUS_TOPIC, payload: 'offline' } : undefined,
      },
      {
        publish: (frame) => this.onPublish(frame),
        connect: (sessionPresent) => {
          this.metrics?.mqttConnected.set(1);
          if (this.announceStatus) this.conn.publishRetained(BROKER_STATUS_TOPIC, 'online');
          this.log.info({ url: redactUrl(this.cfg.url), clientId: this.cfg.clientId, sessionPresent }, 'Connected to MQTT broker.');
        },
        subscribed: (granted) => {
          if (!this.subscribed) this.log.info({ topics, granted }, 'Subscribed to every route.');
          granted?.forEach((qos, i) => {
            if (qos === 0) this.log.warn({ topic: topics[i] }, 'The broker granted QoS 0 only: its messages are not redelivered if telehub fails before their commit.');
          });
          this.subscribed = true;
          firstSubscription();
        },
        close: () => {
          this.log.warn({ parkedPubacks: this.pubacks.parked }, 'MQTT connection closed; unacknowledged events will be redelivered.');
          this.metrics?.mqttConnected.set(0);
          this.pubacks.connectionLost();
        },
        error: (err) => {
          // Refused at start-up: a setting (a route's filter) or the broker's ACL to fix, not a retry.
          if (err instanceof SubscriptionRefused && !this.subscribed) refusedAtStart(new ConfigError(`${err.message} (routes: ${this.filters.join(', ')})`));
          else this.log.warn({ err: err.message }, 'MQTT client error.');
        },
      },
    );
    this.conn.start();
    try {
      await subscribedOnce;
    } catch (err) {
      await this.conn.close();
      throw err;
    }
  }

  get ready(): boolean {
    return this.connected && this.subscribed;
  }

  private onPublish(frame: PublishFrame): void {
    if (!this.accepting) return; // never acknowledged: redelivered to the next session
    const m = this.ingest.route(frame.topic);
    if (frame.qos === 0) {
      if (m !== undefined) this.ingest.take(m, frame.topic, frame.payload, 'mqtt', this.publisher, noop);
    } else {
      const ticket = this.pubacks.open(frame.qos === 1 ? PUBACK : PUBREC, frame.packetId, this.conn.generation);
      if (m !== undefined) this.ingest.take(m, frame.topic, frame.payload, 'mqtt', this.publisher, ticket.release);
      else ticket.release(); // on no route: acknowledge in order, otherwise untouched
    }
    if (!this.writer.hasCapacity) {
      this.metrics?.intakePaused.inc();
      this.conn.pauseIntake();
      this.writer.waitForCapacity().then(this.onCapacity);
    }
  }

  /**
   * Publishes an ACK or dead letter. The connection queues what flow control
   * holds back, so this throws only on a bug or exhausted memory. If it ever
   * does, the message it answers must not be PUBACKed (its ACK was not
   * handed over) and neither may any message after it (PUBACKs go in
   * order), yet they must not stay parked for ever: the connection is
   * dropped at once, which voids every PUBACK owed on it, and the broker
   * redelivers those messages to be answered `duplicate`.
   */
  private publish(topic: string, payload: Buffer | string, qos: 0 | 1): void {
    try {
      this.conn.publish(topic, payload, qos);
    } catch (err) {
      this.log.error({ err, topic }, 'Could not queue an ACK or dead letter; reconnecting so the broker redelivers every message not yet acknowledged.');
      this.conn.abort(new Error(`Publishing to ${topic} failed: ${(err as Error).message}`));
    }
  }

  /** Publishes broker stats (QoS 0, not retained: the next ones follow). */
  publishStats(topic: string, payload: string): void {
    if (this.conn?.connected) this.conn.publish(topic, payload, 0);
  }

  /** Stops taking messages; those already taken still commit and are acknowledged. */
  stopIntake(): void {
    // The socket keeps being read: the broker's PUBACKs for our ACKs must
    // still arrive. PUBLISHes from now on are ignored, never acknowledged.
    this.accepting = false;
    this.conn?.resumeIntake();
  }

  /** Ends the connection once the ACKs and PUBACKs owed have been written and the ACKs acknowledged. */
  async close(): Promise<void> {
    this.stopIntake();
    if (!this.conn) return;
    // A clean DISCONNECT discards the will: say it ourselves.
    if (this.announceStatus) this.conn.publishRetained(BROKER_STATUS_TOPIC, 'offline');
    await this.conn.close();
    this.metrics?.mqttConnected.set(0);
  }
}

function noop(): void {}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '<hidden>';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}
