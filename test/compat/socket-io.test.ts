import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAdapter } from '@socket.io/redis-adapter';
import { Server } from 'socket.io';
import { io as connectTo, type Socket } from 'socket.io-client';
import { RedisPool } from '../../src/index.js';
import {
  connectionsNamed,
  KEY_PREFIXES,
  keyPrefixed,
  prefixLabel,
  serverForFile,
  settingsFor,
  silent,
} from '../helpers.js';

const file = serverForFile();

/** The channel every adapter of the default namespace subscribes to. */
const REQUESTS = 'socket.io-request#/#';

/** Where a service's adapter gets its subClient: the pool's subscriber, or a duplicate of its client. */
type SubClientKind = 'pool.subscriber()' | 'pubClient.duplicate()';

/** One service: its own pool, and a socket.io server joined to the others through Redis. */
async function startService(name: string, kind: SubClientKind, prefix = '') {
  const pool = new RedisPool<true>({ logger: silent });
  const pubClient = await pool.getClient(settingsFor(file.server.url, { serviceName: name, ...keyPrefixed(prefix) }));
  const subClient = kind === 'pool.subscriber()' ? await pool.subscriber() : pubClient.duplicate();
  // As @socket.io/redis-adapter's README does it; the pool's client is already connected.
  await Promise.all([pubClient.connect(), subClient.connect()]);
  const http = createServer();
  const io = new Server(http, { adapter: createAdapter(pubClient, subClient) });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  return {
    pool,
    io,
    subClient: subClient as Flushable,
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
  };
}

type Service = Awaited<ReturnType<typeof startService>>;

/** What both kinds of subClient share, for `stopService()`. */
interface Flushable {
  subscribe(channel: string, listener: () => void): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
}

/**
 * Closes the socket.io server, then the pool. `io.close()` sends the adapter's UNSUBSCRIBEs
 * without awaiting them; a round trip on the same connection waits them out, so that the pool
 * does not close under them. The last test is about closing without that wait.
 */
async function stopService({ io, subClient, pool }: Service) {
  await io.close();
  await subClient.subscribe('compat:flush', () => {});
  await subClient.unsubscribe('compat:flush');
  await pool.close();
}

/**
 * Runs `use` with two services, A and B, and a socket.io client connected to A, once both
 * adapters are subscribed; then closes all of it.
 */
async function withTwoServices(
  { kind, prefix }: { kind: SubClientKind; prefix: string },
  use: (a: Service, b: Service, socket: Socket) => Promise<void>,
) {
  const services: Service[] = [];
  const sockets: Socket[] = [];
  try {
    services.push(await startService('chat-a', kind, prefix), await startService('chat-b', kind, prefix));
    const [a, b] = services as [Service, Service];
    await subscribers(REQUESTS, 2);
    const socket = connectTo(a.url, { transports: ['websocket'], reconnection: false });
    sockets.push(socket);
    await next(socket, 'connect');
    await use(a, b, socket);
  } finally {
    for (const socket of sockets) socket.disconnect();
    for (const service of services) await stopService(service);
  }
}

/** The next `event` on a socket.io client socket (not a Node emitter, so not `events.once`), within 5 s. */
function next<T>(socket: Socket, event: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within 5 s`)), 5000);
    socket.once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** Resolves once `count` connections at the server are subscribed to `channel` (the adapters subscribe in the background). */
async function subscribers(channel: string, count: number) {
  for (let i = 0; i < 250; i++) {
    if ((await file.observer.pubSubNumSub(channel))[channel] === count) return;
    await sleep(20);
  }
  assert.fail(`${count} subscribers to ${channel} within 5 s`);
}

for (const [kind, prefix] of (['pool.subscriber()', 'pubClient.duplicate()'] as const).flatMap((kind) =>
  KEY_PREFIXES.map((prefix) => [kind, prefix] as const),
)) {
  describe(`subClient = ${kind}${prefixLabel(prefix)}`, () => {
    test('a client connected to A receives what B broadcasts, binary included', async () => {
      await withTwoServices({ kind, prefix }, async (_a, b, socket) => {
        const received = next<{ text: string; bytes: Uint8Array }>(socket, 'news');
        // The adapter sends msgpack, so every byte of this payload crosses the subscriber as is.
        const bytes = Buffer.from([0x00, 0x80, 0xc1, 0xff, 0x0a]);
        b.io.emit('news', { text: 'hola', bytes });
        const news = await received;
        assert.equal(news.text, 'hola');
        assert.deepEqual(Buffer.from(news.bytes), bytes);
      });
    });

    test('fetchSockets() on B finds the socket connected to A', async () => {
      await withTwoServices({ kind, prefix }, async (_a, b, socket) => {
        const found = await b.io.fetchSockets();
        assert.deepEqual(
          found.map((remote) => remote.id),
          [socket.id],
        );
      });
    });

    test('serverSideEmit() on A reaches the handler on B', async () => {
      await withTwoServices({ kind, prefix }, async (a, b) => {
        const heard = once(b.io, 'cache:invalidate', { signal: AbortSignal.timeout(5000) });
        a.io.serverSideEmit('cache:invalidate', { key: 'user:1', bytes: Buffer.from([0xfe, 0x00]) });
        const [message] = (await heard) as [{ key: string; bytes: Uint8Array }];
        assert.equal(message.key, 'user:1');
        assert.deepEqual(Buffer.from(message.bytes), Buffer.from([0xfe, 0x00]));
      });
    });

    test('the subClient is a connection of the pool: counted, named, and closed with it', async () => {
      const service = await startService('chat-solo', kind, prefix);
      try {
        await subscribers(REQUESTS, 1);
        const role = kind === 'pool.subscriber()' ? 'subscriber' : 'duplicate';
        assert.deepEqual(await connectionsNamed(file.observer, `chat-solo:${role}:`), [
          `chat-solo:${role}:${process.pid}`,
        ]);
        assert.equal(service.pool.stats().total, 2, 'the shared connection and the subClient');
      } finally {
        await stopService(service);
      }
      for (let i = 0; i < 50 && (await connectionsNamed(file.observer, 'chat-solo:')).length > 0; i++) await sleep(20);
      assert.deepEqual(await connectionsNamed(file.observer, 'chat-solo:'), [], 'pool.close() ended both');
    });

    test('io.close() then pool.close(), as a service shuts down, leaves no unhandled rejection', async () => {
      // The adapter's close() sends its UNSUBSCRIBEs without awaiting them. With plain node-redis 6,
      // `subClient.close()` (or quit()) right after io.close() lets them finish, while destroy()
      // rejects them, unhandled. pool.close() is the graceful shutdown, so it should do as close().
      const service = await startService('chat-exit', kind, prefix);
      const unhandled: unknown[] = [];
      const record = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', record);
      try {
        await subscribers(REQUESTS, 1);
      } finally {
        await service.io.close();
        await service.pool.close();
        await sleep(50);
        process.off('unhandledRejection', record);
      }
      assert.deepEqual(unhandled.map(String), []);
    });
  });
}
