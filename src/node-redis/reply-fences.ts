/**
 * Reply fences. RESP has no request ids: a stream that stays well-formed but shifts by one reply (a
 * reply dropped, an extra or a duplicated one, a span cut from inside a value) passes every check
 * of a reply's type and hands each later caller the reply of another command. So each write on a
 * connection ends with a fence, `ECHO <token>`, whose reply is known exactly and could not be
 * guessed. The replies of the write are held (their commands are settled with a stand-in) and
 * reach their callers only once the reply in the fence's place is its token. Anything else there
 * refuses the reply (`tapDecoder`'s `broken` ends the connection), and the held replies are
 * refused with the connection's error, so that none reaches the wrong caller.
 */
import { randomBytes } from 'node:crypto';
import type { StringClient } from '../client/types.js';
import { type DecoderHooks, isPubSubActive, type TypeMapping, type WriteHooks } from './node-redis.js';
import { UnmatchedReply } from './reply-checks.js';

/** Where a fence's type mapping keeps the token its reply must be. */
const TOKEN = Symbol('fence token');

/**
 * Commands after which a fence would not be answered in its place: MULTI (until EXEC or DISCARD)
 * queues it, MONITOR streams, `CLIENT REPLY OFF|SKIP` silences it, QUIT closes. RESET ends
 * MULTI and MONITOR.
 */
const WATCHED: ReadonlySet<string> = new Set(['MULTI', 'EXEC', 'DISCARD', 'RESET', 'MONITOR', 'CLIENT', 'QUIT']);
const REPLY_OFF = /\r\nREPLY\r\n\$\d+\r\n(OFF|SKIP)\r\n/i;

/**
 * Refusals a server gives every command, ECHO included, while it is in a state (loading its data,
 * running a script past its time, a replica cut off from its primary, a user without the right):
 * in the fence's place, such a refusal is the fence's own reply, not another command's.
 */
const REFUSES_EVERY_COMMAND = /^(LOADING|BUSY|MASTERDOWN|NOAUTH|NOPERM)\b/;

/** A reply that reaches its command once the fence after it has come, or never. */
class Held {
  readonly #reply: unknown;
  readonly #error: boolean;
  #refusal: Error | undefined;
  #state: 'held' | 'released' | 'refused' = 'held';
  #resolve: ((value: unknown) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;

  constructor(reply: unknown, error: boolean) {
    this.#reply = reply;
    this.#error = error;
  }

  // node-redis settles the command's promise with this object, a thenable on purpose: the promise
  // calls `then` once, and settles as this object says.
  // biome-ignore lint/suspicious/noThenProperty: a stand-in for the reply, which the promise adopts
  then(resolve: (value: unknown) => void, reject: (error: unknown) => void): void {
    this.#resolve = resolve;
    this.#reject = reject;
    if (this.#state !== 'held') this.#settle();
  }

  release(): void {
    this.#state = 'released';
    this.#settle();
  }

  refuse(error: Error): void {
    this.#state = 'refused';
    this.#refusal = error;
    this.#settle();
  }

  #settle(): void {
    if (!this.#resolve || !this.#reject) return;
    if (this.#state === 'refused') this.#reject(this.#refusal);
    else if (this.#error) this.#reject(this.#reply);
    else this.#resolve(this.#reply);
  }
}

/** What the fences of one connection need from its owner. */
export interface FenceOptions {
  /**
   * Whether a fence would be answered in its place now, as far as the connection's state shows: not
   * on a RESP2 connection with subscriptions, whose replies node-redis reads as pushes.
   * `answerable(client)` gives this for a node-redis client.
   */
  answerable(): boolean;
  /** The reply stream can no longer be trusted (a fence's reply was not its token): end the connection. */
  broken(cause: unknown): void;
  /** What a caller whose reply was held gets when node-redis rejects the commands outstanding with `error`. */
  refusal(error: Error): Error;
}

/**
 * Whether `reply` (an error reply, with `error`) is the reply of the fence whose type mapping is
 * `typeMapping`. An error reply may reach the gate as the pool classified it (LOADING as a
 * `RedisUnavailableError`), with the server's own reply as its cause.
 */
function isFenceReply(reply: unknown, typeMapping: TypeMapping, error: boolean): boolean {
  if (!error) return reply === typeMapping[TOKEN];
  const refusal = (value: unknown) => value instanceof Error && REFUSES_EVERY_COMMAND.test(value.message);
  return refusal(reply) || (reply instanceof Error && refusal(reply.cause));
}

/** How a reply in a fence's place differs from the token, for the error; never the reply itself, which may be data. */
function describe(reply: unknown, error: boolean): string {
  if (error) return 'an error reply';
  if (typeof reply === 'string') return `a string of ${reply.length} characters`;
  if (reply instanceof Uint8Array) return `a string of ${reply.length} bytes`;
  if (reply === null) return 'a null';
  if (Array.isArray(reply)) return 'an array';
  return `a ${typeof reply}`;
}

/**
 * The fences of one connection: `WriteHooks` for `coalesceWrites()`, and a `gate` for
 * `tapDecoder()`. The handshake is fenced too (before AUTH, the fence's place holds NOAUTH, which
 * is its own reply), and so are the commands node-redis writes with it after a reconnect. A write
 * gets no fence inside a transaction, after MONITOR or `CLIENT REPLY OFF|SKIP` (until the
 * connection is lost or RESET), with QUIT, or while a RESP2 connection is subscribed (node-redis
 * reads its replies as pushes).
 */
export class ReplyFences implements WriteHooks {
  readonly watched = WATCHED;
  readonly #options: FenceOptions;
  /** Fences' tokens are this connection's random prefix and a count. */
  readonly #prefix = randomBytes(12).toString('base64url');
  #count = 0;
  /** The type mappings of the fences written whose reply has not come. */
  readonly #outstanding = new Set<TypeMapping>();
  /** Replies that came after the last fence, for the next. */
  #held: Held[] = [];
  #inTransaction = false;
  #suspended = false;
  #quitting = false;

  constructor(options: FenceOptions) {
    this.#options = options;
  }

  written(name: string, head: string): void {
    if (name === 'MULTI') this.#inTransaction = true;
    else if (name === 'EXEC' || name === 'DISCARD') this.#inTransaction = false;
    else if (name === 'RESET') this.#inTransaction = this.#suspended = false;
    else if (name === 'MONITOR' || (name === 'CLIENT' && REPLY_OFF.test(head))) this.#suspended = true;
    else if (name === 'QUIT') this.#quitting = true;
  }

  closing(): { args: readonly string[]; typeMapping: TypeMapping } | undefined {
    if (this.#quitting || this.#inTransaction || this.#suspended || !this.#options.answerable()) return undefined;
    const token = `${this.#prefix}${++this.#count}`;
    const typeMapping = { [TOKEN]: token };
    this.#outstanding.add(typeMapping);
    return { args: ['ECHO', token], typeMapping };
  }

  appended(typeMapping: TypeMapping, reply: Promise<unknown> | undefined): void {
    if (reply === undefined) {
      this.#outstanding.delete(typeMapping);
      return;
    }
    // A fence's reply is checked by `gate` as it is decoded; one that reached its fence through a
    // handler node-redis swapped in (RESP2 pub/sub, MONITOR, RESET), which the gate does not see,
    // is checked here.
    reply.then(
      (value) => this.#late(typeMapping, value, false),
      (error) => this.#late(typeMapping, error, true),
    );
  }

  #late(typeMapping: TypeMapping, reply: unknown, error: boolean): void {
    if (!this.#outstanding.delete(typeMapping)) return;
    if (isFenceReply(reply, typeMapping, error)) this.#release();
    else this.#options.broken(this.#mismatch(reply, error));
  }

  /** `tapDecoder`'s gate: holds each reply until the next fence; checks each fence's reply. */
  readonly gate: NonNullable<DecoderHooks['gate']> = (reply, typeMapping, error) => {
    if (typeMapping[TOKEN] !== undefined && this.#outstanding.delete(typeMapping)) {
      if (!isFenceReply(reply, typeMapping, error)) throw this.#mismatch(reply, error);
      this.#release();
      return reply;
    }
    if (this.#outstanding.size === 0) return reply;
    const held = new Held(reply, error);
    this.#held.push(held);
    return held;
  };

  /** node-redis rejected the commands outstanding (the connection is lost, or ended): so are the replies held. */
  lost(error: Error): void {
    const held = this.#held;
    this.#held = [];
    this.#outstanding.clear();
    this.#inTransaction = this.#suspended = this.#quitting = false;
    if (held.length === 0) return;
    const refusal = this.#options.refusal(error);
    for (const reply of held) reply.refuse(refusal);
  }

  #release(): void {
    const held = this.#held;
    this.#held = [];
    for (const reply of held) reply.release();
  }

  #mismatch(reply: unknown, error: boolean): UnmatchedReply {
    return new UnmatchedReply(
      `in the place of the fence (ECHO <token>) written after a batch of commands came ${describe(reply, error)}, not its token`,
    );
  }
}

/** Whether a fence on `client` would be answered in its place now (`FenceOptions.answerable`). */
export function answerable(client: StringClient): () => boolean {
  return () => client.options?.RESP === 3 || !isPubSubActive(client);
}
