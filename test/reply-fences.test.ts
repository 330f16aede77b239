// Reply fences against a real redis-server behind the test kit's fault proxy, which drops,
// adds, duplicates and cuts whole replies (and flips bits and inserts garbage): on the shared
// client, a lease and cluster mode, with 1 and 50 commands in flight, no reply reaches the
// wrong caller and no caller hangs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConnectionLostError, ProtocolError, RedisPool } from '../src/index.js';
import {
  type Cluster,
  type FaultProxy,
  type ReplyFault,
  startCluster,
  startFaultProxy,
  startRedisServer,
} from '../src/testing/index.js';
import { admin, settingsFor, silent } from './helpers.js';

const KEYS = 200;
/** Each key's value names its key, so a reply that reaches another caller is seen. */
const valueFor = (i: number) => `value-of-${i}-${'x'.repeat(i % 40)}`;
const VALUES = new Set<unknown>(Array.from({ length: KEYS }, (_, i) => valueFor(i)));
/** A caller that waits longer than this has hung: many times the socket timeout of 0.5 s. */
const HANG_MS = 8_000;
/** Fences on (REDIS_REPLY_FENCES), and a socket timeout of 0.5 s. */
const FENCED = { redisReplyFences: true, redisSocketTimeout: 0.5 };

/** What the callers of one run of GETs got. */
interface Outcome {
  right: number;
  /** Replies that are another key's value. */
  wrong: number;
  /** Replies that are no key's value: the caller's own, altered. */
  corrupted: number;
  hung: number;
  /** Errors by class, and by their cause's class. */
  errors: Map<string, number>;
  /** Callers refused with a ConnectionLostError whose cause is a ProtocolError. */
  fenced: number;
}

function outcome(): Outcome {
  return { right: 0, wrong: 0, corrupted: 0, hung: 0, errors: new Map(), fenced: 0 };
}

/** Sends `get(key)` and scores the reply against the key's value. */
async function score(result: Outcome, i: number, get: (key: string) => Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), HANG_MS);
  });
  try {
    const reply = await Promise.race([get(`fence:${i}`), hang]);
    if (reply === 'hung') result.hung++;
    else if (reply === valueFor(i)) result.right++;
    else if (VALUES.has(reply)) result.wrong++;
    else result.corrupted++;
  } catch (error) {
    const name = `${(error as Error).name} (${((error as Error).cause as Error | undefined)?.name ?? 'no cause'})`;
    result.errors.set(name, (result.errors.get(name) ?? 0) + 1);
    if (error instanceof ConnectionLostError && error.cause instanceof ProtocolError) result.fenced++;
  } finally {
    clearTimeout(timer);
  }
}

/** `total` GETs, `inFlight` at a time, through `get`. */
async function run(total: number, inFlight: number, get: (key: string) => Promise<unknown>): Promise<Outcome> {
  const result = outcome();
  let next = 0;
  const worker = async () => {
    while (next < total) await score(result, next++ % KEYS, get);
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return result;
}

/** A setting of every key, through a connection of the test's own. */
async function fill(url: string): Promise<void> {
  const client = await admin(url);
  for (let i = 0; i < KEYS; i++) await client.set(`fence:${i}`, valueFor(i));
  client.destroy();
}

/**
 * How many GETs and how often a fault, per cell: enough faults to see, few enough to finish in
 * seconds. `FENCE_STUDY_GETS` and `FENCE_STUDY_EVERY` scale it up to a study (150000 and 2000).
 */
const STUDY = { gets: Number(process.env.FENCE_STUDY_GETS ?? 0), every: Number(process.env.FENCE_STUDY_EVERY ?? 0) };
const PLAN = {
  1: { total: STUDY.gets || 300, every: STUDY.every || 60 },
  50: { total: STUDY.gets || 4_000, every: STUDY.every || 400 },
} as const;

const REPLY_LEVEL: ReplyFault[] = ['drop', 'extra', 'duplicate', 'cut'];
const BYTE_LEVEL: ReplyFault[] = ['flip', 'garbage'];

/** `faulted`: the faults applied in the run. */
function check(what: string, result: Outcome, faulted: number, fault: ReplyFault): void {
  const errors = Object.fromEntries(result.errors);
  const summary = `${what}: ${faulted} faults; ${JSON.stringify({ ...result, errors })}`;
  console.log(
    `| ${what} | ${faulted} | ${result.right} | ${result.wrong} | ${result.corrupted} | ${result.hung} | ${result.fenced} |`,
  );
  assert.ok(faulted > 0, `${summary}: no fault was applied`);
  assert.equal(result.wrong, 0, `${summary}: replies reached the wrong caller`);
  // A bit flipped inside a value's bytes leaves a well-formed reply of the right length: only TLS
  // could tell. Every other fault is caught before the reply reaches its caller.
  if (fault !== 'flip') assert.equal(result.corrupted, 0, `${summary}: altered replies reached their caller`);
  assert.equal(result.hung, 0, `${summary}: callers hung`);
  assert.ok(result.right > 0, `${summary}: no caller got its reply`);
  // A reply dropped or added is caught by a fence (a drop at 1 in flight by the fence that never
  // comes); a cut or a flip may also be caught earlier, by the decoder or the reply checks.
  if (fault === 'drop' || fault === 'extra') {
    assert.ok(result.fenced > 0, `${summary}: no caller was refused for the replies no longer matching`);
  }
  // A duplicated fence reply may come when no command waits (one in flight): the connection ends
  // then, before any caller asks, and the callers after it meet a closed connection instead.
  if (fault === 'duplicate') {
    const lost = [...result.errors.keys()].some((name) => name.startsWith('ConnectionLostError'));
    assert.ok(lost, `${summary}: no caller learnt that the connection ended for the replies no longer matching`);
  }
}

describe('reply fences: no reply reaches the wrong caller, and no caller hangs', () => {
  let url = '';
  let stopServer: () => Promise<void> = async () => undefined;
  before(async () => {
    const server = await startRedisServer();
    url = server.url;
    stopServer = () => server.stop();
    await fill(url);
  });
  after(() => stopServer());

  for (const fault of [...REPLY_LEVEL, ...BYTE_LEVEL]) {
    for (const inFlight of [1, 50] as const) {
      test(`shared client, ${fault}, ${inFlight} in flight`, async () => {
        const proxy = await startFaultProxy({ target: url });
        const pool = new RedisPool({ logger: silent });
        try {
          const client = await pool.getClient(settingsFor(proxy.url, FENCED));
          proxy.faultReplies(fault, { every: PLAN[inFlight].every });
          const result = await run(PLAN[inFlight].total, inFlight, (key) => client.get(key));
          proxy.faultReplies(undefined);
          check(`shared client, ${fault}, ${inFlight} in flight`, result, proxy.faultedReplies, fault);
        } finally {
          pool.destroy();
          await proxy.stop();
        }
      });

      test(`a lease, ${fault}, ${inFlight} in flight`, async () => {
        const proxy = await startFaultProxy({ target: url });
        const pool = new RedisPool({ logger: silent });
        try {
          await pool.getClient(settingsFor(proxy.url, FENCED));
          proxy.faultReplies(fault, { every: PLAN[inFlight].every });
          const result = outcome();
          const { total } = PLAN[inFlight];
          // Leases of 100 GETs each, `inFlight` at a time on the lease; a lease whose connection
          // ended fails the rest of its GETs, and the next lease gets a new connection. A fault in a
          // new connection's handshake fails its lease, and the pool backs off: the next lease is
          // tried a moment later.
          for (let done = 0, refused = 0; done < total && refused < 50; ) {
            await pool
              .withConnection(async (lease) => {
                merge(result, await run(100, inFlight, (key) => lease.get(key)));
                done += 100;
              })
              .catch(async (error: Error) => {
                refused++;
                result.errors.set(`lease: ${error.name}`, (result.errors.get(`lease: ${error.name}`) ?? 0) + 1);
                await new Promise((resolve) => setTimeout(resolve, 50));
              });
          }
          proxy.faultReplies(undefined);
          check(`a lease, ${fault}, ${inFlight} in flight`, result, proxy.faultedReplies, fault);
        } finally {
          pool.destroy();
          await proxy.stop();
        }
      });
    }
  }
});

test('without REDIS_REPLY_FENCES (the default), an extra reply of the same kind reaches the wrong caller: what fences are for', async () => {
  const server = await startRedisServer();
  const proxy = await startFaultProxy({ target: server.url });
  const pool = new RedisPool({ logger: silent });
  try {
    await fill(server.url);
    const client = await pool.getClient(settingsFor(proxy.url, { redisSocketTimeout: 0.5 }));
    proxy.faultReplies('extra', { every: 400 });
    const result = await run(4_000, 50, (key) => client.get(key));
    proxy.faultReplies(undefined);
    assert.ok(proxy.faultedReplies > 0);
    assert.ok(
      result.wrong + result.corrupted > 0,
      JSON.stringify({ ...result, errors: Object.fromEntries(result.errors) }),
    );
  } finally {
    pool.destroy();
    await proxy.stop();
    await server.stop();
  }
});

/** Adds `part` into `into`. */
function merge(into: Outcome, part: Outcome): void {
  into.right += part.right;
  into.wrong += part.wrong;
  into.corrupted += part.corrupted;
  into.hung += part.hung;
  into.fenced += part.fenced;
  for (const [name, count] of part.errors) into.errors.set(name, (into.errors.get(name) ?? 0) + count);
}

describe('reply fences in cluster mode: each node behind a fault proxy it announces', () => {
  let cluster: Cluster;
  const proxies: FaultProxy[] = [];
  before(async () => {
    cluster = await startCluster({ masters: 3 });
    for (const node of cluster.nodes) {
      const proxy = await startFaultProxy({ target: node.url });
      proxies.push(proxy);
      const client = await admin(node.url);
      await client.configSet('cluster-announce-port', String(proxy.port));
      client.destroy();
    }
    await announced(cluster, proxies);
  });
  after(async () => {
    for (const proxy of proxies) await proxy.stop();
    await cluster.stop();
  });

  for (const fault of REPLY_LEVEL) {
    for (const inFlight of [1, 50] as const) {
      test(`cluster mode, ${fault}, ${inFlight} in flight`, async () => {
        const pool = new RedisPool({ logger: silent });
        try {
          const nodes = proxies.map((proxy) => `127.0.0.1:${proxy.port}`).join(',');
          const client = await pool.getClient(
            settingsFor('redis://127.0.0.1/0', { ...FENCED, redisClusterNodes: nodes }),
          );
          for (let i = 0; i < KEYS; i++) await client.set(`fence:${i}`, valueFor(i));
          for (const proxy of proxies) proxy.faultReplies(fault, { every: PLAN[inFlight].every });
          const before = proxies.map((proxy) => proxy.faultedReplies);
          const result = await run(PLAN[inFlight].total, inFlight, (key) => client.get(key));
          for (const proxy of proxies) proxy.faultReplies(undefined);
          const faulted = proxies.reduce((sum, proxy, i) => sum + proxy.faultedReplies - (before[i] ?? 0), 0);
          check(`cluster mode, ${fault}, ${inFlight} in flight`, result, faulted, fault);
        } finally {
          pool.destroy();
        }
      });
    }
  }
});

/** Waits until every node lists every node at its proxy's port. */
async function announced(cluster: Cluster, proxies: readonly FaultProxy[]): Promise<void> {
  const ports = new Set(proxies.map((proxy) => proxy.port));
  for (let attempt = 0; attempt < 100; attempt++) {
    let all = true;
    for (const node of cluster.nodes) {
      const client = await admin(node.url);
      const nodes = (await client.sendCommand(['CLUSTER', 'NODES'])) as string;
      client.destroy();
      const listed = nodes
        .trim()
        .split('\n')
        .map((line) => Number(/:(\d+)@/.exec(line)?.[1]));
      if (!listed.every((port) => ports.has(port))) all = false;
    }
    if (all) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the cluster nodes did not announce their proxies within 10 s');
}
