/**
 * The processors telehub can run (TELEHUB_PROCESSORS names them). Each is a
 * consumer of the commit log; see src/log/runner.ts.
 */
import type { Processor } from '../log/processor.js';
import { DEVICE_COUNTERS, deviceCounters } from './device-counters/index.js';
import { ROLLUPS, rollups } from './rollups/index.js';
import { DEFAULT_TIERS, type TierConfig } from './rollups/tiers.js';

/** What a processor may be configured with. */
export interface ProcessorContext {
  tiers: TierConfig;
}

export const PROCESSOR_FACTORIES: Readonly<Record<string, (ctx: ProcessorContext) => Processor>> = {
  [DEVICE_COUNTERS]: deviceCounters,
  [ROLLUPS]: (ctx) => rollups(ctx.tiers),
};

export const KNOWN_PROCESSORS = Object.keys(PROCESSOR_FACTORIES);

/** The processors with these names (names already validated by the configuration). */
export function makeProcessors(names: readonly string[], ctx: ProcessorContext = { tiers: DEFAULT_TIERS }): Processor[] {
  return names.map((n) => {
    const make = PROCESSOR_FACTORIES[n];
    if (make === undefined) throw new Error(`unknown processor ${n}`);
    return make(ctx);
  });
}
