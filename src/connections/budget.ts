/**
 * The sockets a pool may hold at once (`REDIS_MAX_CONNECTIONS`), shared by every kind of
 * connection: the shared one, the subscriber, leased, idle and opening ones. A slot is taken from
 * the moment a connection starts opening, so concurrent callers cannot overshoot the cap.
 */
export class ConnectionBudget {
  readonly max: number;
  #used = 0;

  constructor(max: number) {
    this.max = max;
  }

  /** Slots taken. */
  get used(): number {
    return this.#used;
  }

  /** Takes a slot if one is free; returns whether it did. */
  tryTake(): boolean {
    if (this.#used >= this.max) return false;
    this.#used++;
    return true;
  }

  /** Gives back a slot taken with `tryTake()`. */
  give(): void {
    if (this.#used === 0) throw new Error('ConnectionBudget.give() without a slot taken');
    this.#used--;
  }
}
