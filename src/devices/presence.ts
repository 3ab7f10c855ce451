/**
 * Device presence as pure logic (issue 9, "Devices and presence"): a state
 * per device, evidence folded into it, and the transitions that result. No
 * clock, no I/O: the caller (a commit-log processor plus a timer) passes the
 * time, stores the state and writes each transition as a commit-log entry
 * (`event_type` `presence`). Kept pure so the same rules run live, on a
 * rebuild from the log, and after a restart (`recompute`).
 *
 * Presence is `online`, `silent` (connected or recently heard, but no data
 * for longer than its timeout: the hung sensor loop other tools show as
 * online), `offline` or `unknown`, each with its cause.
 *
 * The timeout of a device is its expected reporting interval times
 * `graceFactor`; the interval is the per-device override when set, else
 * learned from the device's own cadence (a moving average of the gaps
 * between its data), bounded by `minIntervalMs`..`maxIntervalMs`.
 */

export type Presence = 'online' | 'silent' | 'offline' | 'unknown';
export type PresenceCause = 'connected' | 'disconnected' | 'will' | 'status' | 'silence' | 'data';

export interface PresenceSettings {
  /** Interval assumed until the device has shown its cadence, and bounds of the learned one (ms). */
  defaultIntervalMs: number;
  minIntervalMs: number;
  maxIntervalMs: number;
  /** Timeout = expected interval × this (a missed report or two is not yet silence). */
  graceFactor: number;
  /** A silent device not known to be connected turns offline after this many timeouts of silence. */
  offlineAfterTimeouts: number;
}

export interface DeviceStatusFields {
  wifiRssi?: number;
  uptime?: number;
  firmware?: string;
}

export interface DevicePresenceState {
  deviceId: string;
  presence: Presence;
  cause: PresenceCause | null;
  /** When the presence last changed (ms). */
  since: number;
  firstSeen: number;
  /** Last data (a reading), ms; null before the first. */
  lastDataAt: number | null;
  /** Last sign of life of any kind (data, status, connect), ms. */
  lastHeardAt: number;
  /** Last time it came (or said it came) online: connect or status `online`, ms; null if never. */
  lastOnlineAt: number | null;
  /** true/false when the broker told (embedded broker); null when telehub cannot see connections. */
  connected: boolean | null;
  /** Learned interval (ms), null until two data times are known. */
  learnedIntervalMs: number | null;
  /** Per-device override (config file `devices:` or API), ms. */
  intervalOverrideMs: number | null;
  status: DeviceStatusFields & { at: number | null };
}

export type PresenceEvidence =
  | { kind: 'data'; at: number; status?: DeviceStatusFields }
  | { kind: 'connect'; at: number }
  | { kind: 'disconnect'; at: number; will: boolean }
  /** A status message: `state` online/offline when the node said so, else a health report. */
  | { kind: 'status'; at: number; state: 'online' | 'offline' | null; status?: DeviceStatusFields };

export interface PresenceTransition {
  deviceId: string;
  from: Presence;
  to: Presence;
  cause: PresenceCause;
  at: number;
}

/** A device seen for the first time. */
export function newDeviceState(deviceId: string, at: number): DevicePresenceState {
  return { deviceId, presence: 'unknown', cause: null, since: at, firstSeen: at, lastDataAt: null, lastHeardAt: at, lastOnlineAt: null, connected: null, learnedIntervalMs: null, intervalOverrideMs: null, status: { at: null } };
}

/** The interval the device is expected to report at (ms). */
export function expectedIntervalMs(s: DevicePresenceState, cfg: PresenceSettings): number {
  if (s.intervalOverrideMs !== null) return s.intervalOverrideMs;
  const v = s.learnedIntervalMs ?? cfg.defaultIntervalMs;
  return Math.min(cfg.maxIntervalMs, Math.max(cfg.minIntervalMs, v));
}

/** No data for longer than this (ms) is silence. */
export function timeoutMs(s: DevicePresenceState, cfg: PresenceSettings): number {
  return expectedIntervalMs(s, cfg) * cfg.graceFactor;
}

function move(s: DevicePresenceState, to: Presence, cause: PresenceCause, at: number, out: PresenceTransition[]): void {
  if (s.presence === to) return;
  out.push({ deviceId: s.deviceId, from: s.presence, to, cause, at });
  s.presence = to;
  s.cause = cause;
  s.since = at;
}

function mergeStatus(s: DevicePresenceState, fields: DeviceStatusFields | undefined, at: number): void {
  if (fields === undefined) return;
  let any = false;
  for (const k of ['wifiRssi', 'uptime', 'firmware'] as const) {
    if (fields[k] !== undefined) {
      (s.status as unknown as Record<string, unknown>)[k] = fields[k];
      any = true;
    }
  }
  if (any) s.status.at = at;
}

/**
 * Folds one piece of evidence into the state (mutated in place) and returns
 * the transitions it causes (zero or one). Evidence older than what the
 * state already holds still updates the times it concerns, but cannot undo
 * a newer change of presence.
 */
export function applyEvidence(s: DevicePresenceState, ev: PresenceEvidence, cfg: PresenceSettings): PresenceTransition[] {
  const out: PresenceTransition[] = [];
  const stale = ev.at < s.since;
  s.lastHeardAt = Math.max(s.lastHeardAt, ev.at);
  switch (ev.kind) {
    case 'data': {
      if (s.lastDataAt !== null && ev.at > s.lastDataAt) {
        // Gaps are clamped before averaging, so one long outage does not teach a huge interval.
        const gap = Math.min(cfg.maxIntervalMs, Math.max(cfg.minIntervalMs, ev.at - s.lastDataAt));
        s.learnedIntervalMs = s.learnedIntervalMs === null ? gap : Math.round(s.learnedIntervalMs * 0.8 + gap * 0.2);
      }
      s.lastDataAt = Math.max(s.lastDataAt ?? ev.at, ev.at);
      mergeStatus(s, ev.status, ev.at);
      if (!stale) move(s, 'online', 'data', ev.at, out);
      break;
    }
    case 'connect':
      s.connected = true;
      s.lastOnlineAt = Math.max(s.lastOnlineAt ?? ev.at, ev.at);
      if (!stale) move(s, 'online', 'connected', ev.at, out);
      break;
    case 'disconnect':
      s.connected = false;
      if (!stale) move(s, 'offline', ev.will ? 'will' : 'disconnected', ev.at, out);
      break;
    case 'status':
      mergeStatus(s, ev.status, ev.at);
      if (ev.state === 'online') s.lastOnlineAt = Math.max(s.lastOnlineAt ?? ev.at, ev.at);
      if (!stale && ev.state !== null) move(s, ev.state, 'status', ev.at, out);
      break;
  }
  return out;
}

/**
 * Silence: what the passing of time alone does to a device at `now`. An
 * online device with nothing heard for its timeout turns `silent`; a silent
 * (or online) device not known to be connected, with nothing heard for
 * `offlineAfterTimeouts` timeouts, turns `offline`. A connected device stays
 * `silent` (a keep-alive is not data).
 */
export function evaluateSilence(s: DevicePresenceState, now: number, cfg: PresenceSettings): PresenceTransition[] {
  const out: PresenceTransition[] = [];
  const t = timeoutMs(s, cfg);
  // Keep-alives and health reports are not data: silence counts from the last
  // data, or from coming online when that was later (a reconnect gets a timeout).
  const dataClock = dataClockOf(s);
  if (s.presence === 'online' && now - dataClock > t) move(s, 'silent', 'silence', now, out);
  // Offline needs silence of every kind, and no open connection.
  if ((s.presence === 'silent' || s.presence === 'online') && s.connected !== true && now - s.lastHeardAt > t * cfg.offlineAfterTimeouts) {
    move(s, 'offline', 'silence', now, out);
  }
  return out;
}

function dataClockOf(s: DevicePresenceState): number {
  return Math.max(s.lastDataAt ?? s.firstSeen, s.lastOnlineAt ?? s.firstSeen);
}

/** When `evaluateSilence` next has something to do for this device (ms), or null. */
export function nextDeadline(s: DevicePresenceState, cfg: PresenceSettings): number | null {
  const t = timeoutMs(s, cfg);
  if (s.presence === 'online') return dataClockOf(s) + t + 1;
  if (s.presence === 'silent' && s.connected !== true) return s.lastHeardAt + t * cfg.offlineAfterTimeouts + 1;
  return null;
}

/**
 * After a restart: connections seen before it are gone with the old process
 * (an embedded broker's clients reconnect and announce themselves again), so
 * `connected` is unknown, and presence follows from the age of what the
 * store holds alone. Nothing stays online on lost state; nothing is shown
 * online that has been quiet past its timeout.
 */
export function recompute(s: DevicePresenceState, now: number, cfg: PresenceSettings): PresenceTransition[] {
  s.connected = null;
  const out: PresenceTransition[] = [];
  const t = timeoutMs(s, cfg);
  if (s.presence === 'offline' || s.presence === 'unknown') return out; // stands until new evidence
  if (now - s.lastHeardAt > t * cfg.offlineAfterTimeouts) move(s, 'offline', 'silence', now, out);
  else if (now - dataClockOf(s) > t) move(s, 'silent', 'silence', now, out);
  return out;
}
