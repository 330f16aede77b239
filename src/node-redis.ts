/**
 * What the pool reaches inside node-redis 6 for, beyond its public API. node-redis marks these
 * internal, so each is pinned by a test (listed in docs/architecture.md), and a node-redis
 * upgrade means reviewing this file.
 */
import { channel } from 'node:diagnostics_channel';
import { RESP_TYPES } from 'redis';
import { REPLY_SHAPES, type ReplyKind, type ReplyShape } from './commands.js';
import type { ConnectionHooks, StringClient } from './connection.js';

/** The node-redis internals the pool relies on. */
export interface ClientInternals {
  /** The client instance itself; `createClient()` hands out an object whose prototype it is. */
  _self: Record<string, unknown> & {
    _executeCommand(command: unknown, parser: CommandParser, options: unknown, transform?: Transform): Promise<unknown>;
    sendCommand(args: readonly unknown[], options: unknown): Promise<unknown>;
    _commandOptions?: CommandOptions;
  };
  _getQueue(): {
    readonly pendingCount: number;
    readonly decoder: Decoder;
    flushAll(error: Error): void;
    flushWaitingForReply(error: Error): void;
  };
}
interface CommandParser {
  redisArgs: readonly unknown[];
  preserve: unknown;
}
type Transform = (reply: unknown, preserve: unknown, typeMapping: unknown) => unknown;
interface CommandOptions {
  typeMapping?: Record<PropertyKey, unknown>;
}
/** A reply handler of node-redis's RESP decoder. */
type Handler = (value: never) => void;
interface Decoder {
  write(chunk: Buffer): void;
  onReply: Handler;
  onErrorReply: Handler;
  onPush: Handler;
  /** The type mapping of the command the next reply belongs to (the oldest one waiting). */
  getTypeMapping(): Record<PropertyKey, unknown>;
}

export const internals = (client: StringClient) => client as unknown as ClientInternals;

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
}

const taps = new WeakMap<object, DecoderTap>();

/** The tap `tapDecoder()` installed on `client`'s connection. */
export function decoderTap(client: StringClient): DecoderTap {
  const tap = taps.get(internals(client)._self);
  if (!tap) throw new Error('No decoder tap on this client; it was not protected by protectClient()');
  return tap;
}

/**
 * Routes everything `client`'s RESP decoder produces through the pool: it counts completed
 * replies, checks each reply against what its command can take (see `expectReplies`), turns a
 * decoder exception into `hooks.broken` instead of node-redis's reset-and-carry-on (which leaves
 * every later reply one caller off), and shows error replies to `hooks.errorReply`.
 *
 * node-redis swaps the decoder's `onReply` for pub/sub in RESP2, MONITOR and RESET; the handlers
 * are accessor properties, so what it installs later is routed the same way.
 */
export function tapDecoder(client: StringClient, hooks: DecoderHooks): void {
  const decoder = internals(client)._getQueue().decoder;
  const tap = { replies: 0 };
  const write = decoder.write.bind(decoder);
  decoder.write = (chunk) => {
    try {
      write(chunk);
    } catch (cause) {
      hooks.broken(cause);
    }
  };
  route(decoder, 'onReply', (deliver) => (reply: unknown) => {
    tap.replies++;
    // Throws, inside write() above, when the reply is of a type its command cannot take.
    (decoder.getTypeMapping()[REPLY_CHECK] as ((reply: unknown) => void) | undefined)?.(reply);
    deliver(reply as never);
  });
  route(decoder, 'onErrorReply', (deliver) => (error: Error) => {
    tap.replies++;
    hooks.errorReply(error, deliver as (error: Error) => void);
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

/** A reply of a type the command it was matched to cannot take: the replies no longer line up with their commands. */
export class UnmatchedReply extends Error {
  override name = 'UnmatchedReply';
}

/** Where a checking type mapping keeps its check of the whole reply. */
const REPLY_CHECK = Symbol('reply check');

type Representation = 'string' | 'buffer';
/** The string-like reply kinds, with the RESP types node-redis's decoder maps each by. */
const STRING_KINDS = [
  ['bulk', [RESP_TYPES.BLOB_STRING]],
  ['simple', [RESP_TYPES.SIMPLE_STRING, RESP_TYPES.VERBATIM_STRING]],
] as const;
const NAMES: Record<ReplyKind | 'boolean', string> = {
  bulk: 'a bulk string',
  simple: 'a simple string',
  integer: 'a number',
  null: 'a null',
  aggregate: 'an array, map or set',
  boolean: 'a boolean',
};

/**
 * A type mapping that decodes as `base` does, and checks the whole reply (`REPLY_CHECK`, called
 * by `tapDecoder` before the reply reaches its command) against what `command` can take.
 *
 * Decoded, a simple string and a bulk string look alike. So a string kind the command cannot
 * take is decoded the other way (a Buffer where strings are expected, a string where Buffers
 * are), and its representation gives it away. The mapping is a plain object of data properties:
 * node-redis's decoder looks it up for every value, and accessors there cost a fifth of its speed.
 */
function checkingMapping(base: Record<PropertyKey, unknown> | undefined, command: string, shape: ReplyShape): object {
  const mapping: Record<PropertyKey, unknown> = { ...base };
  const representation = (type: number): Representation => (mapping[type] === Buffer ? 'buffer' : 'string');
  const numbersAsStrings = mapping[RESP_TYPES.NUMBER] === String;
  const taken = new Map<Representation, ReplyKind>();
  if (numbersAsStrings && shape.kinds.has('integer')) taken.set('string', 'integer');
  for (const [kind, [type]] of STRING_KINDS) if (shape.kinds.has(kind)) taken.set(representation(type), kind);
  /** What a string of each representation is, when the command cannot take it. */
  const refused = new Map<Representation, string>();
  for (const [kind, types] of STRING_KINDS) {
    if (shape.kinds.has(kind)) continue;
    let as = representation(types[0]);
    if (taken.has(as)) as = as === 'string' ? 'buffer' : 'string';
    if (taken.has(as)) continue;
    for (const type of types) mapping[type] = as === 'buffer' ? Buffer : String;
    refused.set(as, refused.has(as) ? 'a string' : NAMES[kind]);
  }
  const refuse = (what: string) => {
    throw new UnmatchedReply(`Redis answered ${command} with ${what}, a reply ${command} cannot take`);
  };
  mapping[REPLY_CHECK] = (reply: unknown) => {
    if (reply === null) {
      if (!shape.kinds.has('null')) refuse(NAMES.null);
    } else if (typeof reply === 'string' || reply instanceof Uint8Array) {
      const as = typeof reply === 'string' ? 'string' : 'buffer';
      if (!taken.has(as)) refuse(refused.get(as) ?? 'a string');
    } else if (typeof reply === 'number' || typeof reply === 'bigint') {
      if (!shape.kinds.has('integer') || numbersAsStrings) refuse(NAMES.integer);
    } else if (typeof reply === 'boolean') refuse(NAMES.boolean);
    else if (!shape.kinds.has('aggregate')) refuse(NAMES.aggregate);
  };
  return mapping;
}

/**
 * A checked command, with the options it was last sent with on one client and the same with its
 * checking mapping: a client sends its commands with one options object time after time (its
 * own, or a view's), so the usual case costs one lookup and no new object. Each client has its
 * own, since each has its own options object.
 */
interface Check {
  readonly command: string;
  readonly shape: ReplyShape;
  options: unknown;
  base: Mapping | undefined;
  checked: object | undefined;
}
type Mapping = Record<PropertyKey, unknown>;
const newChecks = () =>
  new Map<unknown, Check>(
    [...REPLY_SHAPES].map(([command, shape]) => [
      command,
      { command: String(command), shape, options: undefined, base: undefined, checked: undefined },
    ]),
  );
const NO_MAPPING = {};
const checkingMappings = new WeakMap<object, Map<string, object>>();

/** The checking mapping of `check`'s command over `base`, made once. */
function mappingFor(base: Mapping | undefined, { command, shape }: Check): object {
  const byCommand = checkingMappings.get(base ?? NO_MAPPING) ?? new Map<string, object>();
  checkingMappings.set(base ?? NO_MAPPING, byCommand);
  let mapping = byCommand.get(command);
  if (!mapping) {
    mapping = checkingMapping(base, command, shape);
    byCommand.set(command, mapping);
  }
  return mapping;
}

/**
 * Gives every command of `REPLY_SHAPES` sent on `client` the checking type mapping of its reply
 * shape, so that a reply it cannot take ends the connection (through `tapDecoder`) instead of
 * reaching the caller. Every command path of node-redis's client but batches ends in the
 * instance's `sendCommand`. Inside a transaction every reply is `QUEUED`, so nothing is checked.
 */
export function expectReplies(client: StringClient): void {
  const instance = internals(client)._self;
  const send = instance.sendCommand;
  const checks = newChecks();
  let inTransaction = false;
  instance.sendCommand = function (this: ClientInternals['_self'], args, options) {
    const check = checks.get(args[0]);
    if (check === undefined) return send.call(this, args, options);
    const { transaction } = check.shape;
    if (transaction !== undefined) inTransaction = transaction === 'opens';
    if (transaction !== undefined || inTransaction) return send.call(this, args, options);
    const given = options as CommandOptions | undefined;
    const base = given?.typeMapping ?? this._commandOptions?.typeMapping;
    if (check.checked === undefined || check.options !== options || check.base !== base) {
      check.options = options;
      check.base = base;
      check.checked = { ...given, typeMapping: mappingFor(base, check) };
    }
    return send.call(this, args, check.checked);
  };
}

/**
 * Makes node-redis reject the commands outstanding on a lost connection with `toError(its
 * error)` instead of the socket's own error (the queue's two flush methods).
 */
export function typeLostCommands(client: StringClient, toError: (error: Error) => Error): void {
  const queue = internals(client)._getQueue();
  for (const method of ['flushAll', 'flushWaitingForReply'] as const) {
    const flush = queue[method].bind(queue);
    queue[method] = (error) => flush(toError(error));
  }
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
export function installFastPath(client: StringClient, intercept: ConnectionHooks['intercept']): void {
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
