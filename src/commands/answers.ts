/**
 * How node answers reach the dispatcher: through the commit log. A node's
 * `iot/node/{id}/status` message is committed by the `node-status` route as
 * a `status` entry like any other event (so it is acknowledged only once
 * durable), and this consumer follows the log from its own checkpoint.
 *
 * It is a processor (src/log/processor.ts) run by the processor runner under
 * the name `commands`: each command result (`commandResultOf`) becomes a
 * compare-and-set UPDATE of its command, run in the transaction that moves
 * the checkpoint past it, so an answer is applied exactly once across a
 * kill -9, and one that arrives while the dispatcher is stopped or behind
 * waits in the log. After that commit the dispatcher is told which devices
 * were answered (`afterCommit`), to send their next command. One transaction
 * per page of the log (not one per answer) keeps up with a thousand nodes
 * answering at once (bench/commands.ts).
 *
 * Its state, the `commands` table, is not derived from the log: it has no
 * tables to empty, and `telehub processors rebuild` does not offer it.
 */
import type { Dialect, Processor } from '../log/processor.js';
import { CheckpointMovedError, type CommitLog, type LogEntry, type LogInterest, type ProcessorStatement, type ProcessorStore } from '../storage/log.js';
import { transitionSql, type CommandPatch, type CommandState } from '../storage/commands.js';
import { commandResultOf, STATUS_EVENT_TYPE } from '../codecs/node-status/index.js';
import { commandAnswerOf, type CommandAnswer, type CommandDispatcher } from './dispatcher.js';

/** The checkpoint name of the dispatcher's consumer of the commit log. */
export const COMMANDS_CONSUMER = 'commands';

/** A node's answer in the log: which command, what it said, and when telehub received it. */
export interface LoggedAnswer extends CommandAnswer {
  deviceId: string;
  at: number;
}

/** The log entries the consumer reads: `status` events and presence transitions. */
export const COMMAND_ANSWER_ENTRIES: LogInterest = Object.freeze({ events: Object.freeze([STATUS_EVENT_TYPE]), deadLetters: false, presence: true });

/** The command answers among log entries, in log order. */
export function answersOf(entries: readonly LogEntry[]): LoggedAnswer[] {
  const out: LoggedAnswer[] = [];
  for (const e of entries) {
    if (e.kind !== 'event') continue;
    const r = commandResultOf(e.event);
    const a = r && commandAnswerOf({ command_id: r.commandId, status: r.status, result: r.result });
    if (a) out.push({ ...a, deviceId: r.deviceId, at: e.event.tsServer });
  }
  return out;
}

/**
 * The transition an answer asks for: `received` moves a sent command to
 * delivered; `succeeded`/`failed` end a sent or delivered one (`cause`
 * `node` for failed). Never `delivered` or `succeeded` without the node's own
 * message; a duplicate, or an answer to a command already ended (cancelled,
 * expired, timed out), matches no row and changes nothing.
 */
export function answerTransition(a: LoggedAnswer): { from: CommandState[]; patch: CommandPatch } {
  if (a.status === 'received') return { from: ['sent'], patch: { state: 'delivered', deliveredAt: a.at } };
  return {
    from: ['sent', 'delivered'],
    patch: {
      state: a.status,
      deliveredAt: a.at,
      finishedAt: a.at,
      ...(a.status === 'failed' ? { cause: 'node' } : {}),
      ...(a.result !== undefined ? { result: JSON.stringify(a.result) } : {}),
    },
  };
}

/** The statements applying `entries`' answers, in the store's dialect. */
export function answerStatements(entries: readonly LogEntry[], dialect: Dialect): ProcessorStatement[] {
  const ph = dialect === 'sqlite' ? () => '?' : (i: number) => `$${i}`;
  return answersOf(entries).map((a) => {
    const { from, patch } = answerTransition(a);
    return transitionSql(a.commandId, from, patch, ph, a.deviceId);
  });
}

/** Devices whose presence turned `online` among log entries (presence transitions, as the presence monitor writes them): they get what waits for them. */
export function cameOnline(entries: readonly LogEntry[]): Set<string> {
  const out = new Set<string>();
  for (const e of entries) if (e.kind === 'presence' && e.presence.state === 'online') out.add(e.presence.deviceId);
  return out;
}

/**
 * The consumer: answers applied with its checkpoint, then the answered
 * devices go on; a device whose presence turned `online` gets the commands
 * that waited for it (the dispatcher's isOnline seam kept them back).
 */
export function commandAnswers(dispatcher: Pick<CommandDispatcher, 'answered' | 'deviceOnline'>): Processor {
  return {
    name: COMMANDS_CONSUMER,
    tables: [],
    // Answers are node status messages; presence tells which devices came
    // online. Telemetry, the bulk of the log, is not even read for it.
    reads: COMMAND_ANSWER_ENTRIES,
    apply: answerStatements,
    afterCommit(entries) {
      const answers = answersOf(entries);
      if (answers.length > 0) dispatcher.answered(answers);
      for (const d of cameOnline(entries)) dispatcher.deviceOnline(d);
    },
  };
}

/**
 * Registers the consumer's checkpoint on its first start at the log's head:
 * entries committed before any command could be sent (a store upgraded from
 * a version without commands) hold no answer it needs, and a large log is
 * then not read from the start. Later starts go on from the checkpoint.
 */
export async function registerCommandAnswers(processors: ProcessorStore, log: CommitLog): Promise<void> {
  if ((await processors.get(COMMANDS_CONSUMER)) !== undefined) return;
  const head = await log.head();
  await processors.register(COMMANDS_CONSUMER);
  if (head === 0) return;
  try {
    await processors.commit(COMMANDS_CONSUMER, 0, head, []);
  } catch (err) {
    // Another process registered it first and moved it: go on from there.
    if (!(err instanceof CheckpointMovedError)) throw err;
  }
}
