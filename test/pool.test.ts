import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkServerIdentity } from 'node:tls';
import { inspect } from 'node:util';
import { createClient } from 'redis';
import type { StringClient } from '../src/client/types.js';
import {
  CommandTimeoutError,
  ConnectError,
  ConnectionRefusedError,
  ConnectTimeoutError,
  closeRedisPool,
  createLogger,
  getRedisClient,
  loadSettings,
  PoolClosedError,
  RedisAuthError,
  RedisPool,
  redisPool,
  SettingsConflictError,
  TlsError,
} from '../src/index.js';
import { killableSocket, socketKiller } from '../src/node-redis/node-redis.js';
import { type RedisServer, startRedisServer } from '../src/testing/index.js';
import { freePort } from '../src/testing/redis-server.js';
import { connectionsNamed, infoNumber, serverForFile, settingsFor, silent, timed } from './helpers.js';

const file = serverForFile({ args: ['--enable-debug-command', 'yes'] });

describe('opening', () => {
  test('fifty concurrent first calls create one pool, and the server sees one connection', async () => {
    const pool = new RedisPool({ logger: silent });
    const settings = settingsFor(file.server.url, { serviceName: 'fifty' });
    const connectionsBefore = await infoNumber(file.observer, 'stats', 'total_connections_received');
    try {
      const clients = await Promise.all(Array.from({ length: 50 }, () => pool.getClient(settings)));
      assert.equal(new Set(clients).size, 1);
      assert.equal((await infoNumber(file.observer, 'stats', 'total_connections_received')) - connectionsBefore, 1);
      assert.deepEqual(await connectionsNamed(file.observer, 'fifty:'), [`fifty:shared:${process.pid}`]);
    } finally {
      pool.destroy();
    }
  });

  test('the pool sends PING before it hands out the client', async () => {
    const pool = new RedisPool({ logger: silent });
    await file.observer.configResetStat();
    try {
      await pool.getClient(settingsFor(file.server.url));
      const stats = await file.observer.info('commandstats');
      assert.match(stats, /^cmdstat_ping:calls=1,/m);
    } finally {
      pool.destroy();
    }
  });

  test('connections carry CLIENT SETNAME <SERVICE_NAME>:<role>:<pid>', async () => {
    const pool = new RedisPool({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(file.server.url, { serviceName: 'billing-api' }));
      assert.equal(await client.clientGetName(), `billing-api:shared:${process.pid}`);
    } finally {
      pool.destroy();
    }
  });

  test('REDIS_DECODE_RESPONSES=false gives Buffers', async () => {
    const pool = new RedisPool({ logger: silent });
    try {
      const settings = loadSettings(
        { serviceName: 'pool-test', logLevel: 'silent', redisUrl: file.server.url, redisDecodeResponses: false },
        { env: {}, envFile: false },
      );
      const client = await pool.getClient(settings);
      await client.set('buffer-key', Buffer.from([0xff, 0x00, 0x01]));
      const value = await client.get('buffer-key');
      assert.ok(Buffer.isBuffer(value));
      assert.deepEqual([...value], [0xff, 0x00, 0x01]);
    } finally {
      pool.destroy();
    }
  });

  test('settings given as plain input are loaded like loadSettings()', async () => {
    const pool = new RedisPool({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(file.server.url));
      await client.set('plain-input', 'ok');
      assert.equal(pool.settings?.serviceName, 'pool-test');
    } finally {
      pool.destroy();
    }
  });
});

describe('a failed first connect', () => {
  const PASSWORD = 'hunter2-very-secret';

  function assertRedacted(error: Error): void {
    for (const text of [error.message, String(error.stack), inspect(error, { depth: 6 })]) {
      assert.ok(!text.includes(PASSWORD), text);
    }
  }

  test('refused: ConnectionRefusedError naming the redacted URL, with the cause', async () => {
    const port = await freePort();
    const pool = new RedisPool({ logger: silent });
    await assert.rejects(pool.getClient(settingsFor(`redis://:${PASSWORD}@127.0.0.1:${port}/0`)), (error) => {
      assert.ok(error instanceof ConnectionRefusedError);
      assert.equal(error.code, 'REDIS_POOL_CONNECTION_REFUSED');
      assert.equal(error.reason, 'refused');
      assert.equal(error.url, `redis://127.0.0.1:${port}/0`);
      assert.match(error.message, new RegExp(`redis://127\\.0\\.0\\.1:${port}/0`));
      assert.equal((error.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
      assertRedacted(error);
      return true;
    });
  });

  test('frozen server: ConnectTimeoutError when REDIS_SOCKET_CONNECT_TIMEOUT runs out', async () => {
    const frozen = await startRedisServer();
    frozen.pause();
    const pool = new RedisPool({ logger: silent });
    try {
      const { outcome, ms } = await timed(pool.getClient(settingsFor(frozen.url, { redisSocketConnectTimeout: 0.5 })));
      const error = (outcome as PromiseRejectedResult).reason;
      assert.ok(error instanceof ConnectTimeoutError, String(error));
      assert.equal(error.code, 'REDIS_POOL_CONNECT_TIMEOUT');
      assert.match(error.message, /REDIS_SOCKET_CONNECT_TIMEOUT/);
      // Bounded by the connect timeout (plus room for a busy machine), not by node-redis's retries.
      assert.ok(ms >= 450 && ms < 1500, `settled after ${ms} ms`);
    } finally {
      frozen.resume();
      await frozen.stop();
    }
  });

  test('frozen server, REDIS_SOCKET_TIMEOUT shorter than the connect timeout: the watchdog leaves the first connect to its own deadline', async () => {
    const frozen = await startRedisServer();
    frozen.pause();
    const lines: string[] = [];
    const pool = new RedisPool({ logger: createLogger('debug', (line) => lines.push(line)) });
    try {
      const settings = settingsFor(frozen.url, { redisSocketConnectTimeout: 1, redisSocketTimeout: 0.2 });
      const error = await pool.getClient(settings).catch((failure: unknown) => failure);
      assert.ok(error instanceof ConnectTimeoutError, String(error));
      assert.match(error.message, /REDIS_SOCKET_CONNECT_TIMEOUT/);
      assert.deepEqual(
        lines.filter((line) => /hung/i.test(line)),
        [],
        'no connection was judged hung while connecting',
      );
    } finally {
      frozen.resume();
      await frozen.stop();
    }
  });

  test('wrong or missing password: RedisAuthError, never showing the password', async () => {
    const guarded = await startRedisServer({ args: ['--requirepass', 'the-right-one'] });
    const pool = new RedisPool({ logger: silent });
    try {
      const wrong = guarded.url.replace('redis://', `redis://:${PASSWORD}@`);
      await assert.rejects(pool.getClient(settingsFor(wrong)), (error) => {
        assert.ok(error instanceof RedisAuthError);
        assert.equal(error.code, 'REDIS_POOL_AUTH_FAILED');
        assert.match(error.message, /WRONGPASS/);
        assertRedacted(error);
        return true;
      });
      await assert.rejects(pool.getClient(settingsFor(guarded.url)), RedisAuthError);
      const right = await pool.getClient(settingsFor(guarded.url, { redisPassword: 'the-right-one' }));
      assert.equal(await right.ping(), 'PONG');
    } finally {
      pool.destroy();
      await guarded.stop();
    }
  });

  test('TLS against a plain port: a timeout that says to check the port speaks TLS', async () => {
    const pool = new RedisPool({ logger: silent });
    const settings = settingsFor(file.server.url.replace('redis://', 'rediss://'), { redisSocketConnectTimeout: 0.5 });
    await assert.rejects(pool.getClient(settings), (error) => {
      assert.ok(error instanceof ConnectTimeoutError, inspect(error));
      assert.match(error.message, /TLS is on .* check that this port speaks TLS/);
      return true;
    });
  });

  test('leaves no socket or timer behind: a script that catches the error exits by itself', async () => {
    const frozen = await startRedisServer();
    frozen.pause();
    const refusing = `redis://127.0.0.1:${await freePort()}`;
    const script = new URL('./fixtures/failing-connect.ts', import.meta.url).pathname;
    try {
      const child = spawnSync(process.execPath, ['--import', 'tsx', script, refusing, frozen.url], {
        env: { PATH: process.env.PATH },
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(child.signal, null, `the script had to be killed: it did not exit by itself\n${child.stderr}`);
      assert.equal(child.status, 0, child.stderr);
      assert.match(
        child.stdout,
        /caught REDIS_POOL_CONNECTION_REFUSED\ncaught REDIS_POOL_CONNECT_TIMEOUT\nresources \[\]/,
      );
    } finally {
      frozen.resume();
      await frozen.stop();
    }
  });

  test('passwords never reach the logs', async () => {
    const lines: string[] = [];
    const logger = createLogger('debug', (line) => lines.push(line));
    const guarded = await startRedisServer({ args: ['--requirepass', PASSWORD] });
    const pool = new RedisPool({ logger });
    try {
      const wrong = settingsFor(guarded.url, { redisPassword: `${PASSWORD}-wrong`, redisSocketTimeout: 0.3 });
      await assert.rejects(pool.getClient(wrong), RedisAuthError);
      const client = await pool.getClient(
        settingsFor(guarded.url, { redisPassword: PASSWORD, redisSocketTimeout: 0.3 }),
      );
      guarded.pause();
      await assert.rejects(client.ping(), CommandTimeoutError);
      guarded.resume();
      await pool.close();
      assert.ok(lines.length >= 3, `expected log lines, got ${lines.length}`);
      for (const line of lines) assert.ok(!line.includes(PASSWORD), line);
    } finally {
      pool.destroy();
      guarded.resume();
      await guarded.stop();
    }
  });

  test('the next call succeeds once the server is there', async () => {
    const later = await startRedisServer();
    await later.stop();
    const pool = new RedisPool({ logger: silent });
    const settings = settingsFor(later.url);
    try {
      await assert.rejects(pool.getClient(settings), ConnectionRefusedError);
      await later.restart();
      const client = await pool.getClient(settings);
      assert.equal(await client.ping(), 'PONG');
    } finally {
      pool.destroy();
      await later.stop();
    }
  });
});

describe('TLS with REDIS_SSL_CA_CERTS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redis-pool-tls-'));
  const file = (name: string) => join(dir, name);
  let tlsServer: RedisServer;

  before(async () => {
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '1',
      '-subj',
      '/CN=redis-pool test CA',
    );
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      '-subj',
      '/CN=localhost',
    );
    writeFileSync(file('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    openssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.crt',
      '-days',
      '1',
      '-extfile',
      'ext.cnf',
    );
    tlsServer = await startRedisServer({
      tls: { certFile: file('server.crt'), keyFile: file('server.key'), caFile: file('ca.crt') },
    });
  });
  after(() => tlsServer.stop());

  test('a rediss:// URL with the CA file connects over TLS', async () => {
    const pool = new RedisPool({ logger: silent });
    try {
      const settings = settingsFor(tlsServer.url, { redisSslCaCerts: file('ca.crt') });
      assert.equal(settings.redisSsl, true);
      const client = await pool.getClient(settings);
      assert.equal(await client.ping(), 'PONG');
    } finally {
      pool.destroy();
    }
  });

  test('clientOptions carry the TLS options beyond the files: rejectUnauthorized, servername (checked by checkServerIdentity)', async () => {
    // Without the CA file, only rejectUnauthorized: false lets the self-signed chain through.
    const trusting = new RedisPool<true>({ logger: silent, clientOptions: { socket: { rejectUnauthorized: false } } });
    try {
      assert.equal(await (await trusting.getClient(settingsFor(tlsServer.url))).ping(), 'PONG');
      assert.equal(await trusting.withConnection((lease) => lease.ping()), 'PONG');
    } finally {
      trusting.destroy();
    }
    const named: string[] = [];
    const naming = new RedisPool({
      logger: silent,
      clientOptions: {
        socket: {
          servername: 'localhost',
          checkServerIdentity: (host, certificate) => {
            named.push(host);
            return checkServerIdentity(host, certificate);
          },
        },
      },
    });
    try {
      const client = await naming.getClient(settingsFor(tlsServer.url, { redisSslCaCerts: file('ca.crt') }));
      assert.equal(await client.ping(), 'PONG');
      assert.ok(named.length > 0 && named.every((host) => host === 'localhost'), named.join());
    } finally {
      naming.destroy();
    }
  });

  test('TLS to an IP address prints no DEP0123 warning (no SNI name is set for an address)', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => warnings.push(String(warning.code ?? warning.name));
    process.on('warning', onWarning);
    const pool = new RedisPool({ logger: silent });
    try {
      assert.match(tlsServer.url, /^rediss:\/\/127\.0\.0\.1:/);
      const client = await pool.getClient(settingsFor(tlsServer.url, { redisSslCaCerts: file('ca.crt') }));
      assert.equal(await client.ping(), 'PONG');
      await sleep(50);
      assert.deepEqual(warnings, []);
    } finally {
      process.off('warning', onWarning);
      pool.destroy();
    }
  });

  test('a TLS socket is destroyed by socketKiller() too, as the pool does on a broken reply (tls.connect() takes the signal)', async () => {
    const port = Number(new URL(tlsServer.url).port);
    const ca = readFileSync(file('ca.crt'));
    const socket = killableSocket({ host: '127.0.0.1', port, tls: true as const, ca, reconnectStrategy: () => 10 });
    const client = createClient({ socket }) as unknown as StringClient;
    client.on('error', () => undefined);
    try {
      await client.connect();
      const killer = socketKiller(client);
      const blocked = client.sendCommand(['BLPOP', 'nothing', '5']).catch((error: unknown) => error);
      await sleep(20);
      const ready = new Promise((resolve) => client.once('ready', resolve));
      const reason = new Error('killed on purpose');
      killer.kill(reason);
      assert.equal(((await blocked) as { cause?: unknown }).cause, reason);
      await ready;
      assert.equal(await client.sendCommand(['PING']), 'PONG');
      assert.ok(killer.listenerCount <= 2, `${killer.listenerCount} listeners`);
    } finally {
      client.destroy();
    }
  });

  test('without the CA file the self-signed certificate is refused: TlsError', async () => {
    const pool = new RedisPool({ logger: silent });
    await assert.rejects(pool.getClient(settingsFor(tlsServer.url)), (error) => {
      assert.ok(error instanceof TlsError, inspect(error));
      assert.match(error.message, /SELF_SIGNED|UNABLE_TO/);
      return true;
    });
  });
});

describe('settings of a live pool', () => {
  test('different settings raise SettingsConflictError naming the variables', async () => {
    const pool = new RedisPool({ logger: silent });
    try {
      const opening = pool.getClient(settingsFor(file.server.url));
      await assert.rejects(pool.getClient(settingsFor(file.server.url, { redisSocketTimeout: 9 })), (error) => {
        assert.ok(error instanceof SettingsConflictError);
        assert.equal(error.code, 'REDIS_POOL_SETTINGS_CONFLICT');
        assert.deepEqual(error.fields, ['REDIS_SOCKET_TIMEOUT']);
        return true;
      });
      const client = await opening;
      assert.equal(await pool.getClient(settingsFor(file.server.url)), client, 'equal settings are fine');
      assert.equal(await pool.getClient(), client, 'no settings means the live pool');
      await assert.rejects(
        pool.getClient(settingsFor(file.server.url, { serviceName: 'other' })),
        SettingsConflictError,
      );
    } finally {
      pool.destroy();
    }
  });
});

describe('closing', () => {
  test('close() lets in-flight commands finish, then refuses new ones with PoolClosedError', async () => {
    const pool = new RedisPool({ logger: silent });
    const client = await pool.getClient(settingsFor(file.server.url));
    const sleeping = client.sendCommand(['DEBUG', 'SLEEP', '0.3']);
    const writes = Array.from({ length: 100 }, (_, i) => client.set(`drain:${i}`, String(i)));
    const closed = pool.close();
    await assert.rejects(client.get('drain:0'), PoolClosedError);
    await closed;
    assert.equal(await sleeping, 'OK');
    assert.deepEqual(new Set(await Promise.all(writes)), new Set(['OK']));
    assert.equal(await file.observer.get('drain:99'), '99');
  });

  test('every kind of call on a closed client rejects with PoolClosedError', async () => {
    const pool = new RedisPool({ logger: silent });
    const client = await pool.getClient(settingsFor(file.server.url));
    await pool.close();
    await assert.rejects(client.get('x'), PoolClosedError);
    await assert.rejects(client.sendCommand(['PING']), PoolClosedError);
    await assert.rejects(client.multi().set('a', '1').get('a').exec(), PoolClosedError);
    await assert.rejects(client.eval('return 1'), PoolClosedError);
  });

  test('close() is idempotent, and the pool can be opened again', async () => {
    const pool = new RedisPool({ logger: silent });
    const settings = settingsFor(file.server.url, { serviceName: 'reopen' });
    const first = await pool.getClient(settings);
    await Promise.all([pool.close(), pool.close()]);
    await pool.close();
    assert.deepEqual(await connectionsNamed(file.observer, 'reopen:'), []);
    const second = await pool.getClient(settingsFor(file.server.url, { redisSocketTimeout: 2, serviceName: 'reopen' }));
    try {
      assert.notEqual(second, first);
      assert.equal(await second.ping(), 'PONG');
      await assert.rejects(first.ping(), PoolClosedError);
    } finally {
      await pool.close();
    }
  });

  test('close({ timeoutMs }) destroys what has not finished in time', async () => {
    const pool = new RedisPool({ logger: silent });
    const client = await pool.getClient(settingsFor(file.server.url));
    const sleeping = client.sendCommand(['DEBUG', 'SLEEP', '1']);
    await pool.close({ timeoutMs: 50 });
    await assert.rejects(sleeping, PoolClosedError);
  });

  test('destroy() rejects outstanding commands at once and is idempotent', async () => {
    const pool = new RedisPool({ logger: silent });
    const client = await pool.getClient(settingsFor(file.server.url));
    const sleeping = client.sendCommand(['DEBUG', 'SLEEP', '1']);
    pool.destroy();
    pool.destroy();
    await assert.rejects(sleeping, PoolClosedError);
    await assert.rejects(client.ping(), PoolClosedError);
    const again = await pool.getClient(settingsFor(file.server.url));
    assert.equal(await again.ping(), 'PONG');
    pool.destroy();
  });

  test('destroy() while opening rejects the pending getClient() with PoolClosedError', async () => {
    const pool = new RedisPool({ logger: silent });
    const opening = pool.getClient(settingsFor(file.server.url));
    pool.destroy();
    await assert.rejects(opening, PoolClosedError);
  });

  test('a closed pool leaves nothing behind: leases, idle connections and the subscriber included', () => {
    const script = new URL('./fixtures/full-close.ts', import.meta.url).pathname;
    const child = spawnSync(process.execPath, ['--import', 'tsx', script, file.server.url], {
      env: { PATH: process.env.PATH },
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(child.signal, null, `the script had to be killed: it did not exit by itself\n${child.stderr}`);
    assert.equal(child.status, 0, child.stderr);
    assert.match(child.stdout, /stats \{"total":[4-9]\}\nresources \[\]/);
  });

  test('close() while opening waits for the connection, then closes it', async () => {
    const pool = new RedisPool({ logger: silent });
    const opening = pool.getClient(settingsFor(file.server.url, { serviceName: 'close-while-opening' }));
    await pool.close();
    const client = await opening;
    await assert.rejects(client.ping(), PoolClosedError);
    assert.deepEqual(await connectionsNamed(file.observer, 'close-while-opening:'), []);
  });
});

test('getRedisClient() and closeRedisPool() use the process-wide redisPool', async () => {
  const client = await getRedisClient(settingsFor(file.server.url));
  try {
    assert.equal(await redisPool.getClient(), client);
    assert.equal(await client.ping(), 'PONG');
  } finally {
    await closeRedisPool();
  }
  assert.equal(redisPool.settings, undefined);
});

describe('servers without HELLO (Redis 5, some proxies)', () => {
  let old: RedisServer;
  before(async () => {
    old = await startRedisServer({ args: ['--rename-command', 'HELLO', '', '--requirepass', 'old-pw'] });
  });
  after(() => old.stop());
  const url = () => old.url.replace('redis://', 'redis://:old-pw@');

  test('by default, the connect error names REDIS_PROTOCOL=2', async () => {
    const pool = new RedisPool({ logger: silent });
    await assert.rejects(pool.getClient(settingsFor(url())), (error) => {
      assert.ok(error instanceof ConnectError);
      assert.match(error.message, /does not know HELLO.*REDIS_PROTOCOL=2/);
      return true;
    });
  });

  test('with REDIS_PROTOCOL=2 every connection authenticates with AUTH and works: shared, leased, subscriber', async () => {
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(url(), { redisProtocol: 2 }));
      await client.set('resp2', 'yes');
      assert.equal(await client.get('resp2'), 'yes');
      await client.hSet('resp2:h', { a: '1' });
      assert.deepEqual({ ...(await client.hGetAll('resp2:h')) }, { a: '1' });
      assert.equal(await pool.withConnection((lease) => lease.get('resp2')), 'yes');
      const subscriber = await pool.subscriber();
      let resolve!: (message: string) => void;
      const received = new Promise<string>((done) => {
        resolve = done;
      });
      // Subscribed before the publish: a message published earlier is not delivered (pub/sub).
      await subscriber.subscribe('resp2:news', (message) => resolve(message));
      await client.publish('resp2:news', 'hello');
      assert.equal(await received, 'hello');
      assert.equal(await client.ping(), 'PONG');
    } finally {
      pool.destroy();
    }
  });
});
