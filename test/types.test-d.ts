// Type tests for the public API, checked by `npm run typecheck` (part of `npm test`). Each line
// fails to compile if the type it pins changes.
import { metrics } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { Registry, register } from 'prom-client';
import {
  type BufferClient,
  type CommonAppSettings,
  getRedisClient,
  loadSettings,
  RedisPool,
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
