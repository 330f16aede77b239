// The .env reader, a port of python-dotenv's: its grammar and ${VAR} expansion. Every .env of the
// parity fixture is also checked against python-dotenv's own reading (python-parity.test.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SettingsError } from '../../src/errors.js';
import { expandDotenv, parseDotenv } from '../../src/settings/dotenv.js';
import { loadSettings } from '../../src/settings.js';

const read = (text: string, env: Record<string, string> = {}) =>
  Object.fromEntries([...expandDotenv(parseDotenv(text).bindings, env)].map(([key, { value }]) => [key, value]));

test('a line python-dotenv cannot read is skipped, and the next line is read: the line numbers say which', () => {
  const { bindings, skipped } = parseDotenv(
    '# top\nKEY: value\n[section]\nREDIS_URL=redis://h1:6380/2\n\nfree text here\nA="open\nB=2\n',
  );
  assert.deepEqual(
    bindings.map(({ key, value, line }) => [key, value, line]),
    [
      ['[section]', undefined, 3],
      ['REDIS_URL', 'redis://h1:6380/2', 4],
      ['B', '2', 8],
    ],
  );
  assert.deepEqual(skipped, [2, 6, 7]);
});

// biome-ignore lint/suspicious/noTemplateCurlyInString: .env syntax, not a template
test('${VAR} comes from the lines above, then the environment; ${VAR:-default} only when VAR is not set at all', () => {
  assert.deepEqual(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: .env syntax, not a template
    read('A=file\nB=${A}-${E}\nC=${NONE:-dflt}\nD=${EMPTY:-dflt}\nE2=$A\n', { A: 'env', E: 'e', EMPTY: '' }),
    {
      A: 'file',
      B: 'file-e',
      C: 'dflt',
      D: '',
      E2: '$A',
    },
  );
});

test('quotes, escapes, export, inline comments, CR line endings', () => {
  assert.deepEqual(read('export  A=\'x#y\'\rB="a\\tb\\"c" # note\rC=abc#def\rD=abc #def\r\'E\'="one\ntwo"\r'), {
    A: 'x#y',
    B: 'a\tb"c',
    C: 'abc#def',
    D: 'abc',
    E: 'one\ntwo',
  });
});

test('loadSettings() warns of each skipped line with the file and line, and a byte-order mark that hides a setting is an error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redis-pool-dotenv-'));
  try {
    const envFile = join(dir, '.env');
    writeFileSync(envFile, 'SERVICE_NAME=svc\nLOG_LEVEL=INFO\nREDIS_URL\nnot a setting\nREDIS_URL=redis://h1:6380/2\n');
    const warnings: string[] = [];
    const settings = loadSettings({}, { env: {}, envFile, onWarning: (line) => warnings.push(line) });
    assert.equal(settings.redisUrl, 'redis://h1:6380/2');
    assert.deepEqual(warnings, [
      `${envFile}:4: not a KEY=value line; skipped, as python-dotenv (and so the Python services) skip it`,
    ]);

    writeFileSync(envFile, '\ufeffREDIS_URL=redis://h1:6380/2\n');
    assert.throws(
      () => loadSettings({ serviceName: 'svc', logLevel: 'INFO' }, { env: {}, envFile }),
      (error: unknown) =>
        error instanceof SettingsError &&
        error.issues[0]?.path === 'REDIS_URL' &&
        /byte-order mark/.test(error.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
