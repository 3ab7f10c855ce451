/**
 * The processors telehub can run (TELEHUB_PROCESSORS names them). Each is a
 * consumer of the commit log; see src/log/runner.ts.
 */
import type { Processor } from '../log/processor.js';
import { DEVICE_COUNTERS, deviceCounters } from './device-counters/index.js';

export const PROCESSOR_FACTORIES: Readonly<Record<string, () => Processor>> = {
  [DEVICE_COUNTERS]: deviceCounters,
};

export const KNOWN_PROCESSORS = Object.keys(PROCESSOR_FACTORIES);

/** The processors with these names (names already validated by the configuration). */
export function makeProcessors(names: readonly string[]): Processor[] {
  return names.map((n) => {
    const make = PROCESSOR_FACTORIES[n];
    if (make === undefined) throw new Error(`unknown processor ${n}`);
    return make();
  });
}
