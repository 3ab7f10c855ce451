/**
 * CPU per thread of a process, from /proc/<pid>/task/<tid>/stat, so the bench
 * can tell telehub's main thread from its other threads. Node names every
 * thread "node", so they are told apart by id (the main thread's id is the
 * pid) and by use: with SQLite, the busiest other thread is the writer thread.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** CPU seconds (user+system) of each thread of `pid`, by thread id; empty when /proc is unavailable. */
export function threadCpuSeconds(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), (Number(rest[11]) + Number(rest[12])) / 100); // utime + stime, USER_HZ = 100
    } catch {
      /* the thread has gone */
    }
  }
  return out;
}

export interface ThreadCpuSplit {
  /** The main thread (JavaScript event loop: HTTP, parsing, batching). */
  main: number;
  /** The busiest other thread: the SQLite writer thread when the store is SQLite. */
  busiestOther: number;
  /** Every other thread (V8 GC helpers, libuv pool, …). */
  rest: number;
}

/** Splits the CPU used between two `threadCpuSeconds` snapshots. */
export function splitThreadCpu(pid: number, before: Map<number, number>, after: Map<number, number>): ThreadCpuSplit | undefined {
  if (after.size === 0) return undefined;
  let main = 0;
  let busiestOther = 0;
  let rest = 0;
  for (const [tid, s] of after) {
    const d = s - (before.get(tid) ?? 0);
    if (tid === pid) main = d;
    else if (d > busiestOther) {
      rest += busiestOther;
      busiestOther = d;
    } else rest += d;
  }
  const r = (x: number) => Math.round(x * 100) / 100;
  return { main: r(main), busiestOther: r(busiestOther), rest: r(rest) };
}
