/** The synthetic batches and store shape shared by the write-cost benches (bench/log.ts, lib/query-write-cost.ts). */

const TYPES = ['temperature', 'humidity', 'voltage', 'rssi'];

/** What the write-cost benches need of a store (SQLite or PostgreSQL). */
export interface StoreLike {
  migrate(): Promise<void>;
  writeBatch(b: { events: unknown[]; deadLetters: unknown[] }): Promise<{ statuses: string[] }>;
  close(): Promise<void>;
}

/** Batch `k` of `size` synthetic events (100 devices, 4 types, ids `{prefix}-{n}`), as every write-cost bench writes them. */
export function syntheticBatch(prefix: string, k: number, size: number): unknown[] {
  const t = Date.UTC(2026, 10, 1) + k * 1000;
  return Array.from({ length: size }, (_, j) => {
    const i = k * size + j;
    return {
      eventId: `${prefix}-${i}`, deviceId: `dev-${String(i % 100).padStart(3, '0')}`, schema: 1, eventType: TYPES[Math.floor(i / 100) % 4],
      valueNum: 20 + (i % 97) / 10, valueText: null, unit: 'C', tsDevice: t + j, tsServer: t + j + 30, meta: '{}',
    };
  });
}
