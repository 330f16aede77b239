import type { RedisClientOptions } from 'redis';
import { pingWithin } from '../client/connect.js';
import { createConnection, createDuplicate } from '../client/connection.js';
import type { StringClient } from '../client/types.js';
import { ConnectionBudget } from '../connections/budget.js';
import type { ConnectionLease } from '../connections/leasable-connection.js';
import { type LeasableConnection, openLeasable } from '../connections/leasable-connection.js';
import type { LeaseOptions } from '../connections/lease.js';
import { LeasePool } from '../connections/leases.js';
import { SharedConnection } from '../connections/shared-connection.js';
import type { CommandHook } from '../node-redis/node-redis.js';
import type { TopologyHealth } from '../pool/readiness.js';
import { FixedTarget, type Target } from './target.js';
import type { Topology, TopologyContext, TopologyStats } from './topology.js';

/**
 * One Redis server: the shared connection and the lease pool, within one `ConnectionBudget` of
 * `REDIS_MAX_CONNECTIONS` that the subscriber draws on too. Sentinel mode is this, pointed at the
 * primary the sentinels name.
 */
export class StandaloneTopology implements Topology {
  protected readonly context: TopologyContext;
  protected readonly target: Target;
  protected readonly leases: LeasePool<LeasableConnection>;
  protected readonly shared: SharedConnection;
  readonly #budget: ConnectionBudget;

  /** `target`: where the connections go; by default the settings' host and port. */
  constructor(
    context: TopologyContext,
    target: Target = new FixedTarget(context.settings.redisHost, context.settings.redisPort),
  ) {
    const { settings, logger, leaseEvents, extras, cache } = context;
    this.context = context;
    this.target = target;
    this.#budget = new ConnectionBudget(settings.redisMaxConnections);
    this.leases = new LeasePool({
      settings,
      logger,
      events: leaseEvents,
      target,
      budget: this.#budget,
      closes: context.closes,
      open: () => openLeasable({ settings, logger, target, onEvent: leaseEvents.onEvent, extras }),
    });
    // The shared connection holds one of the REDIS_MAX_CONNECTIONS slots for as long as the pool is open.
    this.#budget.tryTake();
    this.shared = new SharedConnection(settings, logger, {
      closes: context.closes,
      create: (reconnect, hooks) =>
        createConnection({ settings, role: 'shared', logger, reconnect, hooks, extras, cache }),
      cache,
      target: this.target,
      onLease: (use) => this.leases.run(use),
      read: this.readHook(),
      onReadonly: () => this.leases.discardIdle(),
      onConnectOutcome: (error) => (error ? this.leases.connectFailed(error) : this.leases.connectSucceeded()),
      onEvent: context.report('shared'),
    });
  }

  /**
   * Where the shared client's read-only commands may go instead (sentinel mode's replicas); none
   * for one server. Asked once, by the constructor, so a subclass's fields are not set yet.
   */
  protected readHook(): CommandHook | undefined {
    return undefined;
  }

  async open(): Promise<void> {
    await this.shared.connect();
    this.leases.prewarm();
  }

  get client(): StringClient {
    return this.shared.client;
  }

  lease<T>(use: (lease: ConnectionLease) => Promise<T> | T, options: LeaseOptions): Promise<T> {
    return this.leases.run(use, options);
  }

  get subscriberTarget(): Target {
    return this.target;
  }

  /** None: the subscriber's own connection takes its shard channels. */
  readonly shardedPubSub = undefined;

  reserveSlot(): Promise<void> {
    return this.leases.reserveSlot();
  }

  giveSlot(): void {
    this.leases.giveSlot();
  }

  duplicate(receiver: object, overrides: RedisClientOptions | undefined): StringClient {
    const { settings, logger, report, extras } = this.context;
    return createDuplicate({
      settings,
      logger,
      extras,
      receiver,
      hooks: { address: this.target.address(), onEvent: report('duplicate') },
      ...(overrides ? { overrides } : {}),
    });
  }

  stats(): TopologyStats {
    return {
      ...this.leases.stats(),
      total: this.#budget.used,
      max: this.#budget.max,
      shared: { state: this.shared.state, inFlight: this.shared.inFlight, held: this.shared.held },
    };
  }

  /**
   * Up when the shared connection answers a PING; degraded when it answers but commands are held
   * or callers wait for a lease, or when it is down but commands are held (the offline queue, a
   * failover) for it to come back; down otherwise.
   */
  async health(timeoutMs: number): Promise<TopologyHealth> {
    const held = this.shared.held;
    const waiting = this.leases.stats().pending;
    const address = this.target.address();
    const details = {
      [this.addressRole]: address ? `${address.host}:${address.port}` : this.context.settings.redisUrl,
      shared: this.shared.state,
      held,
      waiting,
    };
    if (this.shared.state !== 'ready') {
      const holding = held > 0 || this.shared.parked;
      return { status: holding ? 'degraded' : 'down', latencyMs: undefined, details };
    }
    const ping = await pingWithin(this.shared.client, timeoutMs);
    if ('error' in ping) return { status: 'down', latencyMs: undefined, details: { ...details, error: ping.error } };
    return { status: held > 0 || waiting > 0 ? 'degraded' : 'up', latencyMs: ping.latencyMs, details };
  }

  /** What the address is called in `health()`'s details. */
  protected readonly addressRole: string = 'address';

  tick(): void {
    this.shared.tick();
    this.leases.tick();
  }

  async close(timeoutMs: number | undefined): Promise<void> {
    // Both at once, so that new commands are refused from the moment close() is called.
    await Promise.all([this.shared.close(timeoutMs), this.leases.close(timeoutMs)]);
  }

  destroy(): void {
    this.shared.destroy();
    this.leases.destroy();
  }
}
