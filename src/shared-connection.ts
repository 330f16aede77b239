import { connectWithin, createConnection, internals, type StringClient } from './connection.js';
import { CommandTimeoutError, PoolClosedError, SharedClientUsageError } from './errors.js';
import type { Logger } from './logger.js';
import type { CommonAppSettings } from './settings.js';

/**
 * The watchdog looks at the connection this many times per `REDIS_SOCKET_TIMEOUT`, so a hung
 * connection is declared between 1 and 1 + 1/20 timeouts after its last reply.
 */
const TICKS_PER_TIMEOUT = 20;

/** Methods of node-redis's client that would end the shared connection for every caller. */
const LIFECYCLE_METHODS = ['connect', 'close', 'destroy', 'quit', 'QUIT', 'disconnect'] as const;

/**
 * The object callers hold: its prototype is the current node-redis client, so every command is
 * node-redis's own method. It refuses the lifecycle methods, and derives its command-option views
 * (`withTypeMapping()`, `withAbortSignal()`, `asap()`, `withCommandOptions()`) from itself rather
 * than from the client instance, so a view kept for later follows a replaced connection too.
 */
function createFacade(client: StringClient): StringClient {
  const facade = Object.create(client);
  for (const method of LIFECYCLE_METHODS) {
    facade[method] = () => {
      throw new SharedClientUsageError(
        `client.${method}() is not available on the pool's shared client: it would affect every caller. ` +
          'Use redisPool.close() or redisPool.destroy() to end the pool.',
      );
    };
  }
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
 * command, plus a watchdog that bounds reply time at O(1) cost.
 *
 * Replies come back in order, so one timer per connection that asks "were commands outstanding
 * and did no reply arrive for `REDIS_SOCKET_TIMEOUT`?" bounds every command, with nothing done
 * per command. The watchdog counts chunks the reply decoder receives; the command queue's own
 * length says whether anything is outstanding. A hung connection has its commands rejected
 * with `CommandTimeoutError` and is replaced by a fresh client, which reconnects with backoff;
 * callers keep the same facade, whose prototype is re-pointed to the new client.
 */
export class SharedConnection {
  readonly #settings: CommonAppSettings;
  readonly #logger: Logger;
  readonly #facade: StringClient;
  readonly #watchdog: NodeJS.Timeout;
  #client: StringClient;
  #chunks = 0;
  #chunksAtLastTick = 0;
  #stalledTicks = 0;
  #closing: Promise<void> | undefined;

  /** Connects, sends PING, and starts the watchdog. Rejects with a typed `ConnectError`. */
  static async open(settings: CommonAppSettings, logger: Logger): Promise<SharedConnection> {
    const client = createConnection(settings, 'shared', logger);
    await connectWithin(client, settings);
    return new SharedConnection(settings, logger, client);
  }

  private constructor(settings: CommonAppSettings, logger: Logger, client: StringClient) {
    this.#settings = settings;
    this.#logger = logger;
    this.#client = client;
    this.#countReplies(client);
    this.#facade = createFacade(client);
    const tickMs = Math.max(1, (settings.redisSocketTimeout * 1000) / TICKS_PER_TIMEOUT);
    this.#watchdog = setInterval(() => this.#tick(), tickMs).unref();
  }

  /** The typed node-redis client callers use. */
  get client(): StringClient {
    return this.#facade;
  }

  /** Commands queued or awaiting a reply on the shared connection. */
  get inFlight(): number {
    return internals(this.#client)._getQueue().pendingCount;
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
    this.#refuseCommands();
    clearInterval(this.#watchdog);
    internals(this.#client)._getQueue().flushAll(new PoolClosedError('The Redis pool was destroyed'));
    this.#client.destroy();
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

  /** Counts chunks of replies as they arrive: the watchdog's sign of life, at no cost per command. */
  #countReplies(client: StringClient): void {
    const decoder = internals(client)._getQueue().decoder;
    const write = decoder.write.bind(decoder);
    decoder.write = (chunk) => {
      this.#chunks++;
      write(chunk);
    };
  }

  #tick(): void {
    const pending = this.inFlight;
    if (pending === 0 || this.#chunks !== this.#chunksAtLastTick) {
      this.#chunksAtLastTick = this.#chunks;
      this.#stalledTicks = 0;
      return;
    }
    if (++this.#stalledTicks < TICKS_PER_TIMEOUT) return;
    this.#stalledTicks = 0;
    this.#replaceHungClient(pending);
  }

  #replaceHungClient(pending: number): void {
    const hung = this.#client;
    const error = new CommandTimeoutError(this.#settings.redisUrl, this.#settings.redisSocketTimeout * 1000, pending);
    this.#logger.warn({ err: error, url: this.#settings.redisUrl }, 'Shared Redis connection hung; replacing it');
    internals(hung)._getQueue().flushAll(error);
    hung.destroy();
    if (this.#closing) return;
    const next = createConnection(this.#settings, 'shared', this.#logger, true);
    this.#countReplies(next);
    this.#client = next;
    Object.setPrototypeOf(this.#facade, next);
    next.connect().catch((cause: unknown) => {
      this.#logger.debug({ err: cause }, 'Replacement Redis connection ended before it was ready');
    });
  }
}
