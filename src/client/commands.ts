/**
 * What the pool must know about individual Redis commands: which ones block the connection, for
 * how long, which ones change a connection's state, and what their replies can be.
 */

type Args = readonly unknown[];
const word = (arg: unknown) => String(arg).toUpperCase();
const seconds = (arg: unknown) => Number(String(arg)) * 1000;
const milliseconds = (arg: unknown) => Number(String(arg));

/** For each blocking command, how long the server may hold it: ms, `Infinity` for ever, `undefined` if this call does not block. */
const BLOCKING = new Map<string, (args: Args) => number | undefined>([
  ['BLPOP', (args) => forever(seconds(args.at(-1)))],
  ['BRPOP', (args) => forever(seconds(args.at(-1)))],
  ['BLMOVE', (args) => forever(seconds(args.at(-1)))],
  ['BRPOPLPUSH', (args) => forever(seconds(args.at(-1)))],
  ['BZPOPMIN', (args) => forever(seconds(args.at(-1)))],
  ['BZPOPMAX', (args) => forever(seconds(args.at(-1)))],
  ['BLMPOP', (args) => forever(seconds(args[1]))],
  ['BZMPOP', (args) => forever(seconds(args[1]))],
  ['XREAD', (args) => optionalBlock(args)],
  ['XREADGROUP', (args) => optionalBlock(args)],
  ['WAIT', (args) => forever(milliseconds(args.at(-1)))],
  ['WAITAOF', (args) => forever(milliseconds(args.at(-1)))],
]);

/** A timeout of 0 means "block for ever"; an unreadable one is treated the same, to be safe. */
function forever(ms: number): number {
  return ms > 0 ? ms : Number.POSITIVE_INFINITY;
}

/** XREAD and XREADGROUP block only with a BLOCK option before STREAMS. */
function optionalBlock(args: Args): number | undefined {
  for (let i = 1; i < args.length - 1; i++) {
    const option = word(args[i]);
    if (option === 'STREAMS') return undefined;
    if (option === 'BLOCK') return forever(milliseconds(args[i + 1]));
  }
  return undefined;
}

/**
 * How long the server may hold this command before replying, in ms (`Infinity` for ever), or
 * `undefined` when the command does not block.
 */
export function blockingTimeoutMs(args: Args): number | undefined {
  const name = args[0];
  // Looked at for every command in cluster mode: a name seen before costs one lookup, no new string.
  if (typeof name === 'string' && NOT_BLOCKING.has(name)) return undefined;
  const timeout = BLOCKING.get(word(name));
  if (timeout !== undefined) return timeout(args);
  if (typeof name === 'string' && NOT_BLOCKING.size < 1024) NOT_BLOCKING.add(name);
  return undefined;
}

/** Command names seen that do not block, as they were spelled; bounded, since raw names are the caller's. */
const NOT_BLOCKING = new Set<string>();

const LEASE_FOR_WATCH = 'redisPool.withConnection(), which lends a connection of your own for WATCH/MULTI/EXEC';
const OWN_CONNECTION =
  'client.duplicate(), a connection of your own that the pool counts and closes (RESP3, for CLIENT TRACKING ' +
  "without REDIRECT, carries the server's invalidations on it)";
const SUBSCRIBER =
  'redisPool.subscriber(), a dedicated connection that resubscribes after reconnects, or client.duplicate(), ' +
  'a connection of your own that the pool counts and closes';

/**
 * Commands that change the state of the connection they run on: what to use instead of sending
 * them on the shared connection, and the names of node-redis's typed methods that send them
 * without passing through `_executeCommand`.
 */
const STATE: Record<string, { instead: string; methods?: readonly string[] }> = {
  WATCH: { instead: LEASE_FOR_WATCH, methods: ['WATCH', 'watch'] },
  UNWATCH: { instead: LEASE_FOR_WATCH, methods: ['UNWATCH', 'unwatch'] },
  MULTI: { instead: 'client.multi()…exec(), or redisPool.withConnection() for WATCH/MULTI/EXEC' },
  EXEC: { instead: 'client.multi()…exec(), or redisPool.withConnection() for WATCH/MULTI/EXEC' },
  DISCARD: { instead: 'client.multi()…exec(), or redisPool.withConnection() for WATCH/MULTI/EXEC' },
  SELECT: {
    instead: 'REDIS_DB (or the /db path of REDIS_URL) for the pool, or redisPool.withConnection() for a one-off',
    methods: ['SELECT', 'select'],
  },
  SUBSCRIBE: { instead: SUBSCRIBER, methods: ['SUBSCRIBE', 'subscribe'] },
  PSUBSCRIBE: { instead: SUBSCRIBER, methods: ['PSUBSCRIBE', 'pSubscribe'] },
  SSUBSCRIBE: { instead: SUBSCRIBER, methods: ['SSUBSCRIBE', 'sSubscribe'] },
  UNSUBSCRIBE: { instead: 'redisPool.subscriber() or client.duplicate()', methods: ['UNSUBSCRIBE', 'unsubscribe'] },
  PUNSUBSCRIBE: { instead: 'redisPool.subscriber() or client.duplicate()', methods: ['PUNSUBSCRIBE', 'pUnsubscribe'] },
  SUNSUBSCRIBE: { instead: 'redisPool.subscriber() or client.duplicate()', methods: ['SUNSUBSCRIBE', 'sUnsubscribe'] },
  MONITOR: { instead: 'redisPool.withConnection(), or redis-cli monitor', methods: ['MONITOR', 'monitor'] },
  RESET: { instead: 'redisPool.withConnection()', methods: ['RESET', 'reset'] },
  'CLIENT REPLY': { instead: OWN_CONNECTION },
  'CLIENT TRACKING': { instead: OWN_CONNECTION },
};

/**
 * Commands that change the state of the connection they run on, with what to use instead of
 * sending them on the shared connection.
 */
export const STATE_COMMANDS: Record<string, string> = Object.fromEntries(
  Object.entries(STATE).map(([command, { instead }]) => [command, instead]),
);

/** node-redis's typed methods that change the connection's state without passing `_executeCommand`, with their command. */
export const STATE_METHODS: Record<string, string> = Object.fromEntries(
  Object.entries(STATE).flatMap(([command, { methods = [] }]) => methods.map((method) => [method, command])),
);

/**
 * The state-changing command these arguments make, as a key of `STATE_COMMANDS`, or
 * `undefined`. `CLIENT` is a family; of it, `CLIENT REPLY` and `CLIENT TRACKING` change state.
 */
export function stateCommand(args: Args): string | undefined {
  const name = word(args[0]);
  if (name === 'CLIENT') {
    const sub = `CLIENT ${word(args[1])}`;
    return sub === 'CLIENT REPLY' || sub === 'CLIENT TRACKING' ? sub : undefined;
  }
  return Object.hasOwn(STATE_COMMANDS, name) ? name : undefined;
}

/**
 * Command names the shared connection must look at more closely: blocking ones, state-changing
 * ones, and the CLIENT family. One `Set` lookup is all that every other command costs.
 */
export const NEEDS_A_LOOK: ReadonlySet<unknown> = new Set([
  ...BLOCKING.keys(),
  ...Object.keys(STATE_COMMANDS),
  'CLIENT',
]);

/** A kind of RESP reply, as far as telling a command's reply from another command's goes. */
export type ReplyKind = 'bulk' | 'simple' | 'integer' | 'null' | 'aggregate';

/**
 * What a command's reply can be. `transaction` marks the commands that open and end a
 * transaction, inside which every reply is `QUEUED`.
 */
export interface ReplyShape {
  readonly kinds: ReadonlySet<ReplyKind>;
  readonly transaction?: 'opens' | 'ends';
}

const shape = (...kinds: ReplyKind[]): ReplyShape => ({ kinds: new Set(kinds) });
const SHAPES = {
  /** A bulk string, or null for a missing key. */
  bulk: shape('bulk', 'null'),
  integer: shape('integer'),
  /** A status such as `OK`. */
  status: shape('simple'),
  /** SET: `OK`, null when NX/XX did not set, or the old value with GET; PING: `PONG`, or its message. */
  statusOrBulk: shape('simple', 'bulk', 'null'),
  /** An array, map or set of anything. */
  aggregate: shape('aggregate'),
  opensTransaction: { kinds: new Set(), transaction: 'opens' },
  endsTransaction: { kinds: new Set(), transaction: 'ends' },
} satisfies Record<string, ReplyShape>;

const SHAPE_OF: Record<keyof typeof SHAPES, string> = {
  bulk: 'GET GETDEL GETEX GETSET GETRANGE HGET LINDEX ECHO RPOPLPUSH LMOVE',
  integer:
    'INCR DECR INCRBY DECRBY DEL UNLINK EXISTS TOUCH EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST TTL PTTL APPEND ' +
    'STRLEN SETRANGE SETNX MSETNX GETBIT SETBIT BITCOUNT LPUSH RPUSH LPUSHX RPUSHX LLEN LREM SADD SREM SCARD ' +
    'SISMEMBER HSET HSETNX HDEL HLEN HEXISTS HSTRLEN HINCRBY ZCARD ZREM ZCOUNT PFADD PFCOUNT PUBLISH XLEN XACK ' +
    'XDEL DBSIZE',
  status: 'MSET SETEX PSETEX TYPE RENAME LSET LTRIM HMSET FLUSHDB FLUSHALL',
  statusOrBulk: 'SET PING',
  aggregate: 'MGET HMGET HGETALL HKEYS HVALS LRANGE SMEMBERS SINTER SUNION SDIFF KEYS',
  opensTransaction: 'MULTI',
  endsTransaction: 'EXEC DISCARD RESET',
};

/**
 * The reply shape of common commands whose reply always has one, by name as node-redis sends it
 * (and in lower case, as raw `sendCommand()` calls often write it). A reply outside it means
 * the replies on that connection no longer match their commands. Commands not listed are not
 * checked, and neither is anything sent between MULTI and EXEC.
 */
export const REPLY_SHAPES: ReadonlyMap<unknown, ReplyShape> = new Map(
  Object.entries(SHAPE_OF).flatMap(([shape, names]) =>
    names
      .split(' ')
      .flatMap((name) => [name, name.toLowerCase()].map((key) => [key, SHAPES[shape as keyof typeof SHAPES]])),
  ),
);
