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

async function scrape(metricsUrl: string, name: string): Promise<{ seconds: number; entries: number } | undefined> {
  try {
    const text = await (await fetch(metricsUrl)).text();
    const sec = new RegExp(`^telehub_processor_lag_seconds\\{name="${name}"\\} (\\S+)$`, 'm').exec(text);
    const ent = new RegExp(`^telehub_processor_lag_entries\\{name="${name}"\\} (\\S+)$`, 'm').exec(text);
    if (!sec || !ent) return undefined;
    return { seconds: Number(sec[1]), entries: Number(ent[1]) };
  } catch {
    return undefined;
  }
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Starts sampling; `stop()` ends the sampling, waits (up to `catchUpTimeoutMs`) for the processor to catch up and reports. */
export function sampleProcessorLag(httpPort: number, name = 'device-counters', everyMs = 200): { stop(catchUpTimeoutMs?: number): Promise<LagReport> } {
  const url = `http://127.0.0.1:${httpPort}/metrics`;
  const seconds: number[] = [];
  let maxEntries = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const s = await scrape(url, name);
      if (s) {
        seconds.push(s.seconds);
        if (s.entries > maxEntries) maxEntries = s.entries;
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop(catchUpTimeoutMs = 60_000) {
      running = false;
      await loop;
      const t0 = performance.now();
      let catchUpSeconds: number | null = null;
      while (performance.now() - t0 < catchUpTimeoutMs) {
        const s = await scrape(url, name);
        if (s && s.entries === 0) {
          catchUpSeconds = (performance.now() - t0) / 1000;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      const sorted = [...seconds].sort((a, b) => a - b);
      return {
        processor: name,
        samples: sorted.length,
        p50Seconds: pct(sorted, 50),
        p99Seconds: pct(sorted, 99),
        maxSeconds: sorted.at(-1) ?? 0,
        maxEntries,
        catchUpSeconds,
      };
    },
  };
}
