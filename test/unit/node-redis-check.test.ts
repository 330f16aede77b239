// The self-check of node-redis runs against a scripted peer in this process, so it needs no server.
// Faithful renames inside node-redis's own files are tried in test/node-redis-check.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient } from 'redis';
import { UnsupportedNodeRedisError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { checkNodeRedis, nodeRedisVersion, probeNodeRedis, supportedRange } from '../../src/node-redis/self-check.js';

/** The prototype of node-redis's client class that holds `member`. */
function holderOf(member: string): Record<string, unknown> {
  let proto = Object.getPrototypeOf(createClient());
  while (proto && !Object.hasOwn(proto, member)) proto = Object.getPrototypeOf(proto);
  assert.ok(proto, `no prototype of node-redis's client holds ${member}`);
  return proto;
}

/** Runs `work` with `member` of node-redis's client class replaced by `descriptor`. */
async function patched<T>(member: string, descriptor: PropertyDescriptor, work: () => Promise<T>): Promise<T> {
  const holder = holderOf(member);
  const original = Object.getOwnPropertyDescriptor(holder, member) as PropertyDescriptor;
  Object.defineProperty(holder, member, { configurable: true, ...descriptor });
  try {
    return await work();
  } finally {
    Object.defineProperty(holder, member, original);
  }
}

/** A destroy() that throws on a client that never connected, as node-redis 6.2.1's did. */
function throwingDestroy(): PropertyDescriptor {
  const destroy = holderOf('destroy').destroy as (this: { isOpen: boolean }) => void;
  return {
    writable: true,
    value(this: { isOpen: boolean }) {
      if (!this.isOpen) throw new Error('The client is closed');
      return destroy.call(this);
    },
  };
}

test('the installed node-redis passes every probe, of its clients and of its cluster client', async () => {
  assert.deepEqual(await probeNodeRedis('client'), []);
  assert.deepEqual(await probeNodeRedis('cluster'), []);
});

test('a destroy() that throws on a client that never connected (node-redis 6.2.1) fails the check, by name', async () => {
  const failures = await patched('destroy', throwingDestroy(), () => probeNodeRedis('client'));
  assert.equal(failures.length, 1, failures.join('\n'));
  assert.match(
    failures[0] ?? '',
    /^destroy\(\): a client that never connected threw on destroy\(\): .*client is closed/,
  );
});

test('a node-redis that no longer calls the hook on _executeCommand fails the check: blocking commands would stay on the shared connection', async () => {
  const executeCommand = holderOf('_executeCommand')._executeCommand;
  // As after a rename: node-redis's methods still reach its own _executeCommand, and what the pool
  // assigns in its place is kept where nothing calls it.
  const failures = await patched(
    '_executeCommand',
    {
      get: () => executeCommand,
      set(this: Record<string, unknown>, hook: unknown) {
        this._renamedHook = hook;
      },
    },
    () => probeNodeRedis('client'),
  );
  // Replica reads rest on the same hook: sentinel mode's reads would stay on the primary.
  assert.deepEqual(failures, [
    'installFastPath (its read hook), replicaSafe: a GET was not answered by the read hook',
    'installFastPath: the first typed command did not pass _self._executeCommand(command, parser, options, transform)',
  ]);
});

test('a node-redis without _getQueue() fails every probe that reaches its queue, naming it', async () => {
  const failures = await patched('_getQueue', { value: undefined, writable: true }, () => probeNodeRedis('client'));
  const named = failures.filter((failure) => failure.includes('_getQueue is not a function'));
  assert.deepEqual(
    named.map((failure) => failure.slice(0, failure.indexOf(':'))),
    [
      'pendingCount, flushWaitingForReply, flushAll',
      'coalesceWrites',
      'killableSocket, socketKiller, typeLostCommands',
      'tapDecoder, decoderTap, expectReplies',
      'fenceWrites, onFlush, isPubSubActive, tapDecoder (its gate)',
    ],
  );
});

test('checkNodeRedis() rejects with UnsupportedNodeRedisError naming the version and the range, and checks once per process', async () => {
  const logger = createLogger('silent');
  const error = await patched('destroy', throwingDestroy(), () => checkNodeRedis(false, logger).catch((e) => e));
  assert.ok(error instanceof UnsupportedNodeRedisError);
  assert.equal(error.code, 'REDIS_POOL_NODE_REDIS_UNSUPPORTED');
  assert.equal(error.version, nodeRedisVersion());
  assert.equal(error.supported, supportedRange());
  assert.match(error.message, new RegExp(`^node-redis ${error.version} does not behave as`));
  assert.ok(error.message.includes(`it supports redis ${error.supported}`), error.message);
  assert.match(error.failures[0] ?? '', /^destroy\(\)/);
  // Unpatched now, yet the answer stands: the check ran once.
  assert.equal(await checkNodeRedis(false, logger).catch((e) => e), error);
});

test('the supported range is package.json’s redis range, of exact versions, and admits the installed one', () => {
  const [low, high = low] = supportedRange().split(' - ');
  const exact = /^\d+\.\d+\.\d+$/;
  assert.ok(exact.test(low ?? '') && exact.test(high ?? ''), `not exact versions: ${supportedRange()}`);
  const rank = (version: string) => version.split('.').reduce((sum, part) => sum * 1000 + Number(part), 0);
  const installed = rank(nodeRedisVersion());
  assert.ok(rank(low as string) <= installed && installed <= rank(high as string), nodeRedisVersion());
});
