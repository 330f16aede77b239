/**
 * Where the shared client's reads go (`REDIS_READ_FROM`), for both modes that have replicas:
 * sentinel mode's replica connections and a cluster shard's replica node clients.
 */
import { ConnectionLostError, RedisUnavailableError } from '../errors.js';
import type { ReadFrom } from '../settings/parsers.js';

/** The primary, rather than one of the replicas offered. */
export const PRIMARY = Symbol('primary');

/**
 * The choice of one read's server among the replicas ready now, as `REDIS_READ_FROM` says:
 * `replica-preferred` and `replica` take the ready replicas in turn (`replica-preferred` the
 * primary when none is ready, `replica` none: the caller refuses the read); `any` takes the
 * primary and then each ready replica in turn; `primary` always the primary.
 */
export class ReadRotation {
  readonly #mode: ReadFrom;
  #turn = 0;

  constructor(mode: ReadFrom) {
    this.#mode = mode;
  }

  get mode(): ReadFrom {
    return this.#mode;
  }

  /** Whether reads may go to replicas at all. */
  get replicas(): boolean {
    return this.#mode !== 'primary';
  }

  /** One of `ready`, or `PRIMARY`, or `undefined` when the read may go nowhere (`replica` with none ready). */
  choose<T>(ready: readonly T[]): T | typeof PRIMARY | undefined {
    if (this.#mode === 'primary') return PRIMARY;
    const turn = this.#turn++;
    // Wraps long before 2^53, so the rotation never sticks.
    if (this.#turn >= 0x40000000) this.#turn = 0;
    if (this.#mode === 'any') {
      const at = turn % (ready.length + 1);
      return at === ready.length ? PRIMARY : ready[at];
    }
    if (ready.length === 0) return this.#mode === 'replica' ? undefined : PRIMARY;
    return ready[turn % ready.length];
  }
}

/**
 * Whether a read that failed with `error` is sent once more, on the primary or another replica:
 * only when the connection it went out on was lost (so it may not have run; a read runs twice
 * harmlessly), and only when reads go to replicas at all.
 */
export function readAgain(rotation: ReadRotation, error: unknown): boolean {
  return rotation.replicas && error instanceof ConnectionLostError;
}

/** The refusal of a read with `REDIS_READ_FROM=replica` while no replica is ready. */
export function noReplica(url: string, where: string): RedisUnavailableError {
  return new RedisUnavailableError(
    url,
    'no-replica',
    `no replica ${where} is ready, and REDIS_READ_FROM=replica sends read-only commands to replicas only ` +
      '(REDIS_READ_FROM=replica-preferred reads from the primary meanwhile)',
  );
}
