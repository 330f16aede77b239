/**
 * How well each way to read `.env` from Node agrees with python-dotenv, which the Python services
 * read it with: every `.env` of test/fixtures/python-parity.json, read by Node's `util.parseEnv`,
 * by the npm packages dotenv (with dotenv-expand, for `${VAR}`) and by this package's own reader,
 * against python-dotenv's values recorded in the fixture.
 *
 *   npx tsx scripts/dotenv-readers.ts
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseEnv } from 'node:util';
import Table from 'cli-table3';
import dotenv from 'dotenv';
import { expand } from 'dotenv-expand';
import { expandDotenv, parseDotenv } from '../src/settings/dotenv.js';

interface Case {
  id: string;
  env: Record<string, string>;
  dotenv: string | null;
  dotenv_values?: [string, string | null][];
}

const version = (name: string) =>
  (createRequire(import.meta.url)(`${name}/package.json`) as { version: string }).version;
type Reader = (text: string, env: Record<string, string>) => Record<string, string | null>;
const READERS: Record<string, Reader> = {
  'node:util parseEnv': (text) => ({ ...parseEnv(text) }) as Record<string, string | null>,
  [`dotenv ${version('dotenv')} + dotenv-expand ${version('dotenv-expand')}`]: (text, env) => {
    const parsed = dotenv.parse(text);
    return { ...expand({ parsed, processEnv: { ...env } }).parsed };
  },
  'this package (src/settings/dotenv.ts)': (text, env) =>
    Object.fromEntries(
      [...expandDotenv(parseDotenv(text).bindings, env)].map(([key, { value }]) => [key, value ?? null]),
    ),
};

const fixture = JSON.parse(
  readFileSync(new URL('../test/fixtures/python-parity.json', import.meta.url), 'utf8'),
) as Case[];
const cases = fixture.filter((entry) => entry.dotenv !== null);
// A bare KEY sets nothing, in python-dotenv as in pydantic-settings: compare what is set.
const set = (values: Record<string, string | null>) =>
  JSON.stringify(
    Object.entries(values)
      .filter(([, value]) => value !== null)
      .sort(),
  );
const table = new Table({
  head: ['reader', 'agrees with python-dotenv', 'differs', 'first cases that differ'],
  style: { head: [], border: [] },
});
for (const [name, read] of Object.entries(READERS)) {
  const differing = cases.filter((entry) => {
    try {
      return set(read(entry.dotenv as string, entry.env)) !== set(Object.fromEntries(entry.dotenv_values ?? []));
    } catch {
      return true;
    }
  });
  table.push([
    name,
    `${cases.length - differing.length} of ${cases.length}`,
    differing.length,
    differing
      .slice(0, 4)
      .map((entry) => entry.id)
      .join('\n'),
  ]);
}
console.log(table.toString());
