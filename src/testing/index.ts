/**
 * Real Redis servers for tests: `@refactorizado/redis-pool/testing`. Every helper runs the
 * system's own `redis-server` on a free loopback port; nothing is mocked.
 */

export { type Cluster, type ClusterOptions, startCluster } from './cluster.js';
export { RedisServerNotFoundError, RedisServerStartError } from './errors.js';
export {
  type FakeConnection,
  type FakeRedis,
  type FakeRedisOptions,
  type FakeReply,
  startFakeRedis,
} from './fake-redis.js';
export { type FaultMode, type FaultProxy, type FaultProxyOptions, startFaultProxy } from './fault-proxy.js';
export { type RedisServer, type RedisServerOptions, startRedisServer } from './redis-server.js';
export type { ReplyFault } from './reply-faults.js';
export { type SentinelGroup, type SentinelGroupOptions, startSentinelGroup } from './sentinel-group.js';
