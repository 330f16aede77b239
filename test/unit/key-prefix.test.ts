import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scopePattern, scopeScan, unscope, unscopeReply } from '../../src/client/key-prefix.js';

test('a pattern inside the prefix: the prefix’s own glob characters are escaped', () => {
  assert.equal(scopePattern('svc:'), 'svc:*');
  assert.equal(scopePattern('svc:', 'user:*'), 'svc:user:*');
  assert.equal(scopePattern('a*b?[c]\\'), 'a\\*b\\?\\[c\\]\\\\*');
  assert.deepEqual(scopePattern('svc:', Buffer.from([0xff, 0x2a])), Buffer.from([...Buffer.from('svc:'), 0xff, 0x2a]));
});

test('SCAN gets MATCH inside the prefix (one added when missing); KEYS its pattern; other commands pass', () => {
  assert.deepEqual(scopeScan('p:', ['SCAN', '0']), ['SCAN', '0', 'MATCH', 'p:*']);
  assert.deepEqual(scopeScan('p:', ['scan', '12', 'match', 'u*', 'COUNT', '5']), [
    'scan',
    '12',
    'match',
    'p:u*',
    'COUNT',
    '5',
  ]);
  assert.deepEqual(scopeScan('p:', ['SCAN', '0', 'TYPE', 'hash']), ['SCAN', '0', 'TYPE', 'hash', 'MATCH', 'p:*']);
  assert.deepEqual(scopeScan('p:', ['KEYS', 'a*']), ['KEYS', 'p:a*']);
  assert.equal(scopeScan('p:', ['GET', 'k']), undefined);
  assert.equal(scopeScan('p:', ['SCARD', 'k']), undefined);
  assert.equal(scopeScan('p:', ['HSCAN', 'k', '0']), undefined, 'a hash’s fields are not keys');
});

test('replies name keys as the prefixed caller does; a key outside the prefix is left as it is', () => {
  assert.equal(unscope('p:', 'p:a'), 'a');
  assert.equal(unscope('p:', 'q:a'), 'q:a');
  assert.deepEqual(unscope('p:', Buffer.from('p:\xff', 'latin1')), Buffer.from('\xff', 'latin1'));
  assert.deepEqual(unscopeReply('p:', 'SCAN', ['7', ['p:a', 'p:b']]), ['7', ['a', 'b']]);
  assert.deepEqual(unscopeReply('p:', 'KEYS', ['p:a']), ['a']);
});
