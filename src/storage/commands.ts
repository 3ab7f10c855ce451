/**
 * Commands to devices as the store keeps them (issue 9, "Commands"): one row
 * per command with a timestamp per lifecycle step. The dispatcher
 * (src/commands/) moves a command on only through `transition`, a
 * compare-and-set on its state, so an answer racing a cancel or a timeout
 * cannot both win, whichever process or timer gets there first.
 */

/** Lifecycle: queued → sent → delivered → succeeded | failed, or expired / cancelled. */
export const COMMAND_STATES = ['queued', 'sent', 'delivered', 'succeeded', 'failed', 'expired', 'cancelled'] as const;
export type CommandState = (typeof COMMAND_STATES)[number];
/** States a command can still leave. */
export const OPEN_STATES: readonly CommandState[] = ['queued', 'sent', 'delivered'];
export const isOpen = (s: CommandState): boolean => OPEN_STATES.includes(s);

export interface CommandRecord {
  commandId: string;
  deviceId: string;
  command: string;
  /** JSON text of the params, as given. */
  params: string;
  state: CommandState;
  /** How many times it was published (the same command_id each time). */
  attempts: number;
  /** Epoch ms of each step; null until reached. */
  queuedAt: number;
  sentAt: number | null;
  /** The latest publish (resends included): the ack timeout runs from here. */
  lastSentAt: number | null;
  deliveredAt: number | null;
  /** When it reached succeeded, failed, expired or cancelled. */
  finishedAt: number | null;
  expiresAt: number;
  /** Why it failed/expired/was cancelled: `node` (the node said failed), `timeout`, `ttl`, `cancelled`. */
  cause: string | null;
  /** JSON text of the node's result, when it sent one. */
  result: string | null;
}

/** Fields a transition may set; `attempt` adds one to `attempts`. */
export interface CommandPatch {
  state: CommandState;
  sentAt?: number;
  lastSentAt?: number;
  deliveredAt?: number;
  finishedAt?: number;
  cause?: string | null;
  result?: string | null;
  attempt?: boolean;
}

export interface CommandRepository {
  create(c: CommandRecord): Promise<void>;
  get(commandId: string): Promise<CommandRecord | undefined>;
  /** A device's commands, newest first. */
  listByDevice(deviceId: string, limit: number): Promise<CommandRecord[]>;
  /** Every command still open, oldest first (per device: the order they go out). */
  open(): Promise<CommandRecord[]>;
  /** The device's oldest open command (the one going out now), or undefined; one index lookup, whatever the number of devices. */
  firstOpen(deviceId: string): Promise<CommandRecord | undefined>;
  /**
   * Applies `patch` when the command is in one of `from` (`sentAt` only if
   * not yet set); resolves to the updated record, or undefined when it was
   * not in one of those states (someone else moved it first).
   */
  transition(commandId: string, from: readonly CommandState[], patch: CommandPatch): Promise<CommandRecord | undefined>;
}

/** Row shape shared by both stores (times as epoch ms). */
export interface CommandRow {
  command_id: string;
  device_id: string;
  command: string;
  params: string;
  state: string;
  attempts: number | string;
  queued_at: number | string;
  sent_at: number | string | null;
  last_sent_at: number | string | null;
  delivered_at: number | string | null;
  finished_at: number | string | null;
  expires_at: number | string;
  cause: string | null;
  result: string | null;
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

export function rowToCommand(r: CommandRow): CommandRecord {
  return {
    commandId: r.command_id,
    deviceId: r.device_id,
    command: r.command,
    params: r.params,
    state: r.state as CommandState,
    attempts: Number(r.attempts),
    queuedAt: Number(r.queued_at),
    sentAt: num(r.sent_at),
    lastSentAt: num(r.last_sent_at),
    deliveredAt: num(r.delivered_at),
    finishedAt: num(r.finished_at),
    expiresAt: Number(r.expires_at),
    cause: r.cause,
    result: r.result,
  };
}

/**
 * The UPDATE of a transition, for a dialect's placeholder (`?` or `$n`).
 * Returns the SQL and its parameters; `from` states go in last. With
 * `deviceId`, only a command of that device moves (a node's answer).
 */
export function transitionSql(commandId: string, from: readonly CommandState[], p: CommandPatch, ph: (i: number) => string, deviceId?: string): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const sets: string[] = [];
  const add = (v: unknown) => {
    params.push(v);
    return ph(params.length);
  };
  sets.push(`state = ${add(p.state)}`);
  if (p.sentAt !== undefined) sets.push(`sent_at = COALESCE(sent_at, ${add(p.sentAt)})`);
  if (p.lastSentAt !== undefined) sets.push(`last_sent_at = ${add(p.lastSentAt)}`);
  if (p.deliveredAt !== undefined) sets.push(`delivered_at = COALESCE(delivered_at, ${add(p.deliveredAt)})`);
  if (p.finishedAt !== undefined) sets.push(`finished_at = ${add(p.finishedAt)}`);
  if (p.cause !== undefined) sets.push(`cause = ${add(p.cause)}`);
  if (p.result !== undefined) sets.push(`result = ${add(p.result)}`);
  if (p.attempt) sets.push('attempts = attempts + 1');
  const idAt = add(commandId);
  const device = deviceId === undefined ? '' : ` AND device_id = ${add(deviceId)}`;
  const states = from.map((s) => add(s)).join(', ');
  return { sql: `UPDATE commands SET ${sets.join(', ')} WHERE command_id = ${idAt}${device} AND state IN (${states})`, params };
}

export const INSERT_COMMAND_COLUMNS =
  'command_id, device_id, command, params, state, attempts, queued_at, sent_at, last_sent_at, delivered_at, finished_at, expires_at, cause, result';

export const commandValues = (c: CommandRecord): unknown[] => [
  c.commandId,
  c.deviceId,
  c.command,
  c.params,
  c.state,
  c.attempts,
  c.queuedAt,
  c.sentAt,
  c.lastSentAt,
  c.deliveredAt,
  c.finishedAt,
  c.expiresAt,
  c.cause,
  c.result,
];
