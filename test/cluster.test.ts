import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import calculateSlot from 'cluster-key-slot';
import { ErrorReply, WatchError } from 'redis';
import { ClientUsageError, CommandTimeoutError, RedisPool } from '../src/index.js';
import { type Cluster, startCluster, startRedisServer } from '../src/testing/index.js';
import { admin, connectionsNamed, settingsFor, silent } from './helpers.js';
import { type KeyValue, startLoad } from './load.js';

describe('cluster mode', () => {
  let cluster: Cluster;
  const pool = new RedisPool<true>({ logger: silent });
  before(async () => {
    const started = performance.now();
    cluster = await startCluster({ masters: 3, replicasPerMaster: 1 });
    console.log(`cluster of 3 primaries and 3 replicas ready in ${Math.round(performance.now() - started)} ms`);
    await pool.getClient(
      settingsFor('redis://127.0.0.1/0', { serviceName: 'cluster-test', redisClusterNodes: cluster.nodeAddresses }),
    );
  });
  after(async () => {
    await pool.close();
    await cluster.stop();
  });

  test('keys in every slot range work through the shared client', async () => {
    const client = await pool.getClient();
    const keys = Array.from({ length: 1000 }, (_, i) => `spread:${i}`);
    await Promise.all(keys.map((key) => client.set(key, `value of ${key}`)));
    assert.deepEqual(
      await Promise.all(keys.map((key) => client.get(key))),
      keys.map((key) => `value of ${key}`),
    );
    const owners = new Set<number>();
    for (const key of keys) owners.add((await cluster.masterOf(calculateSlot(key))).port);
    assert.equal(owners.size, 3, 'the keys landed on every primary');
    for (const port of owners) {
      const node = await admin(`redis://127.0.0.1:${port}`);
      try {
        assert.ok((await node.dbSize()) > 0, `primary ${port} holds keys`);
      } finally {
        node.destroy();
      }
    }
  });

  test('multi-key commands work on one hash tag, and give the server’s CROSSSLOT error across slots', async () => {
    const client = await pool.getClient();
    await client.mSet({ '{user:1}:name': 'ada', '{user:1}:city': 'london' });
    assert.deepEqual(await client.mGet(['{user:1}:name', '{user:1}:city']), ['ada', 'london']);
    await client.rename('{user:1}:city', '{user:1}:town');
    assert.equal(await client.get('{user:1}:town'), 'london');

    assert.notEqual(calculateSlot('cross:a'), calculateSlot('cross:b'));
    await client.set('cross:a', '1');
    for (const attempt of [client.rename('cross:a', 'cross:b'), client.sUnion(['cross:a', 'cross:b'])]) {
      await assert.rejects(attempt, (error) => error instanceof ErrorReply && error.message.startsWith('CROSSSLOT'));
    }
    // node-redis 6 splits the commands whose request policy allows it (MSET, MGET, DEL,
    // EXISTS …) by slot: they work across slots, but are no longer atomic.
    await client.mSet({ 'cross:a': '1', 'cross:b': '2' });
    assert.deepEqual(await client.mGet(['cross:a', 'cross:b']), ['1', '2']);
  });

  test('withConnection({ key }) lends a connection to the key’s primary, so WATCH/MULTI work', async () => {
    const client = await pool.getClient();
    await client.set('{account}:balance', '100');
    const port = await pool.withConnection({ key: '{account}:balance' }, async (lease) => {
      await lease.watch('{account}:balance');
      const balance = Number(await lease.get('{account}:balance'));
      // Someone else changes it between our read and our write: the transaction must abort.
      await client.set('{account}:balance', '50');
      await assert.rejects(
        lease
          .multi()
          .set('{account}:balance', String(balance - 10))
          .exec(),
        WatchError,
      );
      await lease.watch('{account}:balance');
      const fresh = Number(await lease.get('{account}:balance'));
      await lease
        .multi()
        .set('{account}:balance', String(fresh - 10))
        .exec();
      const info = String(await lease.sendCommand(['CLIENT', 'INFO']));
      return Number(/laddr=127\.0\.0\.1:(\d+)/.exec(info)?.[1]);
    });
    assert.equal(await client.get('{account}:balance'), '40');
    assert.equal(port, (await cluster.masterOf(calculateSlot('{account}:balance'))).port);
    await assert.rejects(
      pool.withConnection(() => 'no key'),
      (error) => error instanceof ClientUsageError && /withConnection\(\{ key \}, fn\)/.test(error.message),
    );
  });

  test('blocking commands on the cluster client run on leases: the node’s shared connection keeps serving', async () => {
    const client = await pool.getClient();
    await client.set('{queue}:other', 'still served');
    const waiters = Array.from({ length: 8 }, () => client.blPop('{queue}:jobs', 0));
    for (let i = 0; i < 100 && (pool.stats().leased ?? 0) < 8; i++) await sleep(10);
    assert.equal(pool.stats().leased, 8, 'each waiter holds a lease to the key’s primary');
    // Same slot, same node: a GET answers while eight BLPOPs block there.
    assert.equal(await client.get('{queue}:other'), 'still served');
    await client.rPush('{queue}:jobs', ['1', '2', '3', '4', '5', '6', '7', '8']);
    const popped = await Promise.all(waiters);
    assert.deepEqual(popped.map((reply) => reply?.element).sort(), ['1', '2', '3', '4', '5', '6', '7', '8']);
  });

  test('the subscriber gets messages published anywhere in the cluster, and resubscribes on another connection', async () => {
    const client = await pool.getClient();
    const subscriber = await pool.subscriber();
    const messages: string[] = [];
    await subscriber.subscribe('cluster-news', (message) => messages.push(message));
    await subscriber.pSubscribe('cluster-*', (message) => messages.push(`pattern ${message}`));
    await client.publish('cluster-news', 'first');
    for (let i = 0; i < 50 && messages.length < 2; i++) await sleep(20);
    assert.deepEqual(messages.sort(), ['first', 'pattern first']);

    // Drop its connection wherever it is; it reconnects (to any primary) and subscribes again.
    // Found on every node first, then killed, so its new connection is not killed as well.
    const found: { url: string; id: string }[] = [];
    for (const node of cluster.nodes.filter((candidate) => candidate.pid !== undefined)) {
      const observer = await admin(node.url);
      try {
        for (const entry of await observer.clientList()) {
          if (entry.name?.startsWith('cluster-test:subscriber:')) found.push({ url: node.url, id: String(entry.id) });
        }
      } finally {
        observer.destroy();
      }
    }
    assert.equal(found.length, 1);
    for (const { url, id } of found) {
      const observer = await admin(url);
      await observer.sendCommand(['CLIENT', 'KILL', 'ID', id]);
      observer.destroy();
    }
    messages.length = 0;
    for (let i = 0; i < 100 && !messages.includes('second'); i++) {
      await client.publish('cluster-news', 'second');
      await sleep(50);
    }
    assert.ok(messages.includes('second') && messages.includes('pattern second'), messages.join(', '));
    assert.equal(subscriber.reconnects, 1);
    const stats = pool.stats();
    assert.deepEqual(stats.subscriber, { open: true, channels: 1, patterns: 1, shards: 0 });
    const nodes = Object.values(stats.nodes ?? {});
    const nodeSockets = nodes.reduce((total, node) => total + node.total + 1, 0);
    assert.equal(stats.total, nodeSockets + 1, 'total: each node’s shared connection and leases, and the subscriber');
  });

  test('REDIS_MIN_IDLE_CONNECTIONS opens leases to each primary and none anywhere else, and close() ends them', async () => {
    // Regression: cluster mode built a standalone lease pool too, whose settings carry no host, so
    // with REDIS_MIN_IDLE_CONNECTIONS=2 it opened two connections to localhost:6379, the default
    // address, and close() left them open.
    const bystander = await startRedisServer({ port: 6379 });
    const observer = await admin(bystander.url);
    const idle = new RedisPool<true>({ logger: silent });
    const named = async (url: string) => {
      const node = await admin(url);
      try {
        return await connectionsNamed(node, 'cluster-idle:');
      } finally {
        node.destroy();
      }
    };
    try {
      await idle.getClient(
        settingsFor('redis://127.0.0.1/0', {
          serviceName: 'cluster-idle',
          redisClusterNodes: cluster.nodeAddresses,
          redisMinIdleConnections: 2,
        }),
      );
      for (let i = 0; i < 50 && (idle.stats().idle ?? 0) < 6; i++) await sleep(20);
      assert.deepEqual(await connectionsNamed(observer, 'cluster-idle:'), [], 'nothing on the bystander');
      const primaries = Object.keys(idle.stats().nodes ?? {});
      assert.equal(primaries.length, 3);
      for (const address of primaries) {
        const leases = (await named(`redis://${address}`)).filter((name) => name.includes(':lease:'));
        assert.equal(leases.length, 2, `two idle leases on ${address}`);
      }
      await idle.close();
      assert.deepEqual(await connectionsNamed(observer, 'cluster-idle:'), [], 'nothing on the bystander after close');
      for (const address of primaries) assert.deepEqual(await named(`redis://${address}`), [], `closed on ${address}`);
    } finally {
      idle.destroy();
      observer.destroy();
      await bystander.stop();
    }
  });

  test('stats() reports each primary', async () => {
    await pool.withConnection({ key: 'stats-key' }, (lease) => lease.ping());
    const stats = pool.stats();
    assert.ok(stats.nodes);
    const nodes = Object.entries(stats.nodes);
    assert.equal(nodes.length, 3);
    for (const [, node] of nodes) assert.equal(node.shared.state, 'ready');
    const owner = await cluster.masterOf(calculateSlot('stats-key'));
    const figures = stats.nodes[`127.0.0.1:${owner.port}`];
    assert.ok(figures && figures.hits + figures.misses >= 1 && figures.idle >= 1, JSON.stringify(figures));
    assert.equal(stats.shared.state, 'ready');
  });

  test('a frozen primary: its commands reject with CommandTimeoutError within REDIS_SOCKET_TIMEOUT + 10 %, the others keep serving, and it serves again after SIGCONT', async () => {
    const frozen = await cluster.masterOf(calculateSlot('frozen-key'));
    const otherKey = Array.from({ length: 100 }, (_, i) => `other-${i}`).find(
      (key) => calculateSlot(key) !== calculateSlot('frozen-key'),
    ) as string;
    assert.notEqual((await cluster.masterOf(calculateSlot(otherKey))).port, frozen.port);
    const watched = new RedisPool<true>({ logger: silent });
    const timeoutMs = 500;
    try {
      const client = await watched.getClient(
        settingsFor('redis://127.0.0.1/0', {
          serviceName: 'cluster-watchdog',
          redisClusterNodes: cluster.nodeAddresses,
          redisSocketTimeout: timeoutMs / 1000,
        }),
      );
      await client.set('frozen-key', 'before');
      frozen.pause();
      const started = performance.now();
      const outcomes = await Promise.allSettled([client.get('frozen-key'), client.set('frozen-key', 'during')]);
      const elapsed = performance.now() - started;
      for (const outcome of outcomes) {
        assert.equal(outcome.status, 'rejected');
        assert.ok(outcome.reason instanceof CommandTimeoutError, String(outcome.reason));
        assert.match(outcome.reason.message, new RegExp(`127\\.0\\.0\\.1:${frozen.port}`));
      }
      // The watchdog's resolution is 1/20 of the timeout; 100 ms more for event-loop lag.
      assert.ok(elapsed <= timeoutMs * 1.1 + 100, `rejected after ${Math.round(elapsed)} ms`);
      assert.equal(await client.set(otherKey, 'served'), 'OK', 'the other primaries keep serving');
      frozen.resume();
      let after: string | null = null;
      for (let attempt = 0; attempt < 50 && after === null; attempt++) {
        after = await client.get('frozen-key').catch(() => null);
        if (after === null) await sleep(100);
      }
      // The SET sent while frozen was written before the freeze was noticed: it may or may not have run.
      assert.ok(after === 'before' || after === 'during', String(after));
    } finally {
      frozen.resume();
      await watched.close();
    }
  });

  test('sSubscribe goes to the shard channel’s owner, Buffers byte for byte, and follows the slot when it moves', async () => {
    const client = await pool.getClient();
    const subscriber = await pool.subscriber();
    const channel = 'shard-news';
    const slot = calculateSlot(channel);
    const payload = Buffer.from([0, 1, 2, 0xff, 0xfe, 0xc3, 0x28]);
    const received: Buffer[] = [];
    await subscriber.sSubscribe(channel, (message: Buffer) => received.push(message), true);
    assert.equal(pool.stats().subscriber.shards, 1);
    const deliver = async (count: number) => {
      for (let i = 0; i < 100 && received.length < count; i++) {
        await client.sPublish(channel, payload);
        await sleep(50);
      }
      assert.ok(received.length >= count, `${received.length} of ${count} messages`);
    };
    await deliver(1);
    assert.deepEqual(received[0], payload);

    const from = await cluster.masterOf(slot);
    let to = from;
    for (let other = 0; to === from; other += 1000) to = await cluster.masterOf(other);
    await cluster.migrateSlot(slot, to);
    received.length = 0;
    await deliver(1);
    assert.deepEqual(received[0], payload, 'delivered by the new owner');
    await subscriber.sUnsubscribe(channel);
    assert.equal(pool.stats().subscriber.shards, 0);
  });

  test('a slot migration under load (ASK, then MOVED) is invisible to callers', async () => {
    const client = await pool.getClient();
    // Every key of this load is in one slot, the one being moved.
    const tag = '{migrating}';
    const slot = calculateSlot(tag);
    const from = await cluster.masterOf(slot);
    let target = from;
    for (let other = 0; target === from; other += 1000) target = await cluster.masterOf(other);
    const load = startLoad((fn) => fn(client as KeyValue), 30, `${tag}:caller`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await cluster.migrateSlot(slot, target);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const report = await load.stop();
    // The old owner's own count of the redirections it answered: the callers did meet them.
    const source = await admin(from.url);
    const redirections = await source.info('errorstats');
    source.destroy();
    const count = (kind: string) => Number(new RegExp(`errorstat_${kind}:count=(\\d+)`).exec(redirections)?.[1] ?? 0);
    console.log(
      `slot ${slot} moved ${from.port} → ${target.port} under load: ${report.ok} ok, ` +
        `${count('ASK')} ASK and ${count('MOVED')} MOVED answered by the old owner, ` +
        `failures ${JSON.stringify(Object.fromEntries(report.failures))}`,
    );
    assert.ok(count('MOVED') > 0, 'callers were redirected');
    assert.equal((await cluster.masterOf(slot)).port, target.port);
    assert.deepEqual(report.wrong, []);
    assert.deepEqual(Object.fromEntries(report.failures), {}, 'no caller saw the migration');
    assert.ok(report.ok > 0);
  });

  test('a replica taking over (CLUSTER FAILOVER, then SIGKILL of a primary): the shared client follows', async () => {
    const client = await pool.getClient();
    const key = '{failover}:counter';
    await client.set(key, '0');
    const { from, to } = await cluster.failover(calculateSlot(key));
    assert.notEqual(from.port, to.port);
    assert.equal(
      await client.incr(key),
      1,
      'the first command after a graceful failover already lands on the new primary',
    );

    const killed = await cluster.killMaster(calculateSlot(key));
    let value: number | undefined;
    const started = performance.now();
    const failures = new Set<string>();
    while (value === undefined && performance.now() - started < 10_000) {
      value = await client.incr(key).catch((error: unknown) => {
        // Typed by the pool, or the server's own reply (CLUSTERDOWN …): never a bare socket error.
        const kind =
          error instanceof ErrorReply ? `server ${error.message.split(' ')[0]}` : (error as { code?: string }).code;
        failures.add(kind ?? `untyped ${error}`);
        return sleep(100).then(() => undefined);
      });
    }
    console.log(`failures while it took over: ${[...failures].join(', ') || 'none'}`);
    assert.ok(![...failures].some((kind) => kind.startsWith('untyped')), [...failures].join(', '));
    console.log(
      `after SIGKILL of ${killed.from.port}, ${killed.to.port} took over; writes back after ${Math.round(performance.now() - started)} ms`,
    );
    assert.equal(value, 2, 'the promoted replica has the write, and takes new ones');
    await killed.from.restart();
  });

  test('redis-pool clients covers every node of the cluster', async () => {
    await pool.getClient();
    const cli = new URL('../src/bin.ts', import.meta.url).pathname;
    const child = spawnSync(process.execPath, ['--import', 'tsx', cli, 'clients', '--json'], {
      env: {
        PATH: process.env.PATH ?? '',
        SERVICE_NAME: 'cli',
        LOG_LEVEL: 'INFO',
        REDIS_URL: 'redis://127.0.0.1/0',
        REDIS_CLUSTER_NODES: cluster.nodeAddresses,
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(child.status, 0, child.stderr);
    const report = JSON.parse(child.stdout) as { groups: { node: string; service: string; kind: string }[] };
    const shared = report.groups.filter((group) => group.service === 'cluster-test' && group.kind === 'shared');
    const masters = await Promise.all([0, 6000, 12000].map((slot) => cluster.masterOf(slot)));
    assert.deepEqual(
      shared.map((group) => group.node).sort(),
      masters.map((master) => `127.0.0.1:${master.port}`).sort(),
      'the pool’s shared connection to each primary',
    );
  });

  test('health() names every primary with a status: degraded while one is dead, up once its replica took over', async () => {
    const client = await pool.getClient();
    const healthy = await pool.health();
    assert.equal(healthy.mode, 'cluster');
    assert.equal(healthy.status, 'up', JSON.stringify(healthy));
    const primaries = healthy.details.primaries as { address: string; status: string }[];
    assert.equal(primaries.length, 3);
    assert.ok(primaries.every((primary) => primary.status === 'up'));

    const key = 'health-key';
    const victim = await cluster.masterOf(calculateSlot(key));
    const killing = cluster.killMaster(calculateSlot(key));
    let degraded: Awaited<ReturnType<typeof pool.health>> | undefined;
    for (let i = 0; i < 100 && !degraded; i++) {
      const health = await pool.health({ timeoutMs: 300 });
      if (health.status === 'degraded') degraded = health;
      else await sleep(20);
    }
    assert.ok(degraded, 'degraded while a primary is dead');
    const statuses = degraded.details.primaries as { address: string; status: string }[];
    assert.deepEqual(
      statuses.filter((primary) => primary.status === 'down').map((primary) => primary.address),
      [`127.0.0.1:${victim.port}`],
    );
    const killed = await killing;
    // node-redis learns the new layout from a command that meets it.
    for (let i = 0; i < 100 && (await client.incr(key).catch(() => undefined)) === undefined; i++) await sleep(100);
    let status = '';
    for (let i = 0; i < 100 && status !== 'up'; i++) {
      status = (await pool.health()).status;
      if (status !== 'up') await sleep(100);
    }
    assert.equal(status, 'up', 'up again once the replica is the primary');
    await killed.from.restart();
  });
});
