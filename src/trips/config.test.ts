/**
 * The config file's `trips:` section: thresholds for the fleet and per
 * vehicle, validated (unknown keys refused naming their path), merged over
 * the TELEHUB_TRIP_* settings, first matching vehicle entry wins.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { checkTripsSection, tripSettingsResolver } from './config.js';
import { DEFAULT_TRIP_SETTINGS } from './settings.js';

describe('trips: section of the config file', () => {
  it('fleet keys replace the settings, a vehicle entry replaces them again (first match wins)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'telehub-tripcfg-'));
    try {
      const f = path.join(dir, 'telehub.yaml');
      writeFileSync(
        f,
        ['trips:', '  idle_timeout: 4m', '  min_trip_distance: 0.5', '  vehicles:', '    - { id: van-7, speed_threshold: 8, idle_timeout: 10m }', '    - id: "van-*"', '      resume_window: 90', '      min_trip_duration: 2m'].join('\n'),
      );
      const c = loadConfig({ TELEHUB_CONFIG: f, TELEHUB_TRIP_RESUME_WINDOW_S: '240' });
      assert.deepEqual(c.trips.settings, { ...DEFAULT_TRIP_SETTINGS, idleTimeoutMs: 240_000, resumeWindowMs: 240_000, minDistanceKm: 0.5 });
      assert.deepEqual(c.trips.settingsFor('car-1'), c.trips.settings);
      assert.deepEqual(c.trips.settingsFor('van-7'), { ...c.trips.settings, speedThresholdKmh: 8, idleTimeoutMs: 600_000 });
      assert.deepEqual(c.trips.settingsFor('van-9'), { ...c.trips.settings, resumeWindowMs: 90_000, minDurationMs: 120_000 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses unknown keys and bad values, naming each with its path', () => {
    const problems: string[] = [];
    checkTripsSection(
      { idle_timout: '3m', speed_threshold: 'fast', vehicles: [{ id: 'van-1', resume_windw: '1m' }, { resume_window: '1m' }, { id: 'van-1', idle_timeout: '0s' }, 'x'] },
      'trips',
      problems,
    );
    const has = (text: string) => assert.ok(problems.some((p) => p.startsWith(text)), `${text} in ${JSON.stringify(problems, null, 1)}`);
    has('trips.idle_timout: unknown key; known here: speed_threshold, idle_timeout');
    has('trips.speed_threshold: must be a number from 0 to 100, got "fast"');
    has('trips.vehicles[0].resume_windw: unknown key');
    has('trips.vehicles[1].id: must be a non-empty string');
    has('trips.vehicles[2].idle_timeout: must be a duration');
    has('trips.vehicles[3]: must be a mapping');
    assert.equal(problems.length, 6, JSON.stringify(problems));
    // Through the file: telehub refuses to start, naming the file and the key.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'telehub-tripcfg-'));
    try {
      const f = path.join(dir, 'telehub.yaml');
      writeFileSync(f, 'trips:\n  vehicles:\n    - id: van-1\n      idle_timout: 5m\n');
      assert.throws(() => loadConfig({ TELEHUB_CONFIG: f }), (err: unknown) => err instanceof ConfigError && err.message.includes(`${f}: trips.vehicles[0].idle_timout: unknown key`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without a section every vehicle has the settings', () => {
    const s = tripSettingsResolver(DEFAULT_TRIP_SETTINGS, undefined);
    assert.equal(s('anything'), s('else'));
    assert.deepEqual(s('x'), DEFAULT_TRIP_SETTINGS);
  });
});
