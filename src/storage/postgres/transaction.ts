import type pg from 'pg';
import { isRetriablePgError } from './errors.js';

/**
 * Runs `fn` inside BEGIN/COMMIT on one pooled connection; ROLLBACK on error.
 * A connection that failed (or whose ROLLBACK failed) is discarded by the
 * pool instead of being reused.
 *
 * `opts.begin` replaces the opening `BEGIN` by a simple query that starts
 * with it and goes on with statements of the transaction's own (semicolon
 * separated, no parameters), so they cost one round trip instead of one
 * each; `fn` gets that query's results, one per statement. With
 * `opts.commit` false that query ends with COMMIT itself (an error in it
 * still ends in ROLLBACK).
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (c: pg.PoolClient, begun: pg.QueryResult[]) => Promise<T>,
  opts: { begin?: string; commit?: boolean } = {},
): Promise<T> {
  const client = await pool.connect();
  // A checked-out client has no pool listener; an 'error' while we hold it would be uncaught.
  let broken: unknown;
  const onError = (err: unknown) => {
    broken = err;
  };
  client.on('error', onError);
  try {
    const r = (await client.query(opts.begin ?? 'BEGIN')) as pg.QueryResult | pg.QueryResult[];
    const result = await fn(client, Array.isArray(r) ? r : [r]);
    if (opts.commit !== false) await client.query('COMMIT');
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
