import type { StoreConfig } from '../core/config.js';
import { PostgresStore } from './postgres/index.js';
import { SqliteStore } from './sqlite/index.js';
import type { Store } from './store.js';

/** Opens the store the configuration names (not yet migrated). */
export function openStore(cfg: StoreConfig): Store {
  if (cfg.kind === 'sqlite') return new SqliteStore(cfg.file);
  return new PostgresStore({
    connectionString: cfg.connectionString,
    host: cfg.host,
    port: cfg.port,
    database: cfg.database,
    user: cfg.user,
    password: cfg.password,
    poolSize: cfg.poolSize,
  });
}
