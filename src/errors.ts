/**
 * Every error this library throws. Each class has its own `name` and a stable `code`; test and
 * branch on those, never on message text. Messages name the setting or command involved, say
 * what was expected, and never contain a password.
 */

/** Base class: `instanceof RedisPoolError` catches everything this library throws itself. */
export class RedisPoolError extends Error {
  /** Stable machine-readable code, for example `REDIS_POOL_CLOSED`. */
  readonly code: string = 'REDIS_POOL_ERROR';
  override name = 'RedisPoolError';
}

/** One problem found in the settings, in zod's shape. */
export interface SettingsIssue {
  /** What kind of problem: a bad value, a missing value, or two settings that disagree. */
  code: 'invalid_value' | 'required' | 'conflict' | 'unknown_option';
  /** The environment variable the issue is about, for example `REDIS_PORT`. */
  path: string;
  /** A sentence that names the variable, what was expected and what was received. */
  message: string;
}

/** The settings are invalid. `issues` lists every problem found, not just the first. */
export class SettingsError extends RedisPoolError {
  override readonly code = 'REDIS_POOL_SETTINGS_INVALID';
  override name = 'SettingsError';
  readonly issues: readonly SettingsIssue[];

  constructor(issues: readonly SettingsIssue[]) {
    const count = issues.length === 1 ? '1 issue' : `${issues.length} issues`;
    const lines = issues.map((issue) => `✖ ${issue.message}\n  → at ${issue.path}`);
    super(`Invalid Redis settings (${count}):\n${lines.join('\n')}`);
    this.issues = issues;
  }
}

/**
 * `getClient(settings)` was called with settings that differ from those of the live pool.
 * Close the pool first, or create a separate `new RedisPool()` for the second configuration.
 */
export class SettingsConflictError extends RedisPoolError {
  override readonly code = 'REDIS_POOL_SETTINGS_CONFLICT';
  override name = 'SettingsConflictError';
  /** The environment variable names whose values differ. */
  readonly fields: readonly string[];

  constructor(fields: readonly string[]) {
    super(
      `The pool is already open with different settings (${fields.join(', ')} differ). ` +
        'Call redisPool.close() before changing them, or use a separate new RedisPool() for a second configuration.',
    );
    this.fields = fields;
  }
}

/** The pool (or the client taken from it) was used after `close()` or `destroy()`. */
export class PoolClosedError extends RedisPoolError {
  override readonly code = 'REDIS_POOL_CLOSED';
  override name = 'PoolClosedError';

  constructor(message = 'The Redis pool is closed; call getClient() again to open a new one') {
    super(message);
  }
}

/** Why a connection could not be opened. */
export type ConnectFailure = 'refused' | 'timeout' | 'auth' | 'tls' | 'other';

/**
 * A connection could not be opened. The subclasses tell the usual causes apart; `cause` holds
 * the underlying error and `url` the server address with any password removed.
 */
export class ConnectError extends RedisPoolError {
  override readonly code: string = 'REDIS_POOL_CONNECT_FAILED';
  override name = 'ConnectError';
  /** The server's URL, without password. */
  readonly url: string;
  readonly reason: ConnectFailure = 'other';

  constructor(url: string, detail: string, cause?: unknown) {
    super(`Could not connect to Redis at ${url}: ${detail}`, { cause });
    this.url = url;
  }
}

/** Nothing listens at the server address (`ECONNREFUSED`). Is Redis running, on that port? */
export class ConnectionRefusedError extends ConnectError {
  override readonly code = 'REDIS_POOL_CONNECTION_REFUSED';
  override name = 'ConnectionRefusedError';
  override readonly reason = 'refused';
}

/** Connecting, the TLS handshake, authentication or the first PING took longer than the connect timeout. */
export class ConnectTimeoutError extends ConnectError {
  override readonly code = 'REDIS_POOL_CONNECT_TIMEOUT';
  override name = 'ConnectTimeoutError';
  override readonly reason = 'timeout';
}

/** The server refused the credentials (`WRONGPASS`, `NOAUTH`, `NOPERM`). Retrying will not help. */
export class RedisAuthError extends ConnectError {
  override readonly code = 'REDIS_POOL_AUTH_FAILED';
  override name = 'RedisAuthError';
  override readonly reason = 'auth';
}

/** The TLS handshake failed: an untrusted or mismatched certificate, or TLS against a plain port. */
export class TlsError extends ConnectError {
  override readonly code = 'REDIS_POOL_TLS_FAILED';
  override name = 'TlsError';
  override readonly reason = 'tls';
}

/**
 * No reply came in time; the command may or may not have run on the server. Two cases:
 * - commands were outstanding on a connection and no reply came for `REDIS_SOCKET_TIMEOUT`
 *   seconds: the connection was declared hung and closed, and a new one is opened in its place;
 * - a command ran past its own deadline, `withCommandOptions({ timeout })` (made by
 *   `CommandTimeoutError.deadline()`): the caller stopped waiting, the connection stays, and the
 *   reply, when it comes, is discarded in its place.
 */
export class CommandTimeoutError extends RedisPoolError {
  override readonly code = 'REDIS_POOL_COMMAND_TIMEOUT';
  override name = 'CommandTimeoutError';
  readonly timeoutMs: number;

  /** The hung connection's case; `message` is only for `deadline()`. */
  constructor(url: string, timeoutMs: number, outstanding: number, message?: string) {
    super(
      message ??
        `No reply from Redis at ${url} for ${timeoutMs / 1000} s (REDIS_SOCKET_TIMEOUT) ` +
          `with ${outstanding} command(s) outstanding; the connection was closed and is being replaced. ` +
          'The command may or may not have run.',
    );
    this.timeoutMs = timeoutMs;
  }

  /**
   * `command` (its name only: arguments may be secrets) ran past the `timeout` of its command
   * options. A blocking command's timeout counts from the end of its own block time.
   */
  static deadline(command: string, timeoutMs: number): CommandTimeoutError {
    return new CommandTimeoutError(
      '',
      timeoutMs,
      1,
      `${command} got no reply within the timeout of its command options, ${timeoutMs} ms. ` +
        'The command may or may not have run; the connection stays open, and its late reply will be discarded.',
    );
  }
}

/**
 * The connection a command had been handed to was lost before its reply came (reset, closed by
 * the server, or the server died). The command is not sent again, because it may not be
 * idempotent: it may or may not have run. `cause` holds the socket's error.
 */
export class ConnectionLostError extends RedisPoolError {
  override readonly code = 'REDIS_POOL_CONNECTION_LOST';
  override name = 'ConnectionLostError';

  constructor(url: string, cause: unknown) {
    const why = cause instanceof Error && cause.message ? ` (${cause.message})` : '';
    super(
      `The connection to Redis at ${url} was lost before the reply came${why}. ` +
        'The command was not resent, because it may not be idempotent: it may or may not have run.',
      { cause },
    );
  }
}

/**
 * The server sent something the client cannot use: bytes that are not RESP, a length no
 * JavaScript value can hold (a string over V8's limit of about 512 MiB), or a reply of a type its
 * command cannot take, which means the replies no longer line up with their commands. The
 * connection is closed at once, so that no reply reaches the wrong caller: every command
 * outstanding on it rejects with `ConnectionLostError`, whose `cause` is this error, and a new
 * connection takes its place. `cause` holds what the decoder met.
 */
export class ProtocolError extends RedisPoolError {
  override readonly code = 'REDIS_POOL_PROTOCOL_ERROR';
  override name = 'ProtocolError';

  constructor(url: string, detail: string, cause?: unknown) {
    super(
      `Protocol error from Redis at ${url}: ${detail}. The connection was closed, so that no reply reaches the wrong caller.`,
      { cause },
    );
  }
}

/** Why a command was refused while Redis could not be reached. */
export type UnavailableReason =
  | 'offline-queue-off'
  | 'offline-queue-full'
  | 'offline-queue-timeout'
  | 'connect-backoff'
  | 'loading'
  | 'no-replica';

/**
 * Redis could not be reached, or (reason `loading`) refused the command while it loads its data
 * after a restart: either way the command did not run, so it is safe to retry. With
 * `REDIS_OFFLINE_QUEUE=false` this comes at once while the connection is down; with the queue on,
 * when the queue is full (`REDIS_OFFLINE_QUEUE_SIZE`) or a command has waited
 * `REDIS_OFFLINE_QUEUE_TIMEOUT`; and from `withConnection()` while opening connections backs off
 * after a failure. With `REDIS_READ_FROM=replica`, a read-only command comes to it (reason
 * `no-replica`) when no replica is ready to serve it. `cause` holds the last error met while connecting.
 */
export class RedisUnavailableError extends RedisPoolError {
  override readonly code = 'REDIS_POOL_UNAVAILABLE';
  override name = 'RedisUnavailableError';
  readonly reason: UnavailableReason;

  constructor(url: string, reason: UnavailableReason, detail: string, cause?: unknown) {
    super(`Redis at ${url} is unavailable, and the command did not run: ${detail}`, { cause });
    this.reason = reason;
  }
}

/**
 * No connection could be lent within `REDIS_POOL_TIMEOUT`: all the pool's connections
 * (`REDIS_MAX_CONNECTIONS`) were in use. The message carries the pool's stats, and `cause` the
 * last error met while opening a connection, if any.
 */
export class AcquireTimeoutError extends RedisPoolError {
  override readonly code = 'REDIS_POOL_ACQUIRE_TIMEOUT';
  override name = 'AcquireTimeoutError';
  readonly timeoutMs: number;

  constructor(timeoutMs: number, situation: string, cause?: unknown) {
    super(
      `No Redis connection could be lent within ${timeoutMs / 1000} s (REDIS_POOL_TIMEOUT): ${situation}. ` +
        'Raise REDIS_MAX_CONNECTIONS, or hold leases for less time.',
      { cause },
    );
    this.timeoutMs = timeoutMs;
  }
}

/** A leased client was used after the `withConnection()` callback that received it had ended. */
export class LeaseReleasedError extends RedisPoolError {
  override readonly code = 'REDIS_POOL_LEASE_RELEASED';
  override name = 'LeaseReleasedError';

  constructor() {
    super(
      'This client was lent by withConnection() and has been returned to the pool; ' +
        'use it only inside the callback, which must await every command it sends.',
    );
  }
}

/**
 * A pooled client was asked for something it must not do: ending the shared client (which every
 * caller uses), or changing its state (WATCH, SELECT, SUBSCRIBE …). The message names what to
 * use instead.
 */
export class ClientUsageError extends RedisPoolError {
  override readonly code = 'REDIS_POOL_CLIENT_MISUSE';
  override name = 'ClientUsageError';
}

/**
 * The node-redis the pool loaded does not behave as the pool relies on, so the pool did not open:
 * some of its guarantees (the reply checks, the watchdog, blocking commands kept off the shared
 * connection …) would silently not hold. Found by the self-check that runs before a pool's first
 * connection, once per process. `failures` says what differs, one line each; the message names the
 * version found and the range the pool supports.
 */
export class UnsupportedNodeRedisError extends RedisPoolError {
  override readonly code = 'REDIS_POOL_NODE_REDIS_UNSUPPORTED';
  override name = 'UnsupportedNodeRedisError';
  /** The version of the `redis` package the pool loaded, as its package.json says. */
  readonly version: string;
  /** The `redis` versions the pool supports: its package.json's range, all of them tested. */
  readonly supported: string;
  /** What differs from what the pool relies on, one sentence each. */
  readonly failures: readonly string[];

  constructor(version: string, supported: string, failures: readonly string[]) {
    super(
      `node-redis ${version} does not behave as @refactorizado/redis-pool relies on, so the pool did not open; ` +
        `it supports redis ${supported}:\n${failures.map((failure) => `✖ ${failure}`).join('\n')}\n` +
        `Let the pool's own \`redis\` dependency resolve to a supported version (\`npm ls redis\` shows which one ` +
        'it got; an override such as npm `overrides`, yarn `resolutions` or `pnpm.overrides` can force another), ' +
        'or use a release of @refactorizado/redis-pool that supports this node-redis.',
    );
    this.version = version;
    this.supported = supported;
    this.failures = failures;
  }
}
