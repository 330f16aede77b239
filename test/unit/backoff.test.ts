import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUTH_RETRY_FLOOR_MS, backoffDelay, OpeningBackoff, retryWithBackoff } from '../../src/connections/backoff.js';
import { RedisAuthError, RedisUnavailableError } from '../../src/errors.js';
import { CommonAppSettings } from '../../src/settings.js';

const settingsWith = (input: ConstructorParameters<typeof CommonAppSettings>[0] = {}) =>
  new CommonAppSettings({ serviceName: 'unit', logLevel: 'silent', ...input }, { env: {}, envFile: false });

test('reconnect backoff doubles from REDIS_RECONNECT_BASE_DELAY to REDIS_RECONNECT_MAX_DELAY, jittered', () => {
  const policies = [
    { base: 0.05, max: 0.5, settings: settingsWith() },
    { base: 0.2, max: 3, settings: settingsWith({ redisReconnectBaseDelay: 0.2, redisReconnectMaxDelay: 3 }) },
  ];
  for (const { base, max, settings } of policies) {
    for (let retries = 0; retries < 40; retries++) {
      const ceiling = Math.min(max, base * 2 ** retries) * 1000;
      for (let sample = 0; sample < 50; sample++) {
        const delay = backoffDelay(retries, settings);
        assert.ok(delay >= Math.floor(ceiling / 2) && delay <= Math.ceil(ceiling), `retry ${retries}: ${delay} ms`);
      }
    }
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(10, settings)));
    assert.ok(spread.size > 10, 'delays are jittered, not all equal');
  }
});

test('after refused credentials the delay is at least AUTH_RETRY_FLOOR_MS', () => {
  const settings = settingsWith();
  const refused = new RedisAuthError('redis://x', 'WRONGPASS');
  for (let retries = 0; retries < 10; retries++) {
    assert.ok(backoffDelay(retries, settings, refused) >= AUTH_RETRY_FLOOR_MS);
    assert.ok(backoffDelay(retries, settings, new Error('ECONNREFUSED')) <= 500);
  }
});

test('OpeningBackoff: free at first; after a failure, nothing until the back-off passes, then one probe at a time', async () => {
  const backoff = new OpeningBackoff(settingsWith({ redisReconnectBaseDelay: 0.02, redisReconnectMaxDelay: 0.02 }));
  assert.equal(backoff.allows(3), true, 'no failure yet: any number may open');
  const cause = new Error('ECONNREFUSED');
  backoff.failed(cause);
  assert.equal(backoff.allows(0), false, 'backing off');
  const refusal = backoff.refusal();
  assert.ok(refusal instanceof RedisUnavailableError);
  assert.equal(refusal.reason, 'connect-backoff');
  assert.equal(refusal.cause, cause);
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(backoff.allows(0), true, 'the back-off has passed');
  assert.equal(backoff.allows(1), false, 'but one opening probes at a time');
  backoff.succeeded();
  assert.equal(backoff.allows(5), true);
  assert.equal(backoff.lastError, cause, 'the last failure is kept for AcquireTimeoutError');
});

test('OpeningBackoff: refused credentials are the refusal themselves', () => {
  const backoff = new OpeningBackoff(settingsWith());
  const refused = new RedisAuthError('redis://x', 'WRONGPASS');
  backoff.failed(refused);
  assert.equal(backoff.refusal(), refused);
});

test('retryWithBackoff retries until it succeeds, and gives up once stopped', async () => {
  const settings = settingsWith({ redisReconnectBaseDelay: 0.001, redisReconnectMaxDelay: 0.002 });
  let attempts = 0;
  const failures: unknown[] = [];
  const value = await retryWithBackoff(
    async () => {
      if (++attempts < 3) throw new Error(`attempt ${attempts}`);
      return 'done';
    },
    settings,
    () => false,
    (error) => failures.push(error),
  );
  assert.equal(value, 'done');
  assert.equal(failures.length, 2);
  let stopped = false;
  const gaveUp = await retryWithBackoff(
    async () => {
      stopped = true;
      throw new Error('down');
    },
    settings,
    () => stopped,
    () => undefined,
  );
  assert.equal(gaveUp, undefined);
});
