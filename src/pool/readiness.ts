import { ClientUsageError } from '../errors.js';
import type { CommonAppSettings } from '../settings.js';

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

/**
 * `health()`'s report: the topology's answer within `timeoutMs` (`ask`), or `down` with the reason
 * the pool cannot ask (a string) or the error asking met; with when it was checked and the mode.
 */
export async function healthReport(
  settings: CommonAppSettings | undefined,
  timeoutMs: unknown,
  ask: ((timeoutMs: number) => Promise<TopologyHealth>) | string,
): Promise<HealthReport> {
  if (!(typeof timeoutMs === 'number' && timeoutMs > 0 && timeoutMs <= 2_147_483_647)) {
    throw new ClientUsageError(
      `health({ timeoutMs }) needs a number of ms from 1 to 2147483647, not ${String(timeoutMs)}`,
    );
  }
  const checkedAt = new Date().toISOString();
  const mode: PoolMode | undefined = settings?.redisClusterNodes
    ? 'cluster'
    : settings?.redisSentinels
      ? 'sentinel'
      : settings && 'standalone';
  const down = (reason: string): HealthReport => ({
    status: 'down',
    latencyMs: undefined,
    checkedAt,
    mode,
    details: { reason },
  });
  if (typeof ask === 'string') return down(ask);
  try {
    return { ...(await ask(timeoutMs)), checkedAt, mode };
  } catch (error) {
    return down(error instanceof Error ? error.message : String(error));
  }
}
