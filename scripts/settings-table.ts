/**
 * The README's settings table, made from the one table of settings (src/settings/schema.ts): the
 * variable and default from each entry, the meaning from its JSDoc. `npm run docs` writes it into
 * the README between its markers (Biome then aligns its columns); test/unit/settings-table.test.ts fails
 * when they disagree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Field, SCHEMA } from '../src/settings/schema.js';

const SCHEMA_FILE = fileURLToPath(new URL('../src/settings/schema.ts', import.meta.url));
export const README = fileURLToPath(new URL('../README.md', import.meta.url));
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
 * The cells of a markdown table, row by row, without its rule line: what the README shows,
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

/** The README's current table, between the markers. */
export function readmeTable(readme = readFileSync(README, 'utf8')): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start === -1 || end === -1) throw new Error(`README.md has no ${START} … ${END} markers`);
  return readme.slice(start + START.length, end).trim();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const readme = readFileSync(README, 'utf8');
  const before = readme.slice(0, readme.indexOf(START) + START.length);
  const after = readme.slice(readme.indexOf(END));
  writeFileSync(README, `${before}\n${settingsTable()}\n${after}`);
  console.log('README.md: settings table written from src/settings/schema.ts');
}
