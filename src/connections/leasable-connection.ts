import { blockingTimeoutMs, STATE_COMMANDS, stateCommand } from '../client/commands.js';
import { connectWithin, pingWithin } from '../client/connect.js';
import { createConnection } from '../client/connection.js';
import { deadlineOf, sendWithin } from '../client/deadlines.js';
import type { ClientExtras } from '../client/extras.js';
import { refuseLifecycle } from '../client/facades.js';
import type { ConnectionEventName, StringClient } from '../client/types.js';
import { beforeDeadline } from '../deadline.js';
import { ClientUsageError, ConnectionLostError, LeaseReleasedError } from '../errors.js';
import type { Logger } from '../logger.js';
import { checkEveryCommand, decoderTap, flushAll, layerCommands, pendingCount } from '../node-redis/node-redis.js';
import type { CommonAppSettings, NodeAddress } from '../settings.js';
import type { Target } from '../topology/target.js';
import { LEASE, type Lease, type PooledConnection } from './lease.js';
import { ReplyMonitor, type Verdict } from './reply-monitor.js';

const word = (arg: unknown) => String(arg).toUpperCase();

/** `CLIENT REPLY …`: refused on a lease, where a skipped reply would be the next command's. */
const turnsRepliesOff = (args: readonly unknown[]) => stateCommand(args) === 'CLIENT REPLY';
const refuseReplies = () =>
  Promise.reject(
    new ClientUsageError(
      `CLIENT REPLY is not available on a leased client: a reply the server skips would be taken for the next ` +
        `command's, and the lease goes back to the pool. Use ${STATE_COMMANDS['CLIENT REPLY']}.`,
    ),
  );

/**
 * One connection that can be lent, with what it takes to lend it again safely: when it was made
 * and last used, where it leads, and the state a borrower left on it, noted from the commands
 * sent through it and undone by `restore()`. HikariCP's `PoolEntry` and `ProxyConnection` are the
 * model.
 */
export class LeasableConnection implements PooledConnection {
  readonly client: StringClient;
  readonly monitor: ReplyMonitor;
  /** Where it is connected: a failover makes it stale. */
  readonly address: NodeAddress | undefined;
  readonly expiresAt: number;
  /** The prototype of every lease facade of this connection. */
  readonly base: StringClient;
  lastUsedAt = performance.now();
  leasedAt = 0;
  stack: string | undefined;
  leakReported = false;
  /** The server answered READONLY: it is a replica now, so the connection is not lent again. */
  readonly = false;
  readonly #settings: CommonAppSettings;
  /** State changes seen on the connection, from commands sent through it. */
  #watching = false;
  #inMulti = false;
  #selectedDb: number;
  #tracking = false;
  #monitoring = false;
  #wasReset = false;

  constructor(
    client: StringClient,
    settings: CommonAppSettings,
    monitor: ReplyMonitor,
    address: NodeAddress | undefined,
  ) {
    this.client = client;
    this.#settings = settings;
    this.address = address;
    this.monitor = monitor;
    this.#selectedDb = settings.redisDb;
    const lifetimeMs = settings.redisMaxLifetime * 1000;
    // Up to 10 % sooner, so connections made together do not all expire together.
    this.expiresAt =
      lifetimeMs > 0 ? this.lastUsedAt + lifetimeMs * (1 - Math.random() * 0.1) : Number.POSITIVE_INFINITY;
    this.base = leaseBase(this);
    monitor.attach(decoderTap(client));
    this.#track(settings.redisUrl);
  }

  /** Commands sent and not yet answered. */
  get pending(): number {
    return pendingCount(this.client);
  }

  get isReady(): boolean {
    return this.client.isReady;
  }

  watch(): Verdict {
    return this.monitor.tick(this.pending);
  }

  async check(timeoutMs: number): Promise<string | undefined> {
    const ping = await pingWithin(this.client, timeoutMs);
    return 'error' in ping ? ping.error : undefined;
  }

  fail(error: Error): void {
    flushAll(this.client, error);
  }

  close(): void {
    this.client.destroy();
  }

  /** MONITOR was sent through a lease facade (it does not pass `sendCommand`). */
  noteMonitor(): void {
    this.#monitoring = true;
  }

  /** Nothing to undo before the connection is lent again. */
  isClean(): boolean {
    const db = this.#settings.redisDb;
    return this.#selectedDb === db && !this.#watching && !this.client.isWatching && !this.#needsReset();
  }

  /**
   * Undoes what the borrower left: SELECT back to the configured database, RESET for other state
   * changes, and UNWATCH for a WATCH alone. Each step is bounded by `REDIS_SOCKET_TIMEOUT`.
   */
  async restore(): Promise<void> {
    const timeoutMs = this.#settings.redisSocketTimeout * 1000;
    const within = <T>(work: Promise<T>) =>
      beforeDeadline(work, timeoutMs, () => {
        throw new Error(`no reply within ${timeoutMs} ms`);
      });
    const db = this.#settings.redisDb;
    // SELECT first, through node-redis's own select(): its reset() re-sends the SELECT of its
    // handshake from the database it last saw selected, so it must see the right one.
    if (this.#selectedDb !== db) await within(this.client.select(db));
    this.#selectedDb = db;
    if (this.#needsReset()) await within(this.client.reset());
    else if (this.#watching || this.client.isWatching) await within(this.client.unwatch());
    this.#watching = this.#inMulti = this.#tracking = this.#monitoring = this.#wasReset = false;
  }

  /** State a RESET must undo (WATCH alone needs only UNWATCH). */
  #needsReset(): boolean {
    return (
      this.#inMulti ||
      this.#tracking ||
      this.#monitoring ||
      this.#wasReset ||
      this.#selectedDb !== this.#settings.redisDb ||
      this.client.isPubSubActive
    );
  }

  /**
   * Watches every command path of the connection: notes the state the borrower changes, keeps
   * each command's deadline, lets a blocking command keep the connection silent for its own
   * timeout, and turns node-redis's "client is closed" into `ConnectionLostError` once the
   * connection has dropped.
   */
  #track(url: string): void {
    const lost = () =>
      Promise.reject(new ConnectionLostError(url, new Error('the leased connection had already closed')));
    layerCommands(this.client, {
      send: (self, args, options, next) => {
        if (!this.client.isOpen) return lost();
        // One look at the command's name notes the state it changes, or refuses it.
        if (!this.#note(args)) return refuseReplies();
        const deadline = deadlineOf(options, self);
        const reply = deadline
          ? sendWithin(args, deadline, () => next(self, args, options))
          : next(self, args, options);
        const blockingMs = blockingTimeoutMs(args);
        if (blockingMs !== undefined) {
          const done = this.monitor.expectSilence(blockingMs);
          reply.then(done, done);
        }
        return reply;
      },
      multi: (self, commands, rest, next) => {
        if (!this.client.isOpen) return lost();
        if (commands.some(({ args }) => turnsRepliesOff(args))) return refuseReplies();
        // EXEC ends a WATCH whatever its outcome.
        const reply = next(self, commands, rest);
        this.#watching = false;
        return reply;
      },
      pipeline: (self, commands, rest, next) => {
        if (!this.client.isOpen) return lost();
        if (commands.some(({ args }) => turnsRepliesOff(args))) return refuseReplies();
        return next(self, commands, rest);
      },
    });
  }

  /** Notes the state `args` change on the connection; false for a command a lease refuses (CLIENT REPLY). */
  #note(args: readonly unknown[]): boolean {
    const name = word(args[0]);
    if (name === 'CLIENT') {
      const sub = word(args[1]);
      if (sub === 'REPLY') return false;
      if (sub === 'TRACKING') this.#tracking = word(args[2]) !== 'OFF';
    } else if (name === 'WATCH') this.#watching = true;
    else if (name === 'UNWATCH') this.#watching = false;
    else if (name === 'MULTI') this.#inMulti = true;
    else if (name === 'EXEC' || name === 'DISCARD') this.#inMulti = this.#watching = false;
    else if (name === 'SELECT') this.#selectedDb = Number(String(args[1]));
    else if (name === 'RESET') this.#wasReset = true;
    return true;
  }
}

/** The prototype shared by every lease facade of one connection: lifecycle refusals and MONITOR tracking. */
function leaseBase(connection: LeasableConnection): StringClient {
  const base = Object.create(connection.client);
  refuseLifecycle(
    base,
    'a leased client: the pool owns the connection',
    'Return from the withConnection() callback to give it back.',
  );
  const monitor = connection.client.monitor;
  base.monitor = base.MONITOR = function (this: StringClient, ...args: unknown[]) {
    connection.noteMonitor();
    return (monitor as (...args: unknown[]) => unknown).apply(this, args);
  };
  // A released lease cuts its facade off from the connection.
  checkEveryCommand(base, connection.client, (facade) => {
    if ((facade as { [LEASE]: Lease<LeasableConnection> })[LEASE].released) throw new LeaseReleasedError();
  });
  return base;
}

/** A lease of a connection of the pool's: what `withConnection()` callbacks and blocking commands run on. */
export type ConnectionLease = Lease<LeasableConnection>;

/** What `openLeasable()` needs: the settings, where to connect, and whom to tell of each connection's events. */
export interface LeasableOptions {
  settings: CommonAppSettings;
  logger: Logger;
  target: Target;
  onEvent?: ((event: ConnectionEventName, error?: unknown) => void) | undefined;
  /** The pool's scripts, functions and client options. */
  extras?: ClientExtras | undefined;
}

/** Opens a leasable connection to where `target` points now, connected and PINGed: the lease pool's factory. */
export async function openLeasable({
  settings,
  logger,
  target,
  onEvent,
  extras,
}: LeasableOptions): Promise<LeasableConnection> {
  const address = target.address();
  let connection: LeasableConnection | undefined;
  const client = createConnection({
    settings,
    extras,
    role: 'lease',
    logger,
    reconnect: 'never',
    hooks: {
      ...(onEvent ? { onEvent } : {}),
      address,
      onReadonly: () => {
        if (connection) connection.readonly = true;
      },
    },
  });
  await connectWithin(client, settings);
  connection = new LeasableConnection(
    client,
    settings,
    new ReplyMonitor(settings.redisSocketTimeout * 1000, 0),
    address,
  );
  return connection;
}
