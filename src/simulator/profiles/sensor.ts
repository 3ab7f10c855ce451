/** `sensor`: an environmental sensor (temperature, humidity, pressure), like seed 003's ESP32 nodes. */
import { round, wander, type Profile } from './profile.js';

export const sensor: Profile = {
  name: 'sensor',
  description: 'temperature (C), humidity (%), pressure (hPa)',
  init() {},
  read(s) {
    return [
      { name: 'temperature', value: round(wander(s, 't', 21, 4, 0.2), 2), unit: 'C' },
      { name: 'humidity', value: round(wander(s, 'h', 45, 15, 0.5), 1), unit: '%' },
      { name: 'pressure', value: round(wander(s, 'p', 1013, 12, 0.3), 1), unit: 'hPa' },
    ];
  },
};
