/** The errors of the testing helpers, which only `@refactorizado/redis-pool/testing` throws. */
import { RedisPoolError } from '../errors.js';

/** `redis-server` is not installed. The message says how to install it. */
export class RedisServerNotFoundError extends RedisPoolError {
  override readonly code = 'REDIS_POOL_SERVER_NOT_FOUND';
  override name = 'RedisServerNotFoundError';

  constructor(binary: string) {
    super(
      `The Redis server binary \`${binary}\` was not found. Install it with ` +
        '`apt-get update && apt-get install -y redis-server redis-tools` (Debian/Ubuntu, as root) or ' +
        '`brew install redis` (macOS), or set REDIS_SERVER_BIN to its path.',
    );
  }
}

/** A test server did not start; the message carries its log. */
export class RedisServerStartError extends RedisPoolError {
  override readonly code = 'REDIS_POOL_SERVER_START_FAILED';
  override name = 'RedisServerStartError';
}
