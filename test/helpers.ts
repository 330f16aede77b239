import { after, before } from 'node:test';
import { createClient } from 'redis';
import { CommonAppSettings, createLogger, type SettingsInput } from '../src/index.js';
import { type RedisServer, type RedisServerOptions, startRedisServer } from '../src/testing/index.js';

/**
 * Settings for a pool under test, with string replies: only what is given here, never the
 * developer's environment.
 */
export function settingsFor(url: string, input: Omit<SettingsInput, 'redisDecodeResponses'> = {}) {
  return new CommonAppSettings(
    { serviceName: 'pool-test', logLevel: 'silent', redisUrl: url, ...input, redisDecodeResponses: true },
    { env: {}, envFile: false },
  );
}

/** A logger that drops everything, for pools whose logs a test does not read. */
export const silent = createLogger('silent');

/** A plain node-redis client for looking at the server from the outside. */
export async function admin(url: string) {
  const client = createClient({ url });
  client.on('error', () => {
    // The server under test may be killed or paused on purpose; the test reads failures from
    // the commands it sends, not from this event.
  });
  await client.connect();
  return client;
}

type Admin = Awaited<ReturnType<typeof admin>>;

/**
 * One real server for every test in the calling file, started before them and stopped after,
 * with an observer client to look at it from outside. Read the fields inside tests.
 */
export function serverForFile(options: RedisServerOptions = {}) {
  const shared = {} as { server: RedisServer; observer: Admin };
  before(async () => {
    shared.server = await startRedisServer(options);
    shared.observer = await admin(shared.server.url);
  });
  after(async () => {
    shared.observer.destroy();
    await shared.server.stop();
  });
  return shared;
}

/** One field of `INFO <section>`, as a number. */
export async function infoNumber(client: Admin, section: string, field: string): Promise<number> {
  const info = await client.info(section);
  const match = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
  return match ? Number(match[1]) : 0;
}

/** The connections the server sees whose name starts with `prefix`. */
export async function connectionsNamed(client: Admin, prefix: string): Promise<string[]> {
  const list = await client.clientList();
  return list.filter((entry) => entry.name?.startsWith(prefix)).map((entry) => entry.name as string);
}

/** How long `promise` takes to settle, in milliseconds, with its outcome. */
export async function timed<T>(promise: Promise<T>) {
  const start = performance.now();
  const [outcome] = await Promise.allSettled([promise]);
  return { outcome: outcome as PromiseSettledResult<T>, ms: performance.now() - start };
}

/** The key prefixes the compatibility tests run with: none, and `REDIS_KEY_PREFIX`. */
export const KEY_PREFIXES = ['', 'svc:'] as const;

/** The settings input that sets `prefix` as `REDIS_KEY_PREFIX` (nothing for none). */
export const keyPrefixed = (prefix: string) => (prefix ? { redisKeyPrefix: prefix } : {});

/** What a test's name says of `prefix`. */
export const prefixLabel = (prefix: string) => (prefix ? `, REDIS_KEY_PREFIX=${prefix}` : '');
