import type { RedisClientOptions } from 'redis';
import type { StringClient } from '../client/types.js';
import { type FakeConnection, type FakeRedis, type FakeReply, startFakeRedis } from '../testing/fake-redis.js';
import { createClient, EMPTY_PASSWORD, killableSocket } from './node-redis.js';

/** A probe that has not finished by then has met a reply that never reached its command. */
export const PROBE_DEADLINE_MS = 2000;

/** A behaviour of node-redis that differs from what the pool relies on. */
export class Difference extends Error {}

export function expect(holds: boolean, otherwise: string): asserts holds {
  if (!holds) throw new Difference(otherwise);
}

/** Waits, up to `ms`, for `done()` to hold. */
export async function until(done: () => boolean, otherwise: string, ms = 500): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    expect(Date.now() < deadline, otherwise);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** What a promise settled with, its rejection included. */
export const settled = (promise: Promise<unknown>): Promise<{ value?: unknown; error?: unknown }> =>
  promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );

/**
 * The scripted peer: a fake Redis whose answers each probe may override with `script`, which also
 * speaks MULTI/EXEC and answers `HOLD` never (a reply that has not come yet).
 */
export class Peer {
  script: FakeReply | undefined;
  readonly #clients = new Set<{ destroy(): void }>();
  readonly #transactions = new Map<number, number>();
  #server!: FakeRedis;

  async start(): Promise<void> {
    this.#server = await startFakeRedis({ reply: (command, connection) => this.#reply(command, connection) });
  }

  get url(): string {
    return this.#server.url;
  }

  get port(): number {
    return this.#server.port;
  }

  /** How many times `name` (and `arg`, if given) has been received. */
  received(name: string, arg?: string): number {
    return this.#server.commands.filter(([n, a]) => n === name && (arg === undefined || a === arg)).length;
  }

  get commands(): readonly string[][] {
    return this.#server.commands;
  }

  /**
   * A client of the peer, not connected, made as the pool makes its clients (RESP3, no per-command
   * timer, a killable socket, a username with an empty password); with `reconnect`, one that
   * reconnects at once. node-redis builds a client class for each distinct set of options (some
   * 50 ms of CPU), keyed by their JSON, and caches only the last one, so every probe's client has
   * the same JSON (the reconnect strategy is a function either way).
   */
  unconnected({ reconnect = false, cache }: { reconnect?: boolean; cache?: object } = {}): StringClient {
    const client = createClient({
      ...(cache ? { clientSideCache: cache } : {}),
      url: this.url,
      RESP: 3,
      username: 'self-check',
      password: EMPTY_PASSWORD,
      disableOfflineQueue: true,
      commandOptions: { timeout: 0, typeMapping: undefined, abortSignal: undefined, asap: undefined },
      maintNotifications: 'disabled',
      socket: killableSocket({ reconnectStrategy: () => (reconnect ? 1 : false) }),
    } as RedisClientOptions) as unknown as StringClient;
    client.on('error', () => undefined);
    return this.adopt(client);
  }

  /** A client connected to the peer; see `unconnected()`. */
  async client(options: { reconnect?: boolean; cache?: object } = {}): Promise<StringClient> {
    const client = this.unconnected(options);
    await client.connect();
    return client;
  }

  /** Destroyed with the peer. */
  adopt<T extends { destroy(): void }>(client: T): T {
    this.#clients.add(client);
    return client;
  }

  destroyClients(): void {
    for (const client of this.#clients) {
      try {
        client.destroy();
      } catch {
        // A node-redis whose destroy() throws is reported by its own probe.
      }
    }
    this.#clients.clear();
  }

  async stop(): Promise<void> {
    this.destroyClients();
    await this.#server.stop();
  }

  #reply(command: string[], connection: FakeConnection): string | Buffer | null | undefined {
    const scripted = this.script?.(command, connection);
    if (scripted !== undefined) return scripted;
    const [name] = command;
    const queued = this.#transactions.get(connection.id);
    if (name === 'MULTI') return this.#transactions.set(connection.id, 0) && '+OK\r\n';
    if (name === 'EXEC') {
      this.#transactions.delete(connection.id);
      return `*${queued ?? 0}\r\n${'$1\r\nv\r\n'.repeat(queued ?? 0)}`;
    }
    if (queued !== undefined) return this.#transactions.set(connection.id, queued + 1) && '+QUEUED\r\n';
    return name === 'HOLD' ? null : undefined;
  }
}

/** One behaviour node-redis must have, and how to see it. */
export interface Probe {
  /** The node-redis.ts functions that rely on it. */
  readonly of: string;
  /** Throws, saying what differs, when node-redis does not behave so. */
  run(peer: Peer): Promise<void>;
}

export function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
