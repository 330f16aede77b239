import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import { runCli } from '../src/cli/cli.js';
import {
  type CommonAppSettings,
  ConnectError,
  createLogger,
  type Logger,
  loadSettings,
  RedisAuthError,
  RedisPool,
  SettingsError,
} from '../src/index.js';
import {
  type Cluster,
  type RedisServer,
  type SentinelGroup,
  startCluster,
  startRedisServer,
  startSentinelGroup,
} from '../src/testing/index.js';
import { admin, serverForFile, settingsFor, silent } from './helpers.js';

const file = serverForFile();

describe('REDIS_USERNAME without a password', () => {
  test('authenticates as that user (a nopass ACL user) on every connection, confined to its key pattern', async () => {
    // Regression: node-redis sends credentials only with a password, so the pool connected as
    // `default` while the settings, the logs and `redis-pool check` all said `limited`.
    await file.observer.sendCommand([
      'ACL',
      'SETUSER',
      'limited',
      'reset',
      'on',
      'nopass',
      '~limited:*',
      '&limited-*',
      '+@all',
    ]);
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(file.server.url, { redisUsername: 'limited' }));
      assert.equal(await client.sendCommand(['ACL', 'WHOAMI']), 'limited');
      assert.equal(await client.set('limited:a', '1'), 'OK');
      await assert.rejects(client.set('other:a', '1'), /NOPERM/);
      const subscriber = await pool.subscriber();
      await subscriber.subscribe('limited-news', () => undefined);
      const users = await pool.withConnection(async (lease) => {
        assert.equal(await lease.sendCommand(['ACL', 'WHOAMI']), 'limited', 'a leased connection authenticates too');
        return (await file.observer.clientList())
          .filter((entry) => entry.name?.startsWith('pool-test:'))
          .map((entry) => `${entry.name?.split(':')[1]} ${(entry as { user?: string }).user}`);
      });
      assert.deepEqual(users.sort(), ['lease limited', 'shared limited', 'subscriber limited']);
    } finally {
      pool.destroy();
      await file.observer.sendCommand(['ACL', 'DELUSER', 'limited']);
    }
  });

  test('a user that has a password is refused with a RedisAuthError that says why, never connected as default', async () => {
    await file.observer.sendCommand(['ACL', 'SETUSER', 'guarded', 'reset', 'on', '>its-password', '~*', '+@all']);
    const pool = new RedisPool<true>({ logger: silent });
    try {
      await assert.rejects(pool.getClient(settingsFor(file.server.url, { redisUsername: 'guarded' })), (error) => {
        assert.ok(error instanceof RedisAuthError);
        assert.equal(error.code, 'REDIS_POOL_AUTH_FAILED');
        assert.match(error.message, /WRONGPASS/);
        assert.match(error.message, /REDIS_USERNAME \(guarded\) is set without a password.*nopass/);
        return true;
      });
    } finally {
      pool.destroy();
      await file.observer.sendCommand(['ACL', 'DELUSER', 'guarded']);
    }
  });
});

describe('credentials: Redis sees the user the settings name, on every kind of connection', () => {
  // Regressions: `redis://alice@cache/0?password=` connected as `default` (an empty ?password=
  // dropped the user), and redis-py's readings of empty query credentials differed from ours.
  const url = () => file.server.url;
  const cases: [about: string, env: () => Record<string, string>, dotenv: string | undefined, user: string][] = [
    [
      'a user in the URL with an empty ?password=',
      () => ({ REDIS_URL: `${url().replace('//', '//alice@')}/0?password=` }),
      undefined,
      'alice',
    ],
    ['a user in ?username= alone', () => ({ REDIS_URL: `${url()}/0?username=alice` }), undefined, 'alice'],
    ['a user and password in the URL', () => ({ REDIS_URL: url().replace('//', '//bob:bob-pw@') }), undefined, 'bob'],
    [
      'a user and password in the query',
      () => ({ REDIS_URL: `${url()}/0?username=bob&password=bob-pw` }),
      undefined,
      'bob',
    ],
    // redis-py sends it as AUTH <password>, which a server whose default user has no password
    // refuses (RESP2 here too); HELLO 3 AUTH default <password> it accepts.
    [
      'an empty ?username= with a password: the default user (RESP2: refused, as redis-py is)',
      () => ({ REDIS_URL: `${url()}/0?username=&password=x` }),
      undefined,
      'default',
    ],
    ['REDIS_USERNAME alone', () => ({ REDIS_URL: url(), REDIS_USERNAME: 'alice' }), undefined, 'alice'],
    [
      'a user in the URL, REDIS_PASSWORD from the environment',
      () => ({ REDIS_URL: url().replace('//', '//bob@'), REDIS_PASSWORD: 'bob-pw' }),
      undefined,
      'bob',
    ],
    [
      'REDIS_PASSWORD in .env, expanded from the environment',
      () => ({ REDIS_URL: url(), REDIS_USERNAME: 'bob', PW: 'bob-pw' }),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: .env syntax, not a template
      'REDIS_PASSWORD=${PW}\n',
      'bob',
    ],
    [
      'an empty REDIS_USERNAME, and a user in .env it hides',
      () => ({ REDIS_URL: url(), REDIS_USERNAME: '' }),
      'REDIS_USERNAME=alice\n',
      'default',
    ],
  ];
  before(async () => {
    await file.observer.sendCommand(['ACL', 'SETUSER', 'alice', 'reset', 'on', 'nopass', '~*', '&*', '+@all']);
    await file.observer.sendCommand(['ACL', 'SETUSER', 'bob', 'reset', 'on', '>bob-pw', '~*', '&*', '+@all']);
  });
  after(async () => {
    await file.observer.sendCommand(['ACL', 'DELUSER', 'alice', 'bob']);
  });
  for (const protocol of [3, 2] as const) {
    for (const [about, env, dotenv, user] of cases) {
      test(`RESP${protocol}, ${about}: ${user}`, async () => {
        const dir = mkdtempSync(join(tmpdir(), 'redis-pool-credentials-'));
        if (dotenv !== undefined) writeFileSync(join(dir, '.env'), dotenv);
        const settings = loadSettings(
          {},
          {
            env: { SERVICE_NAME: `creds${protocol}`, LOG_LEVEL: 'silent', REDIS_PROTOCOL: String(protocol), ...env() },
            envFile: join(dir, '.env'),
          },
        );
        const pool = new RedisPool({ logger: silent });
        try {
          if (protocol === 2 && about.includes('RESP2: refused')) {
            await assert.rejects(pool.getClient(settings), RedisAuthError);
            return;
          }
          const client = await pool.getClient(settings);
          assert.equal(await client.sendCommand(['ACL', 'WHOAMI']), user, 'the shared connection');
          assert.equal(await pool.withConnection((lease) => lease.sendCommand(['ACL', 'WHOAMI'])), user, 'a lease');
          const duplicate = client.duplicate();
          await duplicate.connect();
          assert.equal(await duplicate.sendCommand(['ACL', 'WHOAMI']), user, 'a duplicate');
          await duplicate.close();
          const subscriber = await pool.subscriber();
          await subscriber.subscribe('credentials', () => undefined);
          const entry = (await file.observer.clientList()).find((found) =>
            found.name?.startsWith(`creds${protocol}:subscriber:`),
          );
          assert.equal((entry as { user?: string } | undefined)?.user, user, 'the subscriber');
        } finally {
          pool.destroy();
        }
      });
    }
  }
});

/**
 * The redaction audit: every scenario runs the settings, a pool and the CLI with a password of
 * its own, and every output channel is searched for that password, raw and URL-encoded.
 */
describe('no password in any output channel, wherever it is written', () => {
  interface Scenario {
    name: string;
    /** The secret that must not appear. */
    password: string;
    env: Record<string, string>;
    /** Lines of a .env file in the working directory. */
    dotenv?: string;
    /** What loading, opening and using the pool must end in. */
    outcome: 'works' | 'SettingsError' | 'RedisAuthError' | 'ConnectError';
  }

  /** What each channel showed during one scenario. */
  type Channels = Map<string, string[]>;

  const dir = mkdtempSync(join(tmpdir(), 'redis-pool-audit-'));
  const socket = join(dir, 'redis.sock');
  let unixServer: RedisServer;
  let group: SentinelGroup;
  let cluster: Cluster;
  before(async () => {
    [unixServer, group, cluster] = await Promise.all([
      startRedisServer({ args: ['--unixsocket', socket, '--unixsocketperm', '700'] }),
      startSentinelGroup({ replicas: 0, sentinels: 1 }),
      startCluster({ masters: 3 }),
    ]);
  });
  after(async () => {
    await Promise.all([unixServer.stop(), group.stop(), cluster.stop()]);
  });

  /** An ACL user `name` with `password` on these servers. */
  async function user(urls: readonly string[], name: string, password: string): Promise<void> {
    for (const url of urls) {
      const client = await admin(url);
      try {
        await client.sendCommand(['ACL', 'SETUSER', name, 'reset', 'on', `>${password}`, '~*', '&*', '+@all']);
      } finally {
        client.destroy();
      }
    }
  }

  /** Records what an error shows, channel by channel: message, stack, causes, inspect and JSON. */
  function recordError(record: (channel: string, ...texts: string[]) => void, error: unknown): void {
    const { message, stack, cause } = error as { message?: unknown; stack?: unknown; cause?: unknown };
    record('error message', String(message));
    record('error stack', String(stack));
    record('error inspect', inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true }));
    record('error JSON', JSON.stringify(error) ?? '');
    for (let current = cause, depth = 0; current !== undefined && depth < 10; depth++) {
      const next = current as { message?: unknown; stack?: unknown; cause?: unknown };
      record('error causes', String(next.message), String(next.stack), JSON.stringify(next) ?? '');
      current = next.cause;
    }
  }

  /** What an outcome is called, by the class of the error it ended in. */
  function outcomeOf(error: unknown): Scenario['outcome'] {
    if (error instanceof SettingsError) return 'SettingsError';
    if (error instanceof RedisAuthError) return 'RedisAuthError';
    if (error instanceof ConnectError) return 'ConnectError';
    throw error;
  }

  async function observe(scenario: Scenario): Promise<Channels> {
    const channels: Channels = new Map();
    const record = (channel: string, ...texts: string[]) =>
      channels.set(channel, [...(channels.get(channel) ?? []), ...texts]);
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    if (scenario.dotenv) writeFileSync(join(cwd, '.env'), scenario.dotenv);
    const env = { SERVICE_NAME: 'audit', LOG_LEVEL: 'DEBUG', ...scenario.env };
    const onProcessWarning = (warning: Error) => record('process warnings', String(warning), String(warning.stack));
    process.on('warning', onProcessWarning);
    let reached: Scenario['outcome'] = 'works';
    try {
      let settings: CommonAppSettings | undefined;
      try {
        settings = loadSettings(
          {},
          { env, envFile: join(cwd, '.env'), onWarning: (line) => record('settings warnings', line) },
        );
        record('settings inspect', inspect(settings, { depth: 10 }), String(settings.redisUrl));
        record('settings JSON', JSON.stringify(settings));
        record('settings warnings', ...settings.warnings);
        // Without onWarning, warnings go out as process warnings.
        loadSettings({}, { env, envFile: join(cwd, '.env') });
        await sleep(0);
      } catch (error) {
        reached = outcomeOf(error);
        recordError(record, error);
      }
      if (settings) {
        const jsonLines: string[] = [];
        const json = createLogger('debug', (line) => jsonLines.push(line));
        const tee = (level: keyof Logger) => (context: Record<string, unknown>, message: string) => {
          json[level](context, message);
          record('logs', `${level}: ${message}`, inspect(context, { depth: Number.POSITIVE_INFINITY }));
        };
        const pool = new RedisPool({
          logger: { debug: tee('debug'), info: tee('info'), warn: tee('warn'), error: tee('error') },
        });
        for (const event of ['connect', 'ready', 'reconnecting', 'error', 'acquire-timeout', 'leak'] as const) {
          pool.on(event, (...args: unknown[]) => record('events', inspect(args, { depth: Number.POSITIVE_INFINITY })));
        }
        try {
          const client = await pool.getClient(settings);
          await client.set('audit:key', 'value');
          await pool.withConnection({ key: 'audit:key' }, (lease) => lease.get('audit:key') as Promise<unknown>);
          const subscriber = await pool.subscriber();
          await subscriber.subscribe('audit:news', () => undefined);
          record('client', inspect(client, { depth: 3 }));
          record('stats', JSON.stringify(pool.stats()), inspect(pool.stats(), { depth: 10 }));
          if (!settings.redisClusterNodes && !settings.redisSentinels) {
            // Connections dropped by the server: the errors, the reconnects, their logs and events.
            const observer = await admin(unixServer.url);
            await observer.sendCommand(['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes']);
            observer.destroy();
            await sleep(300);
            assert.equal(await client.get('audit:key'), 'value');
          }
        } catch (error) {
          reached = outcomeOf(error);
          recordError(record, error);
        } finally {
          record('stats', JSON.stringify(pool.stats()));
          await pool.close();
          record('logs (JSON lines)', ...jsonLines);
        }
      }
      for (const args of [['check'], ['check', '--json']]) {
        const output: string[] = [];
        await runCli(args, { env, cwd, stdout: (text) => output.push(text), stderr: (text) => output.push(text) });
        record(`CLI ${args.join(' ')}`, output.join(''));
      }
    } finally {
      process.off('warning', onProcessWarning);
    }
    assert.equal(reached, scenario.outcome, scenario.name);
    return channels;
  }

  /** The forms a password can take in text: as it is, URL-encoded, and JSON-escaped. */
  const forms = (password: string) =>
    [password, encodeURIComponent(password), encodeURI(password), JSON.stringify(password).slice(1, -1)].filter(
      (form, i, all) => all.indexOf(form) === i,
    );

  const pw = (n: number) => `Audit${n}-p@ss:w/rd%20x#\u00e4\u65e5`;
  const enc = (n: number) => encodeURIComponent(pw(n));
  const scenarios = (): Scenario[] => [
    {
      name: 'URL user info, works',
      password: pw(1),
      env: { REDIS_URL: `redis://a1:${enc(1)}@${host()}` },
      outcome: 'works',
    },
    {
      name: 'REDIS_PASSWORD, works',
      password: pw(2),
      env: { REDIS_URL: `redis://a2@${host()}`, REDIS_PASSWORD: pw(2) },
      outcome: 'works',
    },
    {
      // Without the %: redis-py decodes query values twice, so a % in one is refused (the next scenario).
      name: '?password= in the query, works',
      password: pw(3).replace('%', ''),
      env: { REDIS_URL: `redis://${host()}?username=a3&password=${encodeURIComponent(pw(3).replace('%', ''))}` },
      outcome: 'works',
    },
    {
      name: '?password= in the query with a %, which redis-py would decode twice, refused',
      password: pw(3),
      env: { REDIS_URL: `redis://${host()}?username=a3&password=${enc(3)}` },
      outcome: 'SettingsError',
    },
    {
      name: 'REDIS_PASSWORD in .env, works',
      password: pw(4),
      env: { REDIS_URL: `redis://a4@${host()}` },
      dotenv: `REDIS_PASSWORD='${pw(4)}'\n`,
      outcome: 'works',
    },
    {
      name: 'a wrong password',
      password: pw(5),
      env: { REDIS_URL: `redis://a1:${enc(5)}@${host()}` },
      outcome: 'RedisAuthError',
    },
    {
      name: 'nobody listening',
      password: pw(6),
      env: { REDIS_URL: `redis://a6:${enc(6)}@127.0.0.1:1` },
      outcome: 'ConnectError',
    },
    {
      name: 'an unencoded password that breaks the URL',
      password: pw(7),
      env: { REDIS_URL: `redis://:${pw(7)}@${host()}` },
      outcome: 'SettingsError',
    },
    {
      name: 'the password in a fragment',
      password: pw(8),
      env: { REDIS_URL: `redis://${host()}/0#${enc(8)}` },
      outcome: 'SettingsError',
    },
    {
      name: 'unix socket, ?password=, works',
      password: pw(9).replace('%', ''),
      env: { REDIS_URL: `unix://${socket}?username=a9&password=${encodeURIComponent(pw(9).replace('%', ''))}` },
      outcome: 'works',
    },
    {
      name: 'URL and REDIS_PASSWORD disagree',
      password: pw(10),
      env: { REDIS_URL: `redis://:${enc(10)}@${host()}`, REDIS_PASSWORD: `${pw(10)}-other` },
      outcome: 'SettingsError',
    },
    {
      name: 'user info and ?password= disagree',
      password: pw(11),
      env: { REDIS_URL: `redis://:${enc(11)}@${host()}?password=other` },
      outcome: 'SettingsError',
    },
    {
      name: 'sentinel mode, sentinel and data passwords, works',
      password: pw(12),
      env: {
        REDIS_URL: `redis://a12:${enc(12)}@ignored`,
        REDIS_SENTINELS: group.sentinelAddresses,
        REDIS_SENTINEL_MASTER: group.masterName,
        REDIS_SENTINEL_USERNAME: 's12',
        REDIS_SENTINEL_PASSWORD: pw(12),
      },
      outcome: 'works',
    },
    {
      name: 'cluster mode, works',
      password: pw(13),
      env: { REDIS_URL: `redis://a13:${enc(13)}@ignored`, REDIS_CLUSTER_NODES: cluster.nodeAddresses },
      outcome: 'works',
    },
    {
      name: 'another setting invalid',
      password: pw(14),
      env: { REDIS_PASSWORD: pw(14), REDIS_SOCKET_TIMEOUT: '1e9' },
      outcome: 'SettingsError',
    },
    {
      name: 'lower-case names, unicode password, works',
      password: pw(15),
      env: { redis_url: `redis://a15@${host()}`, redis_password: pw(15) },
      outcome: 'works',
    },
    {
      // Kept as it is, as redis-py keeps it; the default user takes any password.
      name: 'a bad percent escape, works',
      password: `${pw(16)}%zz`,
      env: { REDIS_URL: `redis://:${enc(16)}%zz@${host()}` },
      outcome: 'works',
    },
    {
      name: 'TLS to a plain port',
      password: pw(17),
      env: { REDIS_URL: `rediss://a1:${enc(17)}@${host()}`, REDIS_SOCKET_CONNECT_TIMEOUT: '0.5' },
      outcome: 'ConnectError',
    },
    {
      // Sent as it is, as redis-py sends it; the default user takes any password.
      name: 'a password ending in CR, works',
      password: pw(18),
      env: { REDIS_URL: `redis://${host()}`, REDIS_PASSWORD: `${pw(18)}\r` },
      outcome: 'works',
    },
    {
      name: 'sentinel mode, no sentinel answers',
      password: pw(19),
      env: {
        REDIS_URL: `redis://:${enc(19)}@x`,
        REDIS_SENTINELS: '127.0.0.1:1',
        REDIS_SENTINEL_MASTER: 'm',
        REDIS_SENTINEL_PASSWORD: pw(19),
      },
      outcome: 'ConnectError',
    },
    { name: 'the password as the whole URL', password: pw(20), env: { REDIS_URL: pw(20) }, outcome: 'SettingsError' },
    {
      name: 'a misspelt REDIS_PASSWORD, warned about',
      password: pw(21),
      env: { REDIS_URL: `redis://a1:${enc(1)}@${host()}`, REDIS_PASWORD: pw(21) },
      outcome: 'works',
    },
  ];
  const host = () => `127.0.0.1:${unixServer.port}`;

  test('22 scenarios: the password is in none of 16 channels', async () => {
    await user([unixServer.url], 'a1', pw(1));
    for (const n of [2, 4, 15]) await user([unixServer.url], `a${n}`, pw(n));
    // A % in a query value is refused (redis-py decodes them twice), so these two have none.
    for (const n of [3, 9]) await user([unixServer.url], `a${n}`, pw(n).replace('%', ''));
    const primary = await group.master();
    await user([primary.url], 'a12', pw(12));
    await user(
      group.sentinels.map((sentinel) => sentinel.url),
      's12',
      pw(12),
    );
    await user(
      cluster.nodes.map((node) => node.url),
      'a13',
      pw(13),
    );
    const all = scenarios();
    assert.ok(all.length >= 15);
    const seen = new Set<string>();
    for (const scenario of all) {
      const channels = await observe(scenario);
      for (const [channel, texts] of channels) {
        if (texts.some((text) => text !== '')) seen.add(channel);
        for (const text of texts) {
          for (const form of forms(scenario.password)) {
            assert.ok(
              !text.includes(form),
              `${scenario.name}: the password (${form === scenario.password ? 'raw' : 'encoded'}) shows in ${channel}:\n${text}`,
            );
          }
        }
      }
    }
    console.log(`redaction audit: ${all.length} scenarios, ${seen.size} channels: ${[...seen].sort().join(', ')}`);
    assert.ok(seen.size >= 16, `only ${seen.size} channels were exercised: ${[...seen].join(', ')}`);
  });
});
