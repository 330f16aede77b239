import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { OfflineQueue } from '../../src/connections/offline-queue.js';
import { RedisAuthError, RedisUnavailableError } from '../../src/errors.js';
import { CommonAppSettings } from '../../src/settings.js';

const queueWith = (input: ConstructorParameters<typeof CommonAppSettings>[0] = {}) =>
  new OfflineQueue(
    new CommonAppSettings({ serviceName: 'unit', logLevel: 'silent', ...input }, { env: {}, envFile: false }),
  );

const reasonOf = async (held: Promise<void>) => {
  const error = await held.then(
    () => assert.fail('expected a rejection'),
    (failure: unknown) => failure,
  );
  assert.ok(error instanceof RedisUnavailableError);
  return error.reason;
};

test('held commands go on in arrival order when the connection is back', async () => {
  const queue = queueWith();
  const order: number[] = [];
  const all = [1, 2, 3].map((n) => queue.hold(undefined).then(() => order.push(n)));
  assert.equal(queue.size, 3);
  queue.release();
  await Promise.all(all);
  assert.deepEqual(order, [1, 2, 3]);
  assert.equal(queue.size, 0);
});

test('off: rejected at once; full: rejected at once; both say why, and keep the cause', async () => {
  const cause = new Error('ECONNREFUSED');
  assert.equal(await reasonOf(queueWith({ redisOfflineQueue: false }).hold(cause)), 'offline-queue-off');
  const small = queueWith({ redisOfflineQueueSize: 1 });
  const first = small.hold(cause);
  assert.equal(await reasonOf(small.hold(cause)), 'offline-queue-full');
  small.release();
  await first;
});

test('a command held past REDIS_OFFLINE_QUEUE_TIMEOUT is rejected; younger ones stay', async (t) => {
  const now = mock.method(performance, 'now', () => 0);
  t.after(() => now.mock.restore());
  const queue = queueWith({ redisOfflineQueueTimeout: 1 });
  const old = queue.hold(undefined);
  now.mock.mockImplementation(() => 600);
  const young = queue.hold(undefined);
  now.mock.mockImplementation(() => 1000);
  queue.expire(undefined);
  assert.equal(await reasonOf(old), 'offline-queue-timeout');
  assert.equal(queue.size, 1);
  queue.release();
  await young;
});

test('refused credentials fail at once, and failAll fails everything held', async () => {
  const queue = queueWith();
  const refused = new RedisAuthError('redis://x', 'WRONGPASS');
  await assert.rejects(queue.hold(refused), (error) => error === refused);
  const held = [queue.hold(undefined), queue.hold(undefined)];
  queue.failAll(refused);
  for (const one of held) await assert.rejects(one, (error) => error === refused);
});
