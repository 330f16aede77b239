import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { ReplyMonitor, TICKS_PER_TIMEOUT } from '../../src/connections/reply-monitor.js';

/** A monitor for a 1 s reply timeout, checking after 2 s idle, watching `tap`. */
function monitor(tap: { replies: number }, checkMs = 2000) {
  const watching = new ReplyMonitor(1000, checkMs);
  watching.attach(tap);
  return watching;
}

test('commands outstanding and no completed reply for a whole timeout: hung, not a tick sooner', () => {
  const tap = { replies: 0 };
  const watching = monitor(tap);
  for (let tick = 1; tick < TICKS_PER_TIMEOUT; tick++) assert.equal(watching.tick(3), 'ok', `tick ${tick}`);
  assert.equal(watching.tick(3), 'hung');
});

test('each completed reply restarts the count; bytes alone are not progress', () => {
  const tap = { replies: 0 };
  const watching = monitor(tap);
  for (let tick = 0; tick < 10 * TICKS_PER_TIMEOUT; tick++) {
    if (tick % (TICKS_PER_TIMEOUT - 1) === 0) tap.replies++;
    assert.equal(watching.tick(5), 'ok');
  }
});

test('nothing outstanding is never hung; idle long enough asks for a PING', () => {
  const tap = { replies: 0 };
  const watching = monitor(tap, 1000);
  const verdicts = Array.from({ length: TICKS_PER_TIMEOUT }, () => watching.tick(0));
  assert.deepEqual(verdicts.slice(0, -1), Array(TICKS_PER_TIMEOUT - 1).fill('ok'));
  assert.equal(verdicts.at(-1), 'check');
  assert.equal(monitor(tap, 0).tick(0), 'ok', 'checks off');
});

test('a blocking command may keep the connection silent for its own timeout', (t) => {
  const now = mock.method(performance, 'now', () => 0);
  t.after(() => now.mock.restore());
  const tap = { replies: 0 };
  const watching = monitor(tap);
  const done = watching.expectSilence(5000);
  for (let tick = 0; tick < 3 * TICKS_PER_TIMEOUT; tick++) assert.equal(watching.tick(1), 'ok');
  now.mock.mockImplementation(() => 5001);
  for (let tick = 1; tick < TICKS_PER_TIMEOUT; tick++) watching.tick(1);
  assert.equal(watching.tick(1), 'hung', 'past its own timeout, silence is a hang again');
  done();
});

test('attaching a replacement connection starts afresh', () => {
  const watching = monitor({ replies: 7 });
  for (let tick = 1; tick < TICKS_PER_TIMEOUT; tick++) watching.tick(1);
  watching.attach({ replies: 0 });
  assert.equal(watching.tick(1), 'ok');
});
