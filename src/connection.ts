import { channel } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import {
  createClient,
  ErrorReply,
  ConnectionTimeoutError as NodeRedisConnectTimeout,
  RESP_TYPES,
  type RedisClientOptions,
  type RedisClientType,
} from 'redis';
import {
  ClientUsageError,
  ConnectError,
  ConnectionLostError,
  ConnectionRefusedError,
  ConnectTimeoutError,
  RedisAuthError,
  RedisPoolError,
  RedisUnavailableError,
  TlsError,
} from './errors.js';
import type { Logger } from './logger.js';
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

/**
 * The node-redis internals the pool relies on; node-redis 6 marks them internal. Tests pin
 * their behaviour (see shared-connection.test.ts and pool.test.ts).
 */
export interface ClientInternals {
  /** The client instance itself; `createClient()` hands out an object whose prototype it is. */
  _self: Record<string, unknown> & {
    _executeCommand(command: unknown, parser: CommandParser, options: unknown, transform?: Transform): Promise<unknown>;
    sendCommand(args: readonly unknown[], options: unknown): Promise<unknown>;
  };
  _getQueue(): {
    readonly pendingCount: number;
    readonly decoder: { write(chunk: Buffer): void; onErrorReply(error: Error): void };
    flushAll(error: Error): void;
    flushWaitingForReply(error: Error): void;
  };
}
interface CommandParser {
  redisArgs: readonly unknown[];
  preserve: unknown;
}
type Transform = (reply: unknown, preserve: unknown, typeMapping: unknown) => unknown;
export const internals = (client: StringClient) => client as unknown as ClientInternals;

/** Methods of node-redis's client that end or open its connection: the pool's business alone. */
const LIFECYCLE_METHODS = ['connect', 'close', 'destroy', 'quit', 'QUIT', 'disconnect'] as const;

/**
 * Makes `facade`'s lifecycle methods throw a `ClientUsageError`: `which` names the client, and
 * `instead` says what to do.
 * @example refuseLifecycle(facade, "the pool's shared client: it would affect every caller", 'Use redisPool.close().')
 */
export function refuseLifecycle(facade: Record<string, unknown>, which: string, instead: string): void {
  for (const method of LIFECYCLE_METHODS) {
    facade[method] = () => {
      throw new ClientUsageError(`client.${method}() is not available on ${which}. ${instead}`);
    };
  }
}

/** What a connection is for; it shows in `CLIENT LIST` as part of the connection name. */
export type ConnectionRole = 'shared' | 'lease' | 'subscriber';

/**
 * Capped exponential backoff with jitter, in ms: `REDIS_RECONNECT_BASE_DELAY` doubling with each
 * retry up to `REDIS_RECONNECT_MAX_DELAY`, each delay drawn between half and all of that, so that
 * many clients do not reconnect in step.
 */
export function backoffDelay(retries: number, settings: CommonAppSettings): number {
  const ceiling = Math.min(
    settings.redisReconnectMaxDelay,
    settings.redisReconnectBaseDelay * 2 ** Math.min(retries, 30),
  );
  return Math.round((ceiling / 2 + Math.random() * (ceiling / 2)) * 1000);
}

/** The least wait, in ms, before trying again with credentials the server refused: they rarely fix themselves. */
export const AUTH_RETRY_FLOOR_MS = 1000;

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
    username: settings.redisUsername,
    password: settings.redisPassword?.reveal(),
    database: settings.redisDb,
    name: `${settings.serviceName}:${role}:${process.pid}`,
    // Our own watchdog bounds replies at O(1) cost per connection; node-redis's default arms a
    // 5 s timer for every command, which costs most of the throughput at high concurrency.
    // While a connection is down, the pool decides what waits (see REDIS_OFFLINE_QUEUE); node-redis
    // would queue without bound.
    disableOfflineQueue: true,
    commandOptions: {
      timeout: 0,
      ...(settings.redisDecodeResponses ? {} : { typeMapping: BUFFER_TYPE_MAPPING }),
    },
    clientInfoTag: 'refactorizado-redis-pool',
    // Redis Enterprise maintenance hints need RESP3 handshakes that plain servers reject; skip them.
    maintNotifications: 'disabled',
  } as RedisClientOptions;
}

function tlsOptions(settings: CommonAppSettings) {
  const read = (path: string | undefined) => (path === undefined ? undefined : readFileSync(path));
  return {
    tls: true as const,
    servername: settings.redisSentinels ? undefined : settings.redisHost,
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
 */
export function createConnection(
  settings: CommonAppSettings,
  role: ConnectionRole,
  logger: Logger,
  reconnect: Reconnect = 'after-ready',
  hooks: ConnectionHooks = {},
): StringClient {
  let established = reconnect === 'always';
  const options = clientOptions(settings, role, hooks.address);
  options.socket = {
    ...options.socket,
    reconnectStrategy: (retries, cause) => {
      if (!established || reconnect === 'never') return false;
      const delay = backoffDelay(retries, settings);
      return toConnectError(cause, settings.redisUrl) instanceof RedisAuthError
        ? Math.max(delay, AUTH_RETRY_FLOOR_MS)
        : delay;
    },
  };
  const client = createClient(options) as StringClient;
  installFastPath(client, hooks.intercept);
  typeLostCommands(client, settings.redisUrl);
  watchErrorReplies(client, settings.redisUrl, hooks.onReadonly);
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
  client.on('error', (error: unknown) => {
    const context = { err: error, url: settings.redisUrl, role };
    if (!established) return logger.debug(context, 'Redis connection attempt failed');
    logger.warn(context, reconnect === 'never' ? 'Redis connection lost' : 'Redis connection error; reconnecting');
    report('error', error);
  });
  return client;
}

/**
 * node-redis rejects the commands outstanding on a lost connection with the socket's own error.
 * Ours say what it means for the caller: `ConnectionLostError`, with that error as its cause.
 */
function typeLostCommands(client: StringClient, url: string): void {
  const queue = internals(client)._getQueue();
  for (const method of ['flushAll', 'flushWaitingForReply'] as const) {
    const flush = queue[method].bind(queue);
    queue[method] = (error) => flush(error instanceof RedisPoolError ? error : new ConnectionLostError(url, error));
  }
}

/**
 * Error replies that say something about the server rather than the command. `LOADING`: a server
 * restarted with persistence accepts connections while it loads its data, and refuses every
 * command until done; such a command did not run, so callers get `RedisUnavailableError` (reason
 * `loading`, the reply as its cause) instead of a reply to recognise by its text. `READONLY`: the
 * server became a replica behind our back; the reply reaches the caller unchanged, and
 * `onReadonly` lets the connection's owner act on it.
 */
function watchErrorReplies(client: StringClient, url: string, onReadonly: (() => void) | undefined): void {
  const decoder = internals(client)._getQueue().decoder;
  const onErrorReply = decoder.onErrorReply;
  decoder.onErrorReply = (error) => {
    if (error.message.startsWith('LOADING')) {
      const detail = 'it is loading its data into memory after a restart, and refused the command; retry shortly';
      return onErrorReply(new RedisUnavailableError(url, 'loading', detail, error));
    }
    onErrorReply(error);
    if (onReadonly && error.message.startsWith('READONLY')) onReadonly();
  };
}

/** node-redis publishes every typed command's reply here when someone listens (tracing, OTel). */
const commandReplies = channel('node-redis:command:reply');

/**
 * node-redis 6 runs every typed command through an async `_executeCommand` that awaits the
 * reply, publishes it to a diagnostics channel, then transforms it. When none of its extras is
 * in use (no HIMPORT session command, no client-side cache, which the pool never enables, and
 * no subscriber to the reply channel), this does the same work with a single `then`: 14–45 %
 * more throughput at 50–1000 commands in flight in runs of bench/run.ts. Otherwise
 * node-redis's own method runs.
 */
function installFastPath(client: StringClient, intercept: ConnectionHooks['intercept']): void {
  const instance = internals(client)._self;
  const original = instance._executeCommand;
  instance._executeCommand = function (this: ClientInternals['_self'], command, parser, options, transform) {
    let reply = intercept?.(parser.redisArgs, options);
    if (reply === undefined) {
      if (commandReplies.hasSubscribers || parser.redisArgs[0] === 'HIMPORT') {
        return original.call(this, command, parser, options, transform);
      }
      reply = this.sendCommand(parser.redisArgs, options);
    }
    if (!transform) return reply;
    const typeMapping = (options as { typeMapping?: unknown } | undefined)?.typeMapping;
    return reply.then((value) => transform(value, parser.preserve, typeMapping));
  };
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
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ConnectTimeoutError(
            settings.redisUrl,
            `no answer within ${timeoutMs / 1000} s (REDIS_SOCKET_CONNECT_TIMEOUT)${tlsHint}`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    // When the deadline wins, the race still holds the abandoned attempt, so its late failure
    // is not an unhandled rejection; destroy() below ends it.
    await Promise.race([attempt.open(), deadline]);
  } catch (error) {
    attempt.destroy();
    throw toConnectError(error, settings.redisUrl);
  } finally {
    clearTimeout(timer);
  }
}

const TLS_ERROR_CODES =
  /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_|EPROTO|HOSTNAME_MISMATCH)/;
const AUTH_REPLY = /^(WRONGPASS|NOAUTH|NOPERM)|^ERR (AUTH|invalid password|Client sent AUTH)/i;

/** Classifies a failed connection attempt into refused, timeout, auth, TLS or other. */
export function toConnectError(error: unknown, url: string): ConnectError {
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
      `the server rejected the credentials (REDIS_USERNAME / REDIS_PASSWORD): ${message}`,
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
