// The same environment means the same connection: every case of test/fixtures/python-parity.json
// (an environment and a .env, and what the Python services make of them, recorded from
// pydantic-settings, python-dotenv and redis-py by scripts/python-parity.py) read by loadSettings().
// No Python is needed here.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SettingsError, type SettingsIssue } from '../../src/errors.js';
import { CommonAppSettings } from '../../src/settings.js';

/** What redis-py connects with: where, as whom (the AUTH it sends), and the pool's options. */
interface Connection {
  host: string | null;
  port: number | null;
  path: string | null;
  db: number;
  auth: [string, string] | null;
  ssl: boolean;
  decode_responses: boolean;
  socket_connect_timeout: number | string | null;
  max_connections: number;
  health_check_interval: number | string;
}

interface Case {
  id: string;
  about: string;
  env: Record<string, string>;
  dotenv: string | null;
  python: Connection | { refused: string };
  /** The rules by which the pool refuses, on purpose, what Python reads accidentally: each that applies. */
  deliberate?: string[];
}

/**
 * Each rule by which the pool refuses what the Python services accept (docs/settings.md, "The
 * same as the Python services"), and the issue that shows it: the variable, and the message.
 */
const RULES: Record<string, { path: string; message: RegExp }> = {
  'db-path-not-an-integer': {
    path: 'REDIS_URL',
    message: /path is the database as a whole number.*read `.*` as database -?\d+/,
  },
  'query-double-decoded': { path: 'REDIS_URL', message: /decode query values twice/ },
  'query-parameter-twice': { path: 'REDIS_URL', message: /gives \?\w+= once/ },
  'query-parameter-not-read': { path: 'REDIS_URL', message: /is not read here/ },
  'stated-twice': {
    path: 'REDIS_\\w+',
    message: /gives its (user name|password|database) once, or the same twice|contradicts \?\w+= in `REDIS_URL`/,
  },
  'url-control-or-space': { path: 'REDIS_URL', message: /without spaces around it or control characters/ },
  'url-fragment': { path: 'REDIS_URL', message: /a URL without a #/ },
  'unix-host': { path: 'REDIS_URL', message: /unix:\/\/ URL without a host.*ignore the host/ },
  'unix-path': { path: 'REDIS_URL', message: /absolute socket path/ },
  'port-out-of-range': { path: 'REDIS_(URL|PORT)', message: /port from 1 to 65535|an integer from 1 to 65535/ },
  'host-not-a-name': { path: 'REDIS_(URL|HOST)', message: /host name or an IP address/ },
  'seconds-not-finite': { path: 'REDIS_\\w+', message: /a number of seconds/ },
  'seconds-out-of-range': { path: 'REDIS_\\w+', message: /a number of seconds/ },
  'integer-out-of-range': { path: 'REDIS_\\w+', message: /an integer >= / },
  'two-spellings': { path: 'REDIS_\\w+', message: /are both set in .*name one setting/ },
  'dotenv-byte-order-mark': { path: 'REDIS_\\w+', message: /byte-order mark/ },
  'service-name': { path: 'SERVICE_NAME', message: /SERVICE_NAME/ },
  'log-level': { path: 'LOG_LEVEL', message: /LOG_LEVEL/ },
};

const fixture = JSON.parse(readFileSync(new URL('../fixtures/python-parity.json', import.meta.url), 'utf8')) as Case[];
const directory = mkdtempSync(join(tmpdir(), 'redis-pool-parity-'));
after(() => rmSync(directory, { recursive: true, force: true }));

/** The pool's reading of a case: the same shape as the fixture's, or the issues it refused with. */
function poolReading(entry: Case): Connection | { issues: readonly SettingsIssue[] } {
  const envFile = join(directory, `${entry.id}.env`);
  if (entry.dotenv !== null) writeFileSync(envFile, entry.dotenv);
  try {
    const settings = new CommonAppSettings(
      {},
      { env: entry.env, envFile: entry.dotenv === null ? false : envFile, onWarning: () => undefined },
    );
    const username = settings.redisUsername;
    const password = settings.redisPassword?.reveal() ?? '';
    return {
      host: settings.redisHost ?? null,
      port: settings.redisPort ?? null,
      path: settings.redisSocketPath ?? null,
      db: settings.redisDb,
      // What node-redis sends (see credentials() in src/connection.ts): a user name with an empty
      // password when none is given; nothing at all without either.
      auth: password !== '' ? [username ?? 'default', password] : username !== undefined ? [username, ''] : null,
      ssl: settings.redisSsl,
      decode_responses: settings.redisDecodeResponses,
      socket_connect_timeout: settings.redisSocketConnectTimeout,
      max_connections: settings.redisMaxConnections,
      health_check_interval: settings.redisHealthCheckInterval,
    };
  } catch (error) {
    if (error instanceof SettingsError) return { issues: error.issues };
    throw error;
  }
}

const classes = { agree: 0, 'both refuse': 0, 'refused deliberately': 0, looser: 0 };

for (const entry of fixture) {
  test(`${entry.id}: ${entry.about}`, () => {
    const ours = poolReading(entry);
    const theirs = entry.python;
    if ('refused' in theirs) {
      assert.ok('issues' in ours, `Python refuses (${theirs.refused}), the pool accepts: ${JSON.stringify(ours)}`);
      classes['both refuse']++;
      return;
    }
    if (entry.deliberate !== undefined) {
      const rules = entry.deliberate.map((name) => {
        const rule = RULES[name];
        assert.ok(rule, `no rule ${name}`);
        return { path: new RegExp(`^${rule.path}$`), message: rule.message };
      });
      assert.ok(
        'issues' in ours,
        `the pool accepts what it should refuse by ${entry.deliberate}: ${JSON.stringify(ours)}`,
      );
      assert.ok(
        ours.issues.some((issue) =>
          rules.some((rule) => rule.path.test(issue.path) && rule.message.test(issue.message)),
        ),
        `refused, but not by ${entry.deliberate}: ${ours.issues.map((issue) => issue.message).join(' | ')}`,
      );
      classes['refused deliberately']++;
      return;
    }
    assert.ok(
      !('issues' in ours),
      `Python accepts, the pool refuses: ${'issues' in ours && ours.issues.map((issue) => issue.message).join(' | ')}`,
    );
    assert.deepEqual(ours, { ...theirs }, 'the same environment, another connection');
    classes.agree++;
  });
}

test('the fixture holds at least 400 cases, and the classes add up', (t) => {
  assert.ok(fixture.length >= 400, `${fixture.length} cases`);
  t.diagnostic(`${fixture.length} cases: ${JSON.stringify(classes)}`);
});
