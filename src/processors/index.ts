/**
 * The processors telehub can run (TELEHUB_PROCESSORS names them). Each is a
 * consumer of the commit log; see src/log/runner.ts.
 */
import type { Config } from '../core/config.js';
import { DEFAULT_TRIP_SETTINGS } from '../trips/index.js';
import type { Processor } from '../log/processor.js';
import type { ProcessorStore } from '../storage/log.js';
import { DEVICE_COUNTERS, deviceCounters } from './device-counters/index.js';
import { DEVICE_REGISTRY, deviceRegistry, type IntervalBounds, type RegistryListener } from './device-registry/index.js';
import { ROLLUPS, rollups } from './rollups/index.js';
import { DEFAULT_TIERS, type TierConfig } from './rollups/tiers.js';
import { ALERTS, alerts } from './alerts/index.js';
import { DEFAULT_ALERTS } from '../alerts/config.js';
import { TRIPS, tripsProcessor } from './trips/index.js';

/** What a processor may need: the rollup tiers, the store's processor side (to read) and the configuration. */
export interface ProcessorContext {
  tiers?: TierConfig;
  processors?: ProcessorStore;
  /** The configuration of processors that take one (trips; alerts: the config file's `alerts:` section). */
  config?: Pick<Config, 'trips' | 'alerts'>;
  /** Bounds of learned intervals (device-registry); defaults: the settings' defaults. */
  intervalBounds?: IntervalBounds;
  /** Who hears the device registry's committed entries (the presence monitor). */
  registryListener?: () => RegistryListener | undefined;
}

export const PROCESSOR_FACTORIES: Readonly<Record<string, (ctx: ProcessorContext) => Processor>> = {
  [DEVICE_COUNTERS]: deviceCounters,
  [DEVICE_REGISTRY]: (ctx) => deviceRegistry(ctx.intervalBounds ?? { minIntervalMs: 1000, maxIntervalMs: 3_600_000 }, ctx.registryListener),
  [ROLLUPS]: (ctx) => rollups(ctx.tiers ?? DEFAULT_TIERS),
  [TRIPS]: (ctx) => {
    if (ctx.processors === undefined) throw new Error('the trips processor reads the store: makeProcessors needs ctx.processors');
    return tripsProcessor(ctx.processors, {
      settings: ctx.config?.trips.settings ?? DEFAULT_TRIP_SETTINGS,
      settingsFor: ctx.config?.trips.settingsFor,
      latenessMs: ctx.config?.trips.latenessMs ?? 7 * 86_400_000,
    });
  },
  [ALERTS]: (ctx) => {
    if (ctx.processors === undefined) throw new Error('the alerts processor reads the store: makeProcessors needs ctx.processors');
    return alerts(ctx.config?.alerts ?? DEFAULT_ALERTS, ctx.processors);
  },
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
