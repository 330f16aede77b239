/**
 * Why the pool closed each connection it closed, HikariCP's way: every close has a reason, logged
 * at debug level and counted per reason for `stats().closed` and the metrics.
 */
import type { Logger } from '../logger.js';

/** Every reason the pool gives for closing a connection, as `stats().closed` and the metrics count them. */
export const CLOSE_REASONS = [
  /** Idle longer than `REDIS_IDLE_TIMEOUT`, above `REDIS_MIN_IDLE_CONNECTIONS`. */
  'idle',
  /** Older than `REDIS_MAX_LIFETIME`. */
  'expired',
  /** Found lost, or (idle past `REDIS_HEALTH_CHECK_INTERVAL`) without an answer to its PING, before it was lent. */
  'unhealthy',
  /** It leads to a server that is no longer the primary (a failover). */
  'failed-over',
  /** The server answered READONLY: it is a replica now. */
  'readonly',
  /** Lost, or ended for a reply it could not use. */
  'broken',
  /** No reply for `REDIS_SOCKET_TIMEOUT` with commands outstanding. */
  'hung',
  /** Given back with replies still unread. */
  'unread-replies',
  /** Its lease was aborted (`signal`) while the callback ran. */
  'abandoned',
  /** The state its borrower left (SELECT, WATCH, MULTI …) could not be reset. */
  'unrestorable',
  /** Idle, it made way for another kind of connection (the subscriber) within `REDIS_MAX_CONNECTIONS`. */
  'made-way',
  /** The pool closed. */
  'pool-closed',
] as const;

/** Why the pool closed a connection: one of {@link CLOSE_REASONS}. */
export type CloseReason = (typeof CLOSE_REASONS)[number];

/** The reasons that count as a stale connection closed (`stats().staleClosed`, go-redis's `StaleConns`). */
const STALE: ReadonlySet<CloseReason> = new Set(['idle', 'expired', 'unhealthy', 'failed-over']);

/** The connections the pool has closed, by reason. */
export class Closes {
  readonly #logger: Logger;
  readonly #counts = new Map<CloseReason, number>(CLOSE_REASONS.map((reason) => [reason, 0]));

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Notes one connection closed, of `role` (`lease`, `shared` …), for `reason`. */
  record(reason: CloseReason, role: string): void {
    this.#counts.set(reason, (this.#counts.get(reason) ?? 0) + 1);
    this.#logger.debug({ reason, role }, `Closing a Redis connection (${role}): ${reason}`);
  }

  /** The count per reason. */
  counts(): Record<CloseReason, number> {
    return Object.fromEntries(this.#counts) as Record<CloseReason, number>;
  }

  /** Connections closed for age or failed health: idle, expired, unhealthy, failed over. */
  get stale(): number {
    let stale = 0;
    for (const [reason, count] of this.#counts) if (STALE.has(reason)) stale += count;
    return stale;
  }
}
