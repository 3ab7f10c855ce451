import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mayWriteDevice, newToken, parseToken, scopeAllows, verifySecret } from './tokens.js';

describe('tokens', () => {
  it('a new token verifies against its record, a changed one does not', () => {
    const { token, record } = newToken({ name: 'garage', scope: 'ingest', devices: ['esp32-01'] });
    const p = parseToken(token)!;
    assert.equal(p.id, record.id);
    assert.equal(verifySecret(p.secret, record.secretHash), true);
    const flipped = p.secret.slice(0, -1) + (p.secret.endsWith('A') ? 'B' : 'A');
    assert.equal(verifySecret(flipped, record.secretHash), false);
    assert.ok(!JSON.stringify(record).includes(p.secret), 'the secret is not kept');
  });
  it('rejects strings that are not tokens', () => {
    for (const t of ['', 'thk_', 'Bearer x', 'thk_0011223344556677_short', 'thk_zz11223344556677_' + 'a'.repeat(43)]) assert.equal(parseToken(t), undefined, t);
  });
  it('scopes and device bindings', () => {
    assert.equal(scopeAllows('admin', 'read'), true);
    assert.equal(scopeAllows('admin', 'ingest'), true);
    assert.equal(scopeAllows('ingest', 'read'), false);
    assert.equal(scopeAllows('read', 'ingest'), false);
    const { record } = newToken({ name: 'n', scope: 'ingest', devices: ['a'] });
    assert.equal(mayWriteDevice(record, 'a'), true);
    assert.equal(mayWriteDevice(record, 'b'), false);
    assert.equal(mayWriteDevice(newToken({ name: 'n', scope: 'ingest' }).record, 'b'), true);
  });
});
