// The reply fences' rules, without a server: which writes get a fence, which replies are held,
// and what a fence's place must hold. test/reply-fences.test.ts shows them against real servers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TypeMapping } from '../../src/node-redis/node-redis.js';
import { UnmatchedReply } from '../../src/node-redis/reply-checks.js';
import { ReplyFences } from '../../src/node-redis/reply-fences.js';

/** A connection's fences, with what they ended and what they refused, and a decoder's view of them. */
function fences(answerable = () => true) {
  const broken: unknown[] = [];
  const fence = new ReplyFences({ answerable, broken: (cause) => broken.push(cause), refusal: (error) => error });
  /** A reply as the decoder hands it to node-redis's own handler, for a command without a type mapping. */
  const reply = (value: unknown, error = false) => fence.gate(value, {}, error);
  /** A fence written now: its type mapping and token, its reply settled as `answer(value)` says. */
  const write = () => {
    const closing = fence.closing();
    assert.ok(closing, 'a fence is written');
    let settle: ((value: unknown) => void) | undefined;
    fence.appended(
      closing.typeMapping,
      new Promise((resolve) => {
        settle = resolve;
      }),
    );
    return {
      token: closing.args[1] as string,
      args: closing.args,
      /** The fence's reply, decoded in its place. */
      answer: (value: unknown, error = false) => fence.gate(value, closing.typeMapping as TypeMapping, error),
      settle: (value: unknown) => settle?.(value),
    };
  };
  return { fence, broken, reply, write };
}

/** What a promise settled with by the next macrotask, or 'pending'. */
async function state(value: unknown): Promise<unknown> {
  const promise = Promise.resolve(value).then(
    (resolved) => ({ resolved }),
    (rejected: unknown) => ({ rejected }),
  );
  return Promise.race([promise, new Promise((resolve) => setImmediate(() => resolve('pending')))]);
}

describe('ReplyFences', () => {
  test('a write ends with ECHO and a token nobody could guess: its own for each fence, and each connection', () => {
    const a = fences();
    const b = fences();
    const [first, second, other] = [a.write(), a.write(), b.write()];
    assert.equal(first.args[0], 'ECHO');
    assert.notEqual(first.token, second.token);
    assert.ok(first.token.length >= 16);
    assert.notEqual(first.token.slice(0, 16), other.token.slice(0, 16));
  });

  test('replies are held until the fence after them is its token, then reach their commands in order', async () => {
    const { write, reply, broken } = fences();
    const fence = write();
    const held = [reply('a'), reply(new Error('ERR no'), true), reply('c')];
    assert.deepEqual(await Promise.all(held.map(state)), ['pending', 'pending', 'pending']);
    assert.equal(fence.answer(fence.token), fence.token, 'the fence’s own reply reaches the fence');
    assert.deepEqual(await Promise.all(held.map(state)), [
      { resolved: 'a' },
      { rejected: new Error('ERR no') },
      { resolved: 'c' },
    ]);
    assert.deepEqual(broken, []);
  });

  test('anything else in the fence’s place is refused, and the held replies are refused when the connection ends', async () => {
    for (const [value, error] of [
      ['another value', false],
      [null, false],
      [7, false],
      [new Error('ERR'), true],
    ] as const) {
      const { fence, write, reply } = fences();
      const written = write();
      const held = reply('mine?');
      assert.throws(() => written.answer(value, error), UnmatchedReply);
      const lost = new Error('lost');
      fence.lost(lost);
      assert.deepEqual(await state(held), { rejected: lost });
    }
  });

  test('a refusal the server gives every command (LOADING, BUSY, MASTERDOWN, NOAUTH, NOPERM) is the fence’s own reply', async () => {
    for (const refusal of ['LOADING Redis is loading', 'BUSY Redis is busy running a script', 'NOPERM no rights']) {
      const { write, reply } = fences();
      const written = write();
      const held = reply(new Error(refusal), true);
      written.answer(new Error(refusal), true);
      assert.deepEqual(await state(held), { rejected: new Error(refusal) });
    }
    // As the pool classifies it: LOADING becomes a RedisUnavailableError whose cause is the server's reply.
    const { write, reply } = fences();
    const written = write();
    const classified = new Error('Redis is unavailable', { cause: new Error('LOADING Redis is loading') });
    const held = reply(classified, true);
    written.answer(classified, true);
    assert.deepEqual(await state(held), { rejected: classified });
  });

  test('the message says what came, never the value, which may be data', () => {
    const { write } = fences();
    const written = write();
    assert.throws(
      () => written.answer('s3cret-value'),
      (error: Error) => /a string of 12 characters, not its token/.test(error.message) && !/s3cret/.test(error.message),
    );
  });

  test('replies are passed at once when no fence is outstanding', () => {
    const { reply } = fences();
    assert.equal(reply('direct'), 'direct');
  });

  test('a fence checked through its promise (a handler node-redis swapped in) releases, or ends the connection', async () => {
    const right = fences();
    const ok = right.write();
    const held = right.reply('v');
    ok.settle(ok.token);
    assert.deepEqual(await state(held), { resolved: 'v' });

    const wrong = fences();
    const bad = wrong.write();
    wrong.reply('v');
    bad.settle('not the token');
    await state(undefined);
    assert.ok(wrong.broken[0] instanceof UnmatchedReply);
  });

  test('no fence inside a transaction, after MONITOR or CLIENT REPLY OFF|SKIP (until RESET), with QUIT, or on a subscribed RESP2 connection', () => {
    const { fence } = fences();
    fence.written('MULTI', '');
    assert.equal(fence.closing(), undefined, 'MULTI queues it');
    fence.written('EXEC', '');
    assert.ok(fence.closing());
    fence.written('MULTI', '');
    fence.written('DISCARD', '');
    assert.ok(fence.closing());
    fence.written('MONITOR', '');
    assert.equal(fence.closing(), undefined, 'MONITOR streams');
    fence.written('RESET', '');
    assert.ok(fence.closing());
    fence.written('CLIENT', '*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n');
    assert.equal(fence.closing(), undefined, 'CLIENT REPLY SKIP silences it');
    fence.lost(new Error('reconnect'));
    assert.ok(fence.closing(), 'a new connection starts fenced');
    fence.written('CLIENT', '*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$1\r\nx\r\n');
    assert.ok(fence.closing(), 'other CLIENT commands are fenced');
    fence.written('QUIT', '');
    assert.equal(fence.closing(), undefined, 'QUIT closes');

    let subscribed = true;
    const resp2 = fences(() => !subscribed);
    assert.equal(resp2.fence.closing(), undefined, 'not on a RESP2 connection with subscriptions');
    subscribed = false;
    assert.ok(resp2.fence.closing());
  });

  test('a fence node-redis could not queue is not waited for', () => {
    const { fence, reply } = fences();
    const closing = fence.closing();
    assert.ok(closing);
    fence.appended(closing.typeMapping, undefined);
    assert.equal(reply('direct'), 'direct');
  });
});
