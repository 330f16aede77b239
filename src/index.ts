export type { ClientCacheStats } from './client/cache.js';
export type { NodeAddressMap, PoolClientOptions, TlsClientOptions } from './client/extras.js';
export type { ConnectionRole } from './client/options.js';
export type {
  BufferClient,
  BufferTypeMapping,
  ClusterScanIterators,
  ClusterScanOptions,
  KeyScanOptions,
  RedisPoolClient,
  RedisPoolClusterClient,
  StringClient,
} from './client/types.js';
export { CLOSE_REASONS, type CloseReason } from './connections/closes.js';
export type { LeakReport, LeaseOptions, LeaseStats } from './connections/lease.js';
export type { MessageListener, PubSubListener, SubscriberEvents } from './connections/pub-sub.js';
export type { SharedState } from './connections/shared-connection.js';
export { Subscriber } from './connections/subscriber.js';
export {
  AcquireTimeoutError,
  ClientUsageError,
  CommandTimeoutError,
  ConnectError,
  type ConnectFailure,
  ConnectionLostError,
  ConnectionRefusedError,
  ConnectTimeoutError,
  LeaseReleasedError,
  PoolClosedError,
  ProtocolError,
  RedisAuthError,
  RedisPoolError,
  RedisUnavailableError,
  SettingsConflictError,
  SettingsError,
  type SettingsIssue,
  TlsError,
  type UnavailableReason,
  UnsupportedNodeRedisError,
} from './errors.js';
export { createLogger, type Logger, type LogMethod } from './logger.js';
export { RESP_TYPES } from './node-redis/node-redis.js';
export type { OpenTelemetryMeterProvider, PrometheusRegistry } from './pool/metrics.js';
export type { ConnectionEvent, PoolEvents, PoolStats } from './pool/open-pool.js';
export {
  type CloseOptions,
  closeRedisPool,
  getRedisClient,
  type LeasedClient,
  RedisPool,
  type RedisPoolOptions,
  redisPool,
} from './pool/pool.js';
export type { HealthReport, HealthStatus, PoolMode } from './pool/readiness.js';
export type { CloseOnSignalsOptions } from './pool/shutdown.js';
export { redactUrl, Secret } from './secret.js';
export {
  CommonAppSettings,
  type LoadSettingsOptions,
  type LogLevel,
  loadSettings,
  type NodeAddress,
  type ReadFrom,
  SETTINGS_DEFAULTS,
  type SettingSource,
  type SettingsInput,
} from './settings.js';
export type { ClusterNodeStats, ReplicaStats } from './topology/topology.js';
