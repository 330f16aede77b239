import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { backoffDelay, connectWithin, type StringClient } from './connection.js';
import { ConnectError } from './errors.js';
import type { Logger } from './logger.js';
import type { CommonAppSettings, NodeAddress } from './settings.js';

/**
 * Where the pool's connections go: the configured address, or, in sentinel mode, the primary the
 * sentinels name, which moves with each failover. Connections read it when they are made.
 */
export class Target {
  host: string | undefined;
  port: number | undefined;

  constructor(settings: CommonAppSettings) {
    this.host = settings.redisHost;
    this.port = settings.redisPort;
  }

  is(address: NodeAddress): boolean {
    return this.host === address.host && this.port === address.port;
  }
}

/**
 * Sentinel mode: asks the sentinels, in the order given, for the primary of
 * `REDIS_SENTINEL_MASTER`, then listens on one of them for `+switch-master`, so the pool follows a
 * failover as soon as the sentinels announce it rather than at some later scan. When that
 * connection is lost, it moves to the next sentinel with backoff and asks again, in case a
 * failover happened meanwhile.
 */
export class SentinelWatch {
  readonly #settings: CommonAppSettings;
  readonly #logger: Logger;
  readonly #onSwitch: (address: NodeAddress) => void;
  #client: StringClient | undefined;
  #closed = false;
  #next = 0;

  /**
   * Finds the primary and starts listening. Rejects with a `ConnectError` naming every sentinel's
   * failure when none of them can say.
   */
  static async open(
    settings: CommonAppSettings,
    logger: Logger,
    onSwitch: (address: NodeAddress) => void,
  ): Promise<{ watch: SentinelWatch; primary: NodeAddress }> {
    const watch = new SentinelWatch(settings, logger, onSwitch);
    const primary = await watch.#listen();
    return { watch, primary };
  }

  private constructor(settings: CommonAppSettings, logger: Logger, onSwitch: (address: NodeAddress) => void) {
    this.#settings = settings;
    this.#logger = logger;
    this.#onSwitch = onSwitch;
  }

  close(): void {
    this.#closed = true;
    this.#client?.destroy();
    this.#client = undefined;
  }

  /** Connects to the next sentinel that answers, subscribes, and returns the primary it names. */
  async #listen(): Promise<NodeAddress> {
    const sentinels = this.#settings.redisSentinels ?? [];
    const failures: string[] = [];
    for (let tried = 0; tried < sentinels.length; tried++) {
      const sentinel = sentinels[this.#next % sentinels.length] as NodeAddress;
      this.#next++;
      const client = this.#sentinelClient(sentinel);
      try {
        await connectWithin(client, this.#settings);
        // Subscribed first, then asked (RESP3 allows both on one connection), so no switch can
        // fall between the answer and the subscription.
        await client.subscribe('+switch-master', (message) => this.#onMessage(message));
        const primary = await this.#askPrimary(client, sentinel);
        this.#client = client;
        return primary;
      } catch (error) {
        client.destroy();
        failures.push(`${sentinel.host}:${sentinel.port}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    throw new ConnectError(
      this.#settings.redisUrl,
      `no sentinel could name the primary of \`${this.#settings.redisSentinelMaster}\` (REDIS_SENTINELS, REDIS_SENTINEL_MASTER):\n  ${failures.join('\n  ')}`,
    );
  }

  #sentinelClient(sentinel: NodeAddress): StringClient {
    const client = createClient({
      socket: {
        host: sentinel.host,
        port: sentinel.port,
        connectTimeout: this.#settings.redisSocketConnectTimeout * 1000,
        reconnectStrategy: false,
      },
      username: this.#settings.redisSentinelUsername,
      password: this.#settings.redisSentinelPassword?.reveal(),
      name: `${this.#settings.serviceName}:sentinel-watch:${process.pid}`,
      RESP: 3,
    }) as unknown as StringClient;
    client.on('error', (error: unknown) => this.#logger.debug({ err: error }, 'Sentinel connection error'));
    client.on('end', () => {
      if (this.#client === client && !this.#closed) void this.#relisten();
    });
    return client;
  }

  async #askPrimary(client: StringClient, sentinel: NodeAddress): Promise<NodeAddress> {
    const reply = (await client.sendCommand([
      'SENTINEL',
      'GET-MASTER-ADDR-BY-NAME',
      this.#settings.redisSentinelMaster as string,
    ])) as [string, string] | null;
    if (!reply) {
      throw new Error(`sentinel ${sentinel.host}:${sentinel.port} monitors no primary named that`);
    }
    return { host: reply[0], port: Number(reply[1]) };
  }

  /** `<name> <old host> <old port> <new host> <new port>` */
  #onMessage(message: string): void {
    const [name, , , host, port] = message.split(' ');
    if (name !== this.#settings.redisSentinelMaster || !host || !port) return;
    this.#onSwitch({ host, port: Number(port) });
  }

  /** The sentinel connection was lost: listen on another, and catch up on a switch missed meanwhile. */
  async #relisten(): Promise<void> {
    this.#client = undefined;
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        const primary = await this.#listen();
        if (this.#closed) return this.close();
        this.#onSwitch(primary);
        return;
      } catch (error) {
        this.#logger.warn({ err: error }, 'No sentinel reachable; trying again');
        await sleep(backoffDelay(attempt, this.#settings));
      }
    }
  }
}
