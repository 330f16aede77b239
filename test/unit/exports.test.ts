import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as main from '../../src/index.js';
import * as testing from '../../src/testing/index.js';

// The public API changes only on purpose: update test/exports.json in the same commit, and the CHANGELOG.
test('the exports of the main entry and of ./testing are the committed list', () => {
  const committed = JSON.parse(readFileSync(new URL('../exports.json', import.meta.url), 'utf8'));
  assert.deepEqual({ main: Object.keys(main).sort(), testing: Object.keys(testing).sort() }, committed);
});
