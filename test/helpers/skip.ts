/**
 * Skipping a test for something the machine lacks (a real Mosquitto, a
 * PostgreSQL that may be restarted, a command-line tool), except in CI.
 *
 * A developer without Mosquitto gets a skip that says what to set. In CI
 * (`CI` set, as CI systems do, and not "false" or "0") the same gap means the
 * CI set-up is broken, and a skip would let the run pass without the very
 * tests that need real services: there it throws, so the test fails with the
 * reason instead.
 */
import type { TestContext } from 'node:test';

/** Whether this run is CI's (the `CI` environment variable). */
const ciValue = (process.env.CI ?? '').trim().toLowerCase();
export const inCi = ciValue !== '' && ciValue !== 'false' && ciValue !== '0';

function ciFailure(reason: string): Error {
  return new Error(`${reason} — CI is set, so this fails instead of being skipped`);
}

/**
 * The `skip` option of `describe`/`it`: false when `available`, otherwise
 * `SKIPPED: <reason>`. In CI, throws instead (at the call, so while the test
 * file loads: the file fails with the reason).
 */
export function skipUnless(available: boolean, reason: string): false | string {
  if (available) return false;
  if (inCi) throw ciFailure(reason);
  return `SKIPPED: ${reason}`;
}

/** Skips the running test with the reason; in CI, fails it with the reason. Return right after. */
export function skipTest(t: TestContext, reason: string): void {
  if (inCi) throw ciFailure(reason);
  t.skip(`SKIPPED: ${reason}`);
}
