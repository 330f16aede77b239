import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { RedisServerStartError } from './errors.js';
import type { RedisServer } from './redis-server.js';

/** Sends one command to `server` on a connection of its own, closed afterwards. */
export async function ask<T>(server: RedisServer, args: string[]): Promise<T> {
  const client = createClient({ url: server.url, socket: { reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.sendCommand(args)) as T;
  } finally {
    client.destroy();
  }
}

/**
 * Polls `check` every 50 ms until it holds (a failing check counts as not yet); after
 * `timeoutMs`, a `RedisServerStartError` says what `topology` was waiting for.
 */
export async function waitFor(topology: string, what: string, timeoutMs: number, check: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(50);
  }
  throw new RedisServerStartError(`The ${topology} was not ready after ${timeoutMs} ms: ${what}`);
}
