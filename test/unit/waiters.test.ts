import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { WaiterQueue } from '../../src/connections/waiters.js';

const queue = () => new WaiterQueue<string>((timeoutMs) => new Error(`waited ${timeoutMs} ms`));

test('callers are served first come, first served', async () => {
  const waiters = queue();
  const first = waiters.wait({ timeoutMs: 1000 });
  const second = waiters.wait({ timeoutMs: 1000 });
  assert.equal(waiters.size, 2);
  assert.equal(
    waiters.grantOldest(() => 'a'),
    true,
  );
  assert.equal(
    waiters.grantOldest(() => 'b'),
    true,
  );
  assert.deepEqual(await Promise.all([first, second]), ['a', 'b']);
  assert.equal(
    waiters.grantOldest(() => 'c'),
    false,
    'nobody waits',
  );
  assert.equal(waiters.stats.waitCount, 2);
});

test('nothing is taken for a caller when there is nothing to give', async () => {
  const waiters = queue();
  const waiting = waiters.wait({ timeoutMs: 1000 });
  assert.equal(
    waiters.grantOldest(() => undefined),
    false,
  );
  assert.equal(waiters.size, 1);
  waiters.grantOldest(() => 'later');
  assert.equal(await waiting, 'later');
});

test('a caller whose deadline passes gets the queue’s error, and leaves the line', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const waiters = queue();
  const short = waiters.wait({ timeoutMs: 100 });
  const long = waiters.wait({ timeoutMs: 1000 });
  mock.timers.tick(100);
  await assert.rejects(short, /waited 100 ms/);
  assert.equal(waiters.size, 1);
  assert.equal(waiters.stats.timeouts, 1);
  waiters.grantOldest(() => 'for the long one');
  assert.equal(await long, 'for the long one');
  mock.timers.tick(1000);
  assert.equal(waiters.stats.timeouts, 1, 'a served caller’s timer is cleared');
});

test('an aborted caller gets the signal’s reason at once; one aborted before waiting never queues', async () => {
  const waiters = queue();
  const controller = new AbortController();
  const waiting = waiters.wait({ timeoutMs: 1000, signal: controller.signal });
  controller.abort(new Error('gave up'));
  await assert.rejects(waiting, /gave up/);
  assert.equal(waiters.size, 0);
  assert.throws(() => waiters.wait({ timeoutMs: 1000, signal: controller.signal }), /gave up/);
});

test('failAll rejects every caller', async () => {
  const waiters = queue();
  const all = [waiters.wait({ timeoutMs: 1000 }), waiters.wait({ timeoutMs: 1000 })];
  waiters.failAll(new Error('closed'));
  for (const waiting of all) await assert.rejects(waiting, /closed/);
  assert.equal(waiters.size, 0);
});
