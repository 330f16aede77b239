/**
 * Everything the pool relies on in node-redis 6 beyond its public API, as named functions: its
 * private members (`_self`, `_getQueue()`, the decoder, `_commandOptions` …) and undocumented
 * behaviour (socket options reach `net.connect()`). Each is pinned by a test in
 * test/node-redis.test.ts and listed in docs/architecture.md; a node-redis upgrade means
 * reviewing this file and running those tests. No other file reaches inside node-redis.
 */
import { channel } from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import * as redis from 'redis';
import type { StringClient } from '../client/types.js';

/**
 * node-redis's public exports that the pool uses at run time. They are read from the module's
 * namespace, not imported by name: a node-redis that lacks one (6.0 to 6.2.0 have no
 * `MaxCommandRedirectionsError`) still loads, and the self-check (node-redis/self-check.ts) names what
 * is missing instead of the process failing to start.
 */
export const {
  BasicPooledClientSideCache,
  createClient,
  createCluster,
  ErrorReply,
  ConnectionTimeoutError,
  MaxCommandRedirectionsError,
  RESP_TYPES,
  TimeoutError,
  WatchError,
} = redis;

/** A node-redis client instance, as far as the pool reaches into it. */
interface Instance {
  _executeCommand(command: unknown, parser: CommandParser, options: unknown, transform?: Transform): Promise<unknown>;
  sendCommand(args: readonly unknown[], options?: unknown): Promise<unknown>;
  _executeMulti(commands: Batch, ...rest: unknown[]): Promise<unknown>;
  _executePipeline(commands: Batch, ...rest: unknown[]): Promise<unknown>;
  _commandOptions?: CommandOptions;
}
interface Queue {
  readonly pendingCount: number;
  /** True while the connection has subscriptions (and, in RESP2, node-redis has swapped its reply handler). */
  readonly isPubSubActive: boolean;
  addCommand(args: readonly unknown[], options: { asap: boolean; typeMapping: Mapping }): Promise<unknown>;
  /** Moves the commands queued to write to those awaiting a reply, yielding each one's encoded chunks. */
  commandsToWrite(): Generator<readonly Chunk[]>;
  readonly decoder: Decoder;
  flushAll(error: Error): void;
  flushWaitingForReply(error: Error): void;
}
interface Internals {
  /** The client instance itself; `createClient()` hands out an object whose prototype it is. */
  _self: Instance;
  _getQueue(): Queue;
}
interface CommandParser {
  redisArgs: readonly unknown[];
  /** The command's keys, as its definition pushed them. */
  keys: readonly unknown[];
  preserve: unknown;
}
type Transform = (reply: unknown, preserve: unknown, typeMapping: unknown) => unknown;
interface CommandOptions {
  typeMapping?: Mapping;
}
/** A node-redis type mapping: how the decoder maps each RESP type (and, for the reply checks, more). */
export type TypeMapping = Record<PropertyKey, unknown>;
type Mapping = TypeMapping;
/** A reply handler of node-redis's RESP decoder. */
type Handler = (value: never) => void;
interface Decoder {
  write(chunk: Buffer): void;
  onReply: Handler;
  onErrorReply: Handler;
  onPush: Handler;
  /** The type mapping of the command the next reply belongs to (the oldest one waiting). */
  getTypeMapping(): Mapping;
}

/** What node-redis's RESP encoder makes of a command: strings, and each Buffer argument as it is. */
type Chunk = string | Buffer;

const internals = (client: StringClient) => client as unknown as Internals;
const queueOf = (client: StringClient) => internals(client)._getQueue();

/** Commands handed to `client` and not yet answered (queued to write, or awaiting their reply). */
export function pendingCount(client: StringClient): number {
  return queueOf(client).pendingCount;
}

/** Rejects every command handed to `client` and not yet answered with `error`. */
export function flushAll(client: StringClient, error: Error): void {
  queueOf(client).flushAll(error);
}

/** Rejects the commands written to `client`'s socket and awaiting their reply with `error`; the others stay queued. */
export function flushWaitingForReply(client: StringClient, error: Error): void {
  queueOf(client).flushWaitingForReply(error);
}

/** A multi or pipeline body: node-redis passes its commands as `{ args }`. */
export type Batch = readonly { args: readonly unknown[] }[];
/** One of the three methods every command of a client ends in; `self` is the receiver (the instance, or a view of it). */
type Send = (self: unknown, args: readonly unknown[], options: unknown) => Promise<unknown>;
type RunBatch = (self: unknown, commands: Batch, rest: unknown[]) => Promise<unknown>;

/**
 * A layer around the three methods every command of a client ends in: `sendCommand` (typed
 * commands, through `_executeCommand`, and raw ones), `_executeMulti` and `_executePipeline`.
 * Each function gets the call and `next`, the layers beneath.
 */
export interface CommandLayer {
  send?(self: unknown, args: readonly unknown[], options: unknown, next: Send): Promise<unknown>;
  multi?(self: unknown, commands: Batch, rest: unknown[], next: RunBatch): Promise<unknown>;
  pipeline?(self: unknown, commands: Batch, rest: unknown[], next: RunBatch): Promise<unknown>;
}

/**
 * Puts `layer` around every command path of `client`, outside the layers put there before. The
 * order, from the outside in: the pool's refusal after close (shared connection), the shared
 * connection's batch guard or a lease's state tracking, the reply checks (`expectReplies`).
 */
export function layerCommands(client: StringClient, layer: CommandLayer): void {
  const instance = internals(client)._self;
  const { send, multi, pipeline } = layer;
  if (send) {
    const inner = instance.sendCommand;
    const next: Send = (self, args, options) => inner.call(self, args, options);
    instance.sendCommand = function (this: unknown, args, options) {
      return send(this, args, options, next);
    };
  }
  if (multi) {
    const inner = instance._executeMulti;
    const next: RunBatch = (self, commands, rest) => inner.call(self, commands, ...rest);
    instance._executeMulti = function (this: unknown, commands, ...rest) {
      return multi(this, commands, rest, next);
    };
  }
  if (pipeline) {
    const inner = instance._executePipeline;
    const next: RunBatch = (self, commands, rest) => inner.call(self, commands, ...rest);
    instance._executePipeline = function (this: unknown, commands, ...rest) {
      return pipeline(this, commands, rest, next);
    };
  }
}

/** Sends raw arguments on `client`, through every layer of it, as `client.sendCommand()` would. */
export function sendOn(client: StringClient, args: readonly unknown[], options?: unknown): Promise<unknown> {
  return internals(client)._self.sendCommand(args, options);
}

/** Runs a `multi()` body on `client`, through every layer of it. */
export function runMultiOn(client: StringClient, commands: Batch, rest: unknown[]): Promise<unknown> {
  return internals(client)._self._executeMulti(commands, ...rest);
}

/** Runs a pipeline body on `client`, through every layer of it. */
export function runPipelineOn(client: StringClient, commands: Batch, rest: unknown[]): Promise<unknown> {
  return internals(client)._self._executePipeline(commands, ...rest);
}

/**
 * Runs `check` first whenever a command is sent through `facade`, an object whose prototype chain
 * leads to `client`: node-redis's methods reach the connection through `this._self`, so a getter
 * for it sees every command. `check` throws to refuse.
 */
export function checkEveryCommand(facade: object, client: StringClient, check: (receiver: unknown) => void): void {
  const instance = internals(client)._self;
  Object.defineProperty(facade, '_self', {
    get(this: unknown) {
      check(this);
      return instance;
    },
  });
}

/**
 * Makes `facade`'s command-option views (`withTypeMapping()`, `withAbortSignal()`, `asap()`,
 * `withCommandOptions()`) derive from the object they are called on rather than from the client
 * instance (node-redis's `_commandOptionsProxy` does the latter), so a view kept for later
 * follows the facade to a replacement connection.
 */
export function deriveViewsFrom(facade: Record<string, unknown>): void {
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
}

/** node-redis publishes every typed command's reply here when someone listens (tracing, OTel). */
const commandReplies = channel('node-redis:command:reply');
const cacheRequests = channel('node-redis:cache:request');

/** node-redis's client-side cache, as far as `cachedGet()` reads it. */
interface CacheStore {
  get(cacheKey: string): unknown;
  recordHits(count: number): void;
}

/**
 * What node-redis's client-side cache holds for `GET key` (`key` as sent, prefix included), found
 * as its `handleCache()` would find it, and counted as a hit: its cache key is `generateCacheKey()`'s
 * (each argument's length, then each argument, joined by `_`), and a value entry has the reply in
 * `value`. `undefined` when there is none, when the read is still on its way (a promise entry), for
 * a value that is not a string (node-redis hands out a copy of each value; a string needs none), and
 * while someone listens on node-redis's cache channel, which only `handleCache()` tells.
 */
export function cachedGet(cache: CacheStore, key: string): string | undefined {
  if (cacheRequests.hasSubscribers) return undefined;
  const value = (cache.get(`3_${key.length}_GET_${key}`) as { value?: unknown } | undefined)?.value;
  if (typeof value !== 'string') return undefined;
  cache.recordHits(1);
  return value;
}

/** A hook of the fast path: a promise to use instead of sending the command on this connection, or `undefined` to send it. */
export type CommandHook = (args: readonly unknown[], options: unknown) => Promise<unknown> | undefined;

/**
 * Replaces node-redis's async `_executeCommand` (await, publish, transform) with one `then` when
 * none of its extras is in use (HIMPORT, a subscriber to the reply channel, a client-side cache,
 * whose lookup is in node-redis's own); the gain is in docs/architecture.md. `intercept` may
 * answer a command instead of sending it. `read`, when given, is asked next about each command on
 * a key (`parser.keys`) that node-redis deems replica-safe (`replicaSafe()`), and may answer it in
 * turn (sentinel mode's replica reads); without it, nothing more is done per command. Commands on
 * no key (PING, INFO, SCAN …) are not offered: the connection's own health checks must reach its
 * server, as the cluster's keyless commands go to primaries. On a client with a cache, commands
 * node-redis caches are not offered either: they are read through the cache, on this connection.
 */
export function installFastPath(client: StringClient, intercept: CommandHook | undefined, read?: CommandHook): void {
  const instance = internals(client)._self;
  const original = instance._executeCommand;
  // Fixed when the client is made (`clientSideCache` option); node-redis looks it up per command.
  const cached = (client as { clientSideCache?: unknown }).clientSideCache !== undefined;
  instance._executeCommand = function (this: Instance, command, parser, options, transform) {
    let reply = intercept?.(parser.redisArgs, options);
    if (
      reply === undefined &&
      read !== undefined &&
      parser.keys.length > 0 &&
      replicaSafe(command, parser) &&
      !(cached && cacheable(command, parser))
    ) {
      reply = read(parser.redisArgs, options);
    }
    if (reply === undefined) {
      if (cached || commandReplies.hasSubscribers || parser.redisArgs[0] === 'HIMPORT') {
        return original.call(this, command, parser, options, transform);
      }
      reply = this.sendCommand(parser.redisArgs, options);
    }
    if (!transform) return reply;
    const typeMapping = (options as CommandOptions | undefined)?.typeMapping;
    return reply.then((value) => transform(value, parser.preserve, typeMapping));
  };
}

/** What node-redis reads a command's replica-safety from: its wire name and, for containers, subcommand. */
interface Identified {
  readonly commandIdentifier: unknown;
}

/** node-redis's own table of command metadata and its rule of replica-safety, from `@redis/client`. */
interface CommandMetadata {
  defaultCommandMetadata: { lookup(identifier: unknown): unknown };
  isReplicaSafe(metadata: unknown, override: boolean | undefined): boolean;
  isCacheable(metadata: unknown, override: boolean | undefined): boolean;
}

/**
 * node-redis's module of command metadata (`@redis/client/dist/lib/command-metadata`), found
 * from the `redis` package the pool loads; `undefined` when this node-redis has none, which the
 * self-check names.
 */
export const COMMAND_METADATA: CommandMetadata | undefined = (() => {
  try {
    const require = createRequire(import.meta.url);
    const fromRedis = createRequire(require.resolve('redis/package.json'));
    const metadata = fromRedis('@redis/client/dist/lib/command-metadata') as Partial<CommandMetadata>;
    return typeof metadata.isReplicaSafe === 'function' &&
      typeof metadata.isCacheable === 'function' &&
      metadata.defaultCommandMetadata
      ? (metadata as CommandMetadata)
      : undefined;
  } catch {
    // No such module: this node-redis decides replica-safety elsewhere, and the self-check says so.
    return undefined;
  }
})();

/**
 * Whether node-redis would send this command to a replica: a defined `IS_READ_ONLY` (`readonly`
 * for the raw cluster path) wins; otherwise its metadata table decides (a keyed command without
 * the `write` or `script_runner` flag). The rule node-redis's cluster and sentinel clients route
 * by, so both of the pool's modes send the same commands to replicas.
 */
export function isReplicaSafe(parser: Identified, readonly: boolean | undefined): boolean {
  if (readonly !== undefined) return readonly;
  if (!COMMAND_METADATA) return false;
  return COMMAND_METADATA.isReplicaSafe(
    COMMAND_METADATA.defaultCommandMetadata.lookup(parser.commandIdentifier),
    undefined,
  );
}

/**
 * One of node-redis's metadata rules (`isReplicaSafe`, `isCacheable`), asked of a typed command
 * once per command definition, as node-redis's sentinel client keeps its answers: the definition's
 * own flag (`override`) first, else the metadata table; `false` without the table.
 */
function perDefinition(rule: 'isReplicaSafe' | 'isCacheable', override: 'IS_READ_ONLY' | 'CACHEABLE') {
  const answers = new WeakMap<object, boolean>();
  return (command: unknown, parser: unknown): boolean => {
    const definition = command as Partial<Record<typeof override, boolean>>;
    let answer = answers.get(definition);
    if (answer === undefined) {
      answer =
        definition[override] ??
        COMMAND_METADATA?.[rule](
          COMMAND_METADATA.defaultCommandMetadata.lookup((parser as Identified).commandIdentifier),
          undefined,
        ) ??
        false;
      answers.set(definition, answer);
    }
    return answer;
  };
}

/** `isReplicaSafe()` of a typed command (node-redis's command definition, and the parser it filled). */
export const replicaSafe = perDefinition('isReplicaSafe', 'IS_READ_ONLY');

/** Whether node-redis's client-side cache takes a typed command (`isCacheable()`, as its `_executeCommand` asks). */
export const cacheable = perDefinition('isCacheable', 'CACHEABLE');

/**
 * What the pool adds to a connection's writes (the reply fences of reply-fences.ts), set by
 * `fenceWrites()` and asked by `coalesceWrites()` at each write.
 */
export interface WriteHooks {
  /** Command names `written` is told of (upper case); other commands pass unnamed, at no cost. */
  readonly watched: ReadonlySet<string>;
  /** A watched command is about to be written, with its arguments' first chunk (for `CLIENT REPLY`). */
  written(name: string, head: string): void;
  /** The end of a write: a command to append to it, with the type mapping its entry is given, or nothing. */
  closing(): { args: readonly string[]; typeMapping: TypeMapping } | undefined;
  /**
   * The command `closing()` gave was appended, and `reply` is its entry's promise; or, with no
   * `reply`, it could not be queued (node-redis's queue was full) and nothing was appended.
   */
  appended(typeMapping: TypeMapping, reply: Promise<unknown> | undefined): void;
}

/** The hooks of each queue, with the lengths of the names they watch (most commands are passed over on their length). */
const writeHooks = new WeakMap<Queue, { hooks: WriteHooks; lengths: ReadonlySet<number> }>();

/** Sets what `coalesceWrites()` asks at each write on `client`. */
export function fenceWrites(client: StringClient, hooks: WriteHooks): void {
  writeHooks.set(queueOf(client), { hooks, lengths: new Set([...hooks.watched].map((name) => name.length)) });
}

/** A string chunk this long or longer is written as it is, never joined: a large value is not copied once more. */
const JOIN_BELOW = 16 * 1024;
/** A write is handed to the socket once it holds this many characters and bytes; the rest waits for `drain`. */
const WRITE_AT_MOST = 1024 * 1024;

/**
 * Joins the strings of each batch node-redis writes into one write (up to `WRITE_AT_MOST`), where
 * it would write one chunk each. Buffers and large strings pass as they are, never copied again;
 * a group leaves node-redis's queue only when yielded whole, so its `drain` handling stands.
 * With `fenceWrites()` hooks, each group may end with the command `closing()` gives, queued
 * first (`asap`) and taken from node-redis's queue at once, so that it follows the group on the
 * wire and in the queue of replies awaited.
 * Returns the count of writes, by which the self-check sees node-redis write through here.
 */
export function coalesceWrites(client: StringClient): { readonly writes: number } {
  const queue = queueOf(client);
  const commands = queue.commandsToWrite.bind(queue);
  const counted = { writes: 0 };
  queue.commandsToWrite = function* () {
    const { hooks, lengths } = writeHooks.get(queue) ?? {};
    let group: Chunk[] = [];
    let joined = '';
    let size = 0;
    const close = () => {
      const closing = hooks?.closing();
      if (hooks !== undefined && closing !== undefined) {
        const before = queue.pendingCount;
        const reply = queue.addCommand(closing.args, { asap: true, typeMapping: closing.typeMapping });
        const queued = queue.pendingCount > before;
        // A fresh generator takes the head of the queue: the command just queued first.
        const next = queued ? commands().next() : undefined;
        hooks.appended(closing.typeMapping, queued ? reply : undefined);
        if (!queued) reply.catch(() => undefined);
        else if (next !== undefined && !next.done) for (const chunk of next.value) joined += chunk;
      }
      if (joined !== '') group.push(joined);
    };
    for (const encoded of commands()) {
      if (hooks !== undefined && lengths !== undefined) {
        const name = watchedName(encoded, hooks.watched, lengths);
        if (name !== undefined) hooks.written(name, encoded[0] as string);
      }
      for (const chunk of encoded) {
        size += chunk.length;
        if (typeof chunk === 'string' && chunk.length < JOIN_BELOW) {
          joined += chunk;
          continue;
        }
        if (joined !== '') group.push(joined);
        group.push(chunk);
        joined = '';
      }
      if (size >= WRITE_AT_MOST) {
        close();
        counted.writes++;
        yield group;
        group = [];
        joined = '';
        size = 0;
      }
    }
    if (group.length === 0 && joined === '') return;
    close();
    counted.writes++;
    yield group;
  };
  return counted;
}

/**
 * The name of an encoded command (`*<n>\r\n$<length>\r\n<name>…`, node-redis's encoder), upper
 * case, when `watched` holds it (`lengths`: the lengths of its names); otherwise `undefined`.
 */
function watchedName(
  encoded: readonly Chunk[],
  watched: ReadonlySet<string>,
  lengths: ReadonlySet<number>,
): string | undefined {
  const first = encoded[0] as string;
  const dollar = first.indexOf('$');
  const end = first.indexOf('\r', dollar);
  let length = 0;
  for (let i = dollar + 1; i < end; i++) length = length * 10 + first.charCodeAt(i) - 48;
  if (!lengths.has(length)) return undefined;
  const start = end + 2;
  // A name given as a Buffer is the next chunk.
  const name = first.length >= start + length ? first.slice(start, start + length) : String(encoded[1]);
  const upper = name.toUpperCase();
  return watched.has(upper) ? upper : undefined;
}

/**
 * Makes node-redis reject the commands outstanding on a lost connection with `toError(its
 * error)` instead of the socket's own error (the queue's two flush methods).
 */
export function typeLostCommands(client: StringClient, toError: (error: Error) => Error): void {
  aroundFlushes(client, (flush, error) => flush(toError(error)));
}

/** Puts `around` around both of the queue's flush methods, which reject the commands outstanding. */
function aroundFlushes(client: StringClient, around: (flush: (error: Error) => void, error: Error) => void): void {
  const queue = queueOf(client);
  for (const method of ['flushAll', 'flushWaitingForReply'] as const) {
    const flush = queue[method].bind(queue);
    queue[method] = (error) => around(flush, error);
  }
}

/**
 * Calls `listener` with the error each time node-redis rejects the commands awaiting their reply on
 * `client` (a lost, ended or flushed connection), after they are rejected.
 */
export function onFlush(client: StringClient, listener: (error: Error) => void): void {
  aroundFlushes(client, (flush, error) => {
    flush(error);
    listener(error);
  });
}

/** True while `client` has subscriptions. */
export function isPubSubActive(client: StringClient): boolean {
  return queueOf(client).isPubSubActive;
}

/** What the pool learns about a connection from its reply decoder. */
export interface DecoderTap {
  /** Replies completed so far, of every kind (replies, error replies, pushes): the watchdog's measure of progress. */
  readonly replies: number;
}

/** How a connection's owner handles what its decoder meets. */
export interface DecoderHooks {
  /**
   * The decoder threw (bytes that are not RESP, a length no JavaScript value can hold), or a reply
   * came that no command can take: the command it is for, the type node-redis cannot match. The
   * reply stream can no longer be trusted: the caller must end the connection.
   */
  broken(cause: unknown): void;
  /** An error reply, before it reaches its command; `deliver` passes it (or a replacement) on. */
  errorReply(error: Error, deliver: (error: Error) => void): void;
  /**
   * Looks at each reply before it reaches its command, with that command's type mapping; a throw
   * refuses it (and ends in `broken`). The reply checks of reply-checks.ts.
   */
  reply?(reply: unknown, typeMapping: TypeMapping): void;
  /**
   * Decides what reaches the command a reply (or, with `error`, an error reply) is for, with that
   * command's type mapping: the reply itself, or a thenable that settles the command later (the
   * reply fences of reply-fences.ts). A throw refuses the reply (and ends in `broken`). Asked only
   * while node-redis's own handler takes the replies; the replies to a handler it swapped in pass.
   */
  gate?(reply: unknown, typeMapping: TypeMapping, error: boolean): unknown;
}

const taps = new WeakMap<object, DecoderTap>();

/** The tap `tapDecoder()` installed on `client`'s connection. */
export function decoderTap(client: StringClient): DecoderTap {
  const tap = taps.get(internals(client)._self);
  if (!tap) throw new Error('No decoder tap on this client; it was not protected by protectClient()');
  return tap;
}

/**
 * Routes what `client`'s decoder produces through `hooks` and counts it: a decoder exception goes
 * to `hooks.broken` instead of node-redis's reset-and-carry-on, which would leave every later
 * reply one caller off. The handlers become accessors, so those node-redis swaps in later (RESP2
 * pub/sub, MONITOR, RESET) are routed too.
 *
 * node-redis's own reply handler (`(reply) => this.#onReply(reply)`, which settles the oldest
 * command waiting) is told from those it swaps in by its source text; only while it is in place
 * may a reply be settled later (`hooks.gate`), and an error reply is then passed through it.
 */
export function tapDecoder(client: StringClient, hooks: DecoderHooks): void {
  const decoder = queueOf(client).decoder;
  const tap = { replies: 0 };
  const write = decoder.write.bind(decoder);
  decoder.write = (chunk) => {
    try {
      write(chunk);
    } catch (cause) {
      hooks.broken(cause);
    }
  };
  const own = String(decoder.onReply);
  let standard = true;
  let settle: Handler = decoder.onReply;
  const gate = hooks.gate;
  route(decoder, 'onReply', (deliver) => {
    standard = String(deliver) === own;
    settle = deliver;
    return (reply: unknown) => {
      tap.replies++;
      const typeMapping = decoder.getTypeMapping();
      // Throws, inside write() above, when the reply is of a type its command cannot take.
      hooks.reply?.(reply, typeMapping);
      deliver((gate && standard ? gate(reply, typeMapping, false) : reply) as never);
    };
  });
  route(decoder, 'onErrorReply', (deliver) => (error: Error) => {
    tap.replies++;
    hooks.errorReply(error, (passed) => {
      const gated = gate && standard ? gate(passed, decoder.getTypeMapping(), true) : passed;
      if (gated === passed) deliver(passed as never);
      else settle(gated as never);
    });
  });
  route(decoder, 'onPush', (deliver) => (push: unknown) => {
    tap.replies++;
    deliver(push as never);
  });
  taps.set(internals(client)._self, tap);
}

function route(decoder: Decoder, name: 'onReply' | 'onErrorReply' | 'onPush', wrap: (deliver: Handler) => Handler) {
  let current = wrap(decoder[name]);
  Object.defineProperty(decoder, name, {
    configurable: true,
    get: () => current,
    set: (handler: Handler) => {
      current = wrap(handler);
    },
  });
}

/** How a command is routed in a cluster: on, whether it may go to a replica, and how to route it afresh. */
export interface ClusterRoute {
  /** Runs it as node-redis would (on a node client directly, by the fast path, or through `_execute`). */
  next(): Promise<unknown>;
  /** Whether node-redis deems it replica-safe (`isReplicaSafe()`), worked out when asked; a transaction never is, here. */
  readonly(): boolean;
  /**
   * Runs it once more through node-redis's own `_execute`, which chooses the node again (after
   * the connection it went out on was lost, say).
   */
  again(): Promise<unknown>;
}

/** The cluster client's command runner, as node-redis's `RedisCluster` calls it. */
export type ClusterExecute = (
  run: (client: unknown, options: unknown) => Promise<unknown>,
  parser: { redisArgs: readonly unknown[]; firstKey: unknown },
  options: unknown,
  route: ClusterRoute,
) => Promise<unknown>;

/** What node-redis's cluster client builds for a command. */
interface ClusterParser extends Identified {
  redisArgs: readonly unknown[];
  keys: readonly unknown[];
  firstKey: unknown;
}
type MakeRun = (parser: ClusterParser) => Parameters<ClusterExecute>[0];
interface ClusterInstance {
  _execute(...args: unknown[]): Promise<unknown>;
  _executeWithPolicies(
    parser: ClusterParser,
    isReadonly: boolean | undefined,
    options: unknown,
    makeRun: MakeRun,
  ): Promise<unknown>;
  _slots: ClusterSlots;
}

/** A redirection: the node that answered does not (or does not yet) serve the key's slot; the command did not run. */
const redirected = (error: unknown) =>
  error instanceof Error && (error.message.startsWith('MOVED') || error.message.startsWith('ASK'));

/** `isReplicaSafe()` of the one-key commands the cluster's fast path takes, by name. */
const replicaSafeByName = new Map<unknown, boolean>();

/**
 * The node client a one-key command may run on directly: `key`'s, and whether node-redis deems
 * the command replica-safe, asked only when wanted (`readonly()`).
 */
export type ReadyClientFor = (key: unknown, readonly: () => boolean) => unknown;

/**
 * Puts `execute` around the cluster instance's `_execute`, which every command, `sendCommand()`
 * and transaction runs through. A core command on exactly one key skips `_executeWithPolicies`
 * (policy resolution and two async steps to find the node) and runs on the ready client of the
 * node that serves the key (`readyClientFor`); a MOVED or ASK reply hands it back to `_execute`,
 * which follows the redirection. A transaction (node-redis's MULTI runs through `_execute` with a
 * parser of no arguments) is never replica-safe here: node-redis would send one of only reads to
 * a replica.
 */
export function layerClusterCommands(
  cluster: object,
  execute: ClusterExecute,
  readyClientFor: ReadyClientFor = () => undefined,
): void {
  const instance = (cluster as { _self: ClusterInstance })._self;
  const inner = instance._execute;
  instance._execute = (...args: unknown[]) => {
    const [parser, isReadonly, options, run] = args as [
      ClusterParser,
      boolean | undefined,
      unknown,
      Parameters<ClusterExecute>[0],
    ];
    if (isReadonly && parser.redisArgs.length === 0) args[1] = false;
    const again = () => inner.apply(instance, args);
    return execute(run, parser, options, { next: again, readonly: () => args[1] === true, again });
  };
  const withPolicies = instance._executeWithPolicies;
  instance._executeWithPolicies = function (this: ClusterInstance, parser, isReadonly, options, makeRun) {
    const [name, first] = parser.redisArgs;
    const isReadonlyNow = () => {
      if (isReadonly !== undefined) return isReadonly;
      // Only commands whose first argument is their key come here, never a container's
      // subcommand, so the name alone decides.
      let safe = replicaSafeByName.get(name);
      if (safe === undefined) {
        safe = isReplicaSafe(parser, undefined);
        replicaSafeByName.set(name, safe);
      }
      return safe;
    };
    const client =
      parser.keys.length === 1 && first === parser.firstKey && typeof name === 'string' && !name.includes('.')
        ? readyClientFor(first, isReadonlyNow)
        : undefined;
    if (client === undefined) return withPolicies.call(this, parser, isReadonly, options, makeRun);
    const run = makeRun(parser);
    const again = () => inner.call(instance, parser, isReadonlyNow(), options, run);
    const next = () =>
      run(client, options).catch((error: unknown) => {
        if (!redirected(error)) throw error;
        return again();
      });
    return execute(run, parser, options, { next, readonly: isReadonlyNow, again });
  };
}

/** A node as node-redis's cluster client keeps it: its address and its client, once made. */
export interface SlotNode {
  readonly host: string;
  readonly port: number;
  readonly client?: { readonly isReady: boolean } | undefined;
}

/** The nodes that serve one range of slots: its primary, and its replicas when node-redis opens them (`useReplicas`). */
export interface SlotShard {
  readonly master: SlotNode;
  readonly replicas?: readonly SlotNode[];
}

/** How the pool chooses the cluster's nodes, in place of node-redis's draw (see `chooseClusterNodes()`). */
export interface ClusterNodeChoice {
  /** The node a replica-safe command on a key of `shard` goes to. May throw: the command then rejects with it. */
  read(shard: SlotShard): SlotNode;
  /** The node a command on no key goes to, of the primaries node-redis knows. */
  keyless(masters: readonly SlotNode[]): SlotNode;
}

interface ClusterSlots {
  slots: (SlotShard | undefined)[];
  masters: SlotNode[];
  getSlotRandomNode(slot: number): SlotNode;
  getRandomNode(): SlotNode;
}

/**
 * Replaces node-redis's choice of nodes in `cluster`'s slot map (`_self._slots`): its
 * `getSlotRandomNode(slot)`, where `getClientAndSlotNumber()` (every command's route) and
 * `getClientForKey()` find the node for a replica-safe command on a key, which would draw the
 * primary and its replicas in turn; and its `getRandomNode()`, where commands on no key go, which
 * would draw any node, replicas included, whatever the command.
 */
export function chooseClusterNodes(cluster: object, choice: ClusterNodeChoice): void {
  const slots = (cluster as { _self: ClusterInstance })._self._slots;
  slots.getSlotRandomNode = (slot) => choice.read(slots.slots[slot] as SlotShard);
  slots.getRandomNode = () => choice.keyless(slots.masters);
}

/**
 * Gives node-redis's cluster client the single-server client's `withAbortSignal()`, which it
 * lacks: a view whose command options are the receiver's plus `abortSignal`, made by its
 * `_commandOptionsProxy(key, value)`, as its own `withTypeMapping()` is.
 */
export function addWithAbortSignal(cluster: object): void {
  type Proxied = { _commandOptionsProxy(key: string, value: unknown): unknown };
  (cluster as Record<string, unknown>).withAbortSignal = function (this: Proxied, signal: AbortSignal) {
    return this._commandOptionsProxy('abortSignal', signal);
  };
}

/**
 * Stands in for an `AbortSignal` in a client's socket options. node-redis keeps its socket
 * private, but hands its socket options to `net.connect()` / `tls.connect()`, which destroy the
 * socket when their `signal` fires; unlike an `AbortSignal`, this one fires again for the next
 * socket. Node adds two listeners per socket and removes only one when the socket closes, so
 * the listeners of the gone sockets are dropped whenever the client reconnects.
 */
class SocketKiller {
  // What Node checks an `AbortSignal` by.
  readonly aborted = false;
  /** Node reads it synchronously, as the cause of the `AbortError` it destroys the socket with. */
  reason: unknown;
  readonly #listeners = new Set<() => void>();

  addEventListener(_type: 'abort', listener: () => void): void {
    this.#listeners.add(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    this.#listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  kill(reason: unknown): void {
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    this.reason = reason;
    for (const listener of listeners) listener();
    this.reason = undefined;
  }

  forget(): void {
    this.#listeners.clear();
  }
}

/** Socket options that let `socketKiller()` destroy the socket; every connection of the pool is made with them. */
export function killableSocket<T extends object>(socket: T): T {
  return { ...socket, signal: new SocketKiller() };
}

/** Destroys a client's current socket; see `socketKiller()`. */
export interface KillSocket {
  kill(reason: Error): void;
  /** Listeners held: 1 or 2 for a live socket (pinned by a test). */
  readonly listenerCount: number;
}

/**
 * For a client made with `killableSocket()` options: what destroys its current socket with an
 * error, so that node-redis handles it as a lost socket (its outstanding commands are rejected,
 * and the client reconnects or ends, as its reconnect strategy says). Call it once per client.
 * Throws for a client made without `killableSocket()`.
 */
export function socketKiller(client: StringClient): KillSocket {
  const killer = (client.options?.socket as { signal?: unknown } | undefined)?.signal;
  if (!(killer instanceof SocketKiller)) throw new Error('This client was not made with killableSocket() options');
  // node-redis emits 'reconnecting' just before it makes the next socket; the old one is gone.
  client.on('reconnecting', () => killer.forget());
  return killer;
}

/**
 * The command options (`timeout`, `typeMapping` …) of a client or of one of its views
 * (`withTypeMapping()` …), as node-redis's own `duplicate()` carries them to the copy.
 */
export function commandOptionsOf(receiver: object): object | undefined {
  return (receiver as Instance)._commandOptions;
}

/**
 * A password node-redis sends, and Redis reads as empty. node-redis sends credentials only with a
 * truthy password, so an empty string would not name the user at all; an empty Buffer is sent.
 */
export const EMPTY_PASSWORD = Buffer.alloc(0) as unknown as string;
