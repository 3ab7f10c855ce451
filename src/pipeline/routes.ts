/**
 * The route table: topic filter → codec and reply (Telegraf's
 * `[[inputs.mqtt_consumer]]` blocks: topics, a data_format, and which topic
 * level is the device). Built once at start-up from the validated routes of
 * the configuration (config.ts, config-file.ts); a topic is taken by the
 * first route whose filter matches it, and a topic no route matches is not
 * touched.
 *
 * @example
 * const table = new RouteTable(config.routes, config);
 * const m = table.match('home/kitchen/events'); // { route, deviceId: 'kitchen' } or undefined
 */
import type { Codec, CodecDefaults } from '../codecs/codec.js';
import { CODECS } from '../codecs/registry.js';
import type { RouteConfig } from '../core/config.js';
import { compileTopicMatcher } from './topic-matcher.js';

/** A seed001-ack reply topic: ACK_TEMPLATE (or the route's ack_template) around its `{device_id}`. */
export class AckTopic {
  private readonly prefix: string;
  private readonly suffix: string;
  private readonly hasDevice: boolean;
  constructor(readonly template: string) {
    const at = template.indexOf('{device_id}');
    this.hasDevice = at >= 0;
    this.prefix = at >= 0 ? template.slice(0, at) : template;
    this.suffix = at >= 0 ? template.slice(at + '{device_id}'.length) : '';
  }
  topic(deviceId: string): string {
    return this.hasDevice ? this.prefix + deviceId + this.suffix : this.prefix;
  }
}

export interface Route {
  readonly config: RouteConfig;
  readonly codec: Codec;
  /** The reply topic when the route replies seed001-ack. */
  readonly ack: AckTopic | undefined;
  /** The device id (or undefined) when the topic matches, false when it does not. */
  readonly match: (topic: string) => string | undefined | false;
}

export interface RouteMatch {
  readonly route: Route;
  readonly deviceId: string | undefined;
}

export function buildRoute(config: RouteConfig, defaults: CodecDefaults): Route {
  const def = CODECS[config.codec];
  if (def === undefined) throw new Error(`Unknown codec ${config.codec} (the configuration is validated before this)`);
  return {
    config,
    codec: def.create(config.options, defaults),
    ack: config.reply === 'seed001-ack' ? new AckTopic(config.ackTemplate) : undefined,
    match: compileTopicMatcher(config.filter, config.deviceLevel === undefined ? -1 : config.deviceLevel - 1),
  };
}

export class RouteTable {
  readonly routes: readonly Route[];

  constructor(configs: readonly RouteConfig[], defaults: CodecDefaults) {
    this.routes = configs.map((c) => buildRoute(c, defaults));
  }

  /** The filters to subscribe to, in table order. */
  get filters(): string[] {
    return this.routes.map((r) => r.config.filter);
  }

  /** The first route whose filter matches the topic, with the topic's device; undefined when none does. */
  match(topic: string): RouteMatch | undefined {
    const routes = this.routes;
    for (let i = 0; i < routes.length; i++) {
      const d = routes[i].match(topic);
      if (d !== false) return { route: routes[i], deviceId: d };
    }
    return undefined;
  }
}
