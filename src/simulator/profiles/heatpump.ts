/** `heatpump`: flow and return temperatures, compressor power, and a COP that follows the spread between them. */
import { round, wander, type Profile } from './profile.js';

export const heatpump: Profile = {
  name: 'heatpump',
  description: 'flow_temp (C), return_temp (C), cop, compressor_power (W)',
  init() {},
  read(s) {
    const flow = wander(s, 'flow', 35, 8, 0.3);
    const ret = flow - wander(s, 'spread', 5, 2, 0.2);
    const power = wander(s, 'power', 1200, 600, 50);
    // A lower flow temperature means a better COP (the usual 2.5..5 range).
    const cop = Math.max(1.5, 6.5 - flow / 12 + (s.random() - 0.5) * 0.2);
    return [
      { name: 'flow_temp', value: round(flow, 2), unit: 'C' },
      { name: 'return_temp', value: round(ret, 2), unit: 'C' },
      { name: 'cop', value: round(cop, 2), unit: '' },
      { name: 'compressor_power', value: round(power, 0), unit: 'W' },
    ];
  },
};
