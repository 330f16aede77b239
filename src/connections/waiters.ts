/** How long a caller waits, and what may stop it waiting sooner. */
export interface WaitOptions {
  /** How long to wait, in ms. */
  timeoutMs: number;
  /** Aborts the wait: it rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
}

/** What the queue has counted, for `redisPool.stats()`. */
export interface WaitStats {
  /** Callers that had to wait. */
  waitCount: number;
  /** The time they waited, in ms, summed. */
  waitTimeMs: number;
  /** Callers whose wait ran out. */
  timeouts: number;
}

/**
 * One waiting caller: a promise, settled once, with a deadline and an abort signal. tarn.js's
 * `PendingOperation` is the model.
 */
class Waiter<T> {
  readonly promise: Promise<T>;
  #resolve!: (value: T) => void;
  #reject!: (error: unknown) => void;
  #cleanup: () => void = () => undefined;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** Runs `cleanup` when the waiter is settled, however it is. */
  onSettled(cleanup: () => void): void {
    this.#cleanup = cleanup;
  }

  grant(value: T): void {
    this.#cleanup();
    this.#resolve(value);
  }

  fail(error: unknown): void {
    this.#cleanup();
    this.#reject(error);
  }
}

/**
 * Callers waiting for what a pool hands out, first come first served. Each waits up to its own
 * deadline, when it gets the error `timedOut` makes, or until its signal aborts.
 */
export class WaiterQueue<T> {
  readonly #timedOut: (timeoutMs: number) => unknown;
  /** Oldest first: a Set keeps insertion order, and removes in O(1). */
  readonly #waiters = new Set<Waiter<T>>();
  readonly #stats: WaitStats = { waitCount: 0, waitTimeMs: 0, timeouts: 0 };

  /** @param timedOut Makes the error for a caller whose wait ran out; called at that moment. */
  constructor(timedOut: (timeoutMs: number) => unknown) {
    this.#timedOut = timedOut;
  }

  get size(): number {
    return this.#waiters.size;
  }

  get stats(): WaitStats {
    return { ...this.#stats };
  }

  /** Waits in line for the value that `grantOldest()` hands out. */
  wait({ timeoutMs, signal }: WaitOptions): Promise<T> {
    signal?.throwIfAborted();
    const waiter = new Waiter<T>();
    const started = performance.now();
    this.#stats.waitCount++;
    const timer = setTimeout(() => {
      this.#stats.timeouts++;
      waiter.fail(this.#timedOut(timeoutMs));
    }, timeoutMs);
    const onAbort = () => waiter.fail(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    waiter.onSettled(() => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.#waiters.delete(waiter);
      this.#stats.waitTimeMs += performance.now() - started;
    });
    this.#waiters.add(waiter);
    return waiter.promise;
  }

  /**
   * Hands the oldest caller what `take()` gives, if someone waits and `take()` gives something
   * (`undefined`: nothing to hand out). Returns whether a caller was served.
   */
  grantOldest(take: () => T | undefined): boolean {
    const oldest = this.#waiters.values().next().value as Waiter<T> | undefined;
    if (oldest === undefined) return false;
    const value = take();
    if (value === undefined) return false;
    oldest.grant(value);
    return true;
  }

  /** Rejects every waiting caller with `error`. */
  failAll(error: unknown): void {
    for (const waiter of [...this.#waiters]) waiter.fail(error);
  }
}
