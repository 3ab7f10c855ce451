/**
 * `telehub migrate --dry-run`: what `migrate` would do to this store, read
 * from the store without changing it. Every pending migration is listed;
 * for PostgreSQL's migration 13 (partitioned raw events) the plan is
 * spelled out with this database's figures: rows, what moves, what is
 * built, which partitions come after.
 */
import type { Store } from '../store.js';
import { MIGRATIONS } from './index.js';

const n = (x: unknown) => Number(x).toLocaleString('en-US');
const day = (t: unknown) => (t === null || t === undefined ? '-' : new Date(Number(t)).toISOString().slice(0, 10));

async function currentVersion(store: Store): Promise<number> {
  try {
    return (await store.migrationVersions()).at(-1) ?? 0;
  } catch {
    return 0; // no telehub_migrations table: a store telehub never migrated (or the seed's own database)
  }
}

export async function migrationPlan(store: Store, now = Date.now()): Promise<string[]> {
  const at = await currentVersion(store);
  const pending = MIGRATIONS.filter((m) => m.version > at);
  const latest = MIGRATIONS.at(-1)!.version;
  const out = [`Store: ${store.kind}, at version ${at}; this telehub has ${latest}.`];
  if (pending.length === 0) return [...out, 'Nothing to do.'];
  out.push('Pending migrations, each in its own transaction:');
  for (const m of pending) out.push(`  ${m.version}  ${m.name}`);
  if (store.kind === 'postgres' && pending.some((m) => m.version === 13)) out.push('', ...(await partitionPlan(store, now)));
  if (store.kind === 'sqlite' && pending.some((m) => m.version === 13)) out.push('', 'Migration 13 changes nothing on SQLite (its events table stays one table; retention deletes in chunks).');
  return out;
}

/** Migration 13 on PostgreSQL, with this database's figures. */
async function partitionPlan(store: Store, now: number): Promise<string[]> {
  const select = (sql: string, params: unknown[] = []) => store.processors.select(sql, params);
  const [shape] = await select(
    `SELECT to_regclass('events') IS NOT NULL AS has,
            EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('events')) AS partitioned,
            COALESCE(pg_total_relation_size(to_regclass('events')), 0)::float8 AS bytes`,
  );
  if (shape.has !== true) return ['Migration 13: there is no events table yet; migration 1 creates it, then it becomes partitioned while empty.'];
  if (shape.partitioned === true) return ['Migration 13: events is already partitioned; it is recorded and nothing else changes.'];
  const cutoff = Math.floor(now / 86_400_000) * 86_400_000 + 86_400_000;
  const TIME = 'COALESCE(ts_device, ts_server)';
  const cut = `to_timestamp(${cutoff / 1000})`;
  const [f] = await select(
    `SELECT count(*)::float8 AS rows,
            count(*) FILTER (WHERE ${TIME} >= ${cut})::float8 AS ahead,
            count(*) FILTER (WHERE ts_device IS NULL AND ts_server IS NULL)::float8 AS untimed,
            round(extract(epoch FROM min(${TIME})) * 1000)::float8 AS oldest,
            round(extract(epoch FROM max(${TIME})) * 1000)::float8 AS newest
       FROM events`,
  );
  const perDay = await select(
    `SELECT round(extract(epoch FROM date_trunc('day', ${TIME}, 'UTC')) * 1000)::float8 AS d, count(*)::float8 AS n FROM events GROUP BY 1 ORDER BY 1`,
  );
  const cutDay = day(cutoff);
  const mb = (Number(shape.bytes) / 1048576).toFixed(1);
  const lines = [
    'Migration 13 (partitioned raw events) will, in one transaction (telehub waits for it at start-up):',
    `  1. rename events (${n(f.rows)} rows, ${mb} MB with its indexes) to events_flat, and attach it whole to a new events table`,
    `     partitioned by day of COALESCE(ts_device, ts_server), as the partition for times before ${cutDay} (UTC): no row is copied;`,
    '     attaching reads events_flat once to check that bound.',
    `  2. move the ${n(f.ahead)} rows dated ${cutDay} or later (a device clock ahead) to the partition events_default;`,
    `  3. set ts_server to now() on the ${n(f.untimed)} rows with neither time (they could be in no partition);`,
    '  4. adopt events_flat\'s six time indexes as the partitioned indexes of the same names, build two on it (seq, event_id:',
    '     non-unique, as a partitioned table allows) and drop its primary key and unique seq index;',
    `  5. copy the ${n(f.rows)} event ids with their receive time into event_ids (event_id primary key): deduplication from now on;`,
    '  6. recreate the events_readable view on the new events table.',
    `Then telehub creates the day partitions from ${cutDay} to three days ahead, and the retention job keeps creating them.`,
    `events_flat is dropped whole once raw retention passes ${cutDay}; until then its expired rows are deleted in chunks as today.`,
    `Oldest event ${day(f.oldest)}, newest ${day(f.newest)}.`,
  ];
  if (perDay.length > 0) {
    lines.push('Rows per day (event time, UTC):');
    for (const r of perDay) lines.push(`  ${r.d === null ? 'no time' : day(r.d)}  ${n(r.n).padStart(12)}${r.d !== null && Number(r.d) >= cutoff ? '  -> events_default' : ''}`);
  }
  return lines;
}
