/**
 * The pool's node-redis clients: made from the settings, with its fast path and coalesced writes,
 * and protected so that a reply that cannot be used ends the connection (`protectClient`).
 */
import type { RedisClientOptions } from 'redis';
import { backoffDelay } from '../connections/backoff.js';
import {
  CommandTimeoutError,
  ConnectionLostError,
  ProtocolError,
  RedisPoolError,
  RedisUnavailableError,
} from '../errors.js';
import type { Logger } from '../logger.js';
import {
  type CommandHook,
  coalesceWrites,
  commandOptionsOf,
  createClient,
  type DecoderHooks,
  fenceWrites,
  flushWaitingForReply,
  installFastPath,
  type KillSocket,
  killableSocket,
  layerCommands,
  onFlush,
  socketKiller,
  tapDecoder,
  typeLostCommands,
} from '../node-redis/node-redis.js';
import { checkReply, expectReplies, UnmatchedReply } from '../node-redis/reply-checks.js';
import { answerable, ReplyFences } from '../node-redis/reply-fences.js';
import type { CommonAppSettings, NodeAddress } from '../settings.js';
import type { ClientCache } from './cache.js';
import { killedBy, toConnectError } from './connect.js';
import { deadlineOf, sendWithin } from './deadlines.js';
import { type ClientExtras, withExtras } from './extras.js';
import { scopeScans } from './key-prefix.js';
import { type ConnectionRole, clientOptions } from './options.js';
import type { ConnectionEventName, StringClient } from './types.js';

/** When a connection that was up and is lost gets reopened by node-redis itself. */
export type Reconnect =
  /** Not before the first ready, so a failed first connect ends at once; always after it. */
  | 'after-ready'
  /** Always: for a replacement of a connection that was up, which should keep trying. */
  | 'always'
  /** Never: the pool replaces the connection instead (leases, the subscriber). */
  | 'never';

/** Optional behaviour of a connection beyond node-redis's own. */
export interface ConnectionHooks {
  /** Reports each lifecycle event of the underlying node-redis client. */
  onEvent?: (event: ConnectionEventName, error?: unknown) => void;
  /**
   * Looked at for every typed command: returns a promise to use instead of sending the command
   * on this connection, or `undefined` to send it.
   */
  intercept?: CommandHook;
  /**
   * Asked, after `intercept`, about every typed command node-redis deems replica-safe: returns a
   * promise to use instead of sending it here (a replica's reply), or `undefined` to send it.
   * Without it, nothing is asked (`REDIS_READ_FROM=primary`).
   */
  read?: CommandHook | undefined;
  /** Where to connect instead of the settings' address: sentinel mode's current primary. */
  address?: NodeAddress | undefined;
  /** The server answered `READONLY`: it is a replica now. Called after the caller got the reply. */
  onReadonly?: () => void;
}

/** What one connection of the pool is made with. */
export interface ConnectionSpec {
  settings: CommonAppSettings;
  /** What it is for; it shows in `CLIENT LIST`. */
  role: ConnectionRole;
  logger: Logger;
  /** @default 'after-ready' */
  reconnect?: Reconnect;
  hooks?: ConnectionHooks;
  /** node-redis options that replace the pool's own (for duplicates). */
  overrides?: RedisClientOptions;
  /** The pool's scripts, functions and client options (`RedisPoolOptions`). */
  extras?: ClientExtras | undefined;
  /** The pool's client-side cache (`REDIS_CLIENT_SIDE_CACHE`), for a connection that reads for the shared client. */
  cache?: ClientCache | undefined;
}

/**
 * A node-redis client for the pool, not yet connected. With `after-ready`, a failed first
 * attempt ends `connect()` with that error instead of retrying forever (node-redis's default,
 * even for a wrong password); lost connections are retried with `backoffDelay` after that.
 */
export function createConnection({
  settings,
  role,
  logger,
  reconnect = 'after-ready',
  hooks = {},
  overrides = {},
  extras,
  cache,
}: ConnectionSpec): StringClient {
  let established = reconnect === 'always';
  const options = { ...withExtras(clientOptions(settings, role, hooks.address), extras), ...overrides };
  if (cache) options.clientSideCache = cache;
  options.socket = {
    ...options.socket,
    reconnectStrategy: (retries, cause) => {
      if (!established || reconnect === 'never') return false;
      return backoffDelay(retries, settings, toConnectError(cause, settings));
    },
  };
  const client = createProtectedClient(options, {
    url: settings.redisUrl,
    logger,
    role,
    onReadonly: hooks.onReadonly,
    fences: settings.redisReplyFences,
  });
  installFastPath(client, hooks.intercept, hooks.read);
  coalesceWrites(client);
  if (options.keyPrefix) scopeScans(client, String(options.keyPrefix));
  // node-redis's duplicate() would copy the pool's options into a client without the protection
  // above, and with this connection's socket killer.
  (client as unknown as Record<string, unknown>).duplicate = function (this: object, more?: RedisClientOptions) {
    return createDuplicate({
      settings,
      logger,
      receiver: this,
      hooks: { address: hooks.address },
      overrides: more,
      extras,
    });
  };
  const report = hooks.onEvent ?? (() => undefined);
  client.on('connect', () => report('connect'));
  client.on('reconnecting', () => report('reconnecting'));
  client.on('end', () => report('end'));
  client.on('terminated', () => report('end'));
  client.on('ready', () => {
    established = true;
    report('ready');
  });
  // node-redis emits 'error' for every failed attempt and lost socket; without a listener the
  // process would crash. Before the first ready, the caller reports the typed error instead.
  client.on('error', (failure: unknown) => {
    const error = killedBy(failure);
    const context = { err: error, url: settings.redisUrl, role };
    if (!established) return logger.debug(context, 'Redis connection attempt failed');
    logger.warn(context, reconnect === 'never' ? 'Redis connection lost' : 'Redis connection error; reconnecting');
    report('error', error);
  });
  return client;
}

/**
 * A dedicated connection made like `receiver` (a client, or one of its views, whose command
 * options carry over, as in node-redis's own `duplicate()`), with `overrides`. node-redis's
 * offline queue and a per-command timeout (at `REDIS_SOCKET_TIMEOUT`, kept after the write as every
 * command deadline is: client/deadlines.ts) stand in for the pool's, which do not watch it, so it
 * serves as soon as `connect()` resolves.
 */
export function createDuplicate({
  settings,
  logger,
  receiver,
  hooks,
  overrides,
  extras,
}: Omit<ConnectionSpec, 'role' | 'reconnect'> & { receiver: object }): StringClient {
  const client = createConnection({
    settings,
    role: 'duplicate',
    logger,
    extras,
    ...(hooks ? { hooks } : {}),
    overrides: {
      disableOfflineQueue: false,
      commandOptions: { ...commandOptionsOf(receiver), timeout: settings.redisSocketTimeout * 1000 },
      ...overrides,
    },
  });
  // Here, not in createConnection(): the shared connection and leases keep deadlines at their
  // own way in, which comes before this one (holding, leasing), and a command keeps one deadline.
  layerCommands(client, {
    send(self, args, options, next) {
      const deadline = deadlineOf(options, self);
      return deadline ? sendWithin(args, deadline, () => next(self, args, options)) : next(self, args, options);
    },
  });
  return client;
}

/** Whose a protected client is, for its errors and logs, and what a READONLY reply calls. */
export interface Protection {
  /** The server's URL, without password. */
  url: string;
  logger: Logger;
  role: string;
  /** The server answered `READONLY`: it is a replica now. */
  onReadonly?: (() => void) | undefined;
  /** Reply fences (`REDIS_REPLY_FENCES`) on the writes `coalesceWrites()` makes. */
  fences?: boolean;
}

/**
 * A node-redis client made with `options` (its socket made killable) and protected by
 * `protectClient()`: for the pool's own connections and the sentinel connection.
 */
export function createProtectedClient(options: RedisClientOptions, protection: Protection): StringClient {
  const client = createClient({ ...options, socket: killableSocket(options.socket ?? {}) }) as StringClient;
  protectClient(client, protection);
  return client;
}

/**
 * What keeps one connection's replies honest, whoever made it (the pool, or node-redis's
 * cluster client, made with `killableSocket()` options):
 * - a reply that cannot be decoded, or that its command cannot take (`expectReplies`), ends the
 *   connection at once: every command outstanding on it rejects with `ConnectionLostError`
 *   (cause: a `ProtocolError`) and is not resent, and the socket is destroyed, so nothing the
 *   server sends afterwards reaches anyone;
 * - commands outstanding on a lost socket reject with `ConnectionLostError`, not the socket's error;
 * - `LOADING` replies become `RedisUnavailableError`, and `READONLY` ones call `onReadonly`.
 *
 * Returns what destroys the client's socket (`socketKiller()`, which may be called once per client).
 */
export function protectClient(client: StringClient, { url, logger, role, onReadonly, fences }: Protection): KillSocket {
  const killer = socketKiller(client);
  const lost = (error: Error) =>
    error instanceof RedisPoolError ? error : new ConnectionLostError(url, killedBy(error));
  typeLostCommands(client, lost);
  expectReplies(client);
  const broken = (cause: unknown) => {
    const error = new ProtocolError(url, describeBreak(cause), cause);
    logger.warn({ err: error, url, role }, 'Redis sent a reply the client cannot use; closing the connection');
    flushWaitingForReply(client, new ConnectionLostError(url, error));
    killer.kill(error);
  };
  tapDecoder(client, {
    reply: checkReply,
    ...(fences ? { gate: fenceReplies(client, { url, broken, lost }) } : {}),
    broken,
    errorReply(error, deliver) {
      // A server restarted with persistence accepts connections while it loads its data, and
      // refuses every command until done: the command did not run, which the caller should
      // learn from the error's class, not its text.
      if (error.message.startsWith('LOADING')) {
        const detail = 'it is loading its data into memory after a restart, and refused the command; retry shortly';
        return deliver(new RedisUnavailableError(url, 'loading', detail, error));
      }
      deliver(error);
      if (!onReadonly || !error.message.startsWith('READONLY')) return;
      // Called from inside the decoder, where a throw would read as a broken reply stream.
      try {
        onReadonly();
      } catch (failure) {
        logger.error({ err: failure, url, role }, 'Handling a READONLY reply failed');
      }
    },
  });
  return killer;
}

/** Puts reply fences on `client`'s writes; returns the gate of its replies, for `tapDecoder()`. */
function fenceReplies(
  client: StringClient,
  { url, broken, lost }: { url: string; broken: (cause: unknown) => void; lost: (error: Error) => Error },
): NonNullable<DecoderHooks['gate']> {
  const fences = new ReplyFences({
    answerable: answerable(client),
    broken,
    // Replies came and the fence after them did not: a reply was lost on the way, not a slow server.
    refusal: (error) =>
      error instanceof CommandTimeoutError
        ? new ConnectionLostError(url, new ProtocolError(url, FENCE_MISSING, error))
        : lost(error),
  });
  fenceWrites(client, fences);
  onFlush(client, (error) => fences.lost(error));
  return fences.gate;
}

const FENCE_MISSING =
  'replies came, but not the fence written after them (ECHO <token>) within REDIS_SOCKET_TIMEOUT, so the replies no longer match their commands';

/** Says what a decoder failure means, for `ProtocolError`. */
function describeBreak(cause: unknown): string {
  const message = cause instanceof Error ? cause.message : String(cause);
  if (cause instanceof UnmatchedReply) return `${message}, so the replies no longer match their commands`;
  if ((cause as { code?: unknown } | undefined)?.code === 'ERR_STRING_TOO_LONG') {
    return (
      'a value too long for a JavaScript string (V8 allows about 512 MiB); read such values as Buffers ' +
      '(REDIS_DECODE_RESPONSES=false, or client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }))'
    );
  }
  if (cause instanceof TypeError) return `a reply came that no command was waiting for (${message})`;
  return `bytes that cannot be decoded as RESP (${message})`;
}
