import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { redactUrl, Secret } from '../../src/secret.js';

test('a Secret shows as *** in every printed form', () => {
  const secret = new Secret('hunter2');
  for (const shown of [String(secret), `${secret}`, JSON.stringify({ secret }), inspect(secret)]) {
    assert.doesNotMatch(shown, /hunter2/);
  }
  assert.equal(secret.reveal(), 'hunter2');
  assert.ok(secret.equals(new Secret('hunter2')));
  assert.ok(!secret.equals(new Secret('other')));
});

test('redactUrl hides the password, credential parameters and the fragment, and shows unparsable URLs only as their scheme', () => {
  const cases: [string, string][] = [
    ['redis://app:hunter2@cache:6379/0', 'redis://app:***@cache:6379/0'],
    ['redis://cache:6379/0?password=hunter2&db=1', 'redis://cache:6379/0?password=***&db=1'],
    ['unix:///run/redis.sock?db=0&token=hunter2', 'unix:///run/redis.sock?db=0&token=***'],
    ['redis://cache#hunter2', 'redis://cache#***'],
    ['redis://:p@ss:w/rd@127.0.0.1:6379', 'redis://***'],
    ['redis://cache:99999', 'redis://cache:99999'],
    ['hunter2', '***'],
  ];
  for (const [url, shown] of cases) assert.equal(redactUrl(url), shown, url);
});
