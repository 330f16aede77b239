import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cells, documentedTable, settingsTable } from '../../scripts/settings-table.js';
import { SCHEMA } from '../../src/settings/schema.js';

test('the settings table of docs/settings.md is the one the table of settings makes (npm run docs writes it)', () => {
  assert.deepEqual(cells(documentedTable()), cells(settingsTable()));
});

test('every setting has its row, with its variable and default', () => {
  const table = settingsTable();
  for (const field of Object.values(SCHEMA)) assert.match(table, new RegExp(`^\\| \`${field.env}\` \\|`, 'm'));
  assert.match(table, /\| `REDIS_SOCKET_TIMEOUT` \| .* \| `5` \|/);
});
