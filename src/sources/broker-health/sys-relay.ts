/**
 * Reads an external broker's `$SYS/broker/#` (Mosquitto publishes it every
 * `sys_interval` seconds) on a connection of its own, so the ingest
 * connection's subscriptions, and its start-up check that every one is
 * granted, stay as they are: a broker that refuses or lacks `$SYS` (EMQX,
 * HiveMQ Cloud) then simply yields no stats. MQTT.js, because this is a
 * plain QoS 0 subscriber with none of the ingest path's ordering needs.
 */
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { ExternalMqttConfig } from '../../core/config.js';
import { applySys, emptyTotals, type BrokerTotals } from './stats.js';

export class SysRelay {
  private client?: MqttClient;
  private readonly totalsSeen = emptyTotals();
  private heard = false;

  constructor(
    private readonly cfg: ExternalMqttConfig,
    private readonly log: Logger,
  ) {}

  start(): void {
    const c = mqtt.connect(this.cfg.url, {
      clientId: `${this.cfg.clientId}-sys`,
      clean: true,
      username: this.cfg.username,
      password: this.cfg.password,
      ca: this.cfg.caFile ? readFileSync(this.cfg.caFile) : undefined,
      cert: this.cfg.certFile ? readFileSync(this.cfg.certFile) : undefined,
      key: this.cfg.keyFile ? readFileSync(this.cfg.keyFile) : undefined,
      reconnectPeriod: 5000,
    });
    this.client = c;
    c.on('error', (err) => this.log.debug({ err: err.message }, 'Broker $SYS connection error.'));
    c.on('connect', () => {
      c.subscribe('$SYS/broker/#', { qos: 0 }, (err, granted) => {
        if (err || granted?.some((g) => g.qos === 128)) this.log.info('The broker does not offer $SYS/broker/#: no broker stats are relayed.');
      });
    });
    c.on('message', (topic, payload) => {
      if (applySys(this.totalsSeen, topic, payload.toString())) this.heard = true;
    });
  }

  /** The totals heard so far; undefined until the broker has sent one. */
  totals(): BrokerTotals | undefined {
    return this.heard ? this.totalsSeen : undefined;
  }

  async close(): Promise<void> {
    await this.client?.endAsync(true);
  }
}
