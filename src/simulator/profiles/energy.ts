/** `energy`: an energy meter; its kWh counter only ever grows, by the power drawn since the last reading. */
import { round, wander, type Profile } from './profile.js';

export const energy: Profile = {
  name: 'energy',
  description: 'power (W), energy (kWh, cumulative), voltage (V)',
  init(s) {
    s.kwh = round(s.random() * 5000, 3);
  },
  read(s, dtS) {
    const power = wander(s, 'w', 800, 700, 60);
    s.kwh = (s.kwh as number) + (power * dtS) / 3_600_000;
    return [
      { name: 'power', value: round(power, 1), unit: 'W' },
      { name: 'energy', value: round(s.kwh as number, 4), unit: 'kWh' },
      { name: 'voltage', value: round(wander(s, 'v', 230, 6, 0.5), 1), unit: 'V' },
    ];
  },
};
