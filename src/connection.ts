import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { RedisClientOptions, RedisClientType } from 'redis';
import { backoffDelay } from './backoff.js';
import { beforeDeadline } from './deadline.js';
import {
  ClientUsageError,
  ConnectError,
  ConnectionLostError,
  ConnectionRefusedError,
  ConnectTimeoutError,
  ProtocolError,
  RedisAuthError,
  RedisPoolError,
  RedisUnavailableError,
  TlsError,
} from './errors.js';
import type { Logger } from './logger.js';
import {
  coalesceWrites,
  commandOptionsOf,
  createClient,
  EMPTY_PASSWORD,
  ErrorReply,
  expectReplies,
  flushWaitingForReply,
  installFastPath,
  type KillSocket,
  killableSocket,
  ConnectionTimeoutError as NodeRedisConnectTimeout,
  RESP_TYPES,
  socketKiller,
  tapDecoder,
  typeLostCommands,
  UnmatchedReply,
} from './node-redis.js';
import type { Secret } from './secret.js';
import type { CommonAppSettings, NodeAddress } from './settings.js';

/** node-redis's type mapping that turns every string reply into a Buffer. */
export type BufferTypeMapping = {
  [RESP_TYPES.BLOB_STRING]: BufferConstructor;
  [RESP_TYPES.SIMPLE_STRING]: BufferConstructor;
  [RESP_TYPES.VERBATIM_STRING]: BufferConstructor;
};
const BUFFER_TYPE_MAPPING: BufferTypeMapping = {
  [RESP_TYPES.BLOB_STRING]: Buffer,
  [RESP_TYPES.SIMPLE_STRING]: Buffer,
  [RESP_TYPES.VERBATIM_STRING]: Buffer,
};

/** The node-redis client with string replies (`REDIS_DECODE_RESPONSES=true`). */
export type StringClient = RedisClientType<{}, {}, {}, 3, {}>;
/** The node-redis client with Buffer replies (`REDIS_DECODE_RESPONSES=false`). */
export type BufferClient = RedisClientType<{}, {}, {}, 3, BufferTypeMapping>;
/**
 * The client `getClient()` returns, by the type of `redisDecodeResponses`: strings for `true`,
 * Buffers for `false`, and either when only the environment decides (`boolean`).
 */
export type RedisPoolClient<D extends boolean = true> = boolean extends D
  ? StringClient | BufferClient
  : D extends false
    ? BufferClient
    : StringClient;

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

/** What a connection is for; it shows in `CLIENT LIST` as part of the connection name. */
export type ConnectionRole = 'shared' | 'lease' | 'subscriber' | 'duplicate';

/**
 * node-redis's username and password options for an ACL user. node-redis sends credentials only
 * along with a password, so a username alone would connect as the `default` user, silently.
 * With a username and no password the pool sends an empty password, as redis-py does: Redis
 * accepts any password for a `nopass` user, and refuses it (WRONGPASS) for any other.
 */
export function credentials(username: string | undefined, password: Secret | undefined) {
  return { username, password: password?.reveal() ?? (username === undefined ? undefined : EMPTY_PASSWORD) };
}

/** node-redis options for one connection, from the settings, to `address` if given (sentinel mode's primary). */
export function clientOptions(
  settings: CommonAppSettings,
  role: ConnectionRole,
  address: NodeAddress | undefined = undefined,
): RedisClientOptions {
  const socketCommon = {
    connectTimeout: settings.redisSocketConnectTimeout * 1000,
    noDelay: true,
  };
  const socket = settings.redisSocketPath
    ? { ...socketCommon, path: settings.redisSocketPath, tls: false as const }
    : {
        ...socketCommon,
        host: address?.host ?? settings.redisHost,
        port: address?.port ?? settings.redisPort,
        keepAlive: settings.redisSocketKeepalive,
        keepAliveInitialDelay: settings.redisSocketKeepaliveInitialDelay * 1000,
        ...(settings.redisSsl ? tlsOptions(settings) : {}),
      };
  return {
    socket,
    ...credentials(settings.redisUsername, settings.redisPassword),
    database: settings.redisDb,
    name: `${settings.serviceName}:${role}:${process.pid}`,
    RESP: settings.redisProtocol,
    // Our own watchdog bounds replies at O(1) cost per connection; node-redis's default arms a
    // 5 s timer for every command, which costs most of the throughput at high concurrency.
    // While a connection is down, the pool decides what waits (see REDIS_OFFLINE_QUEUE); node-redis
    // would queue without bound.
    disableOfflineQueue: true,
    commandOptions: {
      timeout: 0,
      // Every option a command may carry is declared, if only as undefined: node-redis merges each
      // command's options into the client's with `{ ...client, ...command }`, and V8 takes a path
      // some 40 times slower when the second object has a key the first lacks (the checked
      // commands' type mapping, a view's abortSignal or asap). Measured in bench/run.ts.
      typeMapping: settings.redisDecodeResponses ? undefined : BUFFER_TYPE_MAPPING,
      abortSignal: undefined,
      asap: undefined,
    },
    clientInfoTag: 'refactorizado-redis-pool',
    // Redis Enterprise maintenance hints need RESP3 handshakes that plain servers reject; skip them.
    maintNotifications: 'disabled',
  } as RedisClientOptions;
}

function tlsOptions(settings: CommonAppSettings) {
  const read = (path: string | undefined) => (path === undefined ? undefined : readFileSync(path));
  const host = settings.redisSentinels ? undefined : settings.redisHost;
  return {
    tls: true as const,
    // SNI names hosts, not addresses: Node warns (DEP0123) when given an IP address.
    servername: host === undefined || isIP(host) !== 0 ? undefined : host,
    ca: read(settings.redisSslCaCerts),
    cert: read(settings.redisSslCertfile),
    key: read(settings.redisSslKeyfile),
  };
}

/** When a connection that was up and is lost gets reopened by node-redis itself. */
export type Reconnect =
  /** Not before the first ready, so a failed first connect ends at once; always after it. */
  | 'after-ready'
  /** Always: for a replacement of a connection that was up, which should keep trying. */
  | 'always'
  /** Never: the pool replaces the connection instead (leases, the subscriber). */
  | 'never';

/** The lifecycle events of one connection, as the pool reports them. */
export type ConnectionEventName = 'connect' | 'ready' | 'reconnecting' | 'error' | 'end';

/** Optional behaviour of a connection beyond node-redis's own. */
export interface ConnectionHooks {
  /** Reports each lifecycle event of the underlying node-redis client. */
  onEvent?: (event: ConnectionEventName, error?: unknown) => void;
  /**
   * Looked at for every typed command: returns a promise to use instead of sending the command
   * on this connection, or `undefined` to send it.
   */
  intercept?: (args: readonly unknown[], options: unknown) => Promise<unknown> | undefined;
  /** Where to connect instead of the settings' address: sentinel mode's current primary. */
  address?: NodeAddress | undefined;
  /** The server answered `READONLY`: it is a replica now. Called after the caller got the reply. */
  onReadonly?: () => void;
}

/**
 * A node-redis client for the pool, not yet connected. With `after-ready`, a failed first
 * attempt ends `connect()` with that error instead of retrying forever (node-redis's default,
 * even for a wrong password); lost connections are retried with `backoffDelay` after that.
 * `overrides` are node-redis options that replace the pool's own (for duplicates).
 */
export function createConnection(
  settings: CommonAppSettings,
  role: ConnectionRole,
  logger: Logger,
  reconnect: Reconnect = 'after-ready',
  hooks: ConnectionHooks = {},
  overrides: RedisClientOptions = {},
): StringClient {
  let established = reconnect === 'always';
  const options = { ...clientOptions(settings, role, hooks.address), ...overrides };
  options.socket = {
    ...options.socket,
    reconnectStrategy: (retries, cause) => {
      if (!established || reconnect === 'never') return false;
      return backoffDelay(retries, settings, toConnectError(cause, settings));
    },
  };
  const client = createProtectedClient(options, settings.redisUrl, logger, role, hooks.onReadonly);
  installFastPath(client, hooks.intercept);
  coalesceWrites(client);
  // node-redis's duplicate() would copy the pool's options into a client without the protection
  // above, and with this connection's socket killer.
  (client as unknown as Record<string, unknown>).duplicate = function (this: object, more?: RedisClientOptions) {
    return createDuplicate(settings, logger, this, { address: hooks.address }, more);
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
 * offline queue and its per-command timer (at `REDIS_SOCKET_TIMEOUT`) stand in for the pool's,
 * which do not watch it, so it serves as soon as `connect()` resolves.
 */
export function createDuplicate(
  settings: CommonAppSettings,
  logger: Logger,
  receiver: object,
  hooks: ConnectionHooks,
  overrides: RedisClientOptions = {},
): StringClient {
  return createConnection(settings, 'duplicate', logger, 'after-ready', hooks, {
    disableOfflineQueue: false,
    commandOptions: { ...commandOptionsOf(receiver), timeout: settings.redisSocketTimeout * 1000 },
    ...overrides,
  });
}

/**
 * A node-redis client made with `options` (its socket made killable) and protected by
 * `protectClient()`: for the pool's own connections and the sentinel connection.
 */
export function createProtectedClient(
  options: RedisClientOptions,
  url: string,
  logger: Logger,
  role: string,
  onReadonly?: () => void,
): StringClient {
  const client = createClient({ ...options, socket: killableSocket(options.socket ?? {}) }) as StringClient;
  protectClient(client, url, logger, role, onReadonly);
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
export function protectClient(
  client: StringClient,
  url: string,
  logger: Logger,
  role: string,
  onReadonly?: () => void,
): KillSocket {
  const killer = socketKiller(client);
  typeLostCommands(client, (error) =>
    error instanceof RedisPoolError ? error : new ConnectionLostError(url, killedBy(error)),
  );
  expectReplies(client);
  tapDecoder(client, {
    broken(cause) {
      const error = new ProtocolError(url, describeBreak(cause), cause);
      logger.warn({ err: error, url, role }, 'Redis sent a reply the client cannot use; closing the connection');
      flushWaitingForReply(client, new ConnectionLostError(url, error));
      killer.kill(error);
    },
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

/** The error `socketKiller()` destroyed a socket for, rather than Node's AbortError around it. */
function killedBy(error: unknown): unknown {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  return error instanceof Error && error.name === 'AbortError' && cause instanceof ProtocolError ? cause : error;
}

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

/**
 * Connects and sends PING, all within `REDIS_SOCKET_CONNECT_TIMEOUT`. On failure the client is
 * destroyed, so no socket or timer is left behind, and the error is a typed `ConnectError`.
 */
export function connectWithin(client: StringClient, settings: CommonAppSettings): Promise<void> {
  return openWithin(settings, {
    open: () => client.connect().then(() => client.ping()),
    destroy: () => client.destroy(),
  });
}

/**
 * Runs `open` within `REDIS_SOCKET_CONNECT_TIMEOUT`; on failure or timeout calls `destroy` and
 * rejects with a typed `ConnectError`. For a single client (`connectWithin`) or a cluster.
 */
export async function openWithin(
  settings: CommonAppSettings,
  attempt: { open: () => Promise<unknown>; destroy: () => void },
): Promise<void> {
  const timeoutMs = settings.redisSocketConnectTimeout * 1000;
  // A plain Redis port waits for a newline that a TLS hello never sends, so TLS pointed at the
  // wrong port ends as a timeout, not as a TLS error.
  const tlsHint = settings.redisSsl ? '; TLS is on (rediss:// or REDIS_SSL), so check that this port speaks TLS' : '';
  try {
    // The abandoned attempt, when the deadline wins, is ended by destroy() below.
    await beforeDeadline(attempt.open(), timeoutMs, () => {
      const detail = `no answer within ${timeoutMs / 1000} s (REDIS_SOCKET_CONNECT_TIMEOUT)${tlsHint}`;
      throw new ConnectTimeoutError(settings.redisUrl, detail);
    });
  } catch (error) {
    attempt.destroy();
    throw toConnectError(error, settings);
  }
}

const TLS_ERROR_CODES =
  /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_|EPROTO|HOSTNAME_MISMATCH)/;
const AUTH_REPLY = /^(WRONGPASS|NOAUTH|NOPERM)|^ERR (AUTH|invalid password|Client sent AUTH)/i;

/** Classifies a failed connection attempt into refused, timeout, auth, TLS or other. */
export function toConnectError(failure: unknown, settings: CommonAppSettings): ConnectError {
  const url = settings.redisUrl;
  const error = killedBy(failure);
  if (error instanceof ConnectError) return error;
  const code = String((error as { code?: unknown } | undefined)?.code ?? '');
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ECONNREFUSED') {
    return new ConnectionRefusedError(url, 'connection refused (ECONNREFUSED); is redis-server running there?', error);
  }
  if (error instanceof NodeRedisConnectTimeout || code === 'ETIMEDOUT') {
    return new ConnectTimeoutError(url, 'timed out while opening the connection (REDIS_SOCKET_CONNECT_TIMEOUT)', error);
  }
  if (error instanceof ErrorReply && AUTH_REPLY.test(message)) {
    return new RedisAuthError(
      url,
      `the server rejected the credentials (REDIS_USERNAME / REDIS_PASSWORD): ${message}` +
        (settings.redisUsername !== undefined && settings.redisPassword === undefined
          ? `; REDIS_USERNAME (${settings.redisUsername}) is set without a password, which works only for an ACL user with nopass`
          : ''),
      error,
    );
  }
  if (error instanceof ErrorReply && /^ERR unknown command .HELLO./i.test(message)) {
    return new ConnectError(
      url,
      `the server does not know HELLO (Redis before 6, or a proxy), so it cannot speak RESP3: set REDIS_PROTOCOL=2 (${message})`,
      error,
    );
  }
  if (TLS_ERROR_CODES.test(code)) {
    return new TlsError(
      url,
      `the TLS handshake failed (${code}): ${message}; check REDIS_SSL_CA_CERTS and that the port speaks TLS`,
      error,
    );
  }
  return new ConnectError(url, message, error);
}
