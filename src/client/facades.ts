/**
 * The faces the pool's clients show the callers: lifecycle methods refused (a lease) or made
 * harmless (the shared client), listeners of their own that outlive a replaced connection, and
 * node-redis's events passed on to them.
 */
import { EventEmitter } from 'node:events';
import { ClientUsageError } from '../errors.js';
import type { Logger } from '../logger.js';

/** Methods of node-redis's client that end or open its connection. */
const LIFECYCLE_METHODS = ['connect', 'close', 'destroy', 'quit', 'QUIT', 'disconnect'] as const;

/**
 * Makes `facade`'s lifecycle methods throw a `ClientUsageError`: `which` names the client, and
 * `instead` says what to do. For a lease, whose connection the pool takes back.
 * @example refuseLifecycle(facade, 'a leased client', 'Return from the withConnection() callback instead.')
 */
export function refuseLifecycle(facade: Record<string, unknown>, which: string, instead: string): void {
  for (const method of LIFECYCLE_METHODS) {
    facade[method] = () => {
      throw new ClientUsageError(`client.${method}() is not available on ${which}. ${instead}`);
    };
  }
}

/**
 * Makes `facade`'s lifecycle methods harmless, for a client every caller shares. Libraries call
 * them on the client they are given, at start and at shutdown: `connect()` resolves with the
 * facade (the pool opened it), and `close()`, `quit()`, `disconnect()` and `destroy()` resolve
 * without closing what the other callers share. The first such call is logged at warn.
 */
export function shareLifecycle(facade: Record<string, unknown>, logger: Logger, which: string): void {
  let warned = false;
  facade.connect = () => Promise.resolve(facade);
  for (const method of LIFECYCLE_METHODS.slice(1)) {
    facade[method] = () => {
      if (!warned) {
        warned = true;
        logger.warn(
          { method },
          `client.${method}() on ${which} was ignored, as is every later such call: other callers share ` +
            'the connection. closeRedisPool() (or redisPool.close()) ends the pool.',
        );
      }
      return Promise.resolve();
    };
  }
}

/** node-redis's client events (its README's table). */
export const CLIENT_EVENTS = [
  'connect',
  'ready',
  'end',
  'error',
  'reconnecting',
  'terminated',
  'sharded-channel-moved',
];

/** node-redis's cluster client events. */
export const CLUSTER_EVENTS = [
  'connect',
  'disconnect',
  'error',
  'node-connect',
  'node-ready',
  'node-reconnecting',
  'node-disconnect',
  'node-error',
  'sharded-channel-moved-error',
];

/**
 * Gives `facade`, whose prototype is an emitter (the client behind it), listeners of its own. So
 * the listeners a library adds with `client.on(…)` stay when the pool replaces that client, and
 * its `removeAllListeners()` cannot remove the pool's own `error` listener on the client.
 */
export function ownListeners(facade: object): void {
  // Node's EventEmitter.init gives an object whose `_events` are its prototype's fresh ones.
  EventEmitter.call(facade);
  // Every library in the service adds its listeners here (@keyv/redis four per instance, never
  // removed), so Node's warning of a leak comes at 100 listeners of an event, not 10.
  (facade as EventEmitter).setMaxListeners(100);
}

/**
 * Re-emits `events` of `source` on the emitter `target()` returns (none: not now). An `error` is
 * passed on only to a target with a listener for it: the pool's own listener on the source keeps
 * it from being thrown, so it never becomes an uncaught exception.
 */
export function forwardEvents(source: EventEmitter, events: readonly string[], target: () => EventEmitter | undefined) {
  for (const event of events) {
    source.on(event, (...args: unknown[]) => {
      const to = target();
      if (to && (event !== 'error' || to.listenerCount('error') > 0)) to.emit(event, ...args);
    });
  }
}
