/**
 * telehub started in this process (startTelehub, as `telehub start` does),
 * on free ports, with SQLite in a temporary directory or a throw-away
 * PostgreSQL database, for tests that need the app's objects (its store,
 * its writer, the routes it registered) next to real HTTP and WebSocket
 * clients.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RouteOptions } from 'fastify';
import pino from 'pino';
import { startTelehub, type StartOptions, type Telehub } from '../../src/app.js';
import { newToken, type Scope } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/core/config.js';
import { testDatabase, type TestDatabase } from './postgres.js';

export type StoreKind = 'sqlite' | 'postgres';

export interface InProcessTelehub {
  hub: Telehub;
  kind: StoreKind;
  base: string;
  /** Every route as registered, in order (Fastify's onRoute hook). */
  routes: RouteOptions[];
  /** The PostgreSQL database, when kind is postgres. */
  db?: TestDatabase;
  dataDir: string;
  /** Creates a token directly in the store (what `telehub tokens create` does). */
  token(scope: Scope, devices?: string[]): Promise<string>;
  close(): Promise<void>;
}

let tokenSeq = 0;

/**
 * `opts.webRoot`: a built dashboard to serve at `/` (default none: the plain links page);
 * `opts.extraProcessors`: as startTelehub's.
 */
export async function startInProcess(kind: StoreKind, env: Record<string, string> = {}, opts: Pick<StartOptions, 'extraProcessors'> & { webRoot?: string } = {}): Promise<InProcessTelehub> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'telehub-inproc-'));
  const db = kind === 'postgres' ? await testDatabase() : undefined;
  const routes: RouteOptions[] = [];
  const config = loadConfig({
    TELEHUB_DATA_DIR: dataDir,
    TELEHUB_HTTP_HOST: '127.0.0.1',
    TELEHUB_HTTP_PORT: '0',
    TELEHUB_MQTT_HOST: '127.0.0.1',
    TELEHUB_MQTT_PORT: '0',
    TELEHUB_MQTT_WS_PORT: '-1',
    TELEHUB_LOG_LEVEL: 'silent',
    ...(db ? { DATABASE_URL: db.url } : {}),
    ...env,
  });
  const hub = await startTelehub(config, { ...opts, log: pino({ level: 'silent' }), onRoute: (r) => routes.push(r), webRoot: opts.webRoot ?? null });
  return {
    hub,
    kind,
    base: `http://127.0.0.1:${hub.httpPort}`,
    routes,
    db,
    dataDir,
    async token(scope, devices) {
      const { token, record } = newToken({ name: `test-${scope}-${++tokenSeq}`, scope, devices });
      await hub.store.tokens.create(record);
      return token;
    },
    async close() {
      await hub.stop();
      await db?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
