/** The README's error table is the error table: every code, exit status, HTTP status and meaning. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { errorTable } from '../../src/errors.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README error codes', () => {
  it('lists exactly the codes of src/errors.ts, in its order, with the same statuses and meaning', () => {
    const section = readme.slice(readme.indexOf('## Error codes'), readme.indexOf('\n## ', readme.indexOf('## Error codes') + 1));
    const rows = [...section.matchAll(/^\| `([A-Z_]+)` \| (\d+) \| (\d+) \| (.+) \|$/gm)].map((m) => [m[1], Number(m[2]), Number(m[3]), m[4]]);
    const expected = Object.entries(errorTable).map(([code, e]) => [code, e.exit, e.http, e.summary]);
    assert.deepEqual(rows, expected);
  });
});
