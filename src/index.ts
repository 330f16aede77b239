export type {
  BufferClient,
  BufferTypeMapping,
  RedisPoolClient,
  StringClient,
} from './connection.js';
export {
  CommandTimeoutError,
  ConnectError,
  type ConnectFailure,
  ConnectionRefusedError,
  ConnectTimeoutError,
  PoolClosedError,
  RedisAuthError,
  RedisPoolError,
  RedisServerNotFoundError,
  RedisServerStartError,
  SettingsConflictError,
  SettingsError,
  type SettingsIssue,
  SharedClientUsageError,
  TlsError,
} from './errors.js';
export { createLogger, type Logger, type LogMethod } from './logger.js';
export {
  type CloseOptions,
  closeRedisPool,
  getRedisClient,
  RedisPool,
  type RedisPoolOptions,
  redisPool,
} from './pool.js';
export { redactUrl, Secret } from './secret.js';
export {
  CommonAppSettings,
  type LoadSettingsOptions,
  type LogLevel,
  loadSettings,
  SETTINGS_DEFAULTS,
  type SettingsInput,
} from './settings.js';
