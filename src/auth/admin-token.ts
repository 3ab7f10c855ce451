/**
 * The admin token of a first start: so a new user can open the dashboard
 * without first learning `telehub tokens create`, telehub makes one admin
 * token when its data directory has no token file yet, writes it there
 * readable by the owner only (0600), and hands it to the banner to print
 * once. Later starts find the file and print only where it is.
 *
 * The file, not the token table, says "first start": with PostgreSQL the
 * table may already hold tokens made by `telehub tokens create`, and a user
 * who deletes the file gets a fresh admin token on the next start (the old
 * one stays valid until revoked with `telehub tokens revoke`).
 */
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { TokenRepository } from '../storage/store.js';
import { newToken } from './tokens.js';

export const ADMIN_TOKEN_FILE = 'admin-token';

export interface AdminTokenFacts {
  /** Where the token is kept. */
  file: string;
  /** The token itself, only on the start that created it. */
  created?: string;
}

/**
 * Creates the first-start admin token unless `<dataDir>/admin-token` exists.
 * The file is created exclusively (O_EXCL) with mode 0600 before the token
 * is stored, so two processes sharing a data directory cannot both make one.
 */
export async function ensureAdminToken(tokens: TokenRepository, dataDir: string, now = Date.now()): Promise<AdminTokenFacts> {
  const file = path.join(dataDir, ADMIN_TOKEN_FILE);
  mkdirSync(dataDir, { recursive: true });
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { file };
    throw err;
  }
  try {
    const { token, record } = newToken({ name: `admin (first start ${new Date(now).toISOString()})`, scope: 'admin', now });
    await tokens.create(record);
    writeSync(fd, `${token}\n`);
    closeSync(fd);
    return { file, created: token };
  } catch (err) {
    closeSync(fd);
    // An empty file would make every later start skip the token: remove it.
    rmSync(file, { force: true });
    throw err;
  }
}
