/**
 * A reader for the Prometheus text exposition format, enough for the
 * pipeline page: samples with their labels (histogram buckets included).
 * Written here rather than taken from npm: the available parsers are
 * Node-oriented or unmaintained, and the format's sample lines are one
 * regular expression.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    out.push({ name: m[1], labels, value });
  }
  return out;
}

/** Sum of every sample of a metric (over all label sets). */
export const total = (samples: Sample[], name: string): number => samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);

/** The q-quantile of a histogram from its cumulative buckets (linear within a bucket, as PromQL's histogram_quantile). */
export function quantile(samples: Sample[], name: string, q: number): number | null {
  const buckets = samples
    .filter((s) => s.name === `${name}_bucket`)
    .map((s) => ({ le: s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), n: s.value }))
    .sort((a, b) => a.le - b.le);
  const count = buckets.at(-1)?.n ?? 0;
  if (count === 0) return null;
  const rank = q * count;
  let prevLe = 0;
  let prevN = 0;
  for (const b of buckets) {
    if (b.n >= rank) {
      if (b.le === Infinity) return prevLe;
      return prevLe + ((b.le - prevLe) * (rank - prevN)) / Math.max(1, b.n - prevN);
    }
    prevLe = b.le;
    prevN = b.n;
  }
  return prevLe;
}
