import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitIngestBody } from './body.js';

describe('ingest body', () => {
  it('one object, keeping the body as the raw bytes', () => {
    const body = Buffer.from('{"a":1}');
    const r = splitIngestBody(body, 'application/json');
    assert.ok(r.ok);
    assert.deepEqual(r.docs.map((d) => d.doc), [{ a: 1 }]);
    assert.equal(r.docs[0].raw(), body);
  });
  it('an array, each element with its own raw bytes', () => {
    const r = splitIngestBody(Buffer.from('[{"a":1}, 2, null]'), 'application/json; charset=utf-8');
    assert.ok(r.ok);
    assert.deepEqual(r.docs.map((d) => d.doc), [{ a: 1 }, 2, null]);
    assert.equal(r.docs[1].raw().toString(), '2');
  });
  it('NDJSON with CRLF, blank lines and one bad line', () => {
    const r = splitIngestBody(Buffer.from('{"a":1}\r\n\n{"a":\n{"a":3}'), 'application/x-ndjson');
    assert.ok(r.ok);
    assert.equal(r.docs.length, 3);
    assert.deepEqual(r.docs[0].doc, { a: 1 });
    assert.ok(r.docs[1].error);
    assert.equal(r.docs[1].raw().toString(), '{"a":');
    assert.deepEqual(r.docs[2].doc, { a: 3 });
  });
  it('unreadable bodies', () => {
    assert.deepEqual(splitIngestBody(Buffer.from('{"a":'), 'application/json').ok, false);
    const bad = splitIngestBody(Buffer.from([0xff]), 'application/json');
    assert.ok(!bad.ok && bad.code === 'invalid_utf8');
  });
});
