import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cells, readmeTable, settingsTable } from '../../scripts/settings-table.js';
import { SCHEMA } from '../../src/settings/schema.js';

test('the README’s settings table is the one the table of settings makes (npm run docs writes it)', () => {
  assert.deepEqual(cells(readmeTable()), cells(settingsTable()));
});

test('every setting has its row, with its variable and default', () => {
  const table = settingsTable();
  for (const field of Object.values(SCHEMA)) assert.match(table, new RegExp(`^\\| \`${field.env}\` \\|`, 'm'));
  assert.match(table, /\| `REDIS_SOCKET_TIMEOUT` \| .* \| `5` \|/);
});
