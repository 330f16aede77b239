// What a service that moves from createClient() to the pool keeps: scripts and functions on every
// client, module commands, connection options the environment cannot carry, and a key prefix.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CommandParser, createCluster, defineScript } from 'redis';
import { ClientUsageError, RedisPool } from '../src/index.js';
import { type Cluster, startCluster, startFaultProxy, startSentinelGroup } from '../src/testing/index.js';
import { admin, serverForFile, settingsFor, silent } from './helpers.js';

const file = serverForFile();

/** A rate limiter's step: INCRBY the key and return the new count; what services write Lua for. */
const scripts = {
  take: defineScript({
    NUMBER_OF_KEYS: 1,
    SCRIPT: "return redis.call('INCRBY', KEYS[1], ARGV[1])",
    parseCommand(parser: CommandParser, key: string, amount: number) {
      parser.pushKey(key);
      parser.push(String(amount));
    },
    transformReply: (reply: unknown) => reply as number,
  }),
};

const LIBRARY =
  "#!lua name=surface\nredis.register_function('twice', function(keys, args) return redis.call('INCRBY', keys[1], 2) end)";
const functions = {
  surface: {
    twice: {
      NUMBER_OF_KEYS: 1,
      parseCommand(parser: CommandParser, key: string) {
        parser.pushKey(key);
      },
      transformReply: (reply: unknown) => reply as number,
    },
  },
};

/** Runs `count` calls of `call`, 50 at a time; returns the errors met. */
async function calls(count: number, call: (i: number) => Promise<unknown>): Promise<unknown[]> {
  const errors: unknown[] = [];
  for (let start = 0; start < count; start += 50) {
    const batch = Array.from({ length: Math.min(50, count - start) }, (_, i) =>
      call(start + i).catch((error) => errors.push(error)),
    );
    await Promise.all(batch);
  }
  return errors;
}

/** EVAL calls the server has counted. */
async function evalCalls(): Promise<number> {
  const stats = await file.observer.info('commandstats');
  return Number(/^cmdstat_eval:calls=(\d+)/m.exec(stats)?.[1] ?? 0);
}

describe('scripts and functions', () => {
  test('scripts are methods of the shared client, leases and duplicates, and survive SCRIPT FLUSH: 1,000 calls, 0 errors', async () => {
    const pool = new RedisPool<true, typeof scripts>({ logger: silent, scripts });
    try {
      const client = await pool.getClient(settingsFor(file.server.url));
      await client.del('script:count');
      assert.equal(await client.take('script:count', 1), 1);
      assert.equal(await pool.withConnection((lease) => lease.take('script:count', 1)), 2);
      const copy = client.duplicate();
      await copy.connect();
      assert.equal(await copy.take('script:count', 1), 3);
      copy.destroy();

      const evalsBefore = await evalCalls();
      await file.observer.scriptFlush();
      const errors = await calls(1000, (i) =>
        i % 10 === 0 ? pool.withConnection((lease) => lease.take('script:count', 1)) : client.take('script:count', 1),
      );
      assert.deepEqual(errors, [], 'no caller saw NOSCRIPT');
      assert.equal(await client.get('script:count'), '1003', 'each call ran exactly once');
      const evals = (await evalCalls()) - evalsBefore;
      assert.ok(evals >= 1, 'the script was sent again with EVAL after the flush');
    } finally {
      pool.destroy();
    }
  });

  test('functions are typed methods of every client; the library is the service’s to load', async () => {
    await file.observer.sendCommand(['FUNCTION', 'LOAD', 'REPLACE', LIBRARY]);
    const pool = new RedisPool<true, {}, typeof functions>({ logger: silent, functions });
    try {
      const client = await pool.getClient(settingsFor(file.server.url));
      await client.del('function:count');
      assert.equal(await client.surface.twice('function:count'), 2);
      assert.equal(await pool.withConnection((lease) => lease.surface.twice('function:count')), 4);
    } finally {
      pool.destroy();
    }
  });

  test('module commands (JSON, Search, TimeSeries, Bloom) reach the server from the pool’s client', async () => {
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(file.server.url));
      // This server has no modules: its refusal names each command, so each was sent as itself.
      for (const [call, name] of [
        [() => client.json.get('k'), 'JSON.GET'],
        [() => client.ts.get('k'), 'TS.GET'],
        [() => client.bf.exists('k', 'v'), 'BF.EXISTS'],
        [() => client.ft._list(), 'FT._LIST'],
      ] as const) {
        await assert.rejects(call(), new RegExp(`unknown command '${name}'`, 'i'));
      }
      assert.equal(await client.ping(), 'PONG', 'the connection is in step after the refusals');
    } finally {
      pool.destroy();
    }
  });

  test('configure() gives a pool that is not open its scripts; an open pool refuses it', async () => {
    const pool = new RedisPool<true>({ logger: silent }).configure({ scripts });
    try {
      const client = await pool.getClient(settingsFor(file.server.url));
      assert.equal(typeof (await client.take('configure:count', 5)), 'number');
      await assert.rejects(pool.getClusterClient(), /getClusterClient\(\) is for cluster mode/);
      assert.throws(
        () => pool.configure({ functions }),
        (error) => {
          assert.ok(error instanceof ClientUsageError);
          assert.match(error.message, /^configure\(\) is for a pool that is not open/);
          return true;
        },
      );
    } finally {
      pool.destroy();
    }
  });

  test('across a sentinel failover, 1,000 script calls with 0 caller errors (the new primary never saw the script)', async () => {
    const group = await startSentinelGroup({ replicas: 1, sentinels: 3 });
    const pool = new RedisPool<true, typeof scripts>({ logger: silent, scripts });
    try {
      const client = await pool.getClient(
        settingsFor('redis://127.0.0.1/0', {
          serviceName: 'script-failover',
          redisKeyPrefix: 'svc:',
          redisSentinels: group.sentinelAddresses,
          redisSentinelMaster: group.masterName,
          redisSocketTimeout: 1,
        }),
      );
      await client.take('failover:count', 1);
      const errors: unknown[] = [];
      // What each call returned (the count after it), and whether it was acknowledged after the failover began.
      const returned: { count: number; late: boolean }[] = [];
      let failoverStarted = false;
      let done = 0;
      const caller = async () => {
        while (done < 1000) {
          done++;
          await client
            .take('failover:count', 1)
            .then((count) => returned.push({ count: Number(count), late: failoverStarted }))
            .catch((error) => errors.push(error));
          await sleep(5);
        }
      };
      const callers = Promise.all(Array.from({ length: 4 }, caller));
      await sleep(200);
      failoverStarted = true;
      const { to } = await group.failover();
      await callers;
      assert.deepEqual(errors, [], 'no caller saw an error across the failover');
      assert.equal(returned.length, 1000);
      const after = await admin(to.url);
      try {
        // Replication is asynchronous: an increment the old primary acknowledged after the failover began
        // may never reach the new one, which then hands out the same count again. Nothing else may differ.
        const final = Number(await after.get('svc:failover:count'));
        const counts = returned.map((entry) => entry.count);
        assert.equal(Math.max(...counts), final, 'the last calls ran on the new primary');
        const seen = new Map<number, number>();
        for (const { count, late } of returned) {
          assert.ok(count >= 2 && count <= final, `count ${count} is in 2..${final}: no call ran twice`);
          if (seen.has(count)) assert.ok(late, `count ${count} was handed out twice before the failover began`);
          seen.set(count, (seen.get(count) ?? 0) + 1);
        }
        assert.equal(seen.size, final - 1, 'every count from 2 up to the final one was handed out: none skipped');
        const evals = Number(/^cmdstat_eval:calls=(\d+)/m.exec(await after.info('commandstats'))?.[1] ?? 0);
        assert.ok(evals >= 1, 'the new primary was sent the script with EVAL: it had not had it');
      } finally {
        after.destroy();
      }
    } finally {
      pool.destroy();
      await group.stop();
    }
  });
});

describe('scripts in cluster mode', () => {
  test('a script runs on its key’s node, and after SCRIPT FLUSH on every node 1,000 calls give 0 errors', async () => {
    const cluster: Cluster = await startCluster({ masters: 3 });
    const pool = new RedisPool<true, typeof scripts>({ logger: silent, scripts });
    try {
      const client = await pool.getClient(
        settingsFor('redis://127.0.0.1/0', {
          serviceName: 'cluster-scripts',
          redisClusterNodes: cluster.nodeAddresses,
        }),
      );
      const typed = await pool.getClusterClient();
      assert.equal(typeof typed.getSlotMaster(0).port, 'number');
      assert.ok(Object.is(typed, client), 'getClusterClient() is the same client, typed as a cluster client');
      const keys = Array.from({ length: 40 }, (_, i) => `cluster:script:${i}`);
      for (const key of keys) assert.equal(await client.take(key, 1), 1);
      for (const node of cluster.nodes) {
        const observer = await admin(node.url);
        await observer.scriptFlush();
        observer.destroy();
      }
      const errors = await calls(1000, (i) => client.take(keys[i % keys.length] as string, 1));
      assert.deepEqual(errors, []);
      for (const key of keys) assert.equal(await client.get(key), String(1 + 1000 / keys.length));
      const lease = await pool.withConnection({ key: 'cluster:script:0' }, (leased) =>
        leased.take('cluster:script:0', 1),
      );
      assert.equal(lease, 2 + 1000 / keys.length);
    } finally {
      pool.destroy();
      await cluster.stop();
    }
  });
});

describe('REDIS_KEY_PREFIX', () => {
  test('every connection prefixes the keys it sends; scans stay inside the prefix; channels are not keys', async () => {
    const pool = new RedisPool<true, typeof scripts>({ logger: silent, scripts });
    try {
      const client = await pool.getClient(settingsFor(file.server.url, { redisKeyPrefix: 'svc:' }));
      await file.observer.flushAll();
      await file.observer.set('other:key', 'not ours');
      await client.set('greeting', 'hola');
      assert.equal(await file.observer.get('svc:greeting'), 'hola');
      assert.equal(await pool.withConnection((lease) => lease.get('greeting')), 'hola');
      await pool.withConnection(async (lease) => {
        await lease.watch('greeting');
        assert.deepEqual(await lease.multi().set('greeting', 'hallo').get('greeting').exec(), ['OK', 'hallo']);
      });
      assert.equal(await file.observer.get('svc:greeting'), 'hallo');
      const copy = client.duplicate();
      await copy.connect();
      assert.equal(await copy.get('greeting'), 'hallo');
      copy.destroy();
      assert.equal(await client.take('taken', 2), 2);
      assert.equal(await file.observer.get('svc:taken'), '2');
      // A blocking command runs on a lease, with the key prefixed there too.
      const popped = client.blPop('queue', 5);
      await sleep(50);
      await file.observer.rPush('svc:queue', 'job');
      assert.equal((await popped)?.element, 'job');
      // SCAN and KEYS see only the prefix's keys, named without it, so they can be passed back.
      const scanned: string[] = [];
      for await (const keys of client.scanIterator({ COUNT: 2 })) scanned.push(...keys);
      assert.deepEqual(scanned.sort(), ['greeting', 'taken']);
      assert.deepEqual((await client.keys('g*')).sort(), ['greeting']);
      assert.deepEqual(await client.mGet(scanned.sort()), ['hallo', '2']);
      const heard = new Promise((resolve) => {
        void pool.subscriber().then((subscriber) => subscriber.subscribe('news', resolve));
      });
      await sleep(100);
      await file.observer.publish('news', 'channels are not prefixed');
      assert.equal(await heard, 'channels are not prefixed');
    } finally {
      pool.destroy();
    }
  });

  test('cluster mode: keys are routed by their prefixed name; leases, blocking commands, scripts and scans follow it', async () => {
    const cluster: Cluster = await startCluster({ masters: 3 });
    const pool = new RedisPool<true, typeof scripts>({ logger: silent, scripts });
    const observer = createCluster({ rootNodes: cluster.nodes.map((node) => ({ url: node.url })) });
    try {
      await observer.connect();
      const client = await pool.getClient(
        settingsFor('redis://127.0.0.1/0', {
          serviceName: 'cluster-prefix',
          redisKeyPrefix: 'svc:',
          redisClusterNodes: cluster.nodeAddresses,
        }),
      );
      const keys = Array.from({ length: 60 }, (_, i) => `key:${i}`);
      await Promise.all(keys.map((key) => client.set(key, key)));
      assert.deepEqual(await Promise.all(keys.map((key) => observer.get(`svc:${key}`))), keys);
      for (const key of keys.slice(0, 10)) {
        // A lease to the wrong node would get MOVED: the lease follows the prefixed key's slot.
        assert.equal(await pool.withConnection({ key }, (lease) => lease.get(key)), key);
        assert.equal(await client.take(`count:${key}`, 1), 1);
      }
      const popped = client.blPop('queue', 5);
      await sleep(50);
      await observer.rPush('svc:queue', 'job');
      assert.equal((await popped)?.element, 'job');
      await observer.set('other:key', 'not ours');
      const scanned: string[] = [];
      for await (const batch of client.scanIterator({ MATCH: 'key:*' })) scanned.push(...batch);
      assert.deepEqual(scanned.sort(), [...keys].sort());
    } finally {
      observer.destroy();
      pool.destroy();
      await cluster.stop();
    }
  });
});

describe('clientOptions', () => {
  test('an option the pool owns is refused, naming the setting that governs it; an unknown one names those it takes', () => {
    const owned: [object, RegExp][] = [
      [{ disableOfflineQueue: true }, /clientOptions\.disableOfflineQueue .*REDIS_OFFLINE_QUEUE/],
      [
        { socket: { reconnectStrategy: false } },
        /clientOptions\.socket\.reconnectStrategy .*REDIS_RECONNECT_BASE_DELAY/,
      ],
      [{ socket: { connectTimeout: 5 } }, /clientOptions\.socket\.connectTimeout .*REDIS_SOCKET_CONNECT_TIMEOUT/],
      [{ name: 'mine' }, /clientOptions\.name .*SERVICE_NAME/],
      [{ commandOptions: { timeout: 5 } }, /clientOptions\.commandOptions .*withCommandOptions/],
      [{ pingInterval: 1000 }, /clientOptions\.pingInterval .*REDIS_HEALTH_CHECK_INTERVAL/],
      [{ password: 'secret' }, /clientOptions\.password .*REDIS_PASSWORD/],
      [{ keyPrefix: 'app:' }, /clientOptions\.keyPrefix .*REDIS_KEY_PREFIX/],
      [{ isolationPoolOptions: {} }, /clientOptions\.isolationPoolOptions is not an option the pool passes on/],
      [{ socket: { timeout: 5 } }, /clientOptions\.socket\.timeout is not an option the pool passes on/],
    ];
    for (const [clientOptions, message] of owned) {
      assert.throws(
        () => new RedisPool({ logger: silent, clientOptions: clientOptions as never }),
        (error) => {
          assert.ok(error instanceof ClientUsageError, String(error));
          assert.match(error.message, message);
          assert.doesNotMatch(error.message, /secret/, 'no value is printed');
          return true;
        },
      );
    }
  });

  test('options that do not fit the settings are refused when the pool opens, and nothing is left open', async () => {
    const cases: [object, object, RegExp][] = [
      [{ socket: { rejectUnauthorized: false } }, {}, /socket\.rejectUnauthorized is a TLS option, but TLS is off/],
      [{ nodeAddressMap: {} }, {}, /nodeAddressMap is for cluster mode/],
      [
        { credentialsProvider: { type: 'async-credentials-provider', credentials: async () => ({}) } },
        { redisPassword: 'pw' },
        /credentialsProvider and REDIS_USERNAME\/REDIS_PASSWORD/,
      ],
    ];
    for (const [clientOptions, input, message] of cases) {
      const pool = new RedisPool({ logger: silent, clientOptions: clientOptions as never });
      await assert.rejects(pool.getClient(settingsFor(file.server.url, input)), (error) => {
        assert.ok(error instanceof ClientUsageError, String(error));
        assert.match(error.message, message);
        return true;
      });
      assert.equal(pool.stats().total, 0);
    }
  });

  test('socket lookup and family reach every connection: a name only the lookup knows', async () => {
    const port = new URL(file.server.url).port;
    const looked: string[] = [];
    const pool = new RedisPool<true>({
      logger: silent,
      clientOptions: {
        socket: {
          family: 4,
          lookup: (hostname, _options, callback) => {
            looked.push(hostname);
            (callback as (error: null, address: string, family: number) => void)(null, '127.0.0.1', 4);
          },
        },
      },
    });
    try {
      const client = await pool.getClient(settingsFor(`redis://redis.pool-test.invalid:${port}`));
      assert.equal(await client.ping(), 'PONG');
      assert.equal(await pool.withConnection((lease) => lease.ping()), 'PONG');
      const copy = client.duplicate();
      await copy.connect();
      assert.equal(await copy.ping(), 'PONG');
      copy.destroy();
      const subscriber = await pool.subscriber();
      await subscriber.subscribe('lookup', () => undefined);
      assert.ok(
        looked.length >= 4,
        `shared, lease, duplicate and subscriber all looked the name up (${looked.length})`,
      );
      assert.ok(looked.every((name) => name === 'redis.pool-test.invalid'));
    } finally {
      pool.destroy();
    }
  });

  test('a password rotated with ACL SETUSER is picked up through the credentials provider at the next reconnect', async () => {
    let password = 'first-password';
    let asked = 0;
    await file.observer.sendCommand(['ACL', 'SETUSER', 'rotating', 'on', `>${password}`, '~*', '+@all']);
    const pool = new RedisPool<true>({
      logger: silent,
      clientOptions: {
        credentialsProvider: {
          type: 'async-credentials-provider',
          credentials: async () => {
            asked++;
            return { username: 'rotating', password };
          },
        },
      },
    });
    try {
      const client = await pool.getClient(settingsFor(file.server.url));
      assert.equal(await client.aclWhoAmI(), 'rotating');
      const askedAtOpen = asked;
      // The rotation: the server takes only the new password, and the connections are cut.
      password = 'second-password';
      await file.observer.sendCommand(['ACL', 'SETUSER', 'rotating', 'resetpass', `>${password}`]);
      await file.observer.sendCommand(['CLIENT', 'KILL', 'USER', 'rotating']);
      let reply: unknown;
      for (let attempt = 0; attempt < 100 && reply === undefined; attempt++) {
        reply = await client.aclWhoAmI().catch(() => sleep(50).then(() => undefined));
      }
      assert.equal(reply, 'rotating', 'the reconnect authenticated with the rotated password');
      assert.ok(asked > askedAtOpen, 'the provider was asked again at the reconnect');
      assert.ok(pool.stats().reconnects >= 1);
    } finally {
      pool.destroy();
      await file.observer.sendCommand(['ACL', 'DELUSER', 'rotating']);
    }
  });
});

describe('clientOptions.nodeAddressMap', () => {
  test('a cluster announced at addresses nobody listens on is reached through proxies the map names', async () => {
    const cluster = await startCluster({ masters: 3 });
    const proxies = await Promise.all(cluster.nodes.map((node) => startFaultProxy({ target: node.url })));
    try {
      const map: Record<string, { host: string; port: number }> = {};
      for (const [i, node] of cluster.nodes.entries()) {
        const unreachable = await closedPort();
        map[`127.0.0.1:${unreachable}`] = { host: '127.0.0.1', port: (proxies[i] as { port: number }).port };
        const client = await admin(node.url);
        await client.configSet('cluster-announce-port', String(unreachable));
        client.destroy();
      }
      await announcedAt(cluster, Object.keys(map));
      const pool = new RedisPool<true>({ logger: silent, clientOptions: { nodeAddressMap: map } });
      try {
        const rootNodes = proxies.map((proxy) => `127.0.0.1:${proxy.port}`).join(',');
        const client = await pool.getClient(
          settingsFor('redis://127.0.0.1/0', { serviceName: 'nat', redisClusterNodes: rootNodes }),
        );
        const keys = Array.from({ length: 60 }, (_, i) => `nat:${i}`);
        await Promise.all(keys.map((key) => client.set(key, key)));
        assert.deepEqual(await Promise.all(keys.map((key) => client.get(key))), keys);
        assert.equal(await pool.withConnection({ key: 'nat:1' }, (lease) => lease.get('nat:1')), 'nat:1');
        const subscriber = await pool.subscriber();
        await subscriber.subscribe('nat', () => undefined);
        assert.ok(
          proxies.every((proxy) => proxy.connections > 0),
          'every node was reached through its proxy',
        );
      } finally {
        pool.destroy();
      }
    } finally {
      for (const proxy of proxies) await proxy.stop();
      await cluster.stop();
    }
  });
});

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Waits until every node lists every node at one of `addresses`. */
async function announcedAt(cluster: Cluster, addresses: readonly string[]): Promise<void> {
  const wanted = new Set(addresses);
  for (let attempt = 0; attempt < 100; attempt++) {
    let all = true;
    for (const node of cluster.nodes) {
      const client = await admin(node.url);
      const nodes = String(await client.sendCommand(['CLUSTER', 'NODES']));
      client.destroy();
      for (const line of nodes.trim().split('\n')) {
        if (!wanted.has(line.split(' ')[1]?.split('@')[0] ?? '')) all = false;
      }
    }
    if (all) return;
    await sleep(100);
  }
  throw new Error('the cluster nodes did not announce the addresses within 10 s');
}
