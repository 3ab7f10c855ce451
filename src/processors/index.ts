/**
 * The processors telehub can run (TELEHUB_PROCESSORS names them). Each is a
 * consumer of the commit log; see src/log/runner.ts.
 */
import type { Processor } from '../log/processor.js';
import { DEVICE_COUNTERS, deviceCounters } from './device-counters/index.js';
import { DEVICE_REGISTRY, deviceRegistry, type IntervalBounds, type RegistryListener } from './device-registry/index.js';

/** What some processors need from the process that runs them. */
export interface ProcessorContext {
  /** Bounds of learned intervals (device-registry); defaults: the settings' defaults. */
  intervalBounds?: IntervalBounds;
  /** Who hears the device registry's committed entries (the presence monitor). */
  registryListener?: () => RegistryListener | undefined;
}

export const PROCESSOR_FACTORIES: Readonly<Record<string, (ctx: ProcessorContext) => Processor>> = {
  [DEVICE_COUNTERS]: deviceCounters,
  [DEVICE_REGISTRY]: (ctx) => deviceRegistry(ctx.intervalBounds ?? { minIntervalMs: 1000, maxIntervalMs: 3_600_000 }, ctx.registryListener),
};

export const KNOWN_PROCESSORS = Object.keys(PROCESSOR_FACTORIES);

/** The processors with these names (names already validated by the configuration). */
export function makeProcessors(names: readonly string[], ctx: ProcessorContext = {}): Processor[] {
  return names.map((n) => {
    const make = PROCESSOR_FACTORIES[n];
    if (make === undefined) throw new Error(`unknown processor ${n}`);
    return make(ctx);
  });
}
