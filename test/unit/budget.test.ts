import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionBudget } from '../../src/connections/budget.js';

test('the budget gives at most max slots, and takes them back', () => {
  const budget = new ConnectionBudget(2);
  assert.equal(budget.tryTake(), true);
  assert.equal(budget.tryTake(), true);
  assert.equal(budget.tryTake(), false, 'the cap holds');
  assert.equal(budget.used, 2);
  budget.give();
  assert.equal(budget.used, 1);
  assert.equal(budget.tryTake(), true);
  budget.give();
  budget.give();
  assert.throws(() => budget.give(), /without a slot taken/);
  assert.equal(budget.used, 0);
});
