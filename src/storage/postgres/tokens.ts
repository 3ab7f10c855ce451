import type pg from 'pg';
import type { Scope, TokenRecord } from '../../auth/tokens.js';
import { TokenNameTakenError, type TokenRepository } from '../store.js';

interface Row {
  id: string;
  name: string;
  scope: string;
  devices: string[];
  secret_hash: Buffer;
  created_ms: string;
  revoked_ms: string | null;
}

const SELECT = `SELECT id, name, scope, devices, secret_hash,
  (extract(epoch FROM created_at) * 1000)::bigint AS created_ms,
  (extract(epoch FROM revoked_at) * 1000)::bigint AS revoked_ms FROM api_tokens`;

const toRecord = (r: Row): TokenRecord => ({
  id: r.id,
  name: r.name,
  scope: r.scope as Scope,
  devices: r.devices,
  secretHash: r.secret_hash,
  createdAt: Number(r.created_ms),
  revokedAt: r.revoked_ms === null ? null : Number(r.revoked_ms),
});

export function postgresTokens(pool: pg.Pool): TokenRepository {
  return {
    async create(t) {
      try {
        await pool.query('INSERT INTO api_tokens (id, name, scope, devices, secret_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, to_timestamp($6 / 1000.0), to_timestamp($7 / 1000.0))', [
          t.id,
          t.name,
          t.scope,
          JSON.stringify(t.devices),
          t.secretHash,
          t.createdAt,
          t.revokedAt,
        ]);
      } catch (err) {
        // 23505 unique_violation on idx_api_tokens_active_name (migration "unique active token names").
        const e = err as { code?: string; constraint?: string };
        if (e.code === '23505' && e.constraint === 'idx_api_tokens_active_name') throw new TokenNameTakenError(t.name);
        throw err;
      }
    },
    async get(id) {
      const r = await pool.query<Row>(`${SELECT} WHERE id = $1`, [id]);
      return r.rows[0] ? toRecord(r.rows[0]) : undefined;
    },
    async list() {
      return (await pool.query<Row>(`${SELECT} ORDER BY created_at`)).rows.map(toRecord);
    },
    async revoke(idOrName, at) {
      const r = await pool.query('UPDATE api_tokens SET revoked_at = to_timestamp($1 / 1000.0) WHERE (id = $2 OR name = $2) AND revoked_at IS NULL', [at, idOrName]);
      return r.rowCount ?? 0;
    },
  };
}
