import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { HTTP_ERROR_CODES } from './http-error.js';
import { ALL_REASON_CODES } from './errors.js';

describe('reason codes', () => {
  it('docs/errors.md documents every reason code and HTTP error code, and no other', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const documented = new Set([...doc.matchAll(/^### `([a-z_0-9]+)`$/gm)].map((m) => m[1]));
    const all: string[] = [...ALL_REASON_CODES, ...Object.keys(HTTP_ERROR_CODES)];
    for (const code of all) assert.ok(documented.has(code), `docs/errors.md lacks ${code}`);
    for (const code of documented) assert.ok(all.includes(code), `docs/errors.md documents unknown code ${code}`);
  });

  it('codes are stable snake_case identifiers', () => {
    for (const code of ALL_REASON_CODES) assert.match(code, /^[a-z][a-z0-9_]*$/);
  });
});
