/**
 * How node answers reach the dispatcher: through the commit log. A node's
 * `iot/node/{id}/status` message is committed by the `node-status` route as
 * a `status` entry like any other event (so it is acknowledged only once
 * durable), and this consumer follows the log from its own checkpoint and
 * hands every command result to `CommandDispatcher.handleCommandStatus`.
 *
 * It runs in the processor runner (src/log/runner.ts) under the name
 * `commands`: the runner moves its checkpoint only after `apply` has
 * resolved, i.e. after the command state changes are committed, so an
 * answer is never lost across a kill -9, nor while the dispatcher is
 * stopped or behind (the entry waits in the log). Unlike the other
 * processors its state (the `commands` table) is not written in the
 * checkpoint's transaction but through the dispatcher's compare-and-set
 * transitions, which are idempotent: after a crash between the transition
 * and the checkpoint the same answer comes again and changes nothing.
 * It has no tables to empty, and `telehub processors rebuild` does not
 * offer it (commands are not derived from the log).
 */
import type { Processor } from '../log/processor.js';
import { CheckpointMovedError, type CommitLog, type ProcessorStore } from '../storage/log.js';
import { commandResultOf } from '../codecs/node-status/index.js';
import type { CommandDispatcher } from './dispatcher.js';

/** The checkpoint name of the dispatcher's consumer of the commit log. */
export const COMMANDS_CONSUMER = 'commands';

/** The consumer: applies each command result of the log to the dispatcher. */
export function commandAnswers(dispatcher: Pick<CommandDispatcher, 'handleCommandStatus'>): Processor {
  return {
    name: COMMANDS_CONSUMER,
    tables: [],
    async apply(entries) {
      for (const e of entries) {
        if (e.kind !== 'event') continue;
        const r = commandResultOf(e.event);
        if (r === undefined) continue;
        // One at a time, in log order: a device's `received` before its `succeeded`.
        await dispatcher.handleCommandStatus(r.deviceId, { command_id: r.commandId, status: r.status, result: r.result }, e.event.tsServer);
      }
      return [];
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
