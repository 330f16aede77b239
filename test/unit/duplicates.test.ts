import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { Duplicates } from '../../src/pool/duplicates.js';

/** A stand-in for a client: connect() succeeds or fails as told; close() and destroy() end it, as node-redis's do. */
class Client extends EventEmitter {
  constructor(private readonly fails = false) {
    super();
  }
  async connect(): Promise<this> {
    if (this.fails) throw new Error('refused');
    return this;
  }
  closed = false;
  async close(): Promise<void> {
    this.closed = true;
    this.emit('end');
  }
  destroy(): void {
    this.emit('end');
  }
}

function slots(max: number) {
  const taken = { count: 0 };
  return {
    taken,
    reserve: async () => {
      if (taken.count === max) throw new Error('no slot');
      taken.count++;
    },
    give: () => {
      taken.count--;
    },
  };
}

test('a duplicate takes a slot when it connects and gives it back once when it ends, however it ends', async () => {
  const budget = slots(3);
  const duplicates = new Duplicates(budget);
  const ended = duplicates.adopt(new Client());
  const terminated = duplicates.adopt(new Client());
  const cluster = duplicates.adopt(new Client());
  assert.equal(budget.taken.count, 0, 'nothing taken before connect()');
  assert.equal(await ended.connect(), ended);
  await terminated.connect();
  await cluster.connect();
  assert.deepEqual([duplicates.count, budget.taken.count], [3, 3]);
  ended.emit('end');
  ended.emit('end');
  terminated.emit('terminated');
  cluster.emit('disconnect');
  assert.deepEqual([duplicates.count, budget.taken.count], [0, 0]);
});

test('a failed connect() gives its slot back; no slot means connect() rejects before connecting', async () => {
  const budget = slots(1);
  const duplicates = new Duplicates(budget);
  await assert.rejects(duplicates.adopt(new Client(true)).connect(), /refused/);
  assert.deepEqual([duplicates.count, budget.taken.count], [0, 0]);
  await duplicates.adopt(new Client()).connect();
  await assert.rejects(duplicates.adopt(new Client()).connect(), /no slot/);
  assert.deepEqual([duplicates.count, budget.taken.count], [1, 1]);
});

test('closeAll() closes every duplicate still open, gracefully', async () => {
  const budget = slots(5);
  const duplicates = new Duplicates(budget);
  const clients = [new Client(), new Client()].map((client) => duplicates.adopt(client));
  for (const client of clients) await client.connect();
  await duplicates.closeAll();
  assert.deepEqual(
    clients.map((client) => client.closed),
    [true, true],
  );
  assert.deepEqual([duplicates.count, budget.taken.count], [0, 0]);
});

test('destroyAll() ends every duplicate still open', async () => {
  const budget = slots(5);
  const duplicates = new Duplicates(budget);
  const clients = [new Client(), new Client(), new Client()].map((client) => duplicates.adopt(client));
  for (const client of clients) await client.connect();
  const ends: number[] = [];
  for (const [i, client] of clients.entries()) client.on('end', () => ends.push(i));
  duplicates.destroyAll();
  assert.deepEqual(ends, [0, 1, 2]);
  assert.deepEqual([duplicates.count, budget.taken.count], [0, 0]);
});

test('a duplicate of a duplicate is the pool’s too: it takes a slot, and destroyAll() ends it', async () => {
  const budget = slots(3);
  const duplicates = new Duplicates(budget);
  class Copying extends Client {
    duplicate(): Copying {
      return new Copying();
    }
  }
  const first = duplicates.adopt(new Copying());
  await first.connect();
  const second = first.duplicate();
  await second.connect();
  assert.equal(duplicates.count, 2);
  assert.equal(budget.taken.count, 2);
  let ended = 0;
  second.on('end', () => ended++);
  duplicates.destroyAll();
  assert.equal(ended, 1);
  assert.equal(budget.taken.count, 0);
});
