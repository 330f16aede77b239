/**
 * Sentinel mode's replica reads (`REDIS_READ_FROM`): one connection to each replica the sentinels
 * name as healthy, and the shared client's read-only commands sent there.
 */
import { connectWithin } from '../client/connect.js';
import { createConnection } from '../client/connection.js';
import type { ClientExtras } from '../client/extras.js';
import type { ConnectionEventName, StringClient } from '../client/types.js';
import { ReplyMonitor, TICKS_PER_TIMEOUT } from '../connections/reply-monitor.js';
import { beforeDeadline } from '../deadline.js';
import { CommandTimeoutError, ConnectionLostError } from '../errors.js';
import type { Logger } from '../logger.js';
import { type CommandHook, decoderTap, flushAll, pendingCount, sendOn } from '../node-redis/node-redis.js';
import type { CommonAppSettings, NodeAddress } from '../settings.js';
import { noReplica, PRIMARY, ReadRotation, readAgain } from './read-from.js';
import type { ReplicaStats } from './topology.js';

const key = ({ host, port }: NodeAddress) => `${host}:${port}`;

/**
 * The replicas of `SENTINEL REPLICAS <master>`'s reply that can serve reads: not deemed down by
 * this sentinel or by a quorum (`s_down`, `o_down`), connected, and in sync with their primary
 * (`master-link-status` ok, so not in the middle of a full resync). `primary` is never one: just
 * after a failover the sentinels may still list the replica they promoted. `syncing` counts those
 * up but not yet in sync, which no sentinel event will announce when they are.
 */
export function readableReplicas(
  reply: unknown,
  primary: NodeAddress | undefined,
): { readable: NodeAddress[]; syncing: number } {
  const readable: NodeAddress[] = [];
  let syncing = 0;
  if (!Array.isArray(reply)) return { readable, syncing };
  for (const entry of reply) {
    const field = fieldsOf(entry);
    const host = field('ip');
    const port = Number(field('port'));
    const flags = (field('flags') ?? '').split(',');
    if (!host || !Number.isInteger(port) || port <= 0) continue;
    if (flags.some((flag) => flag === 's_down' || flag === 'o_down' || flag === 'disconnected')) continue;
    if (primary && primary.host === host && primary.port === port) continue;
    if (field('master-link-status') !== 'ok') {
      syncing++;
      continue;
    }
    readable.push({ host, port });
  }
  return { readable, syncing };
}

/**
 * Ends the connection to the replica at `at`, whose reads outstanding have waited `timeoutMs`: they
 * reject as lost (so they run again on the primary) with the `CommandTimeoutError` returned as cause.
 */
function abandon(at: string, client: StringClient, timeoutMs: number): CommandTimeoutError {
  const url = `redis://${at}`;
  const late = new CommandTimeoutError(url, timeoutMs, pendingCount(client));
  flushAll(client, new ConnectionLostError(url, late));
  client.destroy();
  return late;
}

/** How often the replicas are asked for again while one is syncing (an old primary after a failover, say). */
const SYNCING_REFRESH_MS = 1000;

/** One replica's fields: a map in RESP3 (an object or a `Map`, by type mapping), a flat list of names and values in RESP2. */
function fieldsOf(entry: unknown): (name: string) => string | undefined {
  if (Array.isArray(entry)) {
    return (name) => {
      for (let i = 0; i + 1 < entry.length; i += 2) if (String(entry[i]) === name) return String(entry[i + 1]);
      return undefined;
    };
  }
  if (entry instanceof Map) return (name) => (entry.has(name) ? String(entry.get(name)) : undefined);
  if (entry && typeof entry === 'object') {
    const record = entry as Record<string, unknown>;
    return (name) => (record[name] === undefined ? undefined : String(record[name]));
  }
  return () => undefined;
}

/** What the replicas need from the sentinel topology. */
export interface ReplicaOwner {
  settings: CommonAppSettings;
  logger: Logger;
  extras: ClientExtras | undefined;
  onEvent: (event: ConnectionEventName, error?: unknown) => void;
  /** The replicas the sentinels name now, or a failure to ask. */
  ask(): Promise<unknown>;
  /** The primary now: never read as a replica. */
  primary(): NodeAddress | undefined;
  /** Sends a read on the primary, as the shared client would (held while it is down). */
  onPrimary(args: readonly unknown[], options: unknown): Promise<unknown>;
}

interface Replica {
  readonly address: NodeAddress;
  readonly client: StringClient;
  readonly monitor: ReplyMonitor;
}

/**
 * The replicas reads go to. Their list comes from the sentinels (`refresh()`, at each sentinel
 * event about them, after a failover, and every `REDIS_HEALTH_CHECK_INTERVAL` at the pool's tick,
 * or every second while one they name is still syncing);
 * each replica gets one connection (role `replica` in `CLIENT LIST`), watched by a
 * `ReplyMonitor` like the shared one. A replica that drops from the list is closed, and one whose
 * connection is down is passed over. Each replica connection is a socket on another server than
 * the primary: it counts in `stats().total`, not in the primary's `REDIS_MAX_CONNECTIONS` budget,
 * as a cluster's node connections do.
 */
export class SentinelReplicas {
  readonly #owner: ReplicaOwner;
  readonly #rotation: ReadRotation;
  readonly #replicas = new Map<string, Replica>();
  #refreshing: Promise<void> | undefined;
  #again = false;
  #sinceRefreshMs = 0;
  /** Replicas the sentinels name that are up but not yet in sync. */
  #syncing = 0;
  #closed = false;

  constructor(owner: ReplicaOwner) {
    this.#owner = owner;
    this.#rotation = new ReadRotation(owner.settings.redisReadFrom);
  }

  /** The shared client's `read` hook: where one read-only command goes, as `REDIS_READ_FROM` says. */
  readonly read: CommandHook = (args, options) => {
    const chosen = this.#rotation.choose(this.#ready());
    if (chosen === PRIMARY) return undefined;
    if (chosen === undefined) return Promise.reject(noReplica(this.#owner.settings.redisUrl, 'of the primary'));
    return sendOn(chosen.client, args, options).catch((error: unknown) => {
      if (!readAgain(this.#rotation, error)) throw error;
      // Its connection was lost (the replica was killed, say): once more, on the primary, or on
      // another replica when only replicas may serve reads.
      if (this.#rotation.mode !== 'replica') return this.#owner.onPrimary(args, options);
      const other = this.#ready().find((replica) => replica !== chosen);
      if (!other) throw noReplica(this.#owner.settings.redisUrl, 'of the primary');
      return sendOn(other.client, args, options);
    });
  };

  #ready(): Replica[] {
    const ready: Replica[] = [];
    for (const replica of this.#replicas.values()) if (replica.client.isReady) ready.push(replica);
    return ready;
  }

  /**
   * Asks the sentinels which replicas can serve reads, opens a connection to each new one and
   * closes those no longer named. Calls that come while one runs are folded into one more run.
   */
  refresh(): Promise<void> {
    if (this.#refreshing) {
      this.#again = true;
      return this.#refreshing;
    }
    this.#sinceRefreshMs = 0;
    this.#refreshing = this.#refresh()
      .catch((error: unknown) => this.#owner.logger.warn({ err: error }, 'Could not ask the sentinels for replicas'))
      .finally(() => {
        this.#refreshing = undefined;
        if (this.#again && !this.#closed) {
          this.#again = false;
          void this.refresh();
        }
      });
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    const { readable: named, syncing } = readableReplicas(await this.#owner.ask(), this.#owner.primary());
    if (this.#closed) return;
    this.#syncing = syncing;
    const wanted = new Set(named.map(key));
    for (const [at, replica] of this.#replicas) {
      // A replica whose first connect failed, or whose reconnects gave up, is opened afresh.
      if (!wanted.has(at) || !replica.client.isOpen) this.#close(at, replica);
    }
    for (const address of named) if (!this.#replicas.has(key(address))) this.#open(address);
  }

  /** Stops reading from `address` at once: the sentinels are promoting it, or have. */
  exclude(address: NodeAddress): void {
    const replica = this.#replicas.get(key(address));
    if (replica) this.#close(key(address), replica);
  }

  #open(address: NodeAddress): void {
    const { settings, logger, extras, onEvent } = this.#owner;
    const client = createConnection({
      settings,
      role: 'replica',
      logger,
      extras,
      hooks: { address, onEvent },
    });
    const monitor = new ReplyMonitor(settings.redisSocketTimeout * 1000, settings.redisHealthCheckInterval * 1000);
    monitor.attach(decoderTap(client));
    this.#replicas.set(key(address), { address, client, monitor });
    connectWithin(client, settings).catch((error: unknown) => {
      logger.warn(
        { err: error, replica: key(address) },
        'Could not connect to a replica; reads go elsewhere meanwhile',
      );
    });
  }

  /**
   * Stops reading from the replica at `at`: its connection answers what it has outstanding, within
   * `REDIS_SOCKET_TIMEOUT` (no watchdog looks at it once it is out of the list), then closes;
   * reads still outstanding then are lost, and run again on the primary.
   */
  #close(at: string, replica: Replica): void {
    this.#replicas.delete(at);
    const { client } = replica;
    if (!client.isOpen) {
      client.destroy();
      return;
    }
    const timeoutMs = this.#owner.settings.redisSocketTimeout * 1000;
    beforeDeadline(client.close(), timeoutMs, () => abandon(at, client, timeoutMs)).catch(() => client.destroy());
  }

  /**
   * The replicas' watchdogs, and the periodic refresh. A replica with reads outstanding and no
   * reply for `REDIS_SOCKET_TIMEOUT` (stopped, or cut off) has them rejected as lost, so they run
   * again on the primary (`replica-preferred`, `any`), and its connection is closed until the
   * next refresh names it again.
   */
  tick(): void {
    for (const [at, replica] of this.#replicas) {
      const pending = pendingCount(replica.client);
      const verdict = replica.monitor.tick(pending);
      if (verdict === 'check' && replica.client.isReady) {
        replica.client
          .ping()
          .catch((error: unknown) => this.#owner.logger.debug({ err: error }, 'Replica PING failed'));
      }
      if (verdict !== 'hung') continue;
      this.#replicas.delete(at);
      const hung = abandon(at, replica.client, this.#owner.settings.redisSocketTimeout * 1000);
      this.#owner.logger.warn({ err: hung, replica: at }, 'A replica stopped answering; reading elsewhere');
    }
    const { redisHealthCheckInterval, redisSocketTimeout } = this.#owner.settings;
    const intervalMs =
      this.#syncing > 0 ? SYNCING_REFRESH_MS : Math.max(SYNCING_REFRESH_MS, redisHealthCheckInterval * 1000 || 30_000);
    this.#sinceRefreshMs += (redisSocketTimeout * 1000) / TICKS_PER_TIMEOUT;
    if (this.#sinceRefreshMs >= intervalMs) void this.refresh();
  }

  stats(): Record<string, ReplicaStats> {
    const stats: Record<string, ReplicaStats> = {};
    for (const [at, { client }] of this.#replicas) {
      stats[at] = {
        state: this.#closed ? 'closed' : client.isReady ? 'ready' : 'reconnecting',
        inFlight: pendingCount(client),
      };
    }
    return stats;
  }

  /** Closes every replica connection once it has answered what it has outstanding (`timeoutMs` at most). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(
      [...this.#replicas.values()].map(({ client }) =>
        client.isOpen ? client.close().catch(() => undefined) : undefined,
      ),
    );
    this.destroy();
  }

  destroy(): void {
    this.#closed = true;
    for (const { client } of this.#replicas.values()) client.destroy();
    this.#replicas.clear();
  }
}
