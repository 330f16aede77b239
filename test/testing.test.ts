import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { test } from 'node:test';
import { createClient } from 'redis';
import {
  RedisServerNotFoundError,
  RedisServerStartError,
  startFakeRedis,
  startFaultProxy,
  startRedisServer,
} from '../src/testing/index.js';
import { admin, timed } from './helpers.js';

/** Sends an inline PING on a raw socket and returns the first reply, or `undefined` after `waitMs`. */
function rawPing(port: number, waitMs = 300): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (reply: string | undefined) => {
      socket.destroy();
      resolve(reply);
    };
    socket.setTimeout(waitMs, () => done(undefined));
    socket.once('error', (error) => done(`error ${(error as NodeJS.ErrnoException).code}`));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().trim()));
  });
}

test('startRedisServer runs a real redis-server on a free loopback port', async () => {
  const server = await startRedisServer();
  try {
    assert.equal(server.url, `redis://127.0.0.1:${server.port}`);
    assert.equal(server.host, '127.0.0.1');
    assert.ok(server.pid && server.pid > 0);
    const client = await admin(server.url);
    try {
      assert.match(await client.info('server'), new RegExp(`process_id:${server.pid}`));
      assert.equal(await client.configGet('save').then((config) => config.save), '');
      assert.equal(await client.configGet('appendonly').then((config) => config.appendonly), 'no');
    } finally {
      client.destroy();
    }
  } finally {
    await server.stop();
  }
});

test('two servers get two ports', async () => {
  const [a, b] = await Promise.all([startRedisServer(), startRedisServer()]);
  try {
    assert.notEqual(a.port, b.port);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test('extra arguments reach the server', async () => {
  const server = await startRedisServer({ args: ['--requirepass', 'pw'] });
  try {
    assert.match((await rawPing(server.port)) ?? '', /^-NOAUTH/);
  } finally {
    await server.stop();
  }
});

test('pause() freezes the server and resume() thaws it', async () => {
  const server = await startRedisServer();
  try {
    server.pause();
    assert.equal(await rawPing(server.port), undefined, 'a paused server does not answer');
    server.resume();
    assert.equal(await rawPing(server.port, 5000), '+PONG');
  } finally {
    await server.stop();
  }
});

test('kill() and restart() bring the server back on the same port, as a new process', async () => {
  const server = await startRedisServer();
  try {
    const { port, pid } = server;
    await server.kill();
    assert.equal(server.pid, undefined);
    assert.equal(await rawPing(port), 'error ECONNREFUSED');
    await server.restart();
    assert.equal(server.port, port);
    assert.notEqual(server.pid, pid);
    assert.equal(await rawPing(port), '+PONG');
    await server.restart();
    assert.equal(await rawPing(port), '+PONG', 'restart() of a running server works too');
  } finally {
    await server.stop();
  }
});

test('stop() is idempotent and stops a paused server too', async () => {
  const server = await startRedisServer();
  server.pause();
  await server.stop();
  await server.stop();
  assert.equal(await rawPing(server.port), 'error ECONNREFUSED');
});

test('a missing binary gives RedisServerNotFoundError saying how to install it', async () => {
  await assert.rejects(startRedisServer({ binary: 'redis-server-that-does-not-exist' }), (error) => {
    assert.ok(error instanceof RedisServerNotFoundError);
    assert.equal(error.code, 'REDIS_POOL_SERVER_NOT_FOUND');
    assert.match(error.message, /apt-get install -y redis-server/);
    return true;
  });
});

test('a server that cannot start gives RedisServerStartError with its log', async () => {
  await assert.rejects(startRedisServer({ args: ['--no-such-option', 'x'] }), (error) => {
    assert.ok(error instanceof RedisServerStartError);
    assert.equal(error.code, 'REDIS_POOL_SERVER_START_FAILED');
    assert.match(error.message, /no-such-option/);
    return true;
  });
});

test('a taken port is a start error that names it', async () => {
  const first = await startRedisServer();
  try {
    await assert.rejects(startRedisServer({ port: first.port }), (error) => {
      assert.ok(error instanceof RedisServerStartError);
      assert.match(error.message, /Address already in use/);
      return true;
    });
  } finally {
    await first.stop();
  }
  assert.equal(existsSync(`/proc/${first.pid}`), false);
});

test('startFaultProxy forwards, delays, cuts, blackholes and refuses, and restores', async () => {
  const server = await startRedisServer();
  const proxy = await startFaultProxy({ target: server.url });
  try {
    assert.equal(proxy.url, `redis://127.0.0.1:${proxy.port}`);
    assert.equal(await rawPing(proxy.port), '+PONG');

    proxy.latency(200);
    const slow = await timed(rawPing(proxy.port, 2000));
    assert.equal((slow.outcome as PromiseFulfilledResult<string>).value, '+PONG');
    assert.ok(slow.ms >= 380, `delayed both ways: ${slow.ms} ms`);
    await proxy.restore();

    // A cut resets open connections; new ones go through.
    const open = createConnection({ host: '127.0.0.1', port: proxy.port });
    const reset = new Promise((resolve) =>
      open.once('error', (error) => resolve((error as NodeJS.ErrnoException).code)),
    );
    await new Promise((resolve) => open.once('connect', resolve));
    // The earlier connections close asynchronously; wait until only this one is left.
    for (let i = 0; i < 50 && proxy.connections !== 1; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(proxy.connections, 1);
    proxy.cut();
    assert.equal(await reset, 'ECONNRESET');
    assert.equal(await rawPing(proxy.port), '+PONG');

    proxy.blackhole();
    assert.equal(proxy.mode, 'blackhole');
    assert.equal(await rawPing(proxy.port), undefined, 'accepted, never answered');
    await proxy.restore();
    assert.equal(await rawPing(proxy.port), '+PONG');

    await proxy.refuse();
    assert.equal(await rawPing(proxy.port), 'error ECONNREFUSED');
    await proxy.restore();
    assert.equal(proxy.mode, 'forward');
    assert.equal(await rawPing(proxy.port), '+PONG');
  } finally {
    await proxy.stop();
    await server.stop();
  }
});

test('startFakeRedis answers like a small Redis, lets a test write any reply, and records what it got', async () => {
  const server = await startFakeRedis({
    reply: (command, connection) => {
      if (command[0] === 'GET' && command[1] === 'broken') return 'not RESP\r\n';
      if (command[0] === 'GET' && command[1] === 'later') {
        setTimeout(() => connection.write('$5\r\nlater\r\n'), 20);
        return null;
      }
      return undefined;
    },
  });
  const client = await admin(server.url);
  try {
    assert.equal(await client.set('k', 'v'), 'OK');
    assert.equal(await client.get('k'), 'v');
    assert.equal(await client.get('missing'), null);
    assert.equal(await client.incr('n'), 1);
    assert.equal(await client.sendCommand(['GET', 'later']), 'later');
    assert.equal(await client.ping(), 'PONG');
    assert.equal(server.connections, 1);
    assert.deepEqual(
      server.commands.filter(([name]) => name === 'GET').map(([, key]) => key),
      ['k', 'missing', 'later'],
    );
    assert.equal(await rawPing(server.port), '+PONG');
    const hello = await startFakeRedis({ hello: false });
    try {
      const once = createClient({ url: hello.url, socket: { reconnectStrategy: false } });
      once.on('error', () => undefined);
      await assert.rejects(once.connect(), /unknown command 'HELLO'/);
    } finally {
      await hello.stop();
    }
  } finally {
    client.destroy();
    await server.stop();
    await server.stop();
  }
});
