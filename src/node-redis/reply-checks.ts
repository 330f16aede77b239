/**
 * The reply checks: each command of `REPLY_SHAPES` is sent with a type mapping that decodes as the
 * caller asked and checks the whole reply against what the command can take. A reply it cannot
 * take means the replies no longer line up with their commands, so the connection is ended
 * (`tapDecoder`'s `broken`) instead of the reply reaching the wrong caller.
 */
import { REPLY_SHAPES, type ReplyKind, type ReplyShape } from '../client/commands.js';
import type { StringClient } from '../client/types.js';
import { commandOptionsOf, layerCommands, RESP_TYPES, type TypeMapping } from './node-redis.js';

type Mapping = TypeMapping;
interface CommandOptions {
  typeMapping?: Mapping;
}

/** Checks `reply` against the type mapping its command was sent with (`tapDecoder`'s `reply` hook). */
export function checkReply(reply: unknown, typeMapping: TypeMapping): void {
  (typeMapping[REPLY_CHECK] as ((reply: unknown) => void) | undefined)?.(reply);
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
function checkingMapping(base: Mapping | undefined, command: string, shape: ReplyShape): object {
  const mapping: Mapping = { ...base };
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
 * reaching the caller. Batches are not checked, nor is anything sent between MULTI and EXEC,
 * where every reply is `QUEUED`.
 */
export function expectReplies(client: StringClient): void {
  const checks = newChecks();
  let inTransaction = false;
  layerCommands(client, {
    send(self, args, options, next) {
      const check = checks.get(args[0]);
      if (check === undefined) return next(self, args, options);
      const { transaction } = check.shape;
      if (transaction !== undefined) inTransaction = transaction === 'opens';
      if (transaction !== undefined || inTransaction) return next(self, args, options);
      const given = options as CommandOptions | undefined;
      const base = given?.typeMapping ?? (commandOptionsOf(self as object) as CommandOptions | undefined)?.typeMapping;
      if (check.checked === undefined || check.options !== options || check.base !== base) {
        check.options = options;
        check.base = base;
        check.checked = { ...given, typeMapping: mappingFor(base, check) };
      }
      return next(self, args, check.checked);
    },
  });
}
