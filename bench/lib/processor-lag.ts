/**
 * Samples a processor's lag from telehub's /metrics while a benchmark runs
 * (telehub_processor_lag_seconds / _lag_entries, every `everyMs`), and after
 * the load, how long it takes to catch up. Sampling costs one scrape per
 * interval (a status read of the store per scrape).
 */
export interface LagReport {
  processor: string;
  samples: number;
  /** Lag in seconds during the load: the age of the oldest entry not yet applied. */
  p50Seconds: number;
  p99Seconds: number;
  maxSeconds: number;
  maxEntries: number;
  /** From the end of the load until the processor had applied every entry. */
  catchUpSeconds: number | null;
}

async function scrape(metricsUrl: string, names: readonly string[]): Promise<Map<string, { seconds: number; entries: number }>> {
  const out = new Map<string, { seconds: number; entries: number }>();
  try {
    const text = await (await fetch(metricsUrl)).text();
    for (const name of names) {
      const sec = new RegExp(`^telehub_processor_lag_seconds\\{name="${name}"\\} (\\S+)$`, 'm').exec(text);
      const ent = new RegExp(`^telehub_processor_lag_entries\\{name="${name}"\\} (\\S+)$`, 'm').exec(text);
      if (sec && ent) out.set(name, { seconds: Number(sec[1]), entries: Number(ent[1]) });
    }
  } catch {
    /* not answering: no sample */
  }
  return out;
}

/** The processor's lag in entries now, or undefined when /metrics does not answer or list it. */
export async function processorLagEntries(httpPort: number, name: string): Promise<number | undefined> {
  return (await scrape(`http://127.0.0.1:${httpPort}/metrics`, [name])).get(name)?.entries;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Starts sampling; `stop()` ends the sampling, waits (up to `catchUpTimeoutMs`) for the processor to catch up and reports. */
export function sampleProcessorLag(httpPort: number, name = 'device-counters', everyMs = 200): { stop(catchUpTimeoutMs?: number): Promise<LagReport> } {
  const s = sampleProcessorLags(httpPort, [name], everyMs);
  return { stop: async (catchUpTimeoutMs) => (await s.stop(catchUpTimeoutMs))[0] };
}

/**
 * Samples several processors from one scrape per interval; `stop()` reports
 * one LagReport per name, in the order given (a processor /metrics does not
 * list has 0 samples and catch-up null).
 */
export function sampleProcessorLags(httpPort: number, names: readonly string[], everyMs = 200): { stop(catchUpTimeoutMs?: number): Promise<LagReport[]> } {
  const url = `http://127.0.0.1:${httpPort}/metrics`;
  const seconds = new Map<string, number[]>(names.map((n) => [n, []]));
  const maxEntries = new Map<string, number>(names.map((n) => [n, 0]));
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const [name, s] of await scrape(url, names)) {
        seconds.get(name)!.push(s.seconds);
        if (s.entries > maxEntries.get(name)!) maxEntries.set(name, s.entries);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop(catchUpTimeoutMs = 60_000) {
      running = false;
      await loop;
      const t0 = performance.now();
      const catchUp = new Map<string, number>();
      while (catchUp.size < names.length && performance.now() - t0 < catchUpTimeoutMs) {
        const got = await scrape(url, names);
        const now = (performance.now() - t0) / 1000;
        for (const [name, s] of got) if (s.entries === 0 && !catchUp.has(name)) catchUp.set(name, now);
        // A processor /metrics does not list will never catch up: stop waiting for it.
        if (got.size > 0) for (const n of names) if (!got.has(n) && !catchUp.has(n)) catchUp.set(n, Number.NaN);
        if (catchUp.size < names.length) await new Promise((r) => setTimeout(r, 50));
      }
      return names.map((name) => {
        const sorted = [...seconds.get(name)!].sort((a, b) => a - b);
        const c = catchUp.get(name);
        return {
          processor: name,
          samples: sorted.length,
          p50Seconds: pct(sorted, 50),
          p99Seconds: pct(sorted, 99),
          maxSeconds: sorted.at(-1) ?? 0,
          maxEntries: maxEntries.get(name)!,
          catchUpSeconds: c === undefined || Number.isNaN(c) ? null : c,
        };
      });
    },
  };
}
