import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommandTimeoutError, ConnectionLostError, RedisUnavailableError } from '../../src/errors.js';
import { noReplica, PRIMARY, ReadRotation, readAgain } from '../../src/topology/read-from.js';
import { readableReplicas } from '../../src/topology/sentinel-replicas.js';

const draw = (rotation: ReadRotation, ready: readonly string[], times: number) =>
  Array.from({ length: times }, () => {
    const chosen = rotation.choose(ready);
    return chosen === PRIMARY ? 'primary' : (chosen ?? 'none');
  });

test('REDIS_READ_FROM=replica-preferred takes the ready replicas in turn, and the primary when none is ready', () => {
  const rotation = new ReadRotation('replica-preferred');
  assert.deepEqual(draw(rotation, ['a', 'b'], 4).sort(), ['a', 'a', 'b', 'b']);
  assert.deepEqual(draw(rotation, ['a'], 3), ['a', 'a', 'a']);
  assert.deepEqual(draw(rotation, [], 2), ['primary', 'primary']);
  assert.equal(rotation.replicas, true);
});

test('REDIS_READ_FROM=replica takes only replicas, and none (the caller refuses) when none is ready', () => {
  const rotation = new ReadRotation('replica');
  assert.deepEqual(draw(rotation, ['a', 'b', 'c'], 6).sort(), ['a', 'a', 'b', 'b', 'c', 'c']);
  assert.deepEqual(draw(rotation, [], 2), ['none', 'none']);
});

test('REDIS_READ_FROM=any takes the primary and each ready replica in turn', () => {
  const rotation = new ReadRotation('any');
  assert.deepEqual(draw(rotation, ['a'], 4).sort(), ['a', 'a', 'primary', 'primary']);
  assert.deepEqual(draw(rotation, ['a', 'b'], 6).sort(), ['a', 'a', 'b', 'b', 'primary', 'primary']);
  assert.deepEqual(draw(rotation, [], 2), ['primary', 'primary']);
});

test('REDIS_READ_FROM=primary always takes the primary, and reads are never sent again', () => {
  const rotation = new ReadRotation('primary');
  assert.deepEqual(draw(rotation, ['a', 'b'], 3), ['primary', 'primary', 'primary']);
  assert.equal(rotation.replicas, false);
  assert.equal(readAgain(rotation, new ConnectionLostError('redis://r', new Error('gone'))), false);
});

test('a read is sent again only when its connection was lost', () => {
  const rotation = new ReadRotation('replica-preferred');
  assert.equal(readAgain(rotation, new ConnectionLostError('redis://r', new Error('gone'))), true);
  assert.equal(readAgain(rotation, new CommandTimeoutError('redis://r', 1000, 1)), false);
  assert.equal(readAgain(rotation, new Error('WRONGTYPE')), false);
});

test('noReplica() is a RedisUnavailableError (no-replica) naming REDIS_READ_FROM', () => {
  const error = noReplica('redis://127.0.0.1:6379', 'of 127.0.0.1:6379');
  assert.ok(error instanceof RedisUnavailableError);
  assert.equal(error.code, 'REDIS_POOL_UNAVAILABLE');
  assert.equal(error.reason, 'no-replica');
  assert.match(error.message, /REDIS_READ_FROM=replica/);
});

test('SENTINEL REPLICAS: down, disconnected and syncing replicas, and the primary, are not read from', () => {
  const entry = (port: number, flags: string, link = 'ok') => ({
    ip: '127.0.0.1',
    port: String(port),
    flags,
    'master-link-status': link,
  });
  const reply = [
    entry(1, 'slave'),
    entry(2, 's_down,slave'),
    entry(3, 'o_down,s_down,slave'),
    entry(4, 'slave,disconnected'),
    entry(5, 'slave', 'err'),
    entry(6, 'slave'),
    entry(7, 'slave'),
  ];
  assert.deepEqual(readableReplicas(reply, { host: '127.0.0.1', port: 7 }), {
    readable: [
      { host: '127.0.0.1', port: 1 },
      { host: '127.0.0.1', port: 6 },
    ],
    syncing: 1,
  });
  // RESP2's flat lists and a Map read the same.
  const flat = [['ip', '127.0.0.1', 'port', '8', 'flags', 'slave', 'master-link-status', 'ok']];
  assert.deepEqual(readableReplicas(flat, undefined).readable, [{ host: '127.0.0.1', port: 8 }]);
  const map = [new Map(Object.entries(entry(9, 'slave')))];
  assert.deepEqual(readableReplicas(map, undefined).readable, [{ host: '127.0.0.1', port: 9 }]);
  assert.deepEqual(readableReplicas(null, undefined), { readable: [], syncing: 0 });
});
