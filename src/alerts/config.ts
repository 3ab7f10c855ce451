/**
 * The config file's `alerts:` section: rules, webhooks, MQTT publication and
 * the timings of the clock and the deliverer. Unknown keys are refused with
 * their path, like every section of the file.
 *
 * @example
 * // alerts:
 * //   webhooks: [{ name: phone, type: ntfy, url: https://ntfy.sh/my-topic }]
 * //   rules: [{ name: boiler-hot, devices: hp-*, event_type: temperature, above: 70, clear: 65, for: 1m }]
 */
import { parseDuration, parseRule, type AlertRule } from './rules.js';
import { WEBHOOK_TYPES, type WebhookConfig } from './notification.js';

export interface AlertsConfig {
  rules: AlertRule[];
  webhooks: WebhookConfig[];
  /** Publish changes on `alerts/{rule}/{device}` through the MQTT source. */
  mqtt: boolean;
  /** How often the clock looks at pending conditions (ms). */
  tickMs: number;
  /** Deliverer: first back-off after a failed delivery, doubling up to retryMaxMs. */
  retryMinMs: number;
  retryMaxMs: number;
  /** Longest wait for a webhook's answer. */
  timeoutMs: number;
  /** Longest wait between looks at the outbox when nothing rang. */
  pollMs: number;
  /** Delivered outbox rows older than this (by delivery time) are deleted; 0 keeps them (src/alerts/outbox.ts). */
  outboxRetentionMs: number;
}

export const DEFAULT_ALERTS: AlertsConfig = { rules: [], webhooks: [], mqtt: true, tickMs: 5000, retryMinMs: 1000, retryMaxMs: 300_000, timeoutMs: 10_000, pollMs: 1000, outboxRetentionMs: 7 * 86_400_000 };

/** The name of the MQTT target in the outbox (webhooks may not take it). */
export const MQTT_TARGET = 'mqtt';

/** Keys of the section itself, of a webhook, and (rules.ts) of a rule. */
export const ALERTS_KEYS = ['rules', 'webhooks', 'mqtt', 'tick', 'retry_min', 'retry_max', 'timeout', 'poll', 'outbox_retention'] as const;
export const WEBHOOK_KEYS = ['name', 'type', 'url', 'token'] as const;

function unknown(at: string, k: string, known: readonly string[]): string {
  return `${at}.${k}: unknown key; known here: ${known.join(', ')}`;
}

/** Validates `alerts:`; problems name their path. */
export function checkAlerts(value: unknown, path: string, problems: string[]): AlertsConfig {
  const out: AlertsConfig = { ...DEFAULT_ALERTS, rules: [], webhooks: [] };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    problems.push(`${path}: must be a mapping (rules, webhooks, ...)`);
    return out;
  }
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!(ALERTS_KEYS as readonly string[]).includes(k)) problems.push(unknown(path, k, ALERTS_KEYS));
  if (o.mqtt !== undefined) {
    if (typeof o.mqtt !== 'boolean') problems.push(`${path}.mqtt: must be true or false`);
    else out.mqtt = o.mqtt;
  }
  const durations: [string, keyof AlertsConfig, number][] = [['tick', 'tickMs', 100], ['retry_min', 'retryMinMs', 10], ['retry_max', 'retryMaxMs', 10], ['timeout', 'timeoutMs', 100], ['poll', 'pollMs', 10]];
  for (const [k, field, min] of durations) {
    if (o[k] === undefined) continue;
    const ms = parseDuration(o[k]);
    if (ms === undefined || ms < min) problems.push(`${path}.${k}: must be a duration of at least ${min}ms, such as 5s or 2m, got ${JSON.stringify(o[k])}`);
    else (out as unknown as Record<string, number>)[field] = ms;
  }
  if (o.outbox_retention !== undefined) {
    const ms = parseDuration(o.outbox_retention);
    if (ms === undefined || (ms !== 0 && ms < 60_000)) problems.push(`${path}.outbox_retention: must be 0 (keep delivered rows) or a duration of at least 1m, such as 7d, got ${JSON.stringify(o.outbox_retention)}`);
    else out.outboxRetentionMs = ms;
  }
  if (out.retryMaxMs < out.retryMinMs) problems.push(`${path}.retry_max: must be at least retry_min`);
  if (o.webhooks !== undefined) {
    if (!Array.isArray(o.webhooks)) problems.push(`${path}.webhooks: must be a list`);
    else o.webhooks.forEach((w, i) => {
      const h = checkWebhook(w, `${path}.webhooks[${i}]`, problems);
      if (h === undefined) return;
      if (out.webhooks.some((x) => x.name === h.name)) problems.push(`${path}.webhooks[${i}].name: ${h.name} is already taken`);
      else out.webhooks.push(h);
    });
  }
  if (o.rules !== undefined) {
    if (!Array.isArray(o.rules)) problems.push(`${path}.rules: must be a list`);
    else o.rules.forEach((r, i) => {
      const at = `${path}.rules[${i}]`;
      const rule = parseRule(r, at, problems, 'config');
      if (rule === undefined) return;
      if (out.rules.some((x) => x.name === rule.name)) problems.push(`${at}.name: ${rule.name} is already taken`);
      for (const n of rule.notify ?? []) if (!out.webhooks.some((h) => h.name === n)) problems.push(`${at}.notify: no webhook is named ${n}`);
      out.rules.push(rule);
    });
  }
  return out;
}

function checkWebhook(item: unknown, at: string, problems: string[]): WebhookConfig | undefined {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    problems.push(`${at}: must be a mapping with name, type and url`);
    return undefined;
  }
  const o = item as Record<string, unknown>;
  const before = problems.length;
  for (const k of Object.keys(o)) if (!(WEBHOOK_KEYS as readonly string[]).includes(k)) problems.push(unknown(at, k, WEBHOOK_KEYS));
  if (typeof o.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(o.name)) problems.push(`${at}.name: is required: letters, digits, '_', '.' or '-'`);
  else if (o.name === MQTT_TARGET) problems.push(`${at}.name: ${MQTT_TARGET} is the MQTT publication's name; choose another`);
  if (typeof o.type !== 'string' || !(WEBHOOK_TYPES as readonly string[]).includes(o.type)) problems.push(`${at}.type: must be one of ${WEBHOOK_TYPES.join(', ')}`);
  let url: URL | undefined;
  try {
    url = typeof o.url === 'string' ? new URL(o.url) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) problems.push(`${at}.url: must be an http:// or https:// URL`);
  if (o.token !== undefined && (typeof o.token !== 'string' || o.token.length === 0)) problems.push(`${at}.token: must be a non-empty string`);
  if (problems.length > before) return undefined;
  return { name: o.name as string, type: o.type as WebhookConfig['type'], url: o.url as string, ...(o.token !== undefined ? { token: o.token as string } : {}) };
}

/** The delivery targets of a rule's changes: its webhooks, and MQTT when on. */
export function targetsOf(rule: AlertRule, cfg: AlertsConfig): string[] {
  const hooks = cfg.webhooks.filter((h) => rule.notify === undefined || rule.notify.includes(h.name)).map((h) => h.name);
  return cfg.mqtt ? [...hooks, MQTT_TARGET] : hooks;
}
