/** Every provisioned dashboard, by the file name it is written to in deploy/grafana/dashboards/. */
import type { Dashboard } from '@grafana/schema';
import { deviceDetail } from './device-detail.js';
import { fleetOverview } from './fleet-overview.js';
import { pipelineHealth } from './pipeline-health.js';
import { trips } from './trips.js';

export const DASHBOARDS: Record<string, Dashboard> = {
  'telehub-fleet.json': fleetOverview,
  'telehub-device.json': deviceDetail,
  'telehub-trips.json': trips,
  'telehub-pipeline.json': pipelineHealth,
};

/** The JSON Grafana reads: two-space indented, a final newline. */
export function dashboardJson(d: Dashboard): string {
  return `${JSON.stringify(d, null, 2)}\n`;
}
