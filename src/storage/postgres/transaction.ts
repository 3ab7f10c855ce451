import type pg from 'pg';
import { isRetriablePgError } from './errors.js';

/**
 * Runs `fn` inside BEGIN/COMMIT on one pooled connection; ROLLBACK on error.
 * A connection that failed (or whose ROLLBACK failed) is discarded by the
 * pool instead of being reused.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A checked-out client has no pool listener; an 'error' while we hold it would be uncaught.
  let broken: unknown;
  const onError = (err: unknown) => {
    broken = err;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    broken ??= isRetriablePgError(err) ? err : undefined;
    if (broken === undefined) await client.query('ROLLBACK').catch((e: unknown) => (broken = e));
    throw err;
  } finally {
    client.off('error', onError);
    // Passing an error makes the pool discard the connection instead of reusing it.
    client.release(broken instanceof Error ? broken : broken !== undefined ? new Error(String(broken)) : undefined);
  }
}
