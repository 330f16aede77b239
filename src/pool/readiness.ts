/** `up`: answering; `degraded`: answering or about to, with commands held or callers waiting; `down`: not answering. */
export type HealthStatus = 'up' | 'degraded' | 'down';

/** How the pool reaches Redis. */
export type PoolMode = 'standalone' | 'sentinel' | 'cluster';

/** What a topology finds when asked for its health. */
export interface TopologyHealth {
  status: HealthStatus;
  /** The PING round trip, in ms; `undefined` when none came back. */
  latencyMs: number | undefined;
  details: Record<string, unknown>;
}

/** `redisPool.health()`: for a Kubernetes readiness probe. */
export interface HealthReport extends TopologyHealth {
  /** When the check started, as an ISO 8601 string. */
  checkedAt: string;
  /** The configured mode; `undefined` while the pool has no settings (closed, or never opened). */
  mode: PoolMode | undefined;
}
