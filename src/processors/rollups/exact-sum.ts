/**
 * Exact floating-point sums, so a rollup of rollups equals the rollup of the
 * raw values bit for bit, whatever the grouping (float addition is not
 * associative: summing sixty 1-minute sums rounds differently from summing
 * the raw values of the hour).
 *
 * A sum is kept as Shewchuk's non-overlapping expansion (the partials of
 * Python's `math.fsum`): a short list of doubles whose exact mathematical sum
 * is the exact sum of every value added. Adding expansions is exact, so the
 * correctly rounded result (`roundExpansion`) does not depend on order or
 * grouping. Hand-written because no npm package keeps the partials to store
 * and merge them (the packages seen only return the rounded fsum); it is
 * CPython's `math_fsum` algorithm, ~40 lines.
 */

/** Adds `x` to the expansion `partials` (in place), exactly. */
export function addToExpansion(partials: number[], x: number): void {
  if (!Number.isFinite(x)) {
    // Infinities and NaN make the exact sum meaningless; keep IEEE semantics.
    partials.length = 1;
    partials[0] = (partials[0] ?? 0) + x;
    return;
  }
  if (partials.length === 1 && !Number.isFinite(partials[0])) return;
  let i = 0;
  for (let j = 0; j < partials.length; j++) {
    let y = partials[j];
    if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
    const hi = x + y;
    const lo = y - (hi - x);
    if (lo !== 0) partials[i++] = lo;
    x = hi;
  }
  partials.length = i;
  partials.push(x);
}

/** Adds every partial of `other` to `partials` (in place): the exact sum of both. */
export function mergeExpansion(partials: number[], other: readonly number[]): void {
  for (const x of other) addToExpansion(partials, x);
}

/** The exact sum rounded to the nearest double (ties to even), as `math.fsum`. */
export function roundExpansion(partials: readonly number[]): number {
  let n = partials.length;
  if (n === 0) return 0;
  let hi = partials[--n];
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = partials[--n];
    hi = x + y;
    const yr = hi - x;
    lo = y - yr;
    if (lo !== 0) break;
  }
  // Half-way case: make the rounding of hi + lo agree with the sign of the rest.
  if (n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0))) {
    const y = lo * 2;
    const x = hi + y;
    const yr = x - hi;
    if (y === yr) hi = x;
  }
  return hi;
}
