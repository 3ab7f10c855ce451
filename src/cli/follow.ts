/**
 * `telehub events --follow [--device D] [--since SEQ]`: prints commit-log
 * entries as they are committed, one JSON line each (events, dead letters
 * and presence transitions, each with its `seq` and `kind`), like `tail -f`. Without --since it starts
 * at the current head. Reads the store directly (any process, no token),
 * polling every TELEHUB_LOG_POLL_MS; exits 0 on SIGINT or SIGTERM.
 */
import { deadLetterToJson } from '../core/event.js';
import { Wakeup } from '../log/wakeup.js';
import { entryDevice, type LogEntry } from '../storage/log.js';
import { presenceLine } from '../sinks/live/hub.js';
import type { Store } from '../storage/store.js';

/** One log entry as a line of `telehub events --follow`. */
export function entryLine(e: LogEntry): string {
  if (e.kind === 'deadletter') return JSON.stringify({ seq: e.seq, kind: 'deadletter', id: e.deadLetter.id, ...deadLetterToJson(e.deadLetter, { full: true }) });
  if (e.kind === 'presence') return presenceLine(e.seq, e.presence);
  const ev = e.event;
  return JSON.stringify({
    seq: e.seq,
    kind: 'event',
    event_id: ev.eventId,
    device_id: ev.deviceId,
    event_type: ev.eventType,
    value_num: ev.valueNum,
    value_text: ev.valueText,
    unit: ev.unit,
    ts_device: ev.tsDevice === null ? null : new Date(ev.tsDevice).toISOString(),
    ts_server: new Date(ev.tsServer).toISOString(),
    meta: JSON.parse(ev.meta),
  });
}

export interface FollowOptions {
  device?: string;
  since?: number;
  pollMs: number;
  /** Ringing it stops the loop (the SIGINT handler does). */
  stop: Wakeup;
}

/** Prints entries until `stop` rings; returns the last seq printed or passed. */
export async function followLog(store: Store, opts: FollowOptions, out: (s: string) => void): Promise<number> {
  let stopped = false;
  const stopGen = opts.stop.generation;
  const isStopped = () => stopped || opts.stop.generation !== stopGen;
  let cursor = opts.since ?? (await store.log.head());
  let failures = 0;
  while (!isStopped()) {
    let page: LogEntry[];
    try {
      page = await store.log.read(cursor, 1000);
      failures = 0;
    } catch (err) {
      if (!store.isRetriable(err)) throw err;
      // The store is away (restarting): keep following, as tail -f keeps a rotated file.
      if (++failures === 1) process.stderr.write(`telehub: the store is not answering (${(err as Error).message}); retrying.\n`);
      await opts.stop.wait(Math.min(5000, opts.pollMs * 2 ** failures), stopGen);
      continue;
    }
    for (const e of page) {
      cursor = e.seq;
      const device = entryDevice(e);
      if (opts.device !== undefined && device !== opts.device) continue;
      out(entryLine(e) + '\n');
    }
    if (page.length === 0) await opts.stop.wait(opts.pollMs, stopGen);
  }
  stopped = true;
  return cursor;
}

export { Wakeup };
