import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { beforeDeadline } from '../../src/deadline.js';

test('beforeDeadline settles as the work does when it is in time', async () => {
  assert.equal(await beforeDeadline(Promise.resolve('work'), 1000, () => 'late'), 'work');
  await assert.rejects(
    beforeDeadline(Promise.reject(new Error('failed')), 1000, () => 'late'),
    /failed/,
  );
  assert.equal(await beforeDeadline(Promise.resolve('no deadline'), undefined, () => 'late'), 'no deadline');
});

test('beforeDeadline settles as onTimeout does at the deadline, and clears its timer', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const never = new Promise<string>(() => undefined);
  const late = beforeDeadline(never, 500, () => 'gave up');
  mock.timers.tick(500);
  assert.equal(await late, 'gave up');
  const refused = beforeDeadline(never, 500, () => {
    throw new Error('no reply within 500 ms');
  });
  mock.timers.tick(500);
  await assert.rejects(refused, /no reply within 500 ms/);
  // A work in time leaves no timer behind: ticking past its deadline calls nothing.
  let called = false;
  await beforeDeadline(Promise.resolve(1), 500, () => {
    called = true;
    return 0;
  });
  mock.timers.tick(1000);
  assert.equal(called, false);
});
