/**
 * The settings table of docs/settings.md, made from the one table of settings (src/settings/schema.ts):
 * the variable and default from each entry, the meaning from its JSDoc. `npm run docs` writes it into
 * docs/settings.md between its markers (Biome then aligns its columns); test/unit/settings-table.test.ts
 * fails when they disagree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Field, SCHEMA } from '../src/settings/schema.js';

const SCHEMA_FILE = fileURLToPath(new URL('../src/settings/schema.ts', import.meta.url));
export const SETTINGS_DOC = fileURLToPath(new URL('../docs/settings.md', import.meta.url));
const START = '<!-- settings-table:start -->';
const END = '<!-- settings-table:end -->';

/** The JSDoc of each entry of SCHEMA, up to its first tag, on one line. */
function docs(): Map<string, string> {
  const source = readFileSync(SCHEMA_FILE, 'utf8');
  const found = new Map<string, string>();
  for (const [, comment, key] of source.matchAll(/\/\*\*((?:[^*]|\*(?!\/))*)\*\/\s*(\w+): field\(/g)) {
    const text = (comment as string)
      .split('\n')
      .map((line) => line.replace(/^\s*\* ?/, '').trim())
      .join(' ')
      .split(/\s@\w+/)[0]
      ?.trim();
    found.set(key as string, text ?? '');
  }
  return found;
}

function shownDefault(field: Field): string {
  if (field.shownDefault !== undefined) return field.shownDefault === 'required' ? '—' : `\`${field.shownDefault}\``;
  return 'default' in field ? `\`${String(field.default)}\`` : '—';
}

/** The settings table, in markdown. */
export function settingsTable(): string {
  const meanings = docs();
  const rows = Object.entries(SCHEMA).map(([key, field]: [string, Field]) => {
    const meaning = meanings.get(key);
    if (!meaning) throw new Error(`src/settings/schema.ts: the entry ${key} has no JSDoc`);
    return `| \`${field.env}\` | ${meaning} | ${shownDefault(field)} |`;
  });
  return ['| variable | meaning | default |', '| --- | --- | --- |', ...rows].join('\n');
}

/**
 * The cells of a markdown table, row by row, without its rule line: what the page shows,
 * whatever the column widths the formatter gives it.
 */
export function cells(table: string): string[][] {
  return table
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|[\s:-]+\|/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
}

/** The table docs/settings.md shows now, between the markers. */
export function documentedTable(page = readFileSync(SETTINGS_DOC, 'utf8')): string {
  const start = page.indexOf(START);
  const end = page.indexOf(END);
  if (start === -1 || end === -1) throw new Error(`docs/settings.md has no ${START} … ${END} markers`);
  return page.slice(start + START.length, end).trim();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const page = readFileSync(SETTINGS_DOC, 'utf8');
  documentedTable(page); // refuses a page without its markers before anything is written
  const before = page.slice(0, page.indexOf(START) + START.length);
  const after = page.slice(page.indexOf(END));
  writeFileSync(SETTINGS_DOC, `${before}\n${settingsTable()}\n${after}`);
  console.log('docs/settings.md: settings table written from src/settings/schema.ts');
}
