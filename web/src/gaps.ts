/**
 * Bucket starts (ms) and values → uPlot columns (x in seconds), with a null
 * point where data is missing, so the chart draws a gap rather than a line
 * across a time with no data (the series API omits empty buckets).
 *
 * "Missing" is judged against the series' own cadence, not only the bucket
 * width: a sensor that reports once a minute, seen through 10-second buckets,
 * leaves five empty buckets between every two readings, and that is its
 * rhythm, not a hole. A gap is a spacing of more than 1.5 buckets and more
 * than three times the median spacing.
 */
export function withGaps(times: number[], values: number[], bucketMs: number): [number[], (number | null)[]] {
  const steps = times.slice(1).map((t, i) => t - times[i]).sort((a, b) => a - b);
  const median = steps.length ? steps[Math.floor(steps.length / 2)] : 0;
  const limit = Math.max(bucketMs * 1.5, median * 3);
  const xs: number[] = [];
  const ys: (number | null)[] = [];
  for (let i = 0; i < times.length; i++) {
    if (i > 0 && times[i] - times[i - 1] > limit) {
      xs.push((times[i - 1] + bucketMs) / 1000);
      ys.push(null);
    }
    xs.push(times[i] / 1000);
    ys.push(values[i]);
  }
  return [xs, ys];
}
