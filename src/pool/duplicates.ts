/** A client `duplicate()` makes: node-redis's client, or its cluster client in cluster mode. */
export interface DuplicateClient {
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
  on(event: string, listener: () => void): unknown;
  duplicate?(...args: never[]): DuplicateClient;
}

/**
 * The connections `duplicate()` on the pool's client makes: the caller's own, but the pool's to
 * count and to close. Each takes a slot of `REDIS_MAX_CONNECTIONS` when it connects (waiting in
 * line, as a lease does) and gives it back when it ends; the pool ends those still open when it
 * closes, so a service that forgets one still exits, and leaves no connection at the server.
 */
export class Duplicates {
  readonly #slots: { reserve: () => Promise<void>; give: () => void };
  readonly #open = new Set<DuplicateClient>();

  constructor(slots: { reserve: () => Promise<void>; give: () => void }) {
    this.#slots = slots;
  }

  /** Duplicates connected or connecting. */
  get count(): number {
    return this.#open.size;
  }

  /**
   * Makes `client` one of the pool's: its `connect()` takes a slot first, and its end gives it
   * back; a duplicate of it is one of the pool's too.
   */
  adopt<C extends DuplicateClient>(client: C): C {
    const connect = client.connect.bind(client);
    const duplicate = client.duplicate?.bind(client);
    if (duplicate) client.duplicate = (...args: never[]) => this.adopt(duplicate(...args));
    const end = () => {
      if (this.#open.delete(client)) this.#slots.give();
    };
    client.connect = async () => {
      await this.#slots.reserve();
      this.#open.add(client);
      try {
        await connect();
      } catch (error) {
        end();
        throw error;
      }
      return client;
    };
    // node-redis's client ends with 'end' (or 'terminated', when it gives up reconnecting); its
    // cluster client with 'disconnect'.
    for (const event of ['end', 'terminated', 'disconnect']) client.on(event, end);
    return client;
  }

  /** Closes every duplicate still open once what was sent on it is answered: the pool is closing. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#open].map((client) => client.close().catch(() => client.destroy())));
  }

  /** Ends every duplicate still open now. */
  destroyAll(): void {
    for (const client of [...this.#open]) client.destroy();
  }
}
