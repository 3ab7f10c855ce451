import type Database from 'better-sqlite3';
import type { Scope, TokenRecord } from '../../auth/tokens.js';
import { TokenNameTakenError, type TokenRepository } from '../store.js';

interface Row {
  id: string;
  name: string;
  scope: string;
  devices: string;
  secret_hash: Buffer;
  created_at: number;
  revoked_at: number | null;
}

const toRecord = (r: Row): TokenRecord => ({
  id: r.id,
  name: r.name,
  scope: r.scope as Scope,
  devices: JSON.parse(r.devices) as string[],
  secretHash: r.secret_hash,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
});

/** Token rows in SQLite (small, read on the calling thread's connection). */
export function sqliteTokens(db: () => Database.Database): TokenRepository {
  return {
    async create(t) {
      try {
        db().prepare('INSERT INTO api_tokens (id, name, scope, devices, secret_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(t.id, t.name, t.scope, JSON.stringify(t.devices), t.secretHash, t.createdAt, t.revokedAt);
      } catch (err) {
        // idx_api_tokens_active_name (migration "unique active token names"): "UNIQUE constraint failed: api_tokens.name".
        const e = err as { code?: string; message?: string };
        if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' && /api_tokens\.name/.test(e.message ?? '')) throw new TokenNameTakenError(t.name);
        throw err;
      }
    },
    async get(id) {
      const r = db().prepare('SELECT * FROM api_tokens WHERE id = ?').get(id) as Row | undefined;
      return r ? toRecord(r) : undefined;
    },
    async list() {
      return (db().prepare('SELECT * FROM api_tokens ORDER BY created_at').all() as Row[]).map(toRecord);
    },
    async revoke(idOrName, at) {
      return db().prepare('UPDATE api_tokens SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at IS NULL').run(at, idOrName, idOrName).changes;
    },
  };
}
