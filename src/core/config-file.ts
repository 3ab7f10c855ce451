/**
 * The optional config file (TELEHUB_CONFIG, YAML or JSON) for what
 * environment variables cannot express: the route table and the rollup tier
 * ladder; later processors and devices (each a top-level key added to SECTIONS).
 *
 * Values are checked by the same rules as settings of the same type
 * (`checkSetting` in config.ts); an unknown key anywhere is refused with its
 * path (`routes[1].fitler: unknown key (did you mean filter?)`), and every
 * problem is reported at once, as for the environment.
 *
 * @example
 * // routes:
 * //   - filter: home/+/events
 * //     codec: seed001-json
 * const problems: string[] = [];
 * const file = loadConfigFile('telehub.yaml', problems);
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { REPLY_KINDS, type ReplyKind } from '../codecs/codec.js';
import { CODEC_NAMES, CODECS } from '../codecs/registry.js';
import { checkSetting, closestName } from './config.js';
import type { OptionSpec } from './settings.js';
import { parseDuration, type AggregateTier } from '../processors/rollups/tiers.js';
import { ALERTS_KEYS, checkAlerts, WEBHOOK_KEYS, type AlertsConfig } from '../alerts/config.js';
import { RULE_KEYS } from '../alerts/rules.js';
import { checkTripsSection, TRIPS_SECTION_KEYS, type FileTrips } from '../trips/config.js';

/** One route: MQTT messages whose topic matches `filter` are decoded by `codec`. */
export interface RouteConfig {
  /** Where it was declared, for messages: `MQTT_EVENTS_TOPIC` or `routes[2]`. */
  origin: string;
  filter: string;
  codec: string;
  /** Topic level that holds the device id, 1 = the first (as in the file); undefined when the topic names no device. */
  deviceLevel: number | undefined;
  reply: ReplyKind;
  /** Topic of the seed001-ack reply, `{device_id}` replaced. */
  ackTemplate: string;
  /** The codec's own keys, as written in the file (validated against its `options`). */
  options: Record<string, unknown>;
}

/** What the file holds, validated. */
export interface ConfigFile {
  routes: FileRoute[];
  /** Per-device settings (`devices:`), by device id. */
  devices: FileDevice[];
  /** The `tiers:` section; absent keys keep the seed 004 defaults. */
  tiers?: FileTiers;
  /** `alerts:` (src/alerts/config.ts); undefined when the file has none. */
  alerts?: AlertsConfig;
  /** `trips:` thresholds per fleet and per vehicle (src/trips/config.ts); undefined when the file has none. */
  trips?: FileTrips;
}

/** The tier ladder as the file gives it (durations in ms). */
export interface FileTiers {
  rawRetentionMs?: number;
  aggregates?: AggregateTier[];
}

/** The keys of the `tiers:` section, and of each of its `aggregates` entries. */
export const TIER_KEYS: readonly OptionSpec[] = [
  { key: 'raw_retention', type: 'string', default: '7d', description: 'How long raw events are kept (a duration: `90s`, `30m`, `12h`, `7d`, `2w`, `1y` = 365 days). Must be at least TELEHUB_ROLLUP_LATENESS_S.' },
  { key: 'aggregates', type: 'string', default: '1m for 90d, 5m for 2y, 1h for 2y', description: 'The aggregate tiers, finest first: a list of `{width, retention}`. Each width divides a day and is a multiple of the one before; each tier is computed from the one below and kept at least as long.' },
];
export const AGGREGATE_KEYS: readonly OptionSpec[] = [
  { key: 'width', type: 'string', required: true, description: 'Bucket width of the tier (`1m`, `5m`, `15m`, `1h`, `1d`, …).' },
  { key: 'retention', type: 'string', required: true, description: 'How long its buckets are kept (a duration, as raw_retention).' },
];

/** One entry of `devices:`: a device's expected reporting interval, overriding the learned one. */
export interface FileDevice {
  id: string;
  intervalMs: number;
}

/** The keys of a `devices:` entry. */
export const DEVICE_KEYS: readonly OptionSpec[] = [
  { key: 'id', type: 'string', required: true, description: 'The device id.' },
  { key: 'interval_s', type: 'int', required: true, min: 1, max: 604800, description: 'Its expected reporting interval in seconds, used instead of the learned one (not bounded by TELEHUB_PRESENCE_MIN/MAX_INTERVAL_MS); it turns `silent` after this times TELEHUB_PRESENCE_GRACE_PERCENT.' },
];

/** A route as the file gives it; ack_template undefined means ACK_TEMPLATE. */
export type FileRoute = Omit<RouteConfig, 'ackTemplate'> & { ackTemplate: string | undefined };

/** The keys of a route, whatever its codec. */
export const ROUTE_KEYS: readonly OptionSpec[] = [
  { key: 'filter', type: 'topic-filter', required: true, description: 'MQTT topic filter (`+` and `#` wildcards). The external-broker source subscribes to it at QoS 1; the embedded broker routes publishes that match it.' },
  { key: 'codec', type: 'enum', required: true, values: CODEC_NAMES, description: 'How a message is decoded into events.' },
  { key: 'device_level', type: 'int', min: 1, max: 64, default: 'the first `+`', description: 'Which topic level (1 = the first) is the device id, as in Telegraf\'s `topic_parsing`. It must be a `+` level or one under a trailing `#`.' },
  { key: 'reply', type: 'enum', values: REPLY_KINDS, default: 'the codec\'s', description: 'What is published after commit: `seed001-ack` (one seed 001 ACK message per event) or `none`. Dead letters are published either way.' },
  { key: 'ack_template', type: 'topic-template', default: 'ACK_TEMPLATE', description: 'Topic of the seed001-ack reply; `{device_id}` is replaced.' },
];

/** Top-level keys of the file and their validators. Later sections add theirs here. */
const SECTIONS: Record<string, (value: unknown, path: string, problems: string[]) => Partial<ConfigFile>> = {
  routes: (value, path, problems) => ({ routes: checkRoutes(value, path, problems) }),
  devices: (value, path, problems) => ({ devices: checkDevices(value, path, problems) }),
  tiers: (value, path, problems) => ({ tiers: checkTiersSection(value, path, problems) }),
  alerts: (value, path, problems) => ({ alerts: checkAlerts(value, path, problems) }),
  trips: (value, path, problems) => ({ trips: checkTripsSection(value, path, problems) }),
};

/** Every key the file may hold, as `section.key` (the docs test checks each is documented). */
export function configFileKeys(): string[] {
  const keys = Object.keys(SECTIONS);
  for (const k of ROUTE_KEYS) keys.push(`routes.${k.key}`);
  for (const k of DEVICE_KEYS) keys.push(`devices.${k.key}`);
  for (const c of Object.values(CODECS)) for (const o of c.options) keys.push(`routes.${o.key}`);
  for (const k of [...TIER_KEYS, ...AGGREGATE_KEYS]) keys.push(`tiers.${k.key}`);
  // The alerts section, its webhooks' and its rules' keys (one table each in the docs).
  for (const k of [...ALERTS_KEYS, ...WEBHOOK_KEYS, ...RULE_KEYS]) keys.push(`alerts.${k}`);
  for (const k of TRIPS_SECTION_KEYS) keys.push(`trips.${k}`);
  return [...new Set(keys)];
}

/** Reads and validates the file; problems are added to `problems`, each naming its file and key. */
export function loadConfigFile(file: string, problems: string[]): ConfigFile {
  const out: ConfigFile = { routes: [], devices: [] };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`TELEHUB_CONFIG=${JSON.stringify(file)}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return out;
  }
  // JSON is YAML 1.2, so one parser reads both; a key given twice is an error.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // The first line of a pretty error: "<what> at line L, column C:".
    problems.push(`${file}: not valid YAML or JSON: ${doc.errors[0].message.split('\n')[0].replace(/:$/, '')}`);
    return out;
  }
  const local: string[] = [];
  Object.assign(out, checkFile(doc.toJS(), local));
  for (const p of local) problems.push(`${file}: ${p}`);
  return out;
}

/** Validates the parsed file (exported for tests). */
export function checkFile(value: unknown, problems: string[]): ConfigFile {
  const out: ConfigFile = { routes: [], devices: [] };
  if (value === null || value === undefined) return out; // an empty file
  if (!isMapping(value)) {
    problems.push(`the file must hold a mapping of sections (${Object.keys(SECTIONS).join(', ')}), got ${typeName(value)}`);
    return out;
  }
  for (const [key, v] of Object.entries(value)) {
    const section = SECTIONS[key];
    if (section === undefined) problems.push(unknownKey(key, key, Object.keys(SECTIONS)));
    else Object.assign(out, section(v, key, problems));
  }
  return out;
}

function checkDevices(value: unknown, path: string, problems: string[]): FileDevice[] {
  if (!Array.isArray(value)) {
    problems.push(`${path}: must be a list of devices (id, interval_s), got ${typeName(value)}`);
    return [];
  }
  const out: FileDevice[] = [];
  const seen = new Set<string>();
  value.forEach((item, i) => {
    const at = `${path}[${i}]`;
    if (!isMapping(item)) {
      problems.push(`${at}: must be a mapping with id and interval_s, got ${typeName(item)}`);
      return;
    }
    const before = problems.length;
    for (const key of Object.keys(item)) {
      if (!DEVICE_KEYS.some((k) => k.key === key)) problems.push(unknownKey(`${at}.${key}`, key, DEVICE_KEYS.map((k) => k.key)));
    }
    const id = item.id;
    const interval = item.interval_s;
    if (typeof id !== 'string' || id === '') problems.push(`${at}.id: must be a non-empty string`);
    else if (seen.has(id)) problems.push(`${at}.id: device ${id} is listed twice`);
    if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 1 || interval > 604800) problems.push(`${at}.interval_s: must be a whole number of seconds from 1 to 604800`);
    if (problems.length > before) return;
    seen.add(id as string);
    out.push({ id: id as string, intervalMs: (interval as number) * 1000 });
  });
  return out;
}

/**
 * The `tiers:` section: shape and durations here; whether the ladder is
 * sound (multiples, lateness) is checkTiers', run on the merged ladder.
 */
function checkTiersSection(value: unknown, path: string, problems: string[]): FileTiers | undefined {
  if (!isMapping(value)) {
    problems.push(`${path}: must be a mapping with raw_retention and/or aggregates, got ${typeName(value)}`);
    return undefined;
  }
  const out: FileTiers = {};
  const duration = (v: unknown, at: string): number | undefined => {
    const ms = typeof v === 'string' ? parseDuration(v) : undefined;
    if (ms === undefined) problems.push(`${at}: must be a duration such as 90s, 30m, 12h, 7d, 2w or 1y, got ${typeName(v)}`);
    return ms;
  };
  for (const [key, v] of Object.entries(value)) {
    const at = `${path}.${key}`;
    if (key === 'raw_retention') out.rawRetentionMs = duration(v, at);
    else if (key === 'aggregates') {
      if (!Array.isArray(v) || v.length === 0) {
        problems.push(`${at}: must be a non-empty list of {width, retention}, got ${typeName(v)}`);
        continue;
      }
      const tiers: AggregateTier[] = [];
      v.forEach((item, i) => {
        const ai = `${at}[${i}]`;
        if (!isMapping(item)) {
          problems.push(`${ai}: must be a mapping with width and retention, got ${typeName(item)}`);
          return;
        }
        for (const k of Object.keys(item)) {
          if (!AGGREGATE_KEYS.some((s) => s.key === k)) problems.push(unknownKey(`${ai}.${k}`, k, AGGREGATE_KEYS.map((s) => s.key)));
        }
        for (const s of AGGREGATE_KEYS) if (!(s.key in item)) problems.push(`${ai}.${s.key}: is required`);
        if (!('width' in item) || !('retention' in item)) return;
        const widthMs = duration(item.width, `${ai}.width`);
        const retentionMs = duration(item.retention, `${ai}.retention`);
        if (widthMs !== undefined && retentionMs !== undefined) tiers.push({ widthMs, retentionMs });
      });
      out.aggregates = tiers;
    } else problems.push(unknownKey(at, key, TIER_KEYS.map((s) => s.key)));
  }
  return out;
}

function checkRoutes(value: unknown, path: string, problems: string[]): FileRoute[] {
  if (!Array.isArray(value)) {
    problems.push(`${path}: must be a list of routes, got ${typeName(value)}`);
    return [];
  }
  const routes: FileRoute[] = [];
  const seen = new Map<string, string>();
  value.forEach((item, i) => {
    const at = `${path}[${i}]`;
    const r = checkRoute(item, at, problems);
    if (r === undefined) return;
    const before = seen.get(r.filter);
    if (before !== undefined) problems.push(`${at}.filter: ${r.filter} is already routed by ${before}`);
    seen.set(r.filter, at);
    routes.push(r);
  });
  return routes;
}

function checkRoute(item: unknown, at: string, problems: string[]): FileRoute | undefined {
  if (!isMapping(item)) {
    problems.push(`${at}: must be a mapping with filter and codec, got ${typeName(item)}`);
    return undefined;
  }
  const before = problems.length;
  const codecName = typeof item.codec === 'string' && CODECS[item.codec] ? item.codec : undefined;
  const codecOptions = codecName ? CODECS[codecName].options : [];
  const known = [...ROUTE_KEYS, ...codecOptions];
  const values: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(item)) {
    const spec = known.find((s) => s.key === key);
    if (spec === undefined) {
      const codecKey = Object.values(CODECS).some((c) => c.options.some((o) => o.key === key));
      problems.push(codecKey && codecName ? `${at}.${key}: not an option of codec ${codecName}` : unknownKey(`${at}.${key}`, key, known.map((s) => s.key)));
      continue;
    }
    const checked = checkOption(spec, v, `${at}.${key}`, problems);
    if (checked !== undefined) values[key] = checked;
  }
  for (const spec of ROUTE_KEYS) if (spec.required && !(spec.key in item)) problems.push(`${at}.${spec.key}: is required`);
  if (problems.length > before) return undefined;

  const filter = values.filter as string;
  if (filter.startsWith('$share/')) {
    problems.push(`${at}.filter: a route filter is subscribed as is; set TELEHUB_MQTT_SHARE_GROUP to share every route`);
    return undefined;
  }
  const levels = filter.split('/');
  let deviceLevel: number | undefined;
  if (values.device_level !== undefined) {
    const n = values.device_level as number;
    const hash = levels[levels.length - 1] === '#' ? levels.length - 1 : -1;
    const level = levels[n - 1];
    if (level !== '+' && (hash < 0 || n - 1 < hash)) {
      problems.push(`${at}.device_level: level ${n} of ${filter} is ${level === undefined ? 'beyond its last level' : `the fixed "${level}"`}; it must be a + level or one under a trailing #`);
      return undefined;
    }
    deviceLevel = n;
  } else {
    const plus = levels.indexOf('+');
    deviceLevel = plus >= 0 ? plus + 1 : undefined;
  }
  const reply = (values.reply as ReplyKind | undefined) ?? CODECS[codecName!].defaultReply;
  if (values.ack_template !== undefined && reply !== 'seed001-ack') {
    problems.push(`${at}.ack_template: is used only with reply: seed001-ack`);
    return undefined;
  }
  const options: Record<string, unknown> = {};
  for (const o of codecOptions) if (values[o.key] !== undefined) options[o.key] = values[o.key];
  return { origin: at, filter, codec: codecName!, deviceLevel, reply, ackTemplate: values.ack_template as string | undefined, options };
}

/** One value against its spec: the type as YAML/JSON gives it, then the setting rules of that type. */
function checkOption(spec: OptionSpec, v: unknown, path: string, problems: string[]): unknown {
  if (spec.type === 'string-list') {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.length === 0)) {
      problems.push(`${path}: must be a list of non-empty strings, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return v;
  }
  let text: string;
  if (spec.type === 'int') {
    if (typeof v !== 'number') {
      problems.push(`${path}: must be an integer, got ${typeName(v)}`);
      return undefined;
    }
    text = String(v);
  } else if (spec.type === 'bool') {
    if (typeof v !== 'boolean') {
      problems.push(`${path}: must be true or false, got ${typeName(v)}`);
      return undefined;
    }
    return v;
  } else {
    if (typeof v !== 'string') {
      problems.push(`${path}: must be a string, got ${typeName(v)}`);
      return undefined;
    }
    text = v;
  }
  return checkSetting({ env: path, group: '', type: spec.type, min: spec.min, max: spec.max, values: spec.values, description: '' }, text, problems);
}

function unknownKey(path: string, key: string, known: string[]): string {
  const hint = closestName(key, known);
  return `${path}: unknown key${hint ? ` (did you mean ${hint}?)` : ''}; known here: ${known.join(', ')}`;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`;
}
