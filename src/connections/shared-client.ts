/**
 * The face of the shared connection that callers hold, and how their commands are screened:
 * commands that would change the connection every caller shares are refused, naming what to use
 * instead, and batches with a blocking command run on a lease.
 */
import { blockingTimeoutMs, STATE_COMMANDS, STATE_METHODS, stateCommand } from '../client/commands.js';
import { ownListeners, shareLifecycle } from '../client/facades.js';
import type { StringClient } from '../client/types.js';
import { ClientUsageError } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  type Batch,
  commandOptionsOf,
  deriveViewsFrom,
  layerCommands,
  runMultiOn,
  runPipelineOn,
} from '../node-redis/node-redis.js';
import type { ConnectionLease } from './leasable-connection.js';

/** Runs `use` with a leased connection: how the shared client sends blocking commands. */
export type OnLease = (use: (lease: ConnectionLease) => Promise<unknown>) => Promise<unknown>;

/** The refusal of a command that would change the shared connection's state. */
export const refusal = (command: string) =>
  new ClientUsageError(
    `${command} is not available on the pool's shared client: it would change the connection every caller ` +
      `shares. Use ${STATE_COMMANDS[command]}.`,
  );

/** Sends raw arguments the way the shared client does: refused, routed to a lease, held, or sent. */
export type Route = (args: readonly unknown[], options?: unknown) => Promise<unknown>;

/**
 * The object callers hold: its prototype is the current node-redis client, so every command is
 * node-redis's own method. Its lifecycle methods leave the connection alone, and it has listeners
 * of its own, which outlive the client behind it. It refuses the state-changing methods, checks
 * raw `sendCommand()` calls, and derives its command-option views (`withTypeMapping()`,
 * `withAbortSignal()`, `asap()`, `withCommandOptions()`) from itself rather than from the
 * client instance, so a view kept for later follows a replaced connection too.
 */
export function createFacade(client: StringClient, route: Route, logger: Logger): StringClient {
  const facade = Object.create(client);
  shareLifecycle(facade, logger, "the pool's shared client");
  ownListeners(facade);
  for (const [method, command] of Object.entries(STATE_METHODS)) {
    facade[method] = () => Promise.reject(refusal(command));
  }
  // A raw command sent through a view (`withCommandOptions()` …) takes the view's options, as on
  // node-redis's own client: with them, its deadline and type mapping.
  facade.sendCommand = function (this: object, args: readonly unknown[], options?: object) {
    const own = commandOptionsOf(this);
    return route(args, options === undefined || options === own ? own : { ...own, ...options });
  };
  deriveViewsFrom(facade);
  return facade;
}

/** The first command of a batch that would change the connection's state, if any. */
function stateCommandIn(commands: Batch): string | undefined {
  for (const { args } of commands) {
    const refused = stateCommand(args);
    if (refused) return refused;
  }
  return undefined;
}

/** Holds a batch while the connection is down, then `retry`s it on the client current then; `undefined` when up. */
export type Gate = (retry: (current: StringClient) => Promise<unknown>) => Promise<unknown> | undefined;

/**
 * `multi()…exec()` and pipelines bypass `_executeCommand`. A batch that would change the shared
 * connection's state is refused; a pipeline with a blocking command runs, whole and in order,
 * on a lease (inside MULTI/EXEC Redis never blocks, so transactions stay shared).
 */
export function guardBatches(client: StringClient, onLease: OnLease, gate: Gate): void {
  layerCommands(client, {
    multi(self, commands, rest, next) {
      const refused = stateCommandIn(commands);
      if (refused) return Promise.reject(refusal(refused));
      return gate((current) => runMultiOn(current, commands, rest)) ?? next(self, commands, rest);
    },
    pipeline(self, commands, rest, next) {
      const refused = stateCommandIn(commands);
      if (refused) return Promise.reject(refusal(refused));
      const held = gate((current) => runPipelineOn(current, commands, rest));
      if (held) return held;
      if (!commands.some(({ args }) => blockingTimeoutMs(args) !== undefined)) return next(self, commands, rest);
      return onLease((lease) => runPipelineOn(lease.connection.client, commands, rest));
    },
  });
}
