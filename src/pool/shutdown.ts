import { constants } from 'node:os';

/** Options of `redisPool.closeOnSignals()`. */
export interface CloseOnSignalsOptions {
  /** The signals that close the pool. @default ['SIGTERM', 'SIGINT'] */
  signals?: readonly NodeJS.Signals[];
  /** How long the drain may take before what is left is destroyed, in ms. @default 10000 */
  timeoutMs?: number;
  /**
   * Runs first, and is awaited: stop taking work (an HTTP server's `close()`, resolved once its
   * running requests are done), so that what is still running keeps the pool until it ends.
   */
  beforeClose?: () => unknown;
  /**
   * Exit the process once the pool is closed, with code 128 + the signal's number, as a process
   * killed by it would. Off by default: the process then exits by itself once nothing else
   * (an HTTP server, a timer) keeps it alive, and other handlers decide. @default false
   */
  exit?: boolean;
}

/**
 * Closes `pool` gracefully on the first of `signals` (after `beforeClose`), then lets the process
 * exit (or exits it, with `exit`). A second signal is Node's to handle: it ends the process. Adds listeners next to any others, never replacing them; returns the function
 * that removes them.
 */
export function closeOnSignals(
  pool: { close(options: { timeoutMs?: number }): Promise<void> },
  report: (error: unknown) => void,
  { signals = ['SIGTERM', 'SIGINT'], timeoutMs = 10_000, exit = false, beforeClose }: CloseOnSignalsOptions = {},
): () => void {
  const remove = () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
  async function onSignal(signal: NodeJS.Signals) {
    // A second signal meets no listener of ours: Node's default ends the process at once.
    remove();
    try {
      await beforeClose?.();
    } catch (error) {
      report(error);
    }
    await pool.close({ timeoutMs }).catch(report);
    if (exit) process.exit(128 + constants.signals[signal]);
  }
  for (const signal of signals) process.on(signal, onSignal);
  return remove;
}
