/**
 * `REDIS_KEY_PREFIX` beyond node-redis's `keyPrefix`: node-redis prefixes the keys a command names,
 * but not the pattern of `SCAN` and `KEYS`, and gives their keys back as stored, so a key a scan
 * yields would be prefixed twice when passed back (its own documentation warns of it). With a
 * prefix, the pool's clients scan their own namespace instead: the pattern is prefixed (`*` when
 * there is none) and the prefix is taken off the keys that come back.
 */
import { layerCommands } from '../node-redis/node-redis.js';
import type { StringClient } from './types.js';

type Key = string | Buffer;

const GLOB = /[*?[\]\\]/g;

/** `pattern` (every key: `*`) inside `prefix`'s namespace, with the prefix's glob characters escaped. */
export function scopePattern(prefix: string, pattern: Key = '*'): Key {
  const escaped = prefix.replace(GLOB, '\\$&');
  return typeof pattern === 'string' ? escaped + pattern : Buffer.concat([Buffer.from(escaped), pattern]);
}

/** `key` without `prefix`: how a caller with that prefix names it. */
export function unscope(prefix: string, key: Key): Key {
  if (typeof key === 'string') return key.startsWith(prefix) ? key.slice(prefix.length) : key;
  const bytes = Buffer.from(prefix);
  return key.subarray(0, bytes.length).equals(bytes) ? key.subarray(bytes.length) : key;
}

/**
 * `SCAN` and `KEYS` arguments scoped to `prefix`'s namespace, or `undefined` for any other
 * command: `KEYS`'s pattern and `SCAN`'s `MATCH` are prefixed, and a `SCAN` without `MATCH` gets one.
 */
export function scopeScan(prefix: string, args: readonly unknown[]): unknown[] | undefined {
  const first = String(args[0]);
  // Most commands are passed over on their name's length.
  if (first.length !== 4) return undefined;
  const name = first.toUpperCase();
  if (name === 'KEYS') return [args[0], scopePattern(prefix, args[1] as Key), ...args.slice(2)];
  if (name !== 'SCAN') return undefined;
  const scoped = [...args];
  const match = scoped.findIndex((arg, i) => i > 1 && String(arg).toUpperCase() === 'MATCH');
  if (match === -1) scoped.push('MATCH', scopePattern(prefix));
  else scoped[match + 1] = scopePattern(prefix, scoped[match + 1] as Key);
  return scoped;
}

/** A `SCAN` (`[cursor, keys]`) or `KEYS` (`keys`) reply, its keys named as a caller with `prefix` names them. */
export function unscopeReply(prefix: string, name: string, reply: unknown): unknown {
  const strip = (keys: unknown) => (keys as Key[]).map((key) => unscope(prefix, key));
  if (name === 'KEYS') return strip(reply);
  const [cursor, keys] = reply as [unknown, unknown];
  return [cursor, strip(keys)];
}

/** Scopes every `SCAN` and `KEYS` sent on `client` (typed or raw) to `prefix`'s namespace. */
export function scopeScans(client: StringClient, prefix: string): void {
  layerCommands(client, {
    send(self, args, options, next) {
      const scoped = scopeScan(prefix, args);
      if (scoped === undefined) return next(self, args, options);
      const name = String(args[0]).toUpperCase();
      return next(self, scoped, options).then((reply) => unscopeReply(prefix, name, reply));
    },
  });
}
