export type { ClusterNodeStats } from './cluster.js';
export type {
  BufferClient,
  BufferTypeMapping,
  ConnectionRole,
  RedisPoolClient,
  StringClient,
} from './connection.js';
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
export type { LeakReport, LeaseOptions, LeaseStats } from './leases.js';
export { createLogger, type Logger, type LogMethod } from './logger.js';
export type { OpenTelemetryMeterProvider, PrometheusRegistry } from './metrics.js';
export { RESP_TYPES } from './node-redis.js';
export {
  type CloseOptions,
  type ConnectionEvent,
  closeRedisPool,
  getRedisClient,
  type LeasedClient,
  type PoolEvents,
  type PoolStats,
  RedisPool,
  type RedisPoolOptions,
  redisPool,
} from './pool.js';
export type { HealthReport, HealthStatus, PoolMode } from './readiness.js';
export { redactUrl, Secret } from './secret.js';
export {
  CommonAppSettings,
  type LoadSettingsOptions,
  type LogLevel,
  loadSettings,
  type NodeAddress,
  SETTINGS_DEFAULTS,
  type SettingSource,
  type SettingsInput,
} from './settings.js';
export type { SharedState } from './shared-connection.js';
export type { CloseOnSignalsOptions } from './shutdown.js';
export { type MessageListener, type PubSubListener, Subscriber, type SubscriberEvents } from './subscriber.js';
