import type { DecoderTap } from '../node-redis/node-redis.js';

/**
 * The pool's ticker looks at every busy connection this many times per `REDIS_SOCKET_TIMEOUT`,
 * so a hung connection is declared between 1 and 1 + 1/20 timeouts after its last reply.
 */
export const TICKS_PER_TIMEOUT = 20;

/** What a connection's monitor concluded at a tick. */
export type Verdict = 'ok' | 'hung' | 'check';

/**
 * Tells a hung connection from a slow one, and an idle one from one due for a health check,
 * at no cost per command.
 *
 * Replies come back in order, so "commands outstanding and no reply completed for
 * `REDIS_SOCKET_TIMEOUT`" means the oldest command has waited that long for its reply to
 * complete. Progress is a completed reply, not a byte: a server that trickles a reply (a byte at
 * a time, or an endless line) keeps every caller behind it waiting, and is declared hung like a
 * silent one. The monitor reads the connection's count of completed replies (`DecoderTap`); the
 * pool's ticker calls `tick()` with the number of commands outstanding. A blocking command
 * (BLPOP …) may legitimately keep the connection silent for its own timeout, which
 * `expectSilence()` allows for.
 */
export class ReplyMonitor {
  readonly #checkTicks: number;
  #tap: DecoderTap = { replies: 0 };
  #repliesAtLastTick = 0;
  #stalledTicks = 0;
  #idleTicks = 0;
  #blocking = 0;
  #silentUntil = 0;

  /**
   * @param timeoutMs `REDIS_SOCKET_TIMEOUT` in ms.
   * @param checkIntervalMs `REDIS_HEALTH_CHECK_INTERVAL` in ms; 0 turns idle checks off.
   */
  constructor(timeoutMs: number, checkIntervalMs: number) {
    const tickMs = timeoutMs / TICKS_PER_TIMEOUT;
    this.#checkTicks = checkIntervalMs > 0 ? Math.max(1, Math.round(checkIntervalMs / tickMs)) : 0;
  }

  /** Starts watching the replies counted by `tap` (`decoderTap(client)`); called again for a replacement client. */
  attach(tap: DecoderTap): void {
    this.#tap = tap;
    this.#repliesAtLastTick = this.#tap.replies;
    this.#stalledTicks = 0;
    this.#idleTicks = 0;
  }

  /**
   * A blocking command was sent that the server may hold for `ms` (`Infinity`: for ever).
   * Silence is allowed until then; call the returned function when its reply has come.
   */
  expectSilence(ms: number): () => void {
    this.#blocking++;
    this.#silentUntil = Math.max(this.#silentUntil, performance.now() + ms);
    return () => {
      this.#blocking--;
    };
  }

  /** Ticks in a row with commands outstanding and no reply completed (0 after a `hung` verdict). */
  get stalledTicks(): number {
    return this.#stalledTicks;
  }

  /** Looks at the connection once; `pending` is the number of commands outstanding on it. */
  tick(pending: number): Verdict {
    const progressed = this.#tap.replies !== this.#repliesAtLastTick;
    this.#repliesAtLastTick = this.#tap.replies;
    if (progressed || pending === 0) {
      this.#stalledTicks = 0;
      this.#idleTicks = progressed ? 0 : this.#idleTicks + 1;
      if (this.#checkTicks > 0 && this.#idleTicks >= this.#checkTicks) {
        this.#idleTicks = 0;
        return 'check';
      }
      return 'ok';
    }
    this.#idleTicks = 0;
    if (this.#blocking > 0 && performance.now() < this.#silentUntil) return 'ok';
    if (++this.#stalledTicks < TICKS_PER_TIMEOUT) return 'ok';
    this.#stalledTicks = 0;
    return 'hung';
  }
}
