import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { RedisStore } from 'connect-redis';
import express from 'express';
import session from 'express-session';
import { closeRedisPool, getRedisClient } from '../../src/index.js';
import { KEY_PREFIXES, keyPrefixed, prefixLabel, serverForFile, settingsFor } from '../helpers.js';

declare module 'express-session' {
  interface SessionData {
    views: number;
  }
}

const file = serverForFile();

for (const prefix of KEY_PREFIXES) {
  test(`express-session keeps its sessions in Redis through connect-redis and the pool's shared client${prefixLabel(prefix)}`, async () => {
    const redisClient = await getRedisClient(settingsFor(file.server.url, keyPrefixed(prefix)));
    // connect-redis's README has `redisClient.connect().catch(console.error)`. The pool's client is
    // already connected, so this resolves; it used to throw a ClientUsageError synchronously, which
    // `.catch` could not see.
    const connectFailures: unknown[] = [];
    redisClient.connect().catch((error: unknown) => connectFailures.push(error));

    const redisStore = new RedisStore({ client: redisClient, prefix: 'myapp:' });
    const app = express();
    app.use(session({ store: redisStore, resave: false, saveUninitialized: false, secret: 'keyboard cat' }));
    app.get('/views', (req, res) => {
      req.session.views = (req.session.views ?? 0) + 1;
      res.json({ views: req.session.views, id: req.sessionID });
    });
    app.post('/logout', (req, res, next) => {
      req.session.destroy((error) => (error ? next(error) : res.sendStatus(204)));
    });
    const http = app.listen(0, '127.0.0.1');
    try {
      await once(http, 'listening');
      const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

      const read = async (response: Response) => (await response.json()) as { id: string; views: number };

      const first = await fetch(`${base}/views`);
      const cookie = first.headers.getSetCookie()[0]?.split(';')[0] ?? '';
      assert.match(cookie, /^connect\.sid=/, 'the first response sets the session cookie');
      const { id, views } = await read(first);
      assert.equal(views, 1);

      const visit = (path: string, method = 'GET') => fetch(`${base}${path}`, { method, headers: { cookie } });
      assert.deepEqual(await read(await visit('/views')), { id, views: 2 });
      assert.deepEqual(await read(await visit('/views')), { id, views: 3 });

      const stored = await file.observer.get(`${prefix}myapp:${id}`);
      assert.equal(JSON.parse(stored ?? '{}').views, 3, 'the session is at the server under the configured prefix');
      assert.ok((await file.observer.ttl(`${prefix}myapp:${id}`)) > 0, 'with the TTL connect-redis sets');

      assert.equal((await visit('/logout', 'POST')).status, 204);
      assert.equal(await file.observer.exists(`${prefix}myapp:${id}`), 0, 'destroying the session deletes its key');
      assert.equal((await read(await visit('/views'))).views, 1, 'the old cookie now starts a new session');

      assert.equal(await redisClient.ping(), 'PONG');
      assert.deepEqual(connectFailures, []);
    } finally {
      http.closeAllConnections();
      http.close();
      await closeRedisPool();
    }
  });
}
