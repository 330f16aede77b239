// The node-redis internals src/node-redis/node-redis.ts relies on, one test each, against a real server (or
// startFakeRedis, where only a broken server shows the behaviour). When node-redis is upgraded,
// these are the tests that say whether src/node-redis/node-redis.ts still holds.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Socket } from 'node:net';
import { describe, test } from 'node:test';
import calculateSlot from 'cluster-key-slot';
import { createClient, createCluster, RESP_TYPES } from 'redis';
import type { StringClient } from '../src/client/types.js';
import {
  addWithAbortSignal,
  BasicPooledClientSideCache,
  COMMAND_METADATA,
  cachedGet,
  checkEveryCommand,
  chooseClusterNodes,
  coalesceWrites,
  commandOptionsOf,
  decoderTap,
  deriveViewsFrom,
  EMPTY_PASSWORD,
  fenceWrites,
  flushAll,
  flushWaitingForReply,
  installFastPath,
  killableSocket,
  layerClusterCommands,
  layerCommands,
  onFlush,
  pendingCount,
  runMultiOn,
  runPipelineOn,
  sendOn,
  socketKiller,
  tapDecoder,
  typeLostCommands,
} from '../src/node-redis/node-redis.js';
import { checkReply, expectReplies, UnmatchedReply } from '../src/node-redis/reply-checks.js';
import { answerable, ReplyFences } from '../src/node-redis/reply-fences.js';
import { startCluster, startFakeRedis } from '../src/testing/index.js';
import { serverForFile } from './helpers.js';

const file = serverForFile({ args: ['--enable-debug-command', 'yes'] });

async function client(url = file.server.url): Promise<StringClient> {
  const made = createClient({ url, commandOptions: { timeout: 0 } }) as unknown as StringClient;
  made.on('error', () => undefined);
  await made.connect();
  return made;
}

describe('node-redis internals', () => {
  test('destroy() of a client that never connected does not throw (6.2.1 threw, and so every open failed)', () => {
    // The shared connection's placeholder, and a client whose first connect failed, are destroyed so.
    const never = createClient({ url: file.server.url });
    assert.doesNotThrow(() => never.destroy());
    assert.equal(never.isOpen, false);
  });

  test('_getQueue().pendingCount counts commands handed over and unanswered; flushAll and flushWaitingForReply reject them', async () => {
    const redis = await client();
    try {
      const sleeping = redis.sendCommand(['DEBUG', 'SLEEP', '0.2']);
      const behind = redis.get('k');
      assert.equal(pendingCount(redis), 2);
      await new Promise((resolve) => setImmediate(resolve));
      flushWaitingForReply(redis, new Error('flushed waiting'));
      await assert.rejects(sleeping, /flushed waiting/);
      await assert.rejects(behind, /flushed waiting/);
      assert.equal(pendingCount(redis), 0);
      const queued = redis.get('k');
      flushAll(redis, new Error('flushed all'));
      await assert.rejects(queued, /flushed all/);
    } finally {
      redis.destroy();
    }
  });

  test('every command ends in _self.sendCommand, _executeMulti or _executePipeline; layers wrap them in order', async () => {
    const redis = await client();
    const seen: string[] = [];
    try {
      layerCommands(redis, {
        send: (self, args, options, next) => {
          seen.push(`inner ${String(args[0])}`);
          return next(self, args, options);
        },
      });
      layerCommands(redis, {
        send: (self, args, options, next) => {
          seen.push(`outer ${String(args[0])}`);
          return next(self, args, options);
        },
        multi: (self, commands, rest, next) => {
          seen.push(`multi ${commands.length}`);
          return next(self, commands, rest);
        },
        pipeline: (self, commands, rest, next) => {
          seen.push(`pipeline ${commands.length}`);
          return next(self, commands, rest);
        },
      });
      await redis.set('layered', '1');
      await redis.sendCommand(['GET', 'layered']);
      await sendOn(redis, ['PING']);
      await redis.multi().get('layered').get('layered').exec();
      await redis.multi().get('layered').execAsPipeline();
      await runMultiOn(redis, [{ args: ['GET', 'layered'] }], []);
      await runPipelineOn(redis, [{ args: ['GET', 'layered'] }], []);
      assert.deepEqual(seen, [
        'outer SET',
        'inner SET',
        'outer GET',
        'inner GET',
        'outer PING',
        'inner PING',
        'multi 2',
        'pipeline 1',
        'multi 1',
        'pipeline 1',
      ]);
    } finally {
      redis.destroy();
    }
  });

  test('typed commands run through _self._executeCommand(command, parser, options, transform); the fast path keeps the transforms', async () => {
    const redis = await client();
    const intercepted: unknown[] = [];
    try {
      installFastPath(redis, (args) => {
        intercepted.push(args[0]);
        return args[0] === 'ECHO' ? Promise.resolve('answered here') : undefined;
      });
      await redis.hSet('fast', { a: '1' });
      assert.deepEqual({ ...(await redis.hGetAll('fast')) }, { a: '1' });
      assert.equal(await redis.echo('x'), 'answered here');
      assert.deepEqual(intercepted, ['HSET', 'HGETALL', 'ECHO']);
      // With a subscriber on node-redis's reply channel, node-redis's own method runs and publishes.
      const replies: unknown[] = [];
      const listener = (message: unknown) => replies.push((message as { reply: unknown }).reply);
      subscribe('node-redis:command:reply', listener);
      try {
        await redis.set('traced', 'v');
      } finally {
        unsubscribe('node-redis:command:reply', listener);
      }
      assert.deepEqual(replies, ['OK']);
    } finally {
      redis.destroy();
    }
  });

  test('a client with clientSideCache keeps node-redis’s cache lookup under the fast path; entries carry their client; cachedGet() finds its GET entries', async () => {
    // The pool's ClientCache (client/cache.ts) relies on both: node-redis's _executeCommand looks
    // the cache up, and hands the cache its _self, whose isReady and socketEpoch say what to trust.
    const cache = new BasicPooledClientSideCache();
    const made: unknown[] = [];
    const createValueEntry = cache.createValueEntry.bind(cache);
    cache.createValueEntry = (reader, value) => {
      made.push(reader);
      return createValueEntry(reader, value);
    };
    const redis = createClient({ url: file.server.url, RESP: 3, clientSideCache: cache }) as unknown as StringClient;
    await redis.connect();
    try {
      installFastPath(redis, undefined);
      await redis.set('cached', 'v');
      for (let i = 0; i < 5; i++) assert.equal(await redis.get('cached'), 'v');
      assert.equal(cache.stats().hitCount, 4);
      // cachedGet() finds what node-redis's handleCache() stored, under the same cache key.
      assert.equal(cachedGet(cache, 'cached'), 'v');
      assert.equal(cache.stats().hitCount, 5);
      assert.equal(cachedGet(cache, 'other'), undefined);
      await redis.set('cached', 'w');
      assert.equal(cachedGet(cache, 'cached'), undefined, 'an invalidated entry is gone');
      const reader = made[0] as { isReady: boolean; socketEpoch: number };
      assert.equal(reader.isReady, true);
      assert.equal(typeof reader.socketEpoch, 'number');
    } finally {
      redis.destroy();
    }
  });

  test('a batch leaves through _getQueue().commandsToWrite(), one socket.write() per chunk; coalesced, one write, Buffers and large strings as they are', async () => {
    const writes: unknown[][] = [];
    const write = Socket.prototype.write;
    const port = file.server.port;
    Socket.prototype.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
      if (this.remotePort === port) writes.at(-1)?.push(chunk);
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    };
    const plain = await client();
    const coalesced = await client();
    coalesceWrites(coalesced);
    const batch = (redis: StringClient, values: (string | Buffer)[]) => {
      writes.push([]);
      return Promise.all(values.map((value, i) => redis.set(`batch:${i}`, value)));
    };
    try {
      const small = Array.from({ length: 1000 }, (_, i) => `value ${i}`);
      await batch(plain, small);
      assert.equal(writes.at(-1)?.length, 1000, 'node-redis writes each command as its own chunk');
      await batch(coalesced, small);
      assert.equal(writes.at(-1)?.length, 1, 'one write for the whole batch');
      const joined = writes.at(-1)?.[0] as string;
      assert.equal(joined.split('*3\r\n$3\r\nSET\r\n').length, 1001);

      const buffer = Buffer.from([0, 255, 13, 10, 128]);
      const large = 'λ'.repeat(600_000);
      await batch(coalesced, ['a', buffer, 'b', large, 'c']);
      const chunks = writes.at(-1) as unknown[];
      assert.ok(chunks.includes(buffer), 'the Buffer argument reaches the socket as the same Buffer');
      assert.ok(
        chunks.some((chunk) => typeof chunk === 'string' && chunk.length < 2000 && chunk.includes('batch:0')),
        'small strings are joined',
      );
      assert.ok(
        chunks.some(
          (chunk) =>
            chunk === `${large}\r\n` || (typeof chunk === 'string' && chunk.endsWith(`$1200000\r\n${large}\r\n`)),
        ),
        'the large string is written with no more joining than node-redis does',
      );
      const reader = coalesced.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
      assert.deepEqual(await reader.get('batch:1'), buffer);
      assert.equal(await coalesced.get('batch:3'), large);

      // More than a write's worth (1 MiB): the socket is handed about 1 MiB, the rest waits for drain.
      const many = Array.from({ length: 3000 }, (_, i) => `${i}:${'x'.repeat(1000)}`);
      await batch(coalesced, many);
      assert.ok((writes.at(-1)?.length ?? 0) >= 3, `${writes.at(-1)?.length} writes for 3 MB`);
      assert.deepEqual(await Promise.all(many.map((_, i) => coalesced.get(`batch:${i}`))), many);
    } finally {
      Socket.prototype.write = write;
      plain.destroy();
      coalesced.destroy();
    }
  });

  test('a fence queued first (addCommand asap) is taken by a new commandsToWrite() right after its batch; a reply settled with a thenable reaches its command when that settles; the decoder’s own onReply is told by its source text, after a reset too', async () => {
    const writes: string[] = [];
    const write = Socket.prototype.write;
    const port = file.server.port;
    Socket.prototype.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
      if (this.remotePort === port && typeof chunk === 'string') writes.push(chunk);
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    };
    const fenced = await client();
    const broken: unknown[] = [];
    const fences = new ReplyFences({
      answerable: answerable(fenced),
      broken: (cause) => broken.push(cause),
      refusal: (error) => error,
    });
    /** Whether the gate held each reply it was asked about (only while node-redis's own handler is in place). */
    const gated: boolean[] = [];
    fenceWrites(fenced, fences);
    onFlush(fenced, (error) => fences.lost(error));
    tapDecoder(fenced, {
      gate: (reply, mapping, error) => {
        const passed = fences.gate(reply, mapping, error);
        gated.push(passed !== reply);
        return passed;
      },
      broken: (cause) => broken.push(cause),
      errorReply: (error, deliver) => deliver(error),
    });
    coalesceWrites(fenced);
    try {
      const replies = await Promise.allSettled([
        fenced.set('fence', 'a'),
        fenced.get('fence'),
        fenced.sendCommand(['NOPE']),
      ]);
      assert.deepEqual(
        replies.map((reply) =>
          reply.status === 'fulfilled' ? reply.value : (reply.reason as Error).message.split(' ')[0],
        ),
        ['OK', 'a', 'ERR'],
      );
      const batch = writes.at(-1) as string;
      assert.match(batch, /^\*3\r\n\$3\r\nSET\r\n.*\*1\r\n\$4\r\nNOPE\r\n\*2\r\n\$4\r\nECHO\r\n\$\d+\r\n[\w-]+\r\n$/s);
      assert.deepEqual(
        gated,
        [true, true, true, false],
        'node-redis’s own handler was told as such, and the three replies were held (settled with a thenable) until the fence, which passed',
      );
      assert.deepEqual(broken, []);

      // node-redis swaps in a fresh handler of the same source when it resets (on every flush).
      flushWaitingForReply(fenced, new Error('nothing waits'));
      gated.length = 0;
      assert.equal(await fenced.get('fence'), 'a');
      assert.deepEqual(gated, [true, false], 'after a reset, node-redis’s handler is still told, and replies held');
    } finally {
      Socket.prototype.write = write;
      fenced.destroy();
    }
  });

  test('a facade whose prototype chain leads to the client: _self is read for every command; views come from _commandOptionsProxy', async () => {
    const redis = await client();
    try {
      const facade = Object.create(redis) as StringClient & Record<string, unknown>;
      let checks = 0;
      checkEveryCommand(facade, redis, () => {
        checks++;
      });
      deriveViewsFrom(facade);
      await facade.set('facade', 'yes');
      assert.ok(checks >= 1);
      const buffers = facade.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
      assert.ok(Object.getPrototypeOf(buffers) === facade, 'the view derives from the facade');
      assert.ok(Buffer.isBuffer(await buffers.get('facade')));
      const refusing = Object.create(redis) as StringClient;
      checkEveryCommand(refusing, redis, () => {
        throw new Error('refused');
      });
      await assert.rejects(async () => refusing.get('facade'), /refused/);
    } finally {
      redis.destroy();
    }
  });

  test('the decoder: write() sees every chunk; onReply, onErrorReply and onPush every reply, including handlers node-redis swaps in', async () => {
    const redis = await client();
    const broken: unknown[] = [];
    const errors: string[] = [];
    try {
      tapDecoder(redis, {
        broken: (cause) => broken.push(cause),
        errorReply: (error, deliver) => {
          errors.push(error.message);
          deliver(error);
        },
      });
      const tap = decoderTap(redis);
      await redis.set('tap', '1');
      await assert.rejects(redis.sendCommand(['NOSUCHCOMMAND']), /unknown command/);
      assert.equal(tap.replies, 2);
      assert.match(errors[0] ?? '', /unknown command/);
      // MONITOR swaps the reply handler; its lines still count.
      const monitored = redis.duplicate();
      await monitored.connect();
      const lines: string[] = [];
      await redis.monitor((line) => lines.push(line));
      const before = tap.replies;
      await monitored.ping();
      for (let i = 0; i < 50 && lines.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.ok(tap.replies > before, 'the MONITOR line went through the tap');
      monitored.destroy();
      assert.deepEqual(broken, []);
    } finally {
      redis.destroy();
    }
  });

  test('the decoder throws on bytes that are not RESP; getTypeMapping() is the waiting command’s mapping, so a check sees the wrong kind', async () => {
    const server = await startFakeRedis({
      reply: ([name, key]) =>
        name === 'GET' && key === 'garbage' ? 'nope\r\n' : name === 'GET' ? ':1\r\n' : undefined,
    });
    const redis = await client(server.url);
    const broken: unknown[] = [];
    try {
      tapDecoder(redis, {
        reply: checkReply,
        broken: (cause) => broken.push(cause),
        errorReply: (error, deliver) => deliver(error),
      });
      expectReplies(redis);
      void redis.get('garbage').catch(() => undefined);
      for (let i = 0; i < 50 && broken.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.match(String(broken[0]), /Unknown RESP type/);
      flushAll(redis, new Error('reset'));
      void redis.get('number').catch(() => undefined);
      for (let i = 0; i < 50 && broken.length === 1; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.ok(broken[1] instanceof UnmatchedReply);
      assert.match(String((broken[1] as Error).message), /answered GET with a number/);
    } finally {
      redis.destroy();
      await server.stop();
    }
  });

  test('a lost socket rejects its commands through the queue’s flush methods', async () => {
    const redis = await client();
    const observer = await client();
    try {
      typeLostCommands(redis, (error) => new Error(`typed: ${error.message}`));
      const id = await redis.sendCommand(['CLIENT', 'ID']);
      const blocked = redis.sendCommand(['BLPOP', 'nothing', '5']).catch((error: unknown) => error);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await observer.sendCommand(['CLIENT', 'KILL', 'ID', String(id)]);
      assert.match(String(await blocked), /^Error: typed: /);
    } finally {
      observer.destroy();
      redis.destroy();
    }
  });

  test('the cluster client runs every command through _self._execute(parser, readonly, options, run)', async () => {
    const cluster = await startCluster({ masters: 3 });
    const client = createCluster({ rootNodes: [{ url: cluster.nodes[0]?.url as string }] });
    client.on('error', () => undefined);
    try {
      const seen: unknown[] = [];
      layerClusterCommands(client, (_run, parser, _options, route) => {
        seen.push(parser.redisArgs[0]);
        return route.next();
      });
      await client.connect();
      await client.set('clustered', '1');
      assert.equal(await client.get('clustered'), '1');
      assert.deepEqual(seen.slice(-2), ['SET', 'GET']);
    } finally {
      client.destroy();
      await cluster.stop();
    }
  });

  test('typed commands reach _execute through _self._executeWithPolicies(parser, readonly, options, makeRun); a one-key command can run on a node client directly, and a MOVED reply is followed', async () => {
    const cluster = await startCluster({ masters: 3 });
    const client = createCluster({ rootNodes: [{ url: cluster.nodes[0]?.url as string }] });
    client.on('error', () => undefined);
    try {
      let pick: 'owner' | 'another' | 'none' = 'none';
      const asked: unknown[] = [];
      layerClusterCommands(
        client,
        (_run, _parser, _options, route) => route.next(),
        (key) => {
          asked.push(key);
          const owner = client.slots[calculateSlot(key as string)]?.master;
          if (pick === 'owner') return owner?.client;
          if (pick === 'another') return client.masters.find((master) => master !== owner)?.client;
          return undefined;
        },
      );
      await client.connect();
      const sent: string[] = [];
      for (const master of client.masters) {
        const nodeClient = (await client.nodeClient(master)) as unknown as StringClient;
        layerCommands(nodeClient, {
          send(self, args, options, next) {
            sent.push(`${master.port} ${String(args[0])}`);
            return next(self, args, options);
          },
        });
      }
      const owner = client.slots[calculateSlot('routed')]?.master.port;
      const another = client.masters.find((master) => master.port !== owner)?.port;
      for (const chosen of ['none', 'owner', 'another'] as const) {
        pick = chosen;
        sent.length = 0;
        asked.length = 0;
        assert.equal(await client.set('routed', chosen), 'OK');
        assert.deepEqual(asked, ['routed'], chosen);
        assert.deepEqual(sent, chosen === 'another' ? [`${another} SET`, `${owner} SET`] : [`${owner} SET`], chosen);
      }
      assert.equal(await client.get('routed'), 'another');
      asked.length = 0;
      await client.mGet(['{t}a', '{t}b']);
      await client.sendCommand(undefined, true, ['PING']);
      assert.deepEqual(asked, [], 'only commands on exactly one key, sent as NAME key …, are offered');
    } finally {
      client.destroy();
      await cluster.stop();
    }
  });

  test('typed commands on a key that node-redis deems replica-safe (IS_READ_ONLY, else @redis/client’s command metadata) are offered to the fast path’s read hook; writes, scripts that may write and commands on no key are not', async () => {
    assert.ok(COMMAND_METADATA, '@redis/client/dist/lib/command-metadata has defaultCommandMetadata and isReplicaSafe');
    const redis = await client();
    const offered: unknown[] = [];
    try {
      installFastPath(redis, undefined, (args) => {
        offered.push(args[0]);
        return args[0] === 'HGETALL' ? Promise.resolve({ f: 'from the hook' }) : undefined;
      });
      await redis.set('replica-safe', 'v');
      assert.equal(await redis.get('replica-safe'), 'v');
      await redis.exists('replica-safe');
      // The hook's reply goes through the command's own transform, as a reply from the server would.
      assert.deepEqual({ ...(await redis.hGetAll('replica-safe:h')) }, { f: 'from the hook' });
      await redis.eval("return redis.call('GET', KEYS[1])", { keys: ['replica-safe'] });
      await redis.evalRo("return redis.call('GET', KEYS[1])", { keys: ['replica-safe'] });
      await redis.ping();
      await redis.dbSize();
      assert.deepEqual(offered, ['GET', 'EXISTS', 'HGETALL', 'EVAL_RO']);
    } finally {
      redis.destroy();
    }
  });

  test('the cluster client chooses the node of a replica-safe command on a key with _slots.getSlotRandomNode(slot), and of one on no key with _slots.getRandomNode(); a transaction runs through _execute with a parser of no arguments', async () => {
    const cluster = await startCluster({ masters: 3, replicasPerMaster: 1 });
    // CLUSTER SLOTS lists a replica once it is known to be up, a little after cluster_state:ok.
    const look = await createClient({ url: cluster.nodes[0]?.url as string }).connect();
    for (let i = 0; i < 200; i++) {
      const ranges = (await look.sendCommand(['CLUSTER', 'SLOTS'])) as unknown[][];
      if (ranges.every((range) => range.length >= 4)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    look.destroy();
    const client = createCluster({ rootNodes: [{ url: cluster.nodes[0]?.url as string }], useReplicas: true });
    client.on('error', () => undefined);
    try {
      const chosen: string[] = [];
      chooseClusterNodes(client, {
        read: (shard) => {
          chosen.push('read');
          return shard.replicas?.[0] ?? shard.master;
        },
        keyless: (masters) => {
          chosen.push(`keyless of ${masters.length}`);
          return masters[0] as never;
        },
      });
      const readonly: boolean[] = [];
      layerClusterCommands(client, (_run, _parser, _options, route) => {
        readonly.push(route.readonly());
        return route.next();
      });
      await client.connect();
      const slot = calculateSlot('chosen');
      const replica = client.slots[slot]?.replicas?.[0];
      assert.ok(replica, 'useReplicas gives each shard its replicas');
      const replicaClient = (await client.nodeClient(replica)) as unknown as StringClient;
      const onReplica: string[] = [];
      layerCommands(replicaClient, {
        send(self, args, options, next) {
          onReplica.push(String(args[0]));
          return next(self, args, options);
        },
      });
      await client.set('chosen', 'v');
      await client.get('chosen');
      assert.equal(await client.eval('return 1', { keys: [], arguments: [] }), 1);
      await client.multi().get('chosen').exec();
      assert.deepEqual(chosen, ['read', 'keyless of 3']);
      assert.deepEqual(onReplica, ['GET'], 'the GET ran on the replica chosen, over its READONLY connection');
      assert.deepEqual(readonly, [false, true, false, false], 'SET, GET, EVAL on no key, a transaction of GETs');
    } finally {
      client.destroy();
      await cluster.stop();
    }
  });

  test('socket options reach net.connect(): their signal destroys the current socket, every time; gone sockets’ listeners are dropped', async () => {
    const redis = createClient({
      url: file.server.url,
      socket: killableSocket({ reconnectStrategy: () => 10 }),
    }) as unknown as StringClient;
    redis.on('error', () => undefined);
    await redis.connect();
    const observer = await client();
    try {
      const killer = socketKiller(redis);
      for (let round = 0; round < 15; round++) {
        const id = await redis.sendCommand(['CLIENT', 'ID']);
        const ready = new Promise((resolve) => redis.once('ready', resolve));
        if (round % 2 === 0) {
          // Closed by the server: node-redis reconnects, and no kill() clears the listeners.
          await observer.sendCommand(['CLIENT', 'KILL', 'ID', String(id)]);
        } else {
          const blocked = redis.sendCommand(['BLPOP', 'nothing', '5']).catch((error: unknown) => error);
          await new Promise((resolve) => setTimeout(resolve, 20));
          const reason = new Error('killed on purpose');
          killer.kill(reason);
          const error = (await blocked) as Error & { cause?: unknown };
          assert.equal(error.name, 'AbortError');
          assert.equal(error.cause, reason);
        }
        await ready;
        assert.ok(killer.listenerCount <= 2, `round ${round}: ${killer.listenerCount} listeners`);
      }
      assert.equal(await redis.sendCommand(['PING']), 'PONG');
    } finally {
      observer.destroy();
      redis.destroy();
    }
  });

  test('the cluster client’s _commandOptionsProxy(key, value) makes a view with the receiver’s options and one more (addWithAbortSignal)', () => {
    const cluster = createCluster({ rootNodes: [], commandOptions: { typeMapping: { 1: Buffer } } as never });
    addWithAbortSignal(cluster);
    const signal = new AbortController().signal;
    const view = (cluster as unknown as { withAbortSignal(signal: AbortSignal): object }).withAbortSignal(signal);
    const options = (view as { _commandOptions?: Record<string, unknown> })._commandOptions;
    assert.equal(options?.abortSignal, signal);
    assert.deepEqual(options?.typeMapping, { 1: Buffer }, 'the receiver’s options are kept');
    assert.equal(Object.getPrototypeOf(view), cluster, 'a view of the cluster client, whose commands it sends');
  });

  test('_commandOptions holds a view’s command options, which node-redis’s duplicate() carries over', async () => {
    const redis = await client();
    try {
      const mapping = { [RESP_TYPES.BLOB_STRING]: Buffer };
      const view = redis.withTypeMapping(mapping);
      assert.equal((commandOptionsOf(view) as { typeMapping?: unknown }).typeMapping, mapping);
      assert.deepEqual(commandOptionsOf(redis), { timeout: 0 });
      const copy = view.duplicate();
      assert.equal((commandOptionsOf(copy) as { typeMapping?: unknown }).typeMapping, mapping);
    } finally {
      redis.destroy();
    }
  });

  test('credentials go out only with a truthy password: an empty Buffer names a nopass user, an empty string does not', async () => {
    const observer = await client();
    await observer.sendCommand(['ACL', 'SETUSER', 'pinned', 'on', 'nopass', '~*', '+@all']);
    const whoami = async (password: string) => {
      const named = createClient({ url: file.server.url, username: 'pinned', password });
      named.on('error', () => undefined);
      await named.connect();
      try {
        return await named.sendCommand(['ACL', 'WHOAMI']);
      } finally {
        named.destroy();
      }
    };
    try {
      assert.equal(await whoami(EMPTY_PASSWORD), 'pinned');
      assert.equal(await whoami(''), 'default');
    } finally {
      await observer.sendCommand(['ACL', 'DELUSER', 'pinned']);
      observer.destroy();
    }
  });
});
