import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { deadlineOf, sendWithin } from '../../src/client/deadlines.js';
import { beforeDeadline, cutOff } from '../../src/deadline.js';
import { CommandTimeoutError } from '../../src/errors.js';
import { TimeoutError } from '../../src/node-redis/node-redis.js';

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

test('cutOff settles as the work does when it is in time, and leaves no timer or listener behind', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const controller = new AbortController();
  let timedOut = false;
  const cutoff = {
    ms: 100,
    signal: controller.signal,
    onTimeout: () => {
      timedOut = true;
      return new Error('late');
    },
  };
  assert.equal(await cutOff(async () => 'work', cutoff), 'work');
  await assert.rejects(
    cutOff(async () => {
      throw new Error('failed');
    }, cutoff),
    /failed/,
  );
  mock.timers.tick(1000);
  controller.abort();
  assert.equal(timedOut, false);
});

test('cutOff rejects at its time with onTimeout(), and drops the late outcome of the work', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  let fail = (_error: Error) => {};
  const work = new Promise<string>((_resolve, reject) => {
    fail = reject;
  });
  let over: () => boolean = () => false;
  const cut = cutOff(
    (isOver) => {
      over = isOver;
      return work;
    },
    { ms: 100, signal: undefined, onTimeout: () => new Error('no reply within 100 ms') },
  );
  mock.timers.tick(99);
  assert.equal(over(), false);
  mock.timers.tick(1);
  await assert.rejects(cut, /no reply within 100 ms/);
  assert.equal(over(), true);
  // Failing after the cutoff goes nowhere: no unhandled rejection (the test would fail).
  fail(new Error('the late reply'));
  await Promise.resolve();
});

test('cutOff rejects with the signal’s reason: when it aborts, at once when it has, and for the work’s own failure after it', async () => {
  const controller = new AbortController();
  const never = () => new Promise<never>(() => undefined);
  const cut = cutOff(never, { ms: Number.POSITIVE_INFINITY, signal: controller.signal, onTimeout: () => 'unused' });
  const reason = new Error('the caller gave up');
  controller.abort(reason);
  await assert.rejects(cut, (error) => error === reason);

  let started = false;
  const early = cutOff(
    async () => {
      started = true;
    },
    { ms: 100, signal: controller.signal, onTimeout: () => 'unused' },
  );
  await assert.rejects(early, (error) => error === reason);
  assert.equal(started, false, 'the work never starts');

  // node-redis drops a command it has not written with an AbortError of its own: the caller gets the reason.
  const racing = new AbortController();
  const dropped = cutOff(
    () =>
      new Promise<never>((_resolve, reject) => {
        racing.signal.addEventListener('abort', () => reject(new Error('node-redis AbortError')));
      }),
    { ms: Number.POSITIVE_INFINITY, signal: racing.signal, onTimeout: () => 'unused' },
  );
  racing.abort();
  await assert.rejects(dropped, (error) => error === racing.signal.reason);
});

test('cutOff hands the work’s failure to onFailure, and a synchronous throw is a failure too', async () => {
  const failure = cutOff(
    () => {
      throw new Error('thrown');
    },
    { ms: 100, signal: undefined, onTimeout: () => 'unused', onFailure: (error) => new Error(`mapped: ${error}`) },
  );
  await assert.rejects(failure, /mapped: Error: thrown/);
});

test('sendWithin: CommandTimeoutError.deadline() names the command and its timeout, never the arguments', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const never = () => new Promise<never>(() => undefined);
  const cut = sendWithin(['set', 'session:secret', 'hunter2'], { timeout: 100 }, never);
  mock.timers.tick(100);
  await assert.rejects(cut, (error) => {
    assert.ok(error instanceof CommandTimeoutError);
    assert.equal(error.code, 'REDIS_POOL_COMMAND_TIMEOUT');
    assert.equal(error.timeoutMs, 100);
    assert.match(error.message, /^SET got no reply within the timeout of its command options, 100 ms\./);
    assert.match(error.message, /connection stays open/);
    assert.doesNotMatch(error.message, /secret|hunter2/);
    return true;
  });
  // node-redis's own TimeoutError, for a command it had not written at its timeout, becomes the same.
  const unwritten = sendWithin(['GET', 'k'], { timeout: 100 }, () => Promise.reject(new TimeoutError()));
  await assert.rejects(unwritten, (error) => error instanceof CommandTimeoutError && /^GET /.test(error.message));
});

test('sendWithin: a blocking command’s timeout starts after its block time; one that blocks for ever has none', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const outcome = (promise: Promise<unknown>) => {
    const seen = { settled: false };
    promise.catch(() => {
      seen.settled = true;
    });
    return seen;
  };
  const never = () => new Promise<never>(() => undefined);
  const blpop = outcome(sendWithin(['BLPOP', 'queue', '2'], { timeout: 100 }, never));
  const forever = outcome(sendWithin(['BLPOP', 'queue', '0'], { timeout: 100 }, never));
  const xread = outcome(sendWithin(['XREAD', 'BLOCK', '500', 'STREAMS', 's', '$'], { timeout: 100 }, never));
  mock.timers.tick(599);
  await Promise.resolve();
  assert.deepEqual([blpop.settled, forever.settled, xread.settled], [false, false, false]);
  mock.timers.tick(1);
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual([blpop.settled, forever.settled, xread.settled], [false, false, true]);
  mock.timers.tick(1500);
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual([blpop.settled, forever.settled], [true, false]);
});

test('deadlineOf reads the call’s options, else the receiver’s, and finds none in the defaults', () => {
  const signal = new AbortController().signal;
  const defaults = { timeout: 0, typeMapping: undefined, abortSignal: undefined, asap: undefined };
  assert.equal(deadlineOf(defaults), undefined);
  assert.equal(deadlineOf(undefined), undefined);
  assert.deepEqual(deadlineOf({ ...defaults, timeout: 100 }), { timeout: 100, abortSignal: undefined });
  assert.deepEqual(deadlineOf({ ...defaults, abortSignal: signal }), { timeout: 0, abortSignal: signal });
  // A raw sendCommand() through a view: the view's options.
  const view = { _commandOptions: { timeout: 250 } };
  assert.deepEqual(deadlineOf(undefined, view), { timeout: 250, abortSignal: undefined });
  assert.deepEqual(deadlineOf({ abortSignal: signal }, view), { timeout: 250, abortSignal: signal });
});
