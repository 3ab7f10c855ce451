/**
 * Alert rules: what they say and how they are read, from the config file's
 * `alerts.rules` and from `POST /api/v1/alerts/rules` alike (one parser, so
 * both refuse the same mistakes with the same words).
 *
 * Two kinds:
 * - threshold: a numeric series (`event_type`) of the devices matching
 *   `devices`, `above` or `below` a value, with a `clear` value for
 *   hysteresis and a minimum duration `for`;
 * - presence: the presence transitions the presence monitor writes to the
 *   commit log (their own kind of entry; a rule reads the new state), firing
 *   when a device stays in one of `presence` (e.g. `[offline]` or
 *   `[silent, offline]`) for `for`.
 *
 * @example
 * const problems: string[] = [];
 * const rule = parseRule({ name: 'boiler-hot', devices: 'heatpump-*', event_type: 'temperature', above: 70, clear: 65, for: '1m' }, 'rules[0]', problems, 'config');
 */

/** The rule type of presence rules (they read presence transitions, not events of that type). */
export const PRESENCE_EVENT_TYPE = 'presence';

export interface AlertRule {
  name: string;
  /** Glob over device ids: `*` any run of characters, `?` one. */
  devices: string;
  eventType: string;
  kind: 'threshold' | 'presence';
  /** threshold: fires when the value goes above (`above`) or below (`below`) `limit`... */
  direction?: 'above' | 'below';
  limit?: number;
  /** ...and resolves only once it is back past `clear` (hysteresis; default `limit`). */
  clear?: number;
  /** presence: the states that fire. */
  states?: string[];
  /** The condition must hold this long (event time) before the rule fires. */
  forMs: number;
  /** Webhook names to notify; undefined: every webhook. */
  notify?: string[];
  origin: 'config' | 'api';
}

/** Every key a rule may have (the config file's and the API's). */
export const RULE_KEYS = ['name', 'devices', 'event_type', 'above', 'below', 'clear', 'presence', 'for', 'notify'] as const;

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** `90s`, `5m`, `1h`, `250ms`, `2d` or a number of seconds. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.round(v * 1000);
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(v.trim());
  if (m === null) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(Number(m[1]) * unit);
}

/** Formats a duration the way parseDuration reads it. */
export function formatDuration(ms: number): string {
  for (const [unit, n] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms >= n && ms % n === 0) return `${ms / n}${unit}`;
  return `${ms}ms`;
}

/**
 * Reads one rule; problems are added with `at` as their path. Returns
 * undefined when it has any.
 */
export function parseRule(item: unknown, at: string, problems: string[], origin: AlertRule['origin']): AlertRule | undefined {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    problems.push(`${at}: must be a mapping with name and event_type or presence`);
    return undefined;
  }
  const o = item as Record<string, unknown>;
  const before = problems.length;
  for (const k of Object.keys(o)) if (!(RULE_KEYS as readonly string[]).includes(k)) problems.push(`${at}.${k}: unknown key; known here: ${RULE_KEYS.join(', ')}`);
  const name = o.name;
  if (typeof name !== 'string' || !NAME.test(name)) problems.push(`${at}.name: is required: 1 to 64 letters, digits, '_', '.' or '-' (it is an MQTT topic level)`);
  const devices = o.devices ?? '*';
  if (typeof devices !== 'string' || devices.length === 0 || /[#+/]/.test(devices)) problems.push(`${at}.devices: must be a device id or a glob (* and ?), without /, + or #`);
  const forMs = o.for === undefined ? 0 : parseDuration(o.for);
  if (forMs === undefined) problems.push(`${at}.for: must be a duration such as 90s, 5m or 1h, got ${JSON.stringify(o.for)}`);
  let notify: string[] | undefined;
  if (o.notify !== undefined) {
    if (!Array.isArray(o.notify) || o.notify.some((x) => typeof x !== 'string' || x.length === 0)) problems.push(`${at}.notify: must be a list of webhook names`);
    else notify = o.notify as string[];
  }
  const num = (k: 'above' | 'below' | 'clear'): number | undefined => {
    if (o[k] === undefined) return undefined;
    if (typeof o[k] !== 'number' || !Number.isFinite(o[k])) problems.push(`${at}.${k}: must be a number, got ${JSON.stringify(o[k])}`);
    return o[k] as number;
  };
  const above = num('above');
  const below = num('below');
  const clear = num('clear');
  let rule: AlertRule | undefined;
  if (o.presence !== undefined) {
    const states = typeof o.presence === 'string' ? [o.presence] : o.presence;
    if (!Array.isArray(states) || states.length === 0 || states.some((x) => typeof x !== 'string' || x.length === 0)) problems.push(`${at}.presence: must be a state or a list of states, such as offline or [silent, offline]`);
    if (above !== undefined || below !== undefined || clear !== undefined) problems.push(`${at}: a presence rule takes no above, below or clear`);
    if (o.event_type !== undefined && o.event_type !== PRESENCE_EVENT_TYPE) problems.push(`${at}.event_type: a presence rule reads the ${PRESENCE_EVENT_TYPE} entries; leave event_type out`);
    rule = { name: name as string, devices: devices as string, eventType: PRESENCE_EVENT_TYPE, kind: 'presence', states: states as string[], forMs: forMs ?? 0, notify, origin };
  } else {
    if (typeof o.event_type !== 'string' || o.event_type.length === 0) problems.push(`${at}.event_type: is required (the series the rule watches), or give presence`);
    if ((above === undefined) === (below === undefined)) problems.push(`${at}: give exactly one of above or below`);
    const direction = above !== undefined ? 'above' : 'below';
    const limit = above ?? below;
    if (clear !== undefined && limit !== undefined && (direction === 'above' ? clear > limit : clear < limit)) {
      problems.push(`${at}.clear: must be ${direction === 'above' ? 'at or below above' : 'at or above below'} (the value resolves the alert on the way back)`);
    }
    rule = { name: name as string, devices: devices as string, eventType: o.event_type as string, kind: 'threshold', direction, limit, clear: clear ?? limit, forMs: forMs ?? 0, notify, origin };
  }
  return problems.length > before ? undefined : rule;
}

/** The rule as the API and the config file write it (snake_case keys). */
export function ruleToJson(r: AlertRule): Record<string, unknown> {
  const out: Record<string, unknown> = { name: r.name, devices: r.devices };
  if (r.kind === 'presence') out.presence = r.states;
  else {
    out.event_type = r.eventType;
    out[r.direction!] = r.limit;
    out.clear = r.clear;
  }
  out.for = formatDuration(r.forMs);
  if (r.notify !== undefined) out.notify = r.notify;
  out.origin = r.origin;
  return out;
}

/** A glob over device ids as a RegExp (`*`, `?`; everything else literal). */
export function deviceMatcher(glob: string): (deviceId: string) => boolean {
  if (!/[*?]/.test(glob)) return (d) => d === glob;
  const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
  return (d) => re.test(d);
}
