/**
 * The first connect of a client (or a cluster), bounded by `REDIS_SOCKET_CONNECT_TIMEOUT`, and
 * what a failed one is: refused, timed out, refused credentials, TLS, or other.
 */
import { beforeDeadline } from '../deadline.js';
import {
  ConnectError,
  ConnectionRefusedError,
  ConnectTimeoutError,
  ProtocolError,
  RedisAuthError,
  TlsError,
} from '../errors.js';
import { ErrorReply, ConnectionTimeoutError as NodeRedisConnectTimeout } from '../node-redis/node-redis.js';
import type { CommonAppSettings } from '../settings.js';
import type { StringClient } from './types.js';

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

/** The error `socketKiller()` destroyed a socket for, rather than Node's AbortError around it. */
export function killedBy(error: unknown): unknown {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  return error instanceof Error && error.name === 'AbortError' && cause instanceof ProtocolError ? cause : error;
}

/** The PING round trip of `client` in ms, or the error (a timeout after `timeoutMs`) that ended it. */
export async function pingWithin(
  client: { ping(): Promise<unknown> },
  timeoutMs: number,
): Promise<{ latencyMs: number } | { error: string }> {
  const started = performance.now();
  try {
    await beforeDeadline(client.ping(), timeoutMs, () => {
      throw new Error(`no PONG within ${timeoutMs} ms`);
    });
    return { latencyMs: performance.now() - started };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}
