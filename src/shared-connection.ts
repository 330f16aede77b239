import { blockingTimeoutMs, NEEDS_A_LOOK, STATE_COMMANDS, stateCommand } from './commands.js';
import {
  type ConnectionHooks,
  connectWithin,
  createConnection,
  internals,
  type Reconnect,
  refuseLifecycle,
  type StringClient,
} from './connection.js';
import { ClientUsageError, CommandTimeoutError, PoolClosedError } from './errors.js';
import { ReplyMonitor } from './health.js';
import type { Lease } from './leases.js';
import type { Logger } from './logger.js';
import type { CommonAppSettings } from './settings.js';

/** Typed methods that change the connection's state without going through `_executeCommand`. */
const STATE_METHODS: Record<string, string> = {
  WATCH: 'WATCH',
  watch: 'WATCH',
  UNWATCH: 'UNWATCH',
  unwatch: 'UNWATCH',
  SELECT: 'SELECT',
  select: 'SELECT',
  MONITOR: 'MONITOR',
  monitor: 'MONITOR',
  RESET: 'RESET',
  reset: 'RESET',
  SUBSCRIBE: 'SUBSCRIBE',
  subscribe: 'SUBSCRIBE',
  PSUBSCRIBE: 'PSUBSCRIBE',
  pSubscribe: 'PSUBSCRIBE',
  SSUBSCRIBE: 'SSUBSCRIBE',
  sSubscribe: 'SSUBSCRIBE',
  UNSUBSCRIBE: 'UNSUBSCRIBE',
  unsubscribe: 'UNSUBSCRIBE',
  PUNSUBSCRIBE: 'PUNSUBSCRIBE',
  pUnsubscribe: 'PUNSUBSCRIBE',
  SUNSUBSCRIBE: 'SUNSUBSCRIBE',
  sUnsubscribe: 'SUNSUBSCRIBE',
};

/** Runs `use` with a leased connection: how the shared client sends blocking commands. */
export type OnLease = (use: (lease: Lease) => Promise<unknown>) => Promise<unknown>;

/** State of the shared connection, as `redisPool.stats()` reports it. */
export type SharedState = 'ready' | 'reconnecting' | 'closed';

const refusal = (command: string) =>
  new ClientUsageError(
    `${command} is not available on the pool's shared client: it would change the connection every caller ` +
      `shares. Use ${STATE_COMMANDS[command]}.`,
  );

/** A multi/pipeline body: node-redis passes its commands as `{ args }`. */
type Batch = readonly { args: readonly unknown[] }[];

/**
 * The object callers hold: its prototype is the current node-redis client, so every command is
 * node-redis's own method. It refuses the lifecycle methods and the state-changing ones, checks
 * raw `sendCommand()` calls, and derives its command-option views (`withTypeMapping()`,
 * `withAbortSignal()`, `asap()`, `withCommandOptions()`) from itself rather than from the
 * client instance, so a view kept for later follows a replaced connection too.
 */
function createFacade(client: StringClient, onLease: OnLease): StringClient {
  const facade = Object.create(client);
  refuseLifecycle(
    facade,
    "the pool's shared client: it would affect every caller",
    'Use redisPool.close() or redisPool.destroy() to end the pool.',
  );
  for (const [method, command] of Object.entries(STATE_METHODS)) {
    facade[method] = () => Promise.reject(refusal(command));
  }
  facade.sendCommand = function (this: StringClient, args: readonly unknown[], options?: unknown) {
    const refused = stateCommand(args);
    if (refused) return Promise.reject(refusal(refused));
    if (blockingTimeoutMs(args) !== undefined) return onLease((lease) => lease.send(args, options));
    return internals(this as StringClient)._self.sendCommand(args, options);
  };
  const derive = (from: { _commandOptions?: object }, options: object) => {
    const view = Object.create(from);
    view._commandOptions = { ...from._commandOptions, ...options };
    return view;
  };
  facade.withCommandOptions = function (this: object, options: object) {
    return derive(this, options);
  };
  facade._commandOptionsProxy = function (this: object, key: string, value: unknown) {
    return derive(this, { [key]: value });
  };
  return facade;
}

/**
 * The shared, multiplexed connection: one node-redis client that pipelines every ordinary
 * command. Blocking commands sent on it run on a leased connection instead; commands that would
 * change its state are refused with a `ClientUsageError` naming what to use.
 *
 * Its `ReplyMonitor`, ticked by the pool, bounds reply time at O(1) cost and PINGs it when idle.
 * A hung connection has its commands rejected with `CommandTimeoutError` and is replaced by a
 * fresh client, which reconnects with backoff; callers keep the same facade, whose prototype is
 * re-pointed to the new client.
 */
export class SharedConnection {
  readonly #settings: CommonAppSettings;
  readonly #logger: Logger;
  readonly #hooks: ConnectionHooks;
  readonly #facade: StringClient;
  readonly #monitor: ReplyMonitor;
  readonly #onLease: OnLease;
  #client: StringClient;
  #closing: Promise<void> | undefined;
  #closed = false;

  /** Connects, sends PING, and returns the connection. Rejects with a typed `ConnectError`. */
  static async open(
    settings: CommonAppSettings,
    logger: Logger,
    onLease: OnLease,
    onEvent?: ConnectionHooks['onEvent'],
  ): Promise<SharedConnection> {
    const connection = new SharedConnection(settings, logger, onLease, onEvent);
    await connectWithin(connection.#client, settings);
    return connection;
  }

  private constructor(
    settings: CommonAppSettings,
    logger: Logger,
    onLease: OnLease,
    onEvent: ConnectionHooks['onEvent'],
  ) {
    this.#settings = settings;
    this.#logger = logger;
    this.#onLease = onLease;
    this.#monitor = new ReplyMonitor(settings.redisSocketTimeout * 1000, settings.redisHealthCheckInterval * 1000);
    this.#hooks = {
      ...(onEvent ? { onEvent } : {}),
      // Every typed command passes here: one Set lookup, unless it is one to route or refuse.
      intercept: (args, options) => {
        if (!NEEDS_A_LOOK.has(args[0])) return undefined;
        const refused = stateCommand(args);
        if (refused) return Promise.reject(refusal(refused));
        if (blockingTimeoutMs(args) === undefined) return undefined;
        return onLease((lease) => lease.send(args, options));
      },
    };
    this.#client = this.#create('after-ready');
    this.#facade = createFacade(this.#client, onLease);
  }

  /** The typed node-redis client callers use. */
  get client(): StringClient {
    return this.#facade;
  }

  /** Commands queued or awaiting a reply on the shared connection. */
  get inFlight(): number {
    return internals(this.#client)._getQueue().pendingCount;
  }

  get state(): SharedState {
    if (this.#closed) return 'closed';
    return this.#client.isReady ? 'ready' : 'reconnecting';
  }

  /** The monitor's tick: a hung connection is replaced, an idle one is checked with PING. */
  tick(): void {
    const verdict = this.#monitor.tick(this.inFlight);
    if (verdict === 'hung') this.#replaceHungClient();
    else if (verdict === 'check' && this.#client.isReady) {
      // A PING that never comes back leaves a command outstanding, which the next ticks catch.
      this.#client.ping().catch((error: unknown) => {
        this.#logger.debug({ err: error }, 'Health-check PING on the shared Redis connection failed');
      });
    }
  }

  /**
   * Stops taking commands (new ones reject with `PoolClosedError`), lets the outstanding ones
   * finish, then closes the socket. After `timeoutMs`, whatever is left is destroyed.
   */
  close(timeoutMs?: number): Promise<void> {
    this.#closing ??= this.#drain(timeoutMs);
    return this.#closing;
  }

  /** Closes the socket now; outstanding commands reject with `PoolClosedError`. */
  destroy(): void {
    this.#closed = true;
    this.#refuseCommands();
    internals(this.#client)._getQueue().flushAll(new PoolClosedError('The Redis pool was destroyed'));
    this.#client.destroy();
  }

  #create(reconnect: Reconnect): StringClient {
    const client = createConnection(this.#settings, 'shared', this.#logger, reconnect, this.#hooks);
    this.#monitor.attach(client);
    guardBatches(client, this.#onLease);
    return client;
  }

  async #drain(timeoutMs: number | undefined): Promise<void> {
    this.#refuseCommands();
    let timer: NodeJS.Timeout | undefined;
    try {
      // A client whose socket is already shut has nothing to drain, and its close() would throw.
      if (!this.#client.isOpen) return;
      const drained = this.#client.close();
      const timedOut = new Promise<void>((resolve) => {
        if (timeoutMs !== undefined) timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([drained, timedOut]);
    } finally {
      clearTimeout(timer);
      // Ends a drain that ran out of time: destroy() rejects whatever is still outstanding.
      this.destroy();
      this.#logger.info({ url: this.#settings.redisUrl }, 'Redis pool closed');
    }
  }

  /**
   * New commands reject with `PoolClosedError`. Every command path of node-redis's client ends
   * in one of these three methods on the client instance, so overriding them there is enough.
   */
  #refuseCommands(): void {
    const refuse = () => Promise.reject(new PoolClosedError());
    const instance = internals(this.#client)._self as Record<string, unknown>;
    instance.sendCommand = refuse;
    instance._executeMulti = refuse;
    instance._executePipeline = refuse;
  }

  #replaceHungClient(): void {
    const hung = this.#client;
    const pending = this.inFlight;
    const error = new CommandTimeoutError(this.#settings.redisUrl, this.#settings.redisSocketTimeout * 1000, pending);
    this.#logger.warn({ err: error, url: this.#settings.redisUrl }, 'Shared Redis connection hung; replacing it');
    internals(hung)._getQueue().flushAll(error);
    hung.destroy();
    if (this.#closing) return;
    const next = this.#create('always');
    this.#client = next;
    Object.setPrototypeOf(this.#facade, next);
    next.connect().catch((cause: unknown) => {
      this.#logger.debug({ err: cause }, 'Replacement Redis connection ended before it was ready');
    });
  }
}

/** The first command of a batch that would change the connection's state, if any. */
function stateCommandIn(commands: Batch): string | undefined {
  for (const { args } of commands) {
    const refused = stateCommand(args);
    if (refused) return refused;
  }
  return undefined;
}

type BatchRunner = (commands: Batch, ...rest: unknown[]) => Promise<unknown>;

/**
 * `multi()…exec()` and pipelines bypass `_executeCommand`. A batch that would change the shared
 * connection's state is refused; a pipeline with a blocking command runs, whole and in order,
 * on a lease (inside MULTI/EXEC Redis never blocks, so transactions stay shared).
 */
function guardBatches(client: StringClient, onLease: OnLease): void {
  const instance = internals(client)._self as unknown as { _executeMulti: BatchRunner; _executePipeline: BatchRunner };
  const executeMulti = instance._executeMulti;
  const executePipeline = instance._executePipeline;
  instance._executeMulti = function (commands, ...rest) {
    const refused = stateCommandIn(commands);
    if (refused) return Promise.reject(refusal(refused));
    return executeMulti.call(this, commands, ...rest);
  };
  instance._executePipeline = function (commands, ...rest) {
    const refused = stateCommandIn(commands);
    if (refused) return Promise.reject(refusal(refused));
    if (!commands.some(({ args }) => blockingTimeoutMs(args) !== undefined)) {
      return executePipeline.call(this, commands, ...rest);
    }
    return onLease((lease) => {
      const leased = internals(lease.connection.client)._self as unknown as { _executePipeline: BatchRunner };
      return leased._executePipeline(commands, ...rest);
    });
  };
}
