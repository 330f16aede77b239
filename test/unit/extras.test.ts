import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkAgainstSettings,
  checkClientOptions,
  mapNodeAddress,
  type PoolClientOptions,
  withExtras,
} from '../../src/client/extras.js';
import { clientOptions } from '../../src/client/options.js';
import { ClientUsageError, CommonAppSettings, type SettingsInput } from '../../src/index.js';

const settings = (input: SettingsInput = {}) =>
  new CommonAppSettings({ serviceName: 'svc', logLevel: 'silent', ...input }, { env: {}, envFile: false });

test('the options the pool passes on are taken; each other key is refused by name', () => {
  checkClientOptions({
    socket: {
      family: 6,
      lookup: () => undefined,
      rejectUnauthorized: false,
      servername: 'redis',
      passphrase: 'p',
      ciphers: 'x',
    },
    credentialsProvider: { type: 'async-credentials-provider', credentials: async () => ({}) },
    nodeAddressMap: {},
  });
  for (const [options, key] of [
    [{ socket: { host: 'h' } }, 'socket.host'],
    [{ socket: { tls: true } }, 'socket.tls'],
    [{ socket: { ca: 'x' } }, 'socket.ca'],
    [{ socket: { signal: {} } }, 'socket.signal'],
    [{ RESP: 2 }, 'RESP'],
    [{ database: 1 }, 'database'],
    [{ scripts: {} }, 'scripts'],
    [{ url: 'redis://:secret@h' }, 'url'],
    [{ anything: 1 }, 'anything'],
  ] as const) {
    assert.throws(
      () => checkClientOptions(options as unknown as PoolClientOptions),
      (error) =>
        error instanceof ClientUsageError &&
        error.message.startsWith(`clientOptions.${key} `) &&
        !/secret/.test(error.message),
      key,
    );
  }
});

test('against the settings: TLS options need TLS, a provider excludes a password, an address map needs a cluster', () => {
  checkAgainstSettings({ socket: { servername: 'redis' } }, settings({ redisUrl: 'rediss://h' }));
  assert.throws(() => checkAgainstSettings({ socket: { servername: 'redis' } }, settings()), /TLS is off/);
  checkAgainstSettings({ socket: { family: 4 } }, settings());
  const provider = {
    credentialsProvider: { type: 'async-credentials-provider', credentials: async () => ({}) },
  } as const;
  checkAgainstSettings(provider, settings());
  assert.throws(() => checkAgainstSettings(provider, settings({ redisUrl: 'redis://u:p@h' })), /both give credentials/);
  assert.throws(() => checkAgainstSettings({ nodeAddressMap: {} }, settings()), /cluster mode/);
  checkAgainstSettings({ nodeAddressMap: {} }, settings({ redisClusterNodes: 'h:1' }));
});

test('merged under the pool’s own options: the caller’s socket options on top of the defaults, owned ones untouched', () => {
  const scripts = { s: {} } as never;
  const base = clientOptions(settings({ redisUrl: 'rediss://redis.example' }), 'shared');
  const merged = withExtras(base, { scripts, client: { socket: { servername: 'other', family: 4 } } });
  const socket = merged.socket as Record<string, unknown>;
  assert.equal(socket.servername, 'other', 'the caller names the server instead of REDIS_HOST');
  assert.equal(socket.family, 4);
  assert.equal(socket.host, 'redis.example');
  assert.equal(socket.tls, true);
  assert.equal(merged.scripts, scripts);
  assert.equal(merged.disableOfflineQueue, true);
  assert.equal(withExtras(base, undefined), base);
});

test('the address map: an object or a function; an address it does not name is used as announced', () => {
  const to = { host: '10.0.0.1', port: 7000 };
  assert.deepEqual(mapNodeAddress({ 'a:1': to }, 'a:1'), to);
  assert.equal(mapNodeAddress({ 'a:1': to }, 'b:1'), undefined);
  assert.deepEqual(
    mapNodeAddress((address) => (address === 'a:1' ? to : undefined), 'a:1'),
    to,
  );
  assert.equal(mapNodeAddress(undefined, 'a:1'), undefined);
});
