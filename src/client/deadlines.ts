/**
 * Per-call deadlines, `withCommandOptions({ timeout })` and `withAbortSignal(signal)`, held after
 * the write too. node-redis applies both only to a command it has not yet written (its queue
 * drops the listeners at the write), so the pool races the caller's promise against the same
 * deadline. node-redis keeps the written command in its place among those awaiting a reply, and
 * its reply, when it comes, settles that entry and goes nowhere: the replies behind it still
 * line up, and the connection stays.
 */
import { cutOff } from '../deadline.js';
import { CommandTimeoutError } from '../errors.js';
import { commandOptionsOf, TimeoutError } from '../node-redis/node-redis.js';
import { blockingTimeoutMs } from './commands.js';

/** What a command's options say about its deadline, as node-redis reads them. */
export interface Deadline {
  /** Milliseconds; 0 or absent for none. */
  timeout?: number | undefined;
  abortSignal?: AbortSignal | undefined;
}

/**
 * The deadline a command carries, or `undefined` for none: the call's options, else those of the
 * receiver it was sent through (a view's, for a raw `sendCommand()`). For a command without one,
 * this is all deadlines cost: the client's default options declare both keys, so it is a few
 * property reads.
 */
export function deadlineOf(options: unknown, receiver?: unknown): Deadline | undefined {
  const call = options as Deadline | undefined;
  const view = receiver === undefined ? undefined : (commandOptionsOf(receiver as object) as Deadline | undefined);
  const timeout = call?.timeout ?? view?.timeout;
  const abortSignal = call?.abortSignal ?? view?.abortSignal;
  return timeout || abortSignal ? { timeout, abortSignal } : undefined;
}

/**
 * Runs `send` (the command `args`, with the options that carry `deadline`, passed on unchanged
 * so node-redis still drops a command it has not written) and settles as it does, unless the
 * deadline comes first: then the caller gets `CommandTimeoutError.deadline()` at the timeout, or
 * the signal's reason when it aborts (at once, if it already has). A blocking command's timeout
 * starts after its own block time, and one that blocks for ever is cut only by its signal.
 * `send` gets `over()`, true once the caller has stopped waiting: a command held while the
 * connection is down is then not sent at all.
 */
export function sendWithin(
  args: readonly unknown[],
  deadline: Deadline,
  send: (over: () => boolean) => Promise<unknown>,
): Promise<unknown> {
  const timeoutMs = deadline.timeout ?? 0;
  const command = String(args[0]).toUpperCase();
  const late = () => CommandTimeoutError.deadline(command, timeoutMs);
  return cutOff(send, {
    ms: timeoutMs > 0 ? (blockingTimeoutMs(args) ?? 0) + timeoutMs : Number.POSITIVE_INFINITY,
    signal: deadline.abortSignal,
    onTimeout: late,
    // node-redis's own timer, for a command still unwritten at its timeout.
    onFailure: (error) => (error instanceof TimeoutError ? late() : error),
  });
}
