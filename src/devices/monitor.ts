/**
 * The presence monitor: the live side of device presence. It holds each
 * device's presence state (src/devices/presence.ts) in memory, folds in
 *
 * - the log entries the device-registry processor applied (data, `status`
 *   entries: the node's own word and health, wills published to the status
 *   topic arrive this way too),
 * - the embedded broker's connects and disconnects (`connected`,
 *   `disconnected`, or `will` when a client with a will dropped without a
 *   DISCONNECT),
 * - the passing of time: one timer, set to the earliest `nextDeadline` of
 *   all devices (devices first seen after start-up included), turns devices
 *   `silent` and then `offline`,
 *
 * and writes every transition as a commit-log entry of its own kind
 * (`{kind: 'presence', presence: {deviceId, state, cause, from, at}}`, table
 * `presence_transitions`, src/storage/presence-log.ts) through a
 * PresenceWriter (in order, retried while the store is away), so it gets its
 * `seq` from the same sequence as events and reaches the registry, the live
 * stream, the dashboard, commands and alerts by the one path everything
 * after a commit follows, without being a row of `events`. Its identity is
 * (device, time, state), so the same transition written twice is stored once.
 *
 * At start (before the processors run) it loads the registry and
 * recomputes every device from the store alone (`recompute`): connections
 * of the previous process are gone, so none stays online on lost state.
 *
 * Client id → device id: a client that publishes to a route whose topic
 * names a device is that device (learned from its publishes; seed 003 nodes
 * and seed 001 devices publish under their own id); before its first
 * publish, a client whose id is a known device id is taken to be that
 * device. Other clients (dashboards, mosquitto_sub) are not devices.
 */
import type { Logger } from 'pino';
import { isData } from '../processors/device-registry/index.js';
import type { RegistryRow } from '../processors/device-registry/read.js';
import { STATUS_EVENT_TYPE } from '../codecs/node-status/index.js';
import type { LogEntry, PresenceTransitionEntry } from '../storage/log.js';
import {
  applyEvidence,
  evaluateSilence,
  newDeviceState,
  nextDeadline,
  recompute,
  type DevicePresenceState,
  type Presence,
  type PresenceEvidence,
  type PresenceSettings,
  type PresenceTransition,
} from './presence.js';
import { statusFieldsOf } from '../processors/device-registry/index.js';

export interface MonitorOptions extends PresenceSettings {
  /** Per-device expected interval (ms), from the config file's `devices:` section. */
  overrides: ReadonlyMap<string, number>;
}

/** What the embedded broker tells the monitor. */
export interface ConnectionObserver {
  connected(clientId: string, at: number): void;
  /** `will`: the client had a will and left without a DISCONNECT (the broker publishes the will). */
  disconnected(clientId: string, at: number, will: boolean): void;
  /** A client published to a route that names `deviceId`. */
  published(clientId: string, deviceId: string): void;
}

type Clock = () => number;

/** Whether a status entry's JSON object says it is a last will (`"will": true`). */
function declaresWill(meta: string): boolean {
  if (!meta.includes('"will"')) return false;
  try {
    return (JSON.parse(meta) as { will?: unknown }).will === true;
  } catch {
    return false;
  }
}

export class PresenceMonitor implements ConnectionObserver {
  private readonly devices = new Map<string, DevicePresenceState>();
  private readonly clientDevice = new Map<string, string>();
  /** Open connections not yet known to be a device: client id → connect time. */
  private readonly pending = new Map<string, number>();
  /** Overrides set through the API since start, for devices the monitor meets later. */
  private readonly overrideSet = new Map<string, number | null>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private stopped = false;
  constructor(
    private readonly writer: { write(entries: readonly PresenceTransitionEntry[]): void },
    private readonly opts: MonitorOptions,
    private readonly log: Logger,
    private readonly now: Clock = Date.now,
  ) {}

  /**
   * Loads the registry and recomputes every device (call once, before the
   * processors start, so no applied entry is missed or folded twice).
   */
  start(rows: readonly RegistryRow[]): void {
    const now = this.now();
    const out: PresenceTransition[] = [];
    for (const r of rows) {
      const s = newDeviceState(r.deviceId, r.firstSeen);
      s.presence = (r.presence as Presence | null) ?? 'unknown';
      s.cause = (r.presenceCause as DevicePresenceState['cause']) ?? null;
      s.since = r.presenceSince ?? r.firstSeen;
      s.lastDataAt = r.lastDataAt;
      s.lastHeardAt = r.lastHeardAt ?? r.lastSeen;
      s.learnedIntervalMs = r.intervalMs;
      // The one set through the API/CLI (stored on the row) before the config file's.
      s.intervalOverrideMs = r.intervalOverrideMs ?? this.opts.overrides.get(r.deviceId) ?? null;
      s.status = { at: r.statusAt, ...(r.wifiRssi !== null && { wifiRssi: r.wifiRssi }), ...(r.uptimeS !== null && { uptime: r.uptimeS }), ...(r.firmware !== null && { firmware: r.firmware }) };
      // A device that had data but no presence entry yet (a store from before
      // the registry) is judged like one that was online.
      if (r.presence === null && r.lastDataAt !== null) s.presence = 'online';
      this.devices.set(r.deviceId, s);
      out.push(...recompute(s, now, this.opts));
      // recompute may leave an unrecorded 'online' from the line above: record it.
      if (r.presence === null && s.presence === 'online') out.push({ deviceId: s.deviceId, from: 'unknown', to: 'online', cause: 'data', at: s.lastDataAt ?? now });
    }
    this.emit(out);
    for (const s of this.devices.values()) this.schedule(nextDeadline(s, this.opts));
    this.log.info({ devices: rows.length, transitions: out.length }, 'Presence recomputed from the store.');
  }

  /** Stops the timer; transitions already submitted still commit. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Whether the device is online now (for the command lifecycle: send only then). */
  isOnline(deviceId: string): boolean {
    return this.devices.get(deviceId)?.presence === 'online';
  }

  /** The live presence state of a device (a copy), or undefined. */
  state(deviceId: string): DevicePresenceState | undefined {
    const s = this.devices.get(deviceId);
    return s === undefined ? undefined : structuredClone(s);
  }

  /** The expected interval and timeout for a device, as the monitor applies them. */
  get settings(): PresenceSettings {
    return this.opts;
  }

  /**
   * A new expected interval for a device (ms; null: learned or default),
   * applied at once: its deadlines follow the new timeout.
   */
  setIntervalOverride(deviceId: string, ms: number | null): void {
    this.overrideSet.set(deviceId, ms);
    const s = this.devices.get(deviceId);
    if (s === undefined || this.stopped) return;
    s.intervalOverrideMs = ms;
    const deadline = nextDeadline(s, this.opts);
    // A shorter timeout may already have passed: the tick decides now.
    if (deadline !== null && deadline <= this.now()) this.tick();
    else this.schedule(deadline);
  }

  /** Entries the device-registry processor committed (in log order). */
  onEntries(entries: readonly LogEntry[]): void {
    if (this.stopped) return;
    const out: PresenceTransition[] = [];
    for (const entry of entries) {
      if (entry.kind !== 'event') continue; // dead letters; presence entries are our own output
      const e = entry.event;
      const f = statusFieldsOf(e);
      const status = f === null ? undefined : { ...(f.rssi !== null && { wifiRssi: f.rssi }), ...(f.up !== null && { uptime: f.up }), ...(f.fw !== null && { firmware: f.fw }) };
      if (isData(e.eventType)) out.push(...this.evidence(e.deviceId, { kind: 'data', at: e.tsServer, status }));
      else if (e.eventType === STATUS_EVENT_TYPE) {
        // Case-insensitive: Tasmota's LWT says `Online` / `Offline`.
        const word = e.valueText?.toLowerCase();
        const state = word === 'online' || word === 'offline' ? word : null;
        // Behind an external broker a will is just a publish; a will payload that
        // says so ({"status":"offline","will":true}, docs/devices.md) is told apart.
        if (state === 'offline' && declaresWill(e.meta)) out.push(...this.evidence(e.deviceId, { kind: 'disconnect', at: e.tsServer, will: true }));
        else out.push(...this.evidence(e.deviceId, { kind: 'status', at: e.tsServer, state, status }));
      }
    }
    this.emit(out);
  }

  connected(clientId: string, at: number): void {
    if (this.stopped) return;
    const device = this.clientDevice.get(clientId) ?? (this.devices.has(clientId) ? clientId : undefined);
    if (device === undefined) {
      this.pending.set(clientId, at);
      return;
    }
    this.clientDevice.set(clientId, device);
    this.emit(this.evidence(device, { kind: 'connect', at }));
  }

  disconnected(clientId: string, at: number, will: boolean): void {
    this.pending.delete(clientId);
    if (this.stopped) return;
    const device = this.clientDevice.get(clientId);
    this.clientDevice.delete(clientId);
    if (device === undefined) return;
    this.emit(this.evidence(device, { kind: 'disconnect', at, will }));
  }

  published(clientId: string, deviceId: string): void {
    if (this.stopped || this.clientDevice.get(clientId) === deviceId) return;
    const since = this.pending.get(clientId);
    if (since === undefined && this.clientDevice.has(clientId)) {
      this.clientDevice.set(clientId, deviceId); // one client speaking for another device: the latest wins
      return;
    }
    if (since === undefined) return; // connected before this process started: its data will tell
    this.pending.delete(clientId);
    this.clientDevice.set(clientId, deviceId);
    this.emit(this.evidence(deviceId, { kind: 'connect', at: since }));
  }

  private evidence(deviceId: string, ev: PresenceEvidence): PresenceTransition[] {
    let s = this.devices.get(deviceId);
    if (s === undefined) {
      s = newDeviceState(deviceId, ev.at);
      const set = this.overrideSet.get(deviceId);
      s.intervalOverrideMs = set !== undefined ? set : (this.opts.overrides.get(deviceId) ?? null);
      this.devices.set(deviceId, s);
    }
    const out = applyEvidence(s, ev, this.opts);
    this.schedule(nextDeadline(s, this.opts));
    return out;
  }

  /** Arms the timer for `deadline` when that is earlier than the one set. */
  private schedule(deadline: number | null): void {
    if (deadline === null || this.stopped || deadline >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = deadline;
    this.timer = setTimeout(() => this.tick(), Math.max(0, deadline - this.now()));
    this.timer.unref();
  }

  private tick(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.stopped) return;
    const now = this.now();
    const out: PresenceTransition[] = [];
    let next = Infinity;
    for (const s of this.devices.values()) {
      out.push(...evaluateSilence(s, now, this.opts));
      const d = nextDeadline(s, this.opts);
      if (d !== null && d < next) next = d;
    }
    this.emit(out);
    if (next !== Infinity) this.schedule(next);
  }

  private emit(transitions: readonly PresenceTransition[]): void {
    if (transitions.length === 0) return;
    for (const t of transitions) this.log.info({ device: t.deviceId, from: t.from, to: t.to, cause: t.cause }, 'Device presence changed.');
    this.writer.write(transitions.map((t) => ({ deviceId: t.deviceId, state: t.to, cause: t.cause, from: t.from, at: t.at })));
  }
}
