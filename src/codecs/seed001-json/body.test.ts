import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { arrayElementBounds, splitIngestBody } from './body.js';

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
  it('an array: each element keeps its bytes as sent, whatever the strings and nesting hold', () => {
    const elems = ['{"a":"x\\\\"}', '"q\\"],{"', '2', 'null', '[1,[2,{"b":"]"}]]', '{"é":"ü\\u0041"}', '1.5e3', 'true'];
    const body = Buffer.from(` [ ${elems.join(' ,\n\t')}\r\n] `);
    const r = splitIngestBody(body, 'application/json');
    assert.ok(r.ok);
    assert.deepEqual(r.docs.map((d) => d.raw().toString()), elems);
    assert.deepEqual(r.docs.map((d) => d.doc), JSON.parse(body.toString()));
    assert.deepEqual(splitIngestBody(Buffer.from('[]'), 'application/json'), { ok: true, docs: [] });
  });
  it('element bounds refuse a count that does not match', () => {
    assert.equal(arrayElementBounds(Buffer.from('[1,2,3]'), 2), undefined);
    assert.equal(arrayElementBounds(Buffer.from('[1,2]'), 3), undefined);
    assert.deepEqual([...arrayElementBounds(Buffer.from('[1, 22]'), 2)!], [1, 2, 4, 6]);
  });
  it('an array of any JSON values, any layout: each raw element parses back to that element', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { maxLength: 8 }), fc.constantFrom(undefined, 0, 2, '\t'), (arr, indent) => {
        const body = Buffer.from(JSON.stringify(arr, null, indent));
        const r = splitIngestBody(body, 'application/json');
        assert.ok(r.ok);
        assert.equal(r.docs.length, arr.length);
        for (const d of r.docs) assert.deepEqual(JSON.parse(d.raw().toString()), d.doc);
      }),
      { seed: 0x5eed, numRuns: 300 },
    );
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
