/**
 * The command dispatcher: takes commands for devices, publishes them to
 * `iot/node/{id}/command` one at a time per device, in order, and follows
 * the node's answers on its status topic to the end of each command's
 * lifecycle (queued → sent → delivered → succeeded | failed, or expired /
 * cancelled; see storage/commands.ts).
 *
 * Every decision is taken from the store, never from memory alone: the
 * in-memory part is only which devices have open commands and one timer per
 * device (the next ack timeout or expiry), rebuilt from `open()` at start-up.
 * So a kill -9 at any step loses nothing: a queued command stays queued, and
 * a sent one is published again at once after a restart with the same
 * `command_id` (a node must ignore an id it has already run, docs/devices.md).
 *
 * `sent` is written before the publish (write-ahead), so an answer that
 * arrives before the broker's PUBACK finds the command `sent` and is taken,
 * and a crash between the write and the publish ends in a resend. A command
 * becomes `delivered` or `succeeded` only through the node's own message.
 *
 * @example
 * const d = new CommandDispatcher(store.commands, publisher, config.commands, log);
 * await d.start();
 * const c = await d.submit({ deviceId: 'node-01', command: 'set_led', params: { state: 'on' } });
 * // the node answers on iot/node/node-01/status: {"command_id": c.commandId, "status": "succeeded"};
 * // the answer is committed to the log and applied by commandAnswers(d) (./answers.ts)
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { MessagePublisher } from '../pipeline/message.js';
import { isOpen, OPEN_STATES, type CommandRecord, type CommandRepository } from '../storage/commands.js';

export interface CommandSettings {
  /** Expiry when a command gives no ttl. */
  ttlMs: number;
  ackTimeoutMs: number;
  maxAttempts: number;
}

export interface NewCommand {
  deviceId: string;
  command: string;
  params?: unknown;
  /** Seconds until it expires; default ttlMs. */
  ttlS?: number;
}

/** The topic a device's commands are published on (seed 003). */
export const commandTopic = (deviceId: string): string => `iot/node/${deviceId}/command`;

/** What a node's status message says about a command, when it is a command result. */
export interface CommandAnswer {
  commandId: string;
  status: 'received' | 'succeeded' | 'failed';
  result?: unknown;
}

/** Reads a command answer out of a decoded status message; undefined when it is none (plain node health). */
export function commandAnswerOf(message: unknown): CommandAnswer | undefined {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return undefined;
  const m = message as Record<string, unknown>;
  if (typeof m.command_id !== 'string' || m.command_id === '') return undefined;
  if (m.status !== 'received' && m.status !== 'succeeded' && m.status !== 'failed') return undefined;
  return { commandId: m.command_id, status: m.status, result: m.result };
}

export class CommandDispatcher {
  /** Devices with open commands → their timer (undefined while none is due). */
  private readonly devices = new Map<string, NodeJS.Timeout | undefined>();
  /** Per-device chain: a device's steps run one after another (no two publishes race). */
  private readonly chains = new Map<string, Promise<void>>();
  /** Sent commands found at start-up: published again at once. */
  private readonly resendNow = new Set<string>();
  private stopped = false;

  constructor(
    private readonly repo: CommandRepository,
    private readonly out: MessagePublisher,
    private readonly settings: CommandSettings,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    /**
     * Presence seam: a device for which this is false gets nothing published
     * (its commands wait, and expire at their TTL). `deviceOnline` is called
     * when it comes back: by the commands consumer (./answers.ts) for each
     * committed `presence` entry saying `online`. Until the presence monitor
     * is wired (app.ts) every device counts as reachable; wire it so that only
     * a device known to be `offline` is held back (an `unknown` one, e.g. a
     * node behind an external broker that never published, is sent to).
     */
    private readonly isOnline: (deviceId: string) => boolean = () => true,
  ) {}

  /** Rebuilds the per-device queues and timers from the store. */
  async start(): Promise<void> {
    const open = await this.repo.open();
    for (const c of open) {
      if (c.state === 'sent') this.resendNow.add(c.commandId);
      this.devices.set(c.deviceId, undefined);
    }
    if (open.length > 0) this.log.info({ open: open.length, devices: this.devices.size }, 'Commands restored from the store.');
    for (const d of this.devices.keys()) this.kick(d);
  }

  /** Clears every timer; what is open stays in the store for the next start. */
  stop(): void {
    this.stopped = true;
    for (const t of this.devices.values()) if (t) clearTimeout(t);
  }

  /** Queues a command (stored before this resolves) and starts sending it if its device is idle. */
  async submit(n: NewCommand): Promise<CommandRecord> {
    const at = this.now();
    const ttlMs = n.ttlS !== undefined ? n.ttlS * 1000 : this.settings.ttlMs;
    const rec: CommandRecord = {
      commandId: randomUUID(),
      deviceId: n.deviceId,
      command: n.command,
      params: JSON.stringify(n.params ?? {}),
      state: 'queued',
      attempts: 0,
      queuedAt: at,
      sentAt: null,
      lastSentAt: null,
      deliveredAt: null,
      finishedAt: null,
      expiresAt: at + ttlMs,
      cause: null,
      result: null,
    };
    await this.repo.create(rec);
    this.log.info({ commandId: rec.commandId, deviceId: rec.deviceId, command: rec.command }, 'Command queued.');
    if (!this.devices.has(rec.deviceId)) this.devices.set(rec.deviceId, undefined);
    await this.kick(rec.deviceId);
    return (await this.repo.get(rec.commandId)) ?? rec;
  }

  /** Cancels an open command; undefined when there is none with that id, the record (unchanged) when it had already ended. */
  async cancel(commandId: string): Promise<{ record: CommandRecord; cancelled: boolean } | undefined> {
    const c = await this.repo.transition(commandId, OPEN_STATES, { state: 'cancelled', finishedAt: this.now(), cause: 'cancelled' });
    if (c) {
      this.log.info({ commandId, deviceId: c.deviceId }, 'Command cancelled.');
      await this.kick(c.deviceId);
      return { record: c, cancelled: true };
    }
    const existing = await this.repo.get(commandId);
    return existing ? { record: existing, cancelled: false } : undefined;
  }

  /**
   * Node answers for these devices were committed (./answers.ts moves the
   * commands in the transaction of its checkpoint): go on with each
   * device's queue (the next command, or a timer for the one delivered).
   */
  answered(answers: ReadonlyArray<{ deviceId: string; commandId: string; status: CommandAnswer['status'] }>): void {
    const devices = new Set<string>();
    for (const a of answers) {
      this.log.info({ commandId: a.commandId, deviceId: a.deviceId, status: a.status }, 'Command answer committed.');
      devices.add(a.deviceId);
    }
    for (const d of devices) {
      if (!this.devices.has(d)) this.devices.set(d, undefined);
      void this.kick(d);
    }
  }

  /** Presence seam: a device came back; send what waits for it. */
  deviceOnline(deviceId: string): void {
    if (this.devices.has(deviceId)) void this.kick(deviceId);
  }

  /** Runs `step` for a device after its earlier steps (one in flight per device). */
  private kick(deviceId: string): Promise<void> {
    const prev = this.chains.get(deviceId) ?? Promise.resolve();
    const next = prev.then(() => this.step(deviceId)).catch((err: unknown) => {
      // A store error: try again shortly rather than leaving the device stuck.
      this.log.warn({ err, deviceId }, 'Command step failed; retrying.');
      this.arm(deviceId, this.now() + Math.min(this.settings.ackTimeoutMs, 1000));
    });
    this.chains.set(deviceId, next);
    void next.then(() => {
      if (this.chains.get(deviceId) === next) this.chains.delete(deviceId);
    });
    return next;
  }

  /** Moves the device's oldest open command on as far as it can go now, then arms its timer. */
  private async step(deviceId: string): Promise<void> {
    if (this.stopped) return;
    for (;;) {
      const head = await this.repo.firstOpen(deviceId);
      if (!head) {
        this.disarm(deviceId);
        this.devices.delete(deviceId);
        return;
      }
      const now = this.now();
      if (now >= head.expiresAt) {
        if (await this.repo.transition(head.commandId, OPEN_STATES, { state: 'expired', finishedAt: now, cause: 'ttl' })) {
          this.log.info({ commandId: head.commandId, deviceId, from: head.state }, 'Command expired.');
        }
        continue;
      }
      if (head.state === 'delivered') return this.arm(deviceId, head.expiresAt);
      if (!this.isOnline(deviceId)) return this.arm(deviceId, head.expiresAt);
      if (head.state === 'queued') {
        await this.publish(head, now);
        return this.arm(deviceId, Math.min(now + this.settings.ackTimeoutMs, head.expiresAt));
      }
      // sent: resend when its ack timeout has passed (or at once after a restart).
      const due = (head.lastSentAt ?? now) + this.settings.ackTimeoutMs;
      const restart = this.resendNow.delete(head.commandId);
      if (now < due && !(restart && head.attempts < this.settings.maxAttempts)) return this.arm(deviceId, Math.min(due, head.expiresAt));
      if (head.attempts >= this.settings.maxAttempts) {
        if (await this.repo.transition(head.commandId, ['sent'], { state: 'failed', finishedAt: now, cause: 'timeout' })) {
          this.log.warn({ commandId: head.commandId, deviceId, attempts: head.attempts }, 'Command failed: no answer after the last attempt.');
        }
        continue;
      }
      await this.publish(head, now);
      return this.arm(deviceId, Math.min(now + this.settings.ackTimeoutMs, head.expiresAt));
    }
  }

  /** Records the attempt, then publishes (QoS 1) with the same command_id every time. */
  private async publish(c: CommandRecord, now: number): Promise<void> {
    const sent = await this.repo.transition(c.commandId, ['queued', 'sent'], { state: 'sent', sentAt: now, lastSentAt: now, attempt: true });
    if (!sent) return; // cancelled or answered meanwhile
    const payload = JSON.stringify({ command: c.command, params: JSON.parse(c.params) as unknown, command_id: c.commandId });
    this.out.publish(commandTopic(c.deviceId), payload, 1);
    this.log.info({ commandId: c.commandId, deviceId: c.deviceId, attempt: sent.attempts }, sent.attempts === 1 ? 'Command sent.' : 'Command sent again.');
  }

  private arm(deviceId: string, at: number): void {
    this.disarm(deviceId);
    if (this.stopped) return;
    const t = setTimeout(() => void this.kick(deviceId), Math.max(0, at - this.now()));
    t.unref();
    this.devices.set(deviceId, t);
  }

  private disarm(deviceId: string): void {
    const t = this.devices.get(deviceId);
    if (t) clearTimeout(t);
    this.devices.set(deviceId, undefined);
  }
}

export { isOpen };
