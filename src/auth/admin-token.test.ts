/**
 * The first-start admin token (a 0600 file in the data directory, usable on
 * the admin routes, made once) and TELEHUB_DASHBOARD_AUTH=off (tokenless
 * reads and replay let through, ingestion still refused, bad tokens still
 * refused), through the running app.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startInProcess } from '../../test/helpers/inprocess.js';

describe('first-start admin token', () => {
  it('is written 0600 to the data directory, works on admin routes, and is made once', async () => {
    const app = await startInProcess('sqlite');
    try {
      const file = path.join(app.hub.config.dataDir, 'admin-token');
      assert.equal(app.hub.adminToken.file, file);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const token = readFileSync(file, 'utf8').trim();
      assert.equal(app.hub.adminToken.created, token);
      const replay = await fetch(`${app.base}/api/v1/deadletters/replay`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'invalid_json' }) });
      assert.equal(replay.status, 200);
      assert.equal((await app.hub.store.tokens.list()).filter((t) => t.scope === 'admin').length, 1);
    } finally {
      await app.close();
    }
  });

  it('without a token: 401 by default; with TELEHUB_DASHBOARD_AUTH=off reads and replay pass, ingestion and bad tokens do not', async () => {
    const closed = await startInProcess('sqlite');
    try {
      assert.equal((await fetch(`${closed.base}/api/v1/devices`)).status, 401);
    } finally {
      await closed.close();
    }
    const open = await startInProcess('sqlite', { TELEHUB_DASHBOARD_AUTH: 'off' });
    try {
      assert.equal((await fetch(`${open.base}/api/v1/devices`)).status, 200);
      const replay = await fetch(`${open.base}/api/v1/deadletters/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'invalid_json' }) });
      assert.equal(replay.status, 200);
      const ingest = await fetch(`${open.base}/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ schema: 1, event_id: 'a', device_id: 'd', event_type: 't' }) });
      assert.equal(ingest.status, 401);
      assert.equal((await fetch(`${open.base}/api/v1/devices`, { headers: { authorization: 'Bearer thk_0000000000000000_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' } })).status, 401);
    } finally {
      await open.close();
    }
  });
});
