/**
 * Real HTTP requests against a running telehub for the query bench: a few
 * concurrent clients, latency per request (request sent to body read), and a
 * shape check of every answer.
 */

export interface Latency {
  requests: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Nearest-rank percentile of ascending values. */
function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function summarise(ms: number[]): Latency {
  const s = [...ms].sort((a, b) => a - b);
  const r = (v: number) => Math.round(v * 10) / 10;
  return { requests: s.length, p50Ms: r(pct(s, 50)), p95Ms: r(pct(s, 95)), p99Ms: r(pct(s, 99)), maxMs: r(s[s.length - 1] ?? NaN) };
}

export interface Answer {
  status: number;
  body: unknown;
  ms: number;
}

export async function get(base: string, pathAndQuery: string, token: string): Promise<Answer> {
  const t0 = performance.now();
  const r = await fetch(base + pathAndQuery, { headers: { authorization: `Bearer ${token}` } });
  const text = await r.text();
  const ms = performance.now() - t0;
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* kept as text for the error report */
  }
  return { status: r.status, body, ms };
}

/**
 * Sends `total` requests built by `make(i)` over `concurrency` clients and
 * checks each answer with `check` (which returns problems). The first
 * `warmup` requests are sent the same way but neither timed nor counted.
 */
export async function runRequests<T>(opts: {
  base: string;
  token: string;
  total: number;
  warmup: number;
  concurrency: number;
  make: (i: number) => { path: string; ctx: T };
  check: (a: Answer, ctx: T, i: number) => Promise<string[]> | string[];
}): Promise<{ latency: Latency; problems: string[] }> {
  const problems: string[] = [];
  const run = async (from: number, to: number, timed: number[] | undefined) => {
    let next = from;
    const worker = async () => {
      while (next < to) {
        const i = next++;
        const { path, ctx } = opts.make(i);
        const a = await get(opts.base, path, opts.token);
        timed?.push(a.ms);
        const p = await opts.check(a, ctx, i);
        // Keep the report short: the first few problems say enough.
        if (problems.length < 20) problems.push(...p.map((m) => `${path}: ${m}`));
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
  };
  await run(0, opts.warmup, undefined);
  const ms: number[] = [];
  await run(opts.warmup, opts.warmup + opts.total, ms);
  return { latency: summarise(ms), problems };
}
