/**
 * The fleet `telehub start --demo` (and `npm run demo`) runs next to the
 * pipeline, so a newcomer sees data at once: a few devices of each profile,
 * one reading a second, on the broker telehub itself uses.
 */
import type { Logger } from 'pino';
import { startSimulation, type Simulation } from './run.js';

/** Devices per profile in the demo fleet. */
export const DEMO_FLEET: Readonly<Record<string, number>> = { sensor: 3, energy: 1, heatpump: 1, car: 1 };

export interface DemoFleet {
  simulations: Simulation[];
  /** Stops the devices (waiting briefly for their last ACKs) and disconnects them. */
  stop(): Promise<void>;
}

export async function startDemoFleet(brokerUrl: string, log: Logger): Promise<DemoFleet> {
  const simulations: Simulation[] = [];
  try {
    for (const [profile, devices] of Object.entries(DEMO_FLEET)) {
      simulations.push(await startSimulation({ devices, rate: 1, profile, brokerUrl, idPrefix: 'demo', drainMs: 2000, statusEveryMs: 10_000 }));
    }
  } catch (err) {
    await Promise.all(simulations.map((s) => s.stop()));
    throw err;
  }
  log.info({ devices: simulations.flatMap((s) => s.devices.map((d) => d.id)) }, 'Demo fleet started.');
  return {
    simulations,
    async stop() {
      const reports = await Promise.all(simulations.map((s) => s.stop()));
      log.info({ sent: reports.reduce((n, r) => n + r.sent, 0), lost: reports.reduce((n, r) => n + r.lost, 0) }, 'Demo fleet stopped.');
    },
  };
}
