/**
 * Settles as `work` does, or, when `work` has not settled within `ms`, as `onTimeout` does (its
 * return value, or what it throws). The timer is always cleared; without `ms` there is no
 * deadline. A `work` abandoned at the deadline is still held here, so its late failure is not an
 * unhandled rejection.
 *
 * @example
 * await beforeDeadline(client.ping(), 1000, () => { throw new Error('no PONG within 1 s'); });
 * await beforeDeadline(drained, timeoutMs, () => undefined); // stop waiting, carry on
 */
export async function beforeDeadline<T>(work: Promise<T>, ms: number | undefined, onTimeout: () => T): Promise<T> {
  if (ms === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (error) {
        reject(error);
      }
    }, ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Settles with `work`, or rejects with the signal's reason as soon as it aborts. */
export function abortable<T>(work: Promise<T> | T, signal: AbortSignal, onAbort: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      onAbort();
      reject(signal.reason);
    };
    signal.addEventListener('abort', abort, { once: true });
    Promise.resolve(work).then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(error);
      },
    );
  });
}

/** When a caller stops waiting for some work. */
export interface Cutoff {
  /** After this many ms (none when not finite), with `onTimeout()`'s error. */
  ms: number;
  /** When this signal aborts, with its reason. */
  signal: AbortSignal | undefined;
  onTimeout: () => unknown;
  /** What the caller gets when the work fails first: the error itself, or another. */
  onFailure?: (error: unknown) => unknown;
}

/**
 * Settles as `work` does, unless its cutoff comes first: rejects at `ms` with `onTimeout()`, or
 * with the signal's reason as soon as it aborts (at once, without starting `work`, if it already
 * has). The work is not stopped, and its late outcome is dropped, never an unhandled rejection.
 * `work` gets `over()`, true once the caller has stopped waiting, to skip what it has not begun.
 * A failure of the work once the signal has aborted is the signal's reason too: node-redis drops
 * a command it has not written when the signal aborts, with an error of its own.
 *
 * @example
 * await cutOff(() => client.get('key'), { ms: 100, signal, onTimeout: () => new Error('too slow') });
 */
export function cutOff<T>(work: (over: () => boolean) => Promise<T>, cutoff: Cutoff): Promise<T> {
  const { ms, signal, onTimeout, onFailure } = cutoff;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    let over = false;
    let timer: NodeJS.Timeout | undefined;
    const abort = () => end(() => reject(signal?.reason));
    const end = (settle: () => void) => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
      settle();
    };
    if (Number.isFinite(ms)) timer = setTimeout(() => end(() => reject(onTimeout())), ms);
    // Listening before the work starts: node-redis's own listener, added when the command is
    // queued, then runs after ours, and the caller gets the reason rather than node-redis's error.
    signal?.addEventListener('abort', abort, { once: true });
    let running: Promise<T>;
    try {
      running = work(() => over);
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(
      (value) => end(() => resolve(value)),
      (error: unknown) => end(() => reject(signal?.aborted ? signal.reason : onFailure ? onFailure(error) : error)),
    );
  });
}
