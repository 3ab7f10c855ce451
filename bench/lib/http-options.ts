/**
 * Settings of the HTTP ingest bench from the environment (BENCH_HTTP_*, and
 * the BENCH_* names run.ts uses for telehub's own settings).
 */
import os from 'node:os';
import path from 'node:path';
import { SETTINGS } from '../../src/core/settings.js';

/** telehub settings the bench may override, with the same BENCH_* names as run.ts. */
const TUNABLE = ['TELEHUB_BATCH_MAX', 'TELEHUB_BATCH_WAIT_MS', 'TELEHUB_BATCH_MERGE_MAX', 'TELEHUB_MAX_INFLIGHT', 'TELEHUB_WRITE_CONCURRENCY', 'TELEHUB_PG_POOL_SIZE'];

/** An integer setting from the environment, or `def`; throws on a bad value. */
export function intEnv(name: string, def: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${raw}: must be an integer ≥ ${min}`);
  return n;
}

/** A comma-separated subset of `all` from the environment, or all of it. */
export function listEnv<T extends string>(name: string, all: readonly T[]): T[] {
  const raw = (process.env[name] ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (raw.length === 0) return [...all];
  const bad = raw.filter((x) => !(all as readonly string[]).includes(x));
  if (bad.length > 0) throw new Error(`${name}=${process.env[name]}: use a comma-separated subset of ${all.join(',')}`);
  return [...new Set(raw)] as T[];
}

/** telehub settings: BENCH_<NAME> overrides TELEHUB_<NAME>, else telehub's default. */
export function settingsFromEnv(): Record<string, { value: string; source: string }> {
  const out: Record<string, { value: string; source: string }> = {};
  for (const name of TUNABLE) {
    const benchName = name.replace(/^TELEHUB_/, 'BENCH_');
    const given = process.env[benchName];
    out[name] = given ? { value: given, source: benchName } : { value: SETTINGS.find((s) => s.env === name)?.default ?? '', source: 'default' };
  }
  return out;
}

/** BENCH_CPU_PROF=1 (a temp dir) or a directory: where telehub's profiles go. */
export function cpuProfDirFromEnv(): string | undefined {
  const v = process.env.BENCH_CPU_PROF;
  if (!v || v === '0' || v === 'false') return undefined;
  return path.resolve(v === '1' || v === 'true' ? path.join(os.tmpdir(), 'telehub-bench-profiles') : v);
}
