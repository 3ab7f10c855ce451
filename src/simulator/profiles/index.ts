/** Every simulator profile by name. A new profile is one file here and one line in this list. */
import { car } from './car.js';
import { energy } from './energy.js';
import { heatpump } from './heatpump.js';
import type { Profile } from './profile.js';
import { sensor } from './sensor.js';

export const PROFILES: Readonly<Record<string, Profile>> = { sensor, energy, heatpump, car };

export const PROFILE_NAMES = Object.keys(PROFILES);
