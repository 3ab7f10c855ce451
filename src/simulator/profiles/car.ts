/**
 * `car`: a plain OBD sender (speed, rpm). The trips issue extends it (drive
 * and park phases, position); until then speed wanders and rpm follows it.
 */
import { round, wander, type Profile } from './profile.js';

export const car: Profile = {
  name: 'car',
  description: 'speed (km/h), rpm',
  init() {},
  read(s) {
    const speed = wander(s, 'speed', 50, 50, 6);
    return [
      { name: 'speed', value: round(speed, 1), unit: 'km/h' },
      { name: 'rpm', value: round(800 + speed * 30 + s.random() * 100, 0), unit: 'rpm' },
    ];
  },
};
