// REDIS_READ_FROM on real topologies (issue 23, point 2): which server each command reached is
// read from the servers themselves (INFO commandstats), never from the pool.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import calculateSlot from 'cluster-key-slot';
import type { ClusterClient } from '../src/client/types.js';
import { RedisPool, RedisUnavailableError, type SettingsInput } from '../src/index.js';
import type { ReadFrom } from '../src/settings/parsers.js';
import {
  type Cluster,
  type RedisServer,
  type SentinelGroup,
  startCluster,
  startSentinelGroup,
} from '../src/testing/index.js';
import { admin, settingsFor, silent } from './helpers.js';

type Admin = Awaited<ReturnType<typeof admin>>;
/** One command's line of INFO commandstats: `calls`, `rejected_calls` (MOVED, READONLY …), `failed_calls`. */
type CommandStat = { calls: number; rejected: number; failed: number };

/** A look at one server from outside: its command counts, reset on demand. */
class Observed {
  readonly server: RedisServer;
  readonly #client: Admin;

  private constructor(server: RedisServer, client: Admin) {
    this.server = server;
    this.#client = client;
  }

  static async of(server: RedisServer): Promise<Observed> {
    return new Observed(server, await admin(server.url));
  }

  get port(): number {
    return this.server.port;
  }

  async role(): Promise<'master' | 'slave'> {
    return ((await this.#client.sendCommand(['ROLE'])) as [string])[0] as 'master' | 'slave';
  }

  async reset(): Promise<void> {
    await this.#client.configResetStat();
  }

  async stat(command: string): Promise<CommandStat> {
    const info = await this.#client.info('commandstats');
    const line = new RegExp(`^cmdstat_${command}:(.*)$`, 'm').exec(info)?.[1] ?? '';
    const field = (name: string) => Number(new RegExp(`(?:^|,)${name}=(\\d+)`).exec(line)?.[1] ?? 0);
    return { calls: field('calls'), rejected: field('rejected_calls'), failed: field('failed_calls') };
  }

  close(): void {
    this.#client.destroy();
  }
}

/** Sums `command`'s calls over `servers`. */
async function calls(servers: readonly Observed[], command: string): Promise<number> {
  let total = 0;
  for (const server of servers) total += (await server.stat(command)).calls;
  return total;
}

/** Runs `reads` GETs of `keys` (in turn, 50 at a time) and returns the values that came back wrong. */
async function readAll(
  client: { get(key: string): Promise<string | null> },
  keys: readonly string[],
  reads: number,
): Promise<string[]> {
  const wrong: string[] = [];
  for (let start = 0; start < reads; start += 50) {
    const batch = Array.from(
      { length: Math.min(50, reads - start) },
      (_, i) => keys[(start + i) % keys.length] as string,
    );
    const values = await Promise.all(batch.map((key) => client.get(key)));
    values.forEach((value, i) => {
      if (value !== `value of ${batch[i]}`) wrong.push(`${batch[i]}: ${value}`);
    });
  }
  return wrong;
}

/** Polls `done` every 10 ms; fails, saying `what`, after `ms`: a stalled read fails the test rather than hanging it. */
async function until(done: () => boolean, what: () => string, ms = 30_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!done()) {
    if (performance.now() > deadline) assert.fail(`${what()}: not within ${ms / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Four readers looping GETs through `client`, reader `n` of `keyAt(n)`, `keyAt(n + 4)` …, until
 * `stop()`: completed reads counted, failures and wrong values kept. `more(count)` waits for
 * `count` more reads, and fails, saying what was seen and the pool's state, after 30 s.
 */
function startReaders(
  client: { get(key: string): Promise<string | null> },
  keyAt: (i: number) => string,
  pool: RedisPool<true>,
) {
  const seen = { reads: 0, errors: [] as unknown[], wrong: [] as string[] };
  let stopped = false;
  const loops = [0, 1, 2, 3].map(async (offset) => {
    for (let i = offset; !stopped; i += 4) {
      const key = keyAt(i);
      try {
        const value = await client.get(key);
        seen.reads++;
        if (value !== `value of ${key}`) seen.wrong.push(`${key}: ${value}`);
      } catch (error) {
        seen.errors.push(error);
      }
    }
  });
  return {
    seen,
    more(count: number): Promise<void> {
      const from = seen.reads;
      return until(
        () => seen.reads >= from + count,
        () =>
          `reads went on (${seen.errors.length} errors: ${seen.errors.slice(0, 3).map(String).join('; ')}; ` +
          `the pool: ${JSON.stringify({ shared: pool.stats().shared, replicas: pool.stats().replicas })})`,
      );
    },
    async stop(): Promise<void> {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

const share = (part: number, whole: number) => (whole === 0 ? 0 : part / whole);
const percent = (ratio: number) => `${(ratio * 100).toFixed(1)} %`;

describe('replica reads in cluster mode (3 primaries, 1 replica each)', () => {
  let cluster: Cluster;
  let primaries: Observed[];
  let replicas: Observed[];
  const keys = Array.from({ length: 300 }, (_, i) => `read:${i}`);
  const pools: RedisPool<true>[] = [];

  async function poolReading(readFrom: ReadFrom, more: SettingsInput = {}) {
    const pool = new RedisPool<true>({ logger: silent });
    pools.push(pool);
    const client = await pool.getClient(
      settingsFor('redis://127.0.0.1/0', {
        serviceName: `replica-reads-${readFrom}`,
        redisClusterNodes: cluster.nodeAddresses,
        redisReadFrom: readFrom,
        ...more,
      }),
    );
    return { pool, client: client as unknown as ClusterClient };
  }

  /** Until every replica's node client is ready: node-redis opens them as it discovers the cluster. */
  async function replicasReady(pool: RedisPool<true>) {
    for (let i = 0; i < 200; i++) {
      const states = Object.values(pool.stats().replicas ?? {});
      if (states.length === replicas.length && states.every((replica) => replica.state === 'ready')) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.fail(`the replicas' node clients were not ready: ${JSON.stringify(pool.stats().replicas)}`);
  }

  async function resetAll() {
    await Promise.all([...primaries, ...replicas].map((server) => server.reset()));
  }

  before(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 1 });
    const observed = await Promise.all(cluster.nodes.map((node) => Observed.of(node)));
    const roles = await Promise.all(observed.map((node) => node.role()));
    primaries = observed.filter((_, i) => roles[i] === 'master');
    replicas = observed.filter((_, i) => roles[i] === 'slave');
    assert.equal(replicas.length, 3);
    // CLUSTER SLOTS lists a replica once the cluster knows it is up, a little after
    // cluster_state:ok; node-redis learns of replicas only when it (re)discovers the cluster.
    const look = await admin((primaries[0] as Observed).server.url);
    try {
      for (let i = 0; i < 400; i++) {
        const ranges = (await look.sendCommand(['CLUSTER', 'SLOTS'])) as unknown[][];
        if (ranges.every((range) => range.length >= 4)) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      look.destroy();
    }
    // Known values, written on the primaries, then WAITed for on each primary's lease: every
    // replica holds them before any read.
    const { pool, client } = await poolReading('primary');
    const byPrimary = new Map<string, string[]>();
    for (const key of keys) {
      const master = client.getSlotMaster(calculateSlot(key));
      const address = `${master.host}:${master.port}`;
      byPrimary.set(address, [...(byPrimary.get(address) ?? []), key]);
    }
    assert.equal(byPrimary.size, 3, 'the keys are spread over every primary');
    for (const group of byPrimary.values()) {
      const synced = await pool.withConnection({ key: group[0] as string }, async (lease) => {
        await Promise.all(group.map((key) => lease.set(key, `value of ${key}`)));
        return lease.wait(1, 5000);
      });
      assert.equal(synced, 1, 'the replica acknowledged the writes (WAIT)');
    }
  });

  after(async () => {
    await Promise.all(pools.map((pool) => pool.close()));
    for (const server of [...primaries, ...replicas]) server.close();
    await cluster.stop();
  });

  for (const [readFrom, least, most] of [
    ['replica-preferred', 0.4, 1],
    ['replica', 1, 1],
    ['any', 0.25, 0.75],
    ['primary', 0, 0],
  ] as const) {
    test(`REDIS_READ_FROM=${readFrom}: ${percent(least)}–${percent(most)} of 900 GETs on replicas, 0 wrong values, every write on a primary`, async () => {
      const { pool, client } = await poolReading(readFrom);
      if (readFrom !== 'primary') await replicasReady(pool);
      else assert.equal(pool.stats().replicas, undefined, 'no replica connections with REDIS_READ_FROM=primary');
      await resetAll();
      const wrong = await readAll(client, keys, 900);
      // Writes in the same pool, as a service would make them.
      await Promise.all(keys.slice(0, 90).map((key) => client.set(key, `value of ${key}`)));
      const onReplicas = await calls(replicas, 'get');
      const onPrimaries = await calls(primaries, 'get');
      const ratio = share(onReplicas, onReplicas + onPrimaries);
      console.log(
        `REDIS_READ_FROM=${readFrom} (cluster): ${onReplicas} of ${onReplicas + onPrimaries} GETs on replicas (${percent(ratio)})`,
      );
      assert.deepEqual(wrong, []);
      assert.equal(onReplicas + onPrimaries, 900, 'every GET ran once, with no redirection');
      assert.ok(ratio >= least && ratio <= most, `${percent(ratio)} of GETs on replicas`);
      for (const replica of replicas) {
        const { rejected, failed } = await replica.stat('get');
        assert.equal(rejected + failed, 0, `no GET was refused by replica ${replica.port} (MOVED)`);
        const set = await replica.stat('set');
        // A replica runs its primary's writes as they are replicated, and refuses any sent to it.
        assert.equal(set.rejected + set.failed, 0, `no SET was sent to replica ${replica.port}`);
      }
      assert.equal(await calls(primaries, 'set'), 90);
      assert.equal(await calls(replicas, 'set'), 90, 'the replicas ran only the replicated writes');
    });
  }

  test('with REDIS_CLIENT_SIDE_CACHE too: reads are cached from the replicas they were read on, and a write invalidates them there', async () => {
    const { pool, client } = await poolReading('replica-preferred', { redisClientSideCache: true });
    await replicasReady(pool);
    await resetAll();
    const few = keys.slice(0, 30);
    for (let round = 0; round < 3; round++) assert.deepEqual(await readAll(client, few, 30), []);
    assert.equal(await calls(replicas, 'get'), 30, 'each key was read once, on a replica');
    assert.equal(await calls(primaries, 'get'), 0);
    assert.equal(pool.stats().clientSideCache?.hits, 60);
    // The replica's connection tracks what it read: its primary's write, replicated, invalidates it.
    const key = few[0] as string;
    await client.set(key, 'changed');
    await until(
      () => (pool.stats().clientSideCache?.invalidations ?? 0) > 0,
      () => 'no invalidation came from the replica',
    );
    const deadline = performance.now() + 5000;
    let value = await client.get(key);
    while (value !== 'changed' && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      value = await client.get(key);
    }
    assert.equal(value, 'changed', 'the cached read gives the new value once the replica has it');
    await client.set(key, `value of ${key}`);
  });

  test('replica-preferred: MULTI, EVAL (a script that writes; one on no key), blocking commands and leases stay on primaries; EVAL_RO may go to a replica', async () => {
    const { pool, client } = await poolReading('replica-preferred');
    await replicasReady(pool);
    await resetAll();
    const key = keys[0] as string;
    for (let i = 0; i < 20; i++) {
      assert.deepEqual(await client.multi().get(key).get(key).exec(), [`value of ${key}`, `value of ${key}`]);
      assert.equal(
        await client.eval("return redis.call('SET', KEYS[1], ARGV[1])", {
          keys: ['{read:0}:scripted'],
          arguments: ['x'],
        }),
        'OK',
      );
      assert.equal(await client.eval('return 1', { keys: [], arguments: [] }), 1);
      assert.equal(await client.blPop('{read:0}:list', 0.01), null);
      assert.equal(await pool.withConnection({ key }, (lease) => lease.get(key)), `value of ${key}`);
      assert.equal(
        await client.evalRo("return redis.call('GET', KEYS[1])", { keys: [key], arguments: [] }),
        `value of ${key}`,
      );
    }
    for (const [command, each] of [
      ['exec', 20],
      ['eval', 40],
      ['blpop', 20],
    ] as const) {
      assert.equal(await calls(replicas, command), 0, `no ${command.toUpperCase()} on a replica`);
      assert.equal(await calls(primaries, command), each, `every ${command.toUpperCase()} on a primary`);
    }
    for (const replica of replicas) {
      const stat = await replica.stat('eval');
      assert.equal(stat.rejected + stat.failed, 0, `no EVAL was sent to replica ${replica.port}`);
    }
    // The leases' 20 GETs and the transactions' 40 all on the primary of the key; EVAL_RO's GET
    // (a script's calls count too) wherever it ran.
    assert.equal(
      await calls(replicas, 'get'),
      await calls(replicas, 'eval_ro'),
      'no lease or transaction GET on a replica',
    );
    assert.equal(await calls(primaries, 'get'), 60 + (await calls(primaries, 'eval_ro')));
    console.log(`EVAL_RO (replica-preferred, cluster): ${await calls(replicas, 'eval_ro')} of 20 on replicas`);
    assert.ok((await calls(replicas, 'eval_ro')) > 0, 'EVAL_RO, read-only, went to a replica');
  });

  test('a replica killed under 4 concurrent readers: 0 caller errors with replica-preferred, reads go on on its primary; replica mode gives RedisUnavailableError (no-replica)', async () => {
    const { pool, client } = await poolReading('replica-preferred', { redisSocketTimeout: 1 });
    const strict = await poolReading('replica', { redisSocketTimeout: 1 });
    await Promise.all([replicasReady(pool), replicasReady(strict.pool)]);
    const victim = replicas[0] as Observed;
    // The primary the victim replicates, and a key it serves.
    const masterPort = await (async () => {
      const look = await admin(victim.server.url);
      try {
        return Number(/^master_port:(\d+)/m.exec(await look.info('replication'))?.[1]);
      } finally {
        look.destroy();
      }
    })();
    const primary = primaries.find((server) => server.port === masterPort) as Observed;
    const key = keys.find((candidate) => client.getSlotMaster(calculateSlot(candidate)).port === masterPort) as string;
    await resetAll();
    const readers = startReaders(client, () => key, pool);
    await readers.more(400);
    const beforeKill = (await victim.stat('get')).calls;
    assert.ok(beforeKill > 0, 'the replica served reads before it was killed');
    await victim.server.kill();
    await primary.reset();
    await readers.more(2000);
    const afterKill = (await primary.stat('get')).calls;
    let refusal: unknown;
    try {
      await strict.client.get(key);
    } catch (error) {
      refusal = error;
    }
    await readers.stop();
    console.log(
      `replica ${victim.port} killed under 4 readers: ${readers.seen.reads} reads, ${readers.seen.errors.length} errors; ${afterKill} reads on its primary after`,
    );
    assert.deepEqual(readers.seen.errors, []);
    assert.deepEqual(readers.seen.wrong, []);
    assert.ok(afterKill >= 2000, `reads went on on the primary (${afterKill})`);
    assert.ok(refusal instanceof RedisUnavailableError, `replica mode refuses: ${String(refusal)}`);
    assert.equal(refusal.code, 'REDIS_POOL_UNAVAILABLE');
    assert.equal(refusal.reason, 'no-replica');
    assert.match(refusal.message, /REDIS_READ_FROM=replica/);
    await victim.server.restart();
  });
});

describe('replica reads in sentinel mode (a primary, 1 replica, 3 sentinels)', () => {
  let group: SentinelGroup;
  const observed = new Map<RedisServer, Observed>();
  const keys = Array.from({ length: 100 }, (_, i) => `sread:${i}`);
  const pools: RedisPool<true>[] = [];

  const look = (server: RedisServer) => observed.get(server) as Observed;

  async function poolReading(readFrom: ReadFrom, more: SettingsInput = {}) {
    const pool = new RedisPool<true>({ logger: silent });
    pools.push(pool);
    const client = await pool.getClient(
      settingsFor('redis://127.0.0.1/0', {
        serviceName: `sentinel-reads-${readFrom}`,
        redisSentinels: group.sentinelAddresses,
        redisSentinelMaster: group.masterName,
        redisReadFrom: readFrom,
        redisSocketTimeout: 1,
        ...more,
      }),
    );
    return { pool, client };
  }

  /** The servers that are replicas now, by the sentinels' primary. */
  async function roles() {
    const primary = await group.master();
    return { primary, replicas: group.servers.filter((server) => server !== primary && server.pid !== undefined) };
  }

  /** Until the pool has a ready connection to exactly the replicas at `ports`. */
  async function readingFrom(pool: RedisPool<true>, ports: readonly number[]) {
    const want = ports.map((port) => `127.0.0.1:${port}`).sort();
    for (let i = 0; i < 600; i++) {
      const replicas = pool.stats().replicas ?? {};
      const ready = Object.entries(replicas)
        .filter(([, replica]) => replica.state === 'ready')
        .map(([address]) => address)
        .sort();
      if (JSON.stringify(ready) === JSON.stringify(want) && Object.keys(replicas).length === want.length) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.fail(`the pool did not read from ${want.join(', ')}: ${JSON.stringify(pool.stats().replicas)}`);
  }

  /** Writes the known values on the primary, and WAITs for the replica to hold them. */
  async function writeKnown(pool: RedisPool<true>) {
    const synced = await pool.withConnection(async (lease) => {
      await Promise.all(keys.map((key) => lease.set(key, `value of ${key}`)));
      return lease.wait(1, 5000);
    });
    assert.equal(synced, 1, 'the replica acknowledged the writes (WAIT)');
  }

  before(async () => {
    group = await startSentinelGroup({ replicas: 1, sentinels: 3 });
    for (const server of group.servers) observed.set(server, await Observed.of(server));
    const { pool } = await poolReading('primary');
    await writeKnown(pool);
  });

  after(async () => {
    await Promise.all(pools.map((pool) => pool.close()));
    for (const server of observed.values()) server.close();
    await group.stop();
  });

  for (const [readFrom, least, most] of [
    ['replica-preferred', 0.9, 1],
    ['replica', 1, 1],
    ['any', 0.4, 0.6],
    ['primary', 0, 0],
  ] as const) {
    test(`REDIS_READ_FROM=${readFrom}: ${percent(least)}–${percent(most)} of 300 GETs on the replica, 0 wrong values, writes on the primary`, async () => {
      const { primary, replicas } = await roles();
      const { pool, client } = await poolReading(readFrom);
      if (readFrom === 'primary') assert.equal(pool.stats().replicas, undefined, 'no replica connections');
      else
        await readingFrom(
          pool,
          replicas.map((replica) => replica.port),
        );
      await Promise.all(group.servers.map((server) => look(server).reset()));
      const wrong = await readAll(client, keys, 300);
      await Promise.all(keys.slice(0, 30).map((key) => client.set(key, `value of ${key}`)));
      const onReplica = await calls(replicas.map(look), 'get');
      const onPrimary = (await look(primary).stat('get')).calls;
      const ratio = share(onReplica, onReplica + onPrimary);
      console.log(
        `REDIS_READ_FROM=${readFrom} (sentinel): ${onReplica} of ${onReplica + onPrimary} GETs on the replica (${percent(ratio)})`,
      );
      assert.deepEqual(wrong, []);
      assert.equal(onReplica + onPrimary, 300);
      assert.ok(ratio >= least && ratio <= most, `${percent(ratio)} of GETs on the replica`);
      assert.equal((await look(primary).stat('set')).calls, 30);
      for (const replica of replicas) {
        const set = await look(replica).stat('set');
        assert.equal(set.rejected + set.failed, 0, 'no write was sent to the replica');
      }
      if (readFrom !== 'primary') {
        const stats = pool.stats();
        assert.equal(
          stats.total,
          1 + (stats.idle + stats.leased) + replicas.length,
          'the replica connection counts in total',
        );
      }
    });
  }

  test('with REDIS_CLIENT_SIDE_CACHE too: what the cache takes is read through it from the primary; other reads go to the replica', async () => {
    const { primary, replicas } = await roles();
    const { pool, client } = await poolReading('replica-preferred', { redisClientSideCache: true });
    await readingFrom(
      pool,
      replicas.map((replica) => replica.port),
    );
    await Promise.all(group.servers.map((server) => look(server).reset()));
    const few = keys.slice(0, 10);
    for (let round = 0; round < 5; round++) assert.deepEqual(await readAll(client, few, 10), []);
    for (const key of few) await client.ttl(key);
    assert.equal(
      (await look(primary).stat('get')).calls,
      10,
      'each key loaded once, from the primary, so the cache never lags it',
    );
    assert.equal(await calls(replicas.map(look), 'get'), 0);
    assert.equal(await calls(replicas.map(look), 'ttl'), 10, 'a read the cache does not take went to the replica');
    assert.equal(pool.stats().clientSideCache?.hits, 40);
  });

  test('a sentinel failover while 4 callers read from the replica: the pool follows it, reads stay right, and the new primary is not read as a replica', async () => {
    const { pool, client } = await poolReading('replica-preferred');
    const before = await roles();
    await readingFrom(
      pool,
      before.replicas.map((replica) => replica.port),
    );
    const readers = startReaders(client, (i) => keys[i % keys.length] as string, pool);
    const { from, to } = await group.failover();
    // The old primary becomes the replica, once it has synced with the new one.
    await readingFrom(pool, [from.port]);
    await Promise.all(group.servers.map((server) => look(server).reset()));
    await readers.more(400);
    await readers.stop();
    const onOld = (await look(from).stat('get')).calls;
    const onNew = (await look(to).stat('get')).calls;
    console.log(
      `failover ${from.port} → ${to.port} under 4 readers: ${readers.seen.reads} reads, ${readers.seen.errors.length} errors; after it, ${onOld} of ${onOld + onNew} GETs on the new replica (${percent(share(onOld, onOld + onNew))})`,
    );
    assert.deepEqual(readers.seen.errors, []);
    assert.deepEqual(readers.seen.wrong, []);
    assert.ok(share(onOld, onOld + onNew) >= 0.9, 'reads moved to the new replica');
    assert.ok(
      !Object.keys(pool.stats().replicas ?? {}).includes(`127.0.0.1:${to.port}`),
      'the new primary is not read as a replica',
    );
    // Writes go to the new primary.
    await client.set('after-failover', 'x');
    assert.equal((await look(to).stat('set')).calls, 1);
  });

  test('the replica killed under 4 concurrent readers: 0 caller errors with replica-preferred, reads go on on the primary; replica mode gives RedisUnavailableError (no-replica)', async () => {
    const { pool, client } = await poolReading('replica-preferred');
    const strict = await poolReading('replica');
    const { primary, replicas } = await roles();
    const victim = replicas[0] as RedisServer;
    await Promise.all([readingFrom(pool, [victim.port]), readingFrom(strict.pool, [victim.port])]);
    const readers = startReaders(client, (i) => keys[i % keys.length] as string, pool);
    await readers.more(400);
    await look(primary).reset();
    await victim.kill();
    await readers.more(2000);
    let refusal: unknown;
    try {
      await strict.client.get(keys[0] as string);
    } catch (error) {
      refusal = error;
    }
    await readers.stop();
    const onPrimary = (await look(primary).stat('get')).calls;
    console.log(
      `replica ${victim.port} killed under 4 readers: ${readers.seen.reads} reads, ${readers.seen.errors.length} errors; ${onPrimary} on the primary after`,
    );
    assert.deepEqual(readers.seen.errors, []);
    assert.deepEqual(readers.seen.wrong, []);
    assert.ok(onPrimary >= 2000, `reads went on on the primary (${onPrimary})`);
    assert.ok(refusal instanceof RedisUnavailableError, `replica mode refuses: ${String(refusal)}`);
    assert.equal(refusal.code, 'REDIS_POOL_UNAVAILABLE');
    assert.equal(refusal.reason, 'no-replica');
  });
});
