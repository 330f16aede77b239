import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import KeyvRedis, { type RedisClientConnectionType } from '@keyv/redis';
import Keyv from 'keyv';
import { closeRedisPool, getRedisClient } from '../../src/index.js';
import { KEY_PREFIXES, keyPrefixed, prefixLabel, serverForFile, settingsFor } from '../helpers.js';

const file = serverForFile();

afterEach(() => closeRedisPool());

/**
 * A Keyv on the pool's client, as @keyv/redis's README passes an existing client (with a
 * namespace), and the errors it reports: Keyv turns a failed command into `undefined` and an
 * 'error' event, so each test checks that there were none.
 */
async function keyvOnThePool(namespace: string, prefix: string) {
  const client = await getRedisClient(settingsFor(file.server.url, keyPrefixed(prefix)));
  // @keyv/redis 5 types its client with its own @redis/client 5, so any node-redis 6 client
  // (a plain createClient() too) needs this cast; at run time it is the same API.
  const store = new KeyvRedis(client as unknown as RedisClientConnectionType);
  const keyv = new Keyv({ store, namespace, useKeyPrefix: false });
  const errors: unknown[] = [];
  keyv.on('error', (error: unknown) => errors.push(error));
  return { client, keyv, errors };
}

/** The ids of the pool's shared connections, as the server lists them. */
async function sharedConnectionIds() {
  const list = await file.observer.clientList();
  return list.filter((entry) => entry.name === `pool-test:shared:${process.pid}`).map((entry) => entry.id);
}

for (const prefix of KEY_PREFIXES) {
  describe(`Keyv on the pool's client${prefixLabel(prefix)}`, () => {
    test('set, get, has and delete go through the pool’s client', async () => {
      const { keyv, errors } = await keyvOnThePool('app', prefix);
      assert.equal(await keyv.set('greeting', { text: 'hola' }), true);
      assert.deepEqual(await keyv.get('greeting'), { text: 'hola' });
      assert.equal(await keyv.has('greeting'), true);
      assert.equal(
        await file.observer.exists(`${prefix}app::greeting`),
        1,
        'the key is at the server, in its namespace',
      );

      assert.equal(await keyv.delete('greeting'), true);
      assert.equal(await keyv.has('greeting'), false);
      assert.equal(await keyv.get('greeting'), undefined);
      assert.equal(await file.observer.exists(`${prefix}app::greeting`), 0);
      assert.deepEqual(errors, []);
    });

    test('a value set with a TTL expires at the server', async () => {
      const { keyv, errors } = await keyvOnThePool('app', prefix);
      await keyv.set('short-lived', 'soon gone', 100);
      const pttl = await file.observer.pTTL(`${prefix}app::short-lived`);
      assert.ok(pttl > 0 && pttl <= 100, `Redis holds the TTL (PTTL ${pttl})`);
      await sleep(250);
      assert.equal(await file.observer.exists(`${prefix}app::short-lived`), 0);
      assert.equal(await keyv.get('short-lived'), undefined);
      assert.deepEqual(errors, []);
    });

    test('clear() removes its own namespace and nothing else', async () => {
      const { keyv: sessions, errors } = await keyvOnThePool('sessions', prefix);
      const { keyv: carts } = await keyvOnThePool('carts', prefix);
      await sessions.set('a', 1);
      await sessions.set('b', 2);
      await carts.set('a', 3);
      await file.observer.set(`${prefix}unrelated`, 'stays');
      // Another service's key in the same namespace, without this prefix: outside what clear() may touch.
      if (prefix) await file.observer.set('sessions::another-service', 'stays');

      await sessions.clear();
      assert.equal(await sessions.get('a'), undefined);
      assert.equal(await sessions.get('b'), undefined);
      assert.equal(await carts.get('a'), 3);
      assert.equal(await file.observer.get(`${prefix}unrelated`), 'stays');
      if (prefix) assert.equal(await file.observer.get('sessions::another-service'), 'stays');
      assert.deepEqual(errors, []);
    });

    test('keyv.disconnect() resolves and leaves the shared client open for everyone else', async () => {
      const { client, keyv, errors } = await keyvOnThePool('app', prefix);
      await keyv.set('kept', 'still here');
      const sharedBefore = await sharedConnectionIds();
      assert.equal(sharedBefore.length, 1);
      // @keyv/redis's disconnect() calls close() on the client it was given, which is the pool's.
      await keyv.disconnect();
      assert.equal(client.isOpen, true);
      assert.deepEqual(await sharedConnectionIds(), sharedBefore, 'the same connection, neither closed nor replaced');
      assert.equal(await client.ping(), 'PONG');
      assert.equal(await client.get('app::kept'), JSON.stringify({ value: 'still here' }));
      assert.deepEqual(errors, []);
    });
  });
}
