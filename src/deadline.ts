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
