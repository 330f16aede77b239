/**
 * The self-check of node-redis. Before a pool's first connection, once per process, each behaviour
 * of node-redis that node-redis.ts relies on is tried through node-redis.ts's own functions, on
 * clients connected to a scripted RESP peer in this process (`startFakeRedis` on 127.0.0.1). A
 * node-redis that fails any of them stops the pool from opening with `UnsupportedNodeRedisError`:
 * a guarantee that silently stops holding is worse than an error.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { beforeDeadline } from '../deadline.js';
import { UnsupportedNodeRedisError } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  ConnectionTimeoutError,
  createClient,
  createCluster,
  ErrorReply,
  MaxCommandRedirectionsError,
  RESP_TYPES,
  TimeoutError,
  WatchError,
} from './node-redis.js';
import { Difference, describe, Peer, PROBE_DEADLINE_MS } from './probe-peer.js';
import { CLIENT_PROBES, CLUSTER_PROBES } from './probes.js';

/** What the pool takes from node-redis's exports (node-redis.ts re-exports them; a missing one is undefined). */
const EXPORTS = {
  createClient,
  createCluster,
  ConnectionTimeoutError,
  ErrorReply,
  MaxCommandRedirectionsError,
  RESP_TYPES,
  TimeoutError,
  WatchError,
};

/**
 * Runs `probes` against a fresh peer and resolves with what differs, one sentence each; none when
 * node-redis behaves as the pool relies on. Not cached: `checkNodeRedis()` is what the pool calls.
 */
export async function probeNodeRedis(which: 'client' | 'cluster' = 'client'): Promise<string[]> {
  const missing = Object.entries(EXPORTS)
    .filter(([, value]) => value === undefined)
    .map(([name]) => name);
  if (missing.length > 0) return [`node-redis does not export ${missing.join(', ')}`];
  const failures: string[] = [];
  const peer = new Peer();
  try {
    await peer.start();
  } catch (error) {
    throw new Error(`The node-redis self-check could not listen on 127.0.0.1 in this process: ${describe(error)}`, {
      cause: error,
    });
  }
  try {
    for (const probe of which === 'client' ? CLIENT_PROBES : CLUSTER_PROBES) {
      peer.script = undefined;
      try {
        await beforeDeadline(probe.run(peer), PROBE_DEADLINE_MS, () => {
          throw new Difference(`no result within ${PROBE_DEADLINE_MS / 1000} s: a reply did not reach its command`);
        });
      } catch (error) {
        failures.push(`${probe.of}: ${error instanceof Difference ? error.message : describe(error)}`);
      } finally {
        peer.destroyClients();
      }
    }
  } finally {
    await peer.stop();
  }
  return failures;
}

const checks = new Map<'client' | 'cluster', Promise<void>>();

/**
 * Checks, once per process, that node-redis behaves as the pool relies on: its clients, and in
 * cluster mode its cluster client too. Rejects with `UnsupportedNodeRedisError` when it does not.
 */
export function checkNodeRedis(cluster: boolean, logger: Logger): Promise<void> {
  const client = once('client', logger);
  return cluster ? client.then(() => once('cluster', logger)) : client;
}

function once(which: 'client' | 'cluster', logger: Logger): Promise<void> {
  let check = checks.get(which);
  if (!check) {
    const startedAt = performance.now();
    check = probeNodeRedis(which).then(
      (failures) => {
        if (failures.length > 0) throw new UnsupportedNodeRedisError(nodeRedisVersion(), supportedRange(), failures);
        const ms = Math.round(performance.now() - startedAt);
        logger.debug({ version: nodeRedisVersion(), ms }, `node-redis passed the pool's self-check (${which})`);
      },
      (error: unknown) => {
        // The check could not run at all (no loopback): try again next time.
        checks.delete(which);
        throw error;
      },
    );
    checks.set(which, check);
  }
  return check;
}

const require = createRequire(import.meta.url);

/** The version of the `redis` package the pool loads, and of its `@redis/client` if that differs. */
export function nodeRedisVersion(): string {
  const manifest = require.resolve('redis/package.json');
  const redis = (require(manifest) as { version: string }).version;
  const client = (createRequire(manifest)('@redis/client/package.json') as { version: string }).version;
  return client === redis ? redis : `${redis} (@redis/client ${client})`;
}

/** The `redis` range of the pool's own package.json: the versions it supports. */
export function supportedRange(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    dependencies: { redis: string };
  };
  return manifest.dependencies.redis;
}
