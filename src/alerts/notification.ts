/**
 * What a state change says to the outside: one JSON document (the generic
 * webhook's body and the MQTT payload on `alerts/{rule}/{device}`), and the
 * ntfy and Gotify renderings of it. Documented in docs/alerts.md.
 */
import type { AlertTransition } from './evaluate.js';
import { formatDuration, type AlertRule } from './rules.js';

/** The payload of a state change (schema 1). */
export interface AlertNotification {
  schema: 1;
  /** The idempotency key: the same change always carries the same id (also the Idempotency-Key header). */
  id: string;
  rule: string;
  device_id: string;
  state: 'firing' | 'resolved';
  value: number | null;
  value_text: string | null;
  /** Event time of the change, ISO-8601. */
  at: string;
  event_type: string;
  condition: string;
  message: string;
}

/** The rule's condition in words: `temperature > 70 (clears < 65) for 1m`, `presence in [offline] for 5m`. */
export function conditionText(rule: AlertRule): string {
  const f = rule.forMs > 0 ? ` for ${formatDuration(rule.forMs)}` : '';
  if (rule.kind === 'presence') return `presence in [${rule.states!.join(', ')}]${f}`;
  const op = rule.direction === 'above' ? '>' : '<';
  const back = rule.direction === 'above' ? '<' : '>';
  const clear = rule.clear !== rule.limit ? ` (clears ${back} ${rule.clear})` : '';
  return `${rule.eventType} ${op} ${rule.limit}${clear}${f}`;
}

export function notificationOf(rule: AlertRule, t: AlertTransition): AlertNotification {
  const shown = t.valueNum ?? t.valueText ?? 'no value';
  return {
    schema: 1,
    id: t.key,
    rule: t.rule,
    device_id: t.deviceId,
    state: t.state,
    value: t.valueNum,
    value_text: t.valueText,
    at: new Date(t.at).toISOString(),
    event_type: rule.eventType,
    condition: conditionText(rule),
    message: `${t.rule} is ${t.state} on ${t.deviceId}: ${rule.eventType} ${shown} (${conditionText(rule)})`,
  };
}

/** A configured webhook. */
export interface WebhookConfig {
  name: string;
  type: 'ntfy' | 'gotify' | 'json';
  url: string;
  /** ntfy and json: sent as `Authorization: Bearer`; gotify: the application token (`X-Gotify-Key`). */
  token?: string;
}

export const WEBHOOK_TYPES = ['ntfy', 'gotify', 'json'] as const;

/** The HTTP request a webhook gets for a notification. */
export function webhookRequest(hook: WebhookConfig, n: AlertNotification): { url: string; headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = { 'idempotency-key': n.id, 'user-agent': 'telehub-alerts' };
  const title = `[${n.state}] ${n.rule} on ${n.device_id}`;
  if (hook.type === 'ntfy') {
    // ntfy: the body is the message; title, priority and tags are headers (https://docs.ntfy.sh/publish/).
    if (hook.token) headers.authorization = `Bearer ${hook.token}`;
    headers['content-type'] = 'text/plain; charset=utf-8';
    headers.title = title;
    headers.priority = n.state === 'firing' ? '4' : '3';
    headers.tags = n.state === 'firing' ? 'rotating_light' : 'white_check_mark';
    return { url: hook.url, headers, body: n.message };
  }
  if (hook.type === 'gotify') {
    // Gotify: POST /message with the application token; extras carry the whole notification.
    if (hook.token) headers['x-gotify-key'] = hook.token;
    headers['content-type'] = 'application/json';
    const url = hook.url.replace(/\/+$/, '') + '/message';
    return { url, headers, body: JSON.stringify({ title, message: n.message, priority: n.state === 'firing' ? 8 : 4, extras: { 'telehub::alert': n } }) };
  }
  if (hook.token) headers.authorization = `Bearer ${hook.token}`;
  headers['content-type'] = 'application/json';
  return { url: hook.url, headers, body: JSON.stringify(n) };
}

/** The MQTT topic of a rule's state for a device. */
export function alertTopic(rule: string, deviceId: string): string {
  return `alerts/${rule}/${deviceId}`;
}
