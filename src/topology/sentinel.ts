import { connectWithin } from '../client/connect.js';
import { createProtectedClient } from '../client/connection.js';
import { credentials } from '../client/options.js';
import type { StringClient } from '../client/types.js';
import { retryWithBackoff } from '../connections/backoff.js';
import { beforeDeadline } from '../deadline.js';
import { ConnectError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { CommandHook } from '../node-redis/node-redis.js';
import type { CommonAppSettings, NodeAddress } from '../settings.js';
import { SentinelReplicas } from './sentinel-replicas.js';
import { StandaloneTopology } from './standalone.js';
import { SentinelTarget } from './target.js';
import type { TopologyContext, TopologyStats } from './topology.js';

/** What the sentinels tell the pool. */
interface SentinelEvents {
  /** A replica (at `replica`) is being promoted: stop sending to the primary. */
  onFailoverStart(replica: NodeAddress | undefined): void;
  /** The primary is now at `address` (or still is, after a reconnect to the sentinels). */
  onSwitch(address: NodeAddress): void;
  /** A failover that had started was given up: the primary stays. */
  onFailoverAbort(): void;
  /** With replica reads only: a replica came, went down, came back, or was converted from a primary. */
  onReplicasChanged?(): void;
}

/**
 * Sentinel mode: asks the sentinels, in the order given, for the primary of
 * `REDIS_SENTINEL_MASTER`, then listens on one of them for the failover announcements (see
 * `#handlers`), so the pool follows a failover as the sentinels run it rather than at some later
 * scan. When that
 * connection is lost, it moves to the next sentinel with backoff and asks again, in case a
 * failover happened meanwhile.
 */
class SentinelWatch {
  readonly #settings: CommonAppSettings;
  readonly #logger: Logger;
  readonly #events: SentinelEvents;
  #client: StringClient | undefined;
  #closed = false;
  #next = 0;
  /** PINGs the sentinel connection every `REDIS_HEALTH_CHECK_INTERVAL`; one that does not answer is replaced. */
  #checker: NodeJS.Timeout | undefined;

  constructor(settings: CommonAppSettings, logger: Logger, events: SentinelEvents) {
    this.#settings = settings;
    this.#logger = logger;
    this.#events = events;
  }

  /**
   * Finds the primary and starts listening. Rejects with a `ConnectError` naming every sentinel's
   * failure when none of them can say.
   */
  async start(): Promise<NodeAddress> {
    const primary = await this.#listen();
    const intervalMs = this.#settings.redisHealthCheckInterval * 1000;
    if (intervalMs > 0) this.#checker = setInterval(() => this.#check(), intervalMs).unref();
    return primary;
  }

  #check(): void {
    const client = this.#client;
    if (!client) return;
    beforeDeadline(client.ping(), this.#settings.redisSocketTimeout * 1000, () => {
      throw new Error('the sentinel did not answer PING');
    }).catch(() => client.destroy());
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
        const listening = this.#listening;
        await client.subscribe(Object.keys(listening), (message, channel) => listening[channel]?.(message));
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
      {
        url: `redis://${sentinel.host.includes(':') ? `[${sentinel.host}]` : sentinel.host}:${sentinel.port}`,
        logger: this.#logger,
        role: 'sentinel-watch',
      },
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
      const [, , host, port] = message.split(' ');
      if (this.#about(message)) this.#events.onFailoverStart(host && port ? { host, port: Number(port) } : undefined);
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

  /**
   * The events about replicas, listened to only when reads go to them (`REDIS_READ_FROM`): each
   * `slave <host:port> <host> <port> @ <name> …` (or `master <name> …` for the primary's own
   * `+sdown`, which `#about` passes over).
   */
  readonly #replicaHandlers: Record<string, (message: string) => void> = Object.fromEntries(
    ['+slave', '+sdown', '-sdown', '+convert-to-slave', '+slave-reconf-done'].map((channel) => [
      channel,
      (message: string) => {
        if (this.#about(message)) this.#events.onReplicasChanged?.();
      },
    ]),
  );

  /** The channels listened to, and what each does. */
  get #listening(): Record<string, (message: string) => void> {
    return this.#events.onReplicasChanged ? { ...this.#handlers, ...this.#replicaHandlers } : this.#handlers;
  }

  /**
   * The replicas of the primary as the sentinel listened to describes them (`SENTINEL REPLICAS`),
   * or a failure when none is listened to.
   */
  replicas(): Promise<unknown> {
    const client = this.#client;
    if (!client) return Promise.reject(new Error('no sentinel is listened to at the moment'));
    return client.sendCommand(['SENTINEL', 'REPLICAS', this.#settings.redisSentinelMaster as string]);
  }

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
    const primary = await retryWithBackoff(
      () => this.#listen(),
      this.#settings,
      () => this.#closed,
      (error) => this.#logger.warn({ err: error }, 'No sentinel reachable; trying again'),
    );
    if (this.#closed) return this.close();
    if (primary) this.#events.onSwitch(primary);
  }
}

/**
 * Sentinel mode: a standalone topology pointed at the primary the sentinels name, which follows
 * their failovers. From the start of a failover (the sentinels send the chosen replica
 * `REPLICAOF NO ONE`) to the promotion, writes the old primary acknowledges would be lost when it
 * becomes a replica, so the shared connection stops sending (commands wait as while it is down),
 * idle leases are closed and no lease is lent; then every connection moves to the new primary.
 */
export class SentinelTopology extends StandaloneTopology {
  protected override readonly addressRole = 'primary';
  readonly #watch: SentinelWatch;
  readonly #primary: SentinelTarget;
  /** With `REDIS_READ_FROM` other than `primary`: the replicas reads go to. */
  readonly #replicas: SentinelReplicas | undefined;
  /** Asks the sentinels again if a failover that began has not ended within `REDIS_OFFLINE_QUEUE_TIMEOUT`. */
  #failoverDeadline: NodeJS.Timeout | undefined;

  constructor(context: TopologyContext) {
    const primary = new SentinelTarget();
    super(context, primary);
    this.#primary = primary;
    const { settings, logger, extras } = context;
    const replicas =
      settings.redisReadFrom === 'primary'
        ? undefined
        : new SentinelReplicas({
            settings,
            logger,
            extras,
            onEvent: context.report('replica'),
            ask: () => this.#watch.replicas(),
            primary: () => this.#primary.address(),
            onPrimary: (args, options) => this.shared.client.sendCommand(args as string[], options as undefined),
          });
    this.#replicas = replicas;
    this.#watch = new SentinelWatch(settings, logger, {
      onFailoverStart: (replica) => this.#failoverStarted(replica),
      onSwitch: (address) => this.#failedOver(address),
      onFailoverAbort: () => this.#resumeHeld(),
      ...(replicas ? { onReplicasChanged: () => void replicas.refresh() } : {}),
    });
  }

  /** Replica reads, when `REDIS_READ_FROM` asks for them; made before the shared connection, which asks this. */
  protected override readHook(): CommandHook | undefined {
    if (this.context.settings.redisReadFrom === 'primary') return undefined;
    // Called from the base constructor, before #replicas is set: looked up at each read.
    return (args, options) => this.#replicas?.read(args, options);
  }

  override async open(): Promise<void> {
    this.#primary.moveTo(await this.#watch.start());
    await super.open();
    // Reads go to the primary until the replicas are connected; a failure to ask is logged.
    await this.#replicas?.refresh();
  }

  override stats(): TopologyStats {
    const stats = super.stats();
    if (!this.#replicas) return stats;
    const replicas = this.#replicas.stats();
    return { ...stats, total: stats.total + Object.keys(replicas).length, replicas };
  }

  override tick(): void {
    super.tick();
    this.#replicas?.tick();
  }

  override async close(timeoutMs: number | undefined): Promise<void> {
    this.#stopWatching();
    const replicas = this.#replicas && beforeDeadline(this.#replicas.close(), timeoutMs, () => undefined);
    await Promise.all([super.close(timeoutMs), replicas]);
  }

  override destroy(): void {
    this.#stopWatching();
    this.#replicas?.destroy();
    super.destroy();
  }

  #stopWatching(): void {
    this.#watch.close();
    clearTimeout(this.#failoverDeadline);
  }

  /** The sentinels are promoting a replica: hold everything until the new primary is named or the failover is given up. */
  #failoverStarted(replica: NodeAddress | undefined): void {
    const { logger, settings } = this.context;
    // The replica being promoted is about to take writes: no longer read as a replica.
    if (replica) this.#replicas?.exclude(replica);
    logger.warn({ url: settings.redisUrl }, 'A Redis failover has begun; holding commands until it ends');
    this.shared.park();
    this.leases.hold();
    this.leases.discardIdle();
    clearTimeout(this.#failoverDeadline);
    this.#failoverDeadline = setTimeout(() => this.#watch.recheck(), settings.redisOfflineQueueTimeout * 1000).unref();
  }

  /** The failover was given up, or the primary is the same: what was held goes on to it. */
  #resumeHeld(): void {
    clearTimeout(this.#failoverDeadline);
    this.shared.resume();
    this.leases.resume();
  }

  /**
   * The sentinels announced a new primary: every connection moves there. The shared one and the
   * subscriber at once (outstanding commands on the old one still get their replies); idle leases
   * are closed, and leased ones when they come back.
   */
  #failedOver(primary: NodeAddress): void {
    // Still the same primary (a reconnect to the sentinels): only what was held moves on.
    if (this.target.is(primary)) {
      this.#resumeHeld();
      return;
    }
    clearTimeout(this.#failoverDeadline);
    const from = this.#primary.address();
    this.context.logger.warn(
      { from: from && `${from.host}:${from.port}`, to: `${primary.host}:${primary.port}` },
      'The sentinels name a new Redis primary; moving every connection to it',
    );
    this.#primary.moveTo(primary);
    // The promoted replica is the primary now; the old primary may come back as a replica.
    this.#replicas?.exclude(primary);
    void this.#replicas?.refresh();
    this.shared.moveOn();
    this.leases.discardIdle();
    this.leases.resume();
    this.context.onMoved();
  }
}
