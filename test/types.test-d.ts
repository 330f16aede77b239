// Type tests for the public API, checked by `npm run typecheck` (part of `npm test`). Each line
// fails to compile if the type it pins changes.
import { metrics } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { Registry, register } from 'prom-client';
import { type CommandParser, defineScript } from 'redis';
import {
  type BufferClient,
  type CommonAppSettings,
  getRedisClient,
  loadSettings,
  RedisPool,
  type RedisPoolClusterClient,
  type SETTINGS_DEFAULTS,
  type SettingsInput,
  type StringClient,
} from '../src/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_: T): void {}

const pool = new RedisPool();

export async function decodeResponsesDecidesTheReplyTypes() {
  // A literal `false` in code: the settings, the client and every reply say Buffer.
  const bufferSettings = loadSettings({ redisDecodeResponses: false });
  expectType<Equal<typeof bufferSettings, CommonAppSettings<false>>>(true);
  const buffers = await pool.getClient(bufferSettings);
  expectType<Equal<typeof buffers, BufferClient>>(true);
  expectType<Equal<Awaited<ReturnType<typeof buffers.get>>, Buffer | null>>(true);
  expectType<Equal<Awaited<ReturnType<typeof buffers.hGetAll>>, Record<string, Buffer>>>(true);

  // A literal `true`: strings.
  const strings = await pool.getClient(loadSettings({ redisDecodeResponses: true }));
  expectType<Equal<typeof strings, StringClient>>(true);
  expectType<Equal<Awaited<ReturnType<typeof strings.get>>, string | null>>(true);

  // Plain input in code works the same way.
  const fromInput = await getRedisClient({ serviceName: 'svc', logLevel: 'INFO', redisDecodeResponses: false });
  expectType<Equal<typeof fromInput, BufferClient>>(true);

  // Only the environment knows: the types say either.
  const either = await getRedisClient();
  expectType<Equal<typeof either, StringClient | BufferClient>>(true);
  expectType<Equal<Awaited<ReturnType<typeof either.get>>, string | Buffer | null>>(true);
  const fromEnv = await pool.getClient(loadSettings());
  expectType<Equal<typeof fromEnv, StringClient | BufferClient>>(true);
}

// Each default keeps its literal type; every setting is optional in code, and the resolved address
// fields may be undefined (a unix socket).
expectType<Equal<typeof SETTINGS_DEFAULTS.redisMaxConnections, 10>>(true);
expectType<Equal<typeof SETTINGS_DEFAULTS.redisOfflineQueue, true>>(true);
expectType<Equal<SettingsInput['redisSocketTimeout'], number | string | undefined>>(true);
expectType<Equal<CommonAppSettings['redisHost'], string | undefined>>(true);
expectType<Equal<CommonAppSettings['redisUrl'], string>>(true);

// The optional peers' own types fit the structural ones the pool's API takes, so the package's
// declarations import neither peer.
export async function optionalPeersFit() {
  await pool.enableOpenTelemetry({ meterProvider: metrics.getMeterProvider() });
  await pool.enableOpenTelemetry({ meterProvider: new MeterProvider() });
  await pool.registerPrometheus(register);
  await pool.registerPrometheus(new Registry());
}

// Scripts and functions given to the pool are typed methods of every client it hands out; the
// default modules (JSON, Search, TimeSeries, Bloom) are there on each.
const take = defineScript({
  NUMBER_OF_KEYS: 1,
  SCRIPT: "return redis.call('INCRBY', KEYS[1], ARGV[1])",
  parseCommand(parser: CommandParser, key: string, amount: number) {
    parser.pushKey(key);
    parser.push(String(amount));
  },
  transformReply: (reply: unknown) => reply as number,
});
const surface = {
  lib: {
    twice: {
      NUMBER_OF_KEYS: 1,
      parseCommand(parser: CommandParser, key: string) {
        parser.pushKey(key);
      },
      transformReply: (reply: unknown) => reply as number,
    },
  },
};

export async function scriptsFunctionsAndModulesAreTyped() {
  const scripted = new RedisPool<true, { take: typeof take }, typeof surface>({
    scripts: { take },
    functions: surface,
    clientOptions: { socket: { servername: 'redis.internal', family: 6 } },
  });
  const client = await scripted.getClient(loadSettings({ redisDecodeResponses: true }));
  expectType<Equal<Awaited<ReturnType<typeof client.take>>, number>>(true);
  expectType<Equal<Awaited<ReturnType<typeof client.lib.twice>>, number>>(true);
  expectType<Equal<Awaited<ReturnType<typeof client.json.get>>, Awaited<ReturnType<StringClient['json']['get']>>>>(
    true,
  );
  await client.ts.add('series', '*', 1);
  await client.bf.add('filter', 'item');
  await client.ft._list();
  await scripted.withConnection(async (lease) => {
    expectType<Equal<Awaited<ReturnType<typeof lease.take>>, number>>(true);
    await lease.json.set('doc', '$', { a: 1 });
  });
  const copy = client.duplicate();
  expectType<Equal<Awaited<ReturnType<typeof copy.take>>, number>>(true);
  const cluster = await scripted.getClusterClient(loadSettings({ redisDecodeResponses: true }));
  expectType<Equal<typeof cluster, RedisPoolClusterClient<true, { take: typeof take }, typeof surface>>>(true);
  expectType<Equal<Awaited<ReturnType<typeof cluster.take>>, number>>(true);
  await cluster.json.get('doc');
  for await (const keys of cluster.scanIterator({ MATCH: 'user:*' })) expectType<Equal<typeof keys, string[]>>(true);
  // The cluster client's own routing is typed; the single-server methods it lacks are not promised.
  cluster.getSlotMaster(0);
  // @ts-expect-error: a cluster client has no SELECT
  cluster.select(1);

  // The default pool takes them before it opens, through configure().
  const configured = pool.configure({ scripts: { take } });
  const fromDefault = await configured.getClient(loadSettings({ redisDecodeResponses: false }));
  expectType<Equal<Awaited<ReturnType<typeof fromDefault.take>>, number>>(true);
  expectType<Equal<Awaited<ReturnType<typeof fromDefault.get>>, Buffer | null>>(true);
}
