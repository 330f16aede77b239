import { setTimeout as sleep } from 'node:timers/promises';
import { RedisUnavailableError } from '../src/index.js';

/** What one operation can run against: the shared client, or a lease taken per operation. */
export interface KeyValue {
  set(key: string, value: string): Promise<unknown>;
  get(key: string): Promise<string | null>;
}

/** What a load run saw. */
export interface LoadReport {
  /** Operations (SET or GET) that succeeded. */
  ok: number;
  /** When each success came, in `performance.now()` time, in order. */
  okTimes: number[];
  /** Failures by error code; `untyped` collects errors without one. */
  failures: Map<string, number>;
  untyped: unknown[];
  /** GET replies that no SET of that key could explain: a reply routed to the wrong caller, or a lost write. */
  wrong: string[];
  /** The slowest operation by outcome, in ms: `ok`, or the failing error's code. */
  slowest: Map<string, number>;
}

/**
 * Runs `callers` concurrent loops until `stop()`, each on its own key: SET a unique value, then
 * GET it back. Every GET is matched against the key's last acknowledged SET and the SETs that
 * failed after it in a way that may have run (a failure that says the command was never sent,
 * `RedisUnavailableError`, may not have run, so its value must never be read back).
 */
export function startLoad(
  target: (fn: (kv: KeyValue) => Promise<unknown>) => Promise<unknown>,
  callers: number,
  prefix: string,
) {
  const report: LoadReport = { ok: 0, okTimes: [], failures: new Map(), untyped: [], wrong: [], slowest: new Map() };
  let running = true;

  const timedOp = async <T>(op: () => Promise<T>): Promise<{ value?: T; error?: unknown }> => {
    const started = performance.now();
    let outcome = 'ok';
    try {
      const value = await op();
      report.ok++;
      report.okTimes.push(performance.now());
      return { value };
    } catch (error) {
      const code = (error as { code?: unknown } | undefined)?.code;
      outcome = typeof code === 'string' ? code : 'untyped';
      if (outcome === 'untyped') report.untyped.push(error);
      report.failures.set(outcome, (report.failures.get(outcome) ?? 0) + 1);
      return { error };
    } finally {
      const ms = performance.now() - started;
      report.slowest.set(outcome, Math.max(report.slowest.get(outcome) ?? 0, ms));
    }
  };

  const caller = async (index: number) => {
    const key = `${prefix}:${index}`;
    let acknowledged: string | null = null;
    const mayHaveRun = new Set<string>();
    for (let seq = 1; running; seq++) {
      const value = `${key}:${seq}`;
      const set = await timedOp(() => target((kv) => kv.set(key, value)));
      if (set.error === undefined) {
        acknowledged = value;
        mayHaveRun.clear();
      } else if (!(set.error instanceof RedisUnavailableError)) {
        mayHaveRun.add(value);
      }
      const got = await timedOp(() => target((kv) => kv.get(key)) as Promise<string | null>);
      if (got.error === undefined && got.value !== acknowledged && !mayHaveRun.has(got.value as string)) {
        report.wrong.push(`${key}: read ${got.value}, expected ${acknowledged} or one of [${[...mayHaveRun]}]`);
      }
      // A failing caller backs off a little, as a real one would, instead of spinning.
      if (set.error !== undefined || got.error !== undefined) await sleep(5);
    }
  };

  const loops = Array.from({ length: callers }, (_, index) => caller(index));
  return {
    report,
    /** Stops the callers and waits for their last operations. */
    async stop(): Promise<LoadReport> {
      running = false;
      await Promise.all(loops);
      return report;
    },
  };
}

/** The first success at or after `since`, in ms after it; `undefined` if none. */
export function firstOkAfter(report: LoadReport, since: number): number | undefined {
  const at = report.okTimes.find((time) => time >= since);
  return at === undefined ? undefined : at - since;
}

/** Open TCP sockets of this process. */
export function openSockets(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === 'TCPSocketWrap').length;
}

/** Counts unhandled rejections until the returned function is called; it returns the count. */
export function countUnhandledRejections(): () => number {
  let count = 0;
  const listener = () => {
    count++;
  };
  process.on('unhandledRejection', listener);
  return () => {
    process.off('unhandledRejection', listener);
    return count;
  };
}
