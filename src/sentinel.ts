import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay, connectWithin, createProtectedClient, credentials, type StringClient } from './connection.js';
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

  constructor(settings: CommonAppSettings, address?: NodeAddress) {
    this.host = address?.host ?? settings.redisHost;
    this.port = address?.port ?? settings.redisPort;
  }

  moveTo(address: NodeAddress): void {
    this.host = address.host;
    this.port = address.port;
  }

  is(address: NodeAddress): boolean {
    return this.host === address.host && this.port === address.port;
  }

  /** Where the next connection goes; `undefined` leaves it to the settings (a unix socket). */
  address(): NodeAddress | undefined {
    return this.host === undefined || this.port === undefined ? undefined : { host: this.host, port: this.port };
  }
}

/** What the sentinels tell the pool. */
export interface SentinelEvents {
  /** A replica is being promoted: stop sending to the primary. */
  onFailoverStart(): void;
  /** The primary is now at `address` (or still is, after a reconnect to the sentinels). */
  onSwitch(address: NodeAddress): void;
  /** A failover that had started was given up: the primary stays. */
  onFailoverAbort(): void;
}

/**
 * Sentinel mode: asks the sentinels, in the order given, for the primary of
 * `REDIS_SENTINEL_MASTER`, then listens on one of them for the failover announcements (see
 * `#handlers`), so the pool follows a failover as the sentinels run it rather than at some later
 * scan. When that
 * connection is lost, it moves to the next sentinel with backoff and asks again, in case a
 * failover happened meanwhile.
 */
export class SentinelWatch {
  readonly #settings: CommonAppSettings;
  readonly #logger: Logger;
  readonly #events: SentinelEvents;
  #client: StringClient | undefined;
  #closed = false;
  #next = 0;
  /** PINGs the sentinel connection every `REDIS_HEALTH_CHECK_INTERVAL`; one that does not answer is replaced. */
  readonly #checker: NodeJS.Timeout | undefined;

  /**
   * Finds the primary and starts listening. Rejects with a `ConnectError` naming every sentinel's
   * failure when none of them can say.
   */
  static async open(
    settings: CommonAppSettings,
    logger: Logger,
    events: SentinelEvents,
  ): Promise<{ watch: SentinelWatch; primary: NodeAddress }> {
    const watch = new SentinelWatch(settings, logger, events);
    const primary = await watch.#listen();
    return { watch, primary };
  }

  private constructor(settings: CommonAppSettings, logger: Logger, events: SentinelEvents) {
    this.#settings = settings;
    this.#logger = logger;
    this.#events = events;
    const intervalMs = settings.redisHealthCheckInterval * 1000;
    if (intervalMs > 0) this.#checker = setInterval(() => this.#check(), intervalMs).unref();
  }

  #check(): void {
    const client = this.#client;
    if (!client) return;
    const timeout = setTimeout(() => client.destroy(), this.#settings.redisSocketTimeout * 1000).unref();
    client
      .ping()
      .catch(() => client.destroy())
      .finally(() => clearTimeout(timeout));
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#checker);
    this.#client?.destroy();
    this.#client = undefined;
  }

  /**
   * Drops the sentinel connection and asks again, on the next sentinel: for a failover whose end
   * never came, or a connection that stopped answering.
   */
  recheck(): void {
    this.#client?.destroy();
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
        await client.subscribe(Object.keys(this.#handlers), (message, channel) => this.#handlers[channel]?.(message));
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
    const client = createProtectedClient(
      {
        socket: {
          host: sentinel.host,
          port: sentinel.port,
          connectTimeout: this.#settings.redisSocketConnectTimeout * 1000,
          reconnectStrategy: false,
        },
        ...credentials(this.#settings.redisSentinelUsername, this.#settings.redisSentinelPassword),
        name: `${this.#settings.serviceName}:sentinel-watch:${process.pid}`,
        RESP: 3,
      },
      `redis://${sentinel.host.includes(':') ? `[${sentinel.host}]` : sentinel.host}:${sentinel.port}`,
      this.#logger,
      'sentinel-watch',
    );
    client.on('error', (error: unknown) => this.#logger.debug({ err: error }, 'Sentinel connection error'));
    // 'terminated' when the server closes it (no reconnect is configured), 'end' after destroy().
    const lost = () => {
      if (this.#client === client && !this.#closed) void this.#relisten();
    };
    client.on('end', lost).on('terminated', lost);
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

  /**
   * The sentinel events the pool acts on. A failover runs: the chosen replica is sent
   * `REPLICAOF NO ONE` (`+failover-state-send-slaveof-noone`); about a second later the sentinel
   * sees it answer as primary (`+promoted-slave`); then the other servers are reconfigured and the
   * switch is announced (`+switch-master`). Writes the old primary acknowledges after the first
   * step are lost when it becomes a replica, so the pool stops sending at the first step and
   * resumes on the new primary at the second.
   */
  readonly #handlers: Record<string, (message: string) => void> = {
    // `<name> <old host> <old port> <new host> <new port>`
    '+switch-master': (message) => {
      const [name, , , host, port] = message.split(' ');
      if (name === this.#settings.redisSentinelMaster && host && port)
        this.#events.onSwitch({ host, port: Number(port) });
    },
    // `slave <host:port> <host> <port> @ <name> <primary host> <primary port>`
    '+failover-state-send-slaveof-noone': (message) => {
      if (this.#about(message)) this.#events.onFailoverStart();
    },
    '+promoted-slave': (message) => {
      const [, , host, port] = message.split(' ');
      if (this.#about(message) && host && port) this.#events.onSwitch({ host, port: Number(port) });
    },
    // `master <name> <host> <port>`
    '-failover-abort-not-elected': (message) => this.#aborted(message),
    '-failover-abort-no-good-slave': (message) => this.#aborted(message),
    '-failover-abort-slave-timeout': (message) => this.#aborted(message),
    '-failover-abort-master-changed': (message) => this.#aborted(message),
  };

  /** Whether a `slave … @ <name> …` message is about our primary. */
  #about(message: string): boolean {
    const words = message.split(' ');
    return words[words.indexOf('@') + 1] === this.#settings.redisSentinelMaster;
  }

  #aborted(message: string): void {
    const [kind, name] = message.split(' ');
    if (kind === 'master' && name === this.#settings.redisSentinelMaster) this.#events.onFailoverAbort();
  }

  /** The sentinel connection was lost: listen on another, and catch up on a switch missed meanwhile. */
  async #relisten(): Promise<void> {
    this.#client = undefined;
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        const primary = await this.#listen();
        if (this.#closed) return this.close();
        this.#events.onSwitch(primary);
        return;
      } catch (error) {
        this.#logger.warn({ err: error }, 'No sentinel reachable; trying again');
        await sleep(backoffDelay(attempt, this.#settings));
      }
    }
  }
}
