/**
 * The processors telehub can run (TELEHUB_PROCESSORS names them). Each is a
 * consumer of the commit log; see src/log/runner.ts.
 */
import type { Processor } from '../log/processor.js';
import { DEVICE_COUNTERS, deviceCounters } from './device-counters/index.js';
import { ROLLUPS, rollups } from './rollups/index.js';
import { DEFAULT_TIERS, type TierConfig } from './rollups/tiers.js';
import { ALERTS, alerts } from './alerts/index.js';
import { DEFAULT_ALERTS, type AlertsConfig } from '../alerts/config.js';
import type { ProcessorStore } from '../storage/log.js';

/** What a processor may be configured with. */
export interface ProcessorContext {
  tiers: TierConfig;
  /** The config file's `alerts:` section (default: no file rules, MQTT on). */
  alerts?: AlertsConfig;
  /** Reads of processor state (the alerts processor reads its state and the API's rules before each step). */
  store?: Pick<ProcessorStore, 'select'>;
}

export const PROCESSOR_FACTORIES: Readonly<Record<string, (ctx: ProcessorContext) => Processor>> = {
  [DEVICE_COUNTERS]: deviceCounters,
  [ROLLUPS]: (ctx) => rollups(ctx.tiers),
  [ALERTS]: (ctx) => {
    if (ctx.store === undefined) throw new Error('the alerts processor needs the store');
    return alerts(ctx.alerts ?? DEFAULT_ALERTS, ctx.store);
  },
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
