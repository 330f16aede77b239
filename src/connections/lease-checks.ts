/**
 * Whether a connection of the lease pool may be lent: before it is lent (lost, led elsewhere, or
 * idle long enough to owe a PING) and when it comes back (broken, replies unread, on a replica,
 * led elsewhere, past its lifetime). Each answer is the reason it would be closed for.
 */
import type { Logger } from '../logger.js';
import type { CommonAppSettings } from '../settings.js';
import type { Target } from '../topology/target.js';
import type { CloseReason } from './closes.js';
import type { PooledConnection } from './lease.js';

export class LeaseChecks {
  readonly #settings: CommonAppSettings;
  readonly #target: Target;
  readonly #logger: Logger;

  constructor(settings: CommonAppSettings, target: Target, logger: Logger) {
    this.#settings = settings;
    this.#target = target;
    this.#logger = logger;
  }

  /** Whether a connection leads where the pool's connections go now (not to a primary failed over from). */
  isCurrent(connection: PooledConnection): boolean {
    return connection.address === undefined || this.#target.is(connection.address);
  }

  /** Whether a connection has been idle longer than `REDIS_HEALTH_CHECK_INTERVAL`. */
  checkDue(connection: PooledConnection): boolean {
    const intervalMs = this.#settings.redisHealthCheckInterval * 1000;
    return intervalMs > 0 && performance.now() - connection.lastUsedAt >= intervalMs;
  }

  /** Why an idle connection must not be lent: lost or (idle long) no answer to a PING, or led elsewhere. */
  async unfit(connection: PooledConnection): Promise<CloseReason | undefined> {
    if (!connection.isReady) return 'unhealthy';
    if (!this.isCurrent(connection)) return 'failed-over';
    if (!this.checkDue(connection)) return undefined;
    const failure = await connection.check(this.#settings.redisSocketTimeout * 1000);
    if (failure === undefined) return undefined;
    this.#logger.debug({ reason: failure }, 'Idle Redis connection failed its health check');
    return 'unhealthy';
  }

  /** Why a connection given back cannot be lent again, if it cannot. */
  unusable(connection: PooledConnection): CloseReason | undefined {
    if (!connection.isReady) return 'broken';
    if (connection.pending > 0) return 'unread-replies';
    if (connection.readonly) return 'readonly';
    if (!this.isCurrent(connection)) return 'failed-over';
    if (connection.lastUsedAt >= connection.expiresAt) return 'expired';
    return undefined;
  }
}
