import assert from 'node:assert/strict';
import { test } from 'node:test';
import { globMatches, parseClusterNodes, SlotWatch } from '../../src/topology/cluster-scan.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

/** `CLUSTER NODES` as node `myself` answers it, with each node's slot tokens. */
function clusterNodes(myself: string, slots: Record<string, string>): string {
  return `${Object.entries(slots)
    .map(([id, tokens], i) => {
      const flags = id === myself ? 'myself,master' : 'master';
      return `${id} 127.0.0.1:${7000 + i}@${17000 + i} ${flags} - 0 1700000000000 ${i + 1} connected ${tokens}`.trim();
    })
    .join('\n')}\n`;
}

const STABLE = { [A]: '0-5460', [B]: '5461-10922', [C]: '10923-16383' };

/** A snapshot: every primary's `CLUSTER NODES`, with `extra` tokens on the lines of some. */
function snapshot(slots: Record<string, string>): ReturnType<typeof parseClusterNodes>[] {
  return Object.keys(slots).map((myself) => parseClusterNodes(clusterNodes(myself, slots)));
}

test('parseClusterNodes() reads ids, addresses, slot ranges and the migrating and importing markers', () => {
  const text =
    `${A} 127.0.0.1:7000@17000,host-a myself,master - 0 0 1 connected 0-5460 5500 [5461->-${B}] [93-<-${C}]\n` +
    `${B} 127.0.0.1:7001@17001 master - 0 1700000000000 2 connected 5461-10922\n` +
    `${'d'.repeat(40)} 127.0.0.1:7003@17003 slave ${A} 0 1700000000000 1 connected\n`;
  const [a, b, replica] = parseClusterNodes(text);
  assert.deepEqual(a, {
    id: A,
    address: '127.0.0.1:7000',
    flags: ['myself', 'master'],
    slots: [
      [0, 5460],
      [5500, 5500],
    ],
    moves: [
      { slot: 5461, from: A, to: B },
      { slot: 93, from: C, to: A },
    ],
  });
  assert.deepEqual(b?.slots, [[5461, 10922]]);
  assert.deepEqual(replica?.slots, []);
  assert.deepEqual(replica?.flags, ['slave']);
});

test('SlotWatch: a stable topology leaves every slot settled, and walks each primary once', () => {
  const watch = new SlotWatch();
  for (let i = 0; i < 4; i++) watch.record(snapshot(STABLE));
  assert.deepEqual(watch.primaries(), [A, B, C]);
  assert.equal(watch.unsettled().size, 0);
  assert.equal(watch.addressOf(B), '127.0.0.1:7001');
});

test('SlotWatch: a slot that changed owner between snapshots is read from the old owner, then the new', () => {
  const watch = new SlotWatch();
  watch.record(snapshot(STABLE));
  watch.record(snapshot({ [A]: '0-5460 16000', [B]: '5461-10922', [C]: '10923-15999 16001-16383' }));
  assert.deepEqual([...watch.unsettled()], [[16000, [C, A]]]);
});

test('SlotWatch: a slot migrating in any snapshot is read from its source, then its destination', () => {
  const watch = new SlotWatch();
  watch.record(snapshot(STABLE));
  // B imports slot 0 from A; A has not marked it yet, and B lists it first.
  watch.record(snapshot({ [B]: `5461-10922 [0-<-${A}]`, [A]: '0-5460', [C]: '10923-16383' }));
  watch.record(snapshot(STABLE));
  assert.deepEqual([...watch.unsettled()], [[0, [A, B]]]);
});

test('SlotWatch: the first snapshot taken mid-migration orders by the markers, not the lines', () => {
  const watch = new SlotWatch();
  // B already took the slot (SETSLOT NODE), A still marks it migrating: A is the source.
  watch.record(snapshot({ [B]: '0 5461-10922', [A]: `0-5460 [0->-${B}]`, [C]: '10923-16383' }));
  assert.deepEqual([...watch.unsettled()], [[0, [A, B]]]);
  assert.deepEqual(watch.primaries().sort(), [A, B, C]);
});

test('globMatches() reads MATCH as Redis does', () => {
  const cases: [pattern: string, key: string, matches: boolean][] = [
    ['*', '', true],
    ['*', 'anything', true],
    ['user:*', 'user:1', true],
    ['user:*', 'users:1', false],
    ['*:1', 'user:1', true],
    ['a*b*c', 'aXbYbZc', true],
    ['a*b*c', 'aXbYbZ', false],
    ['h?llo', 'hello', true],
    ['h?llo', 'hllo', false],
    ['h[ae]llo', 'hallo', true],
    ['h[ae]llo', 'hillo', false],
    ['h[^e]llo', 'hallo', true],
    ['h[^e]llo', 'hello', false],
    ['h[a-c]llo', 'hbllo', true],
    ['h[c-a]llo', 'hbllo', true],
    ['h[a-c]llo', 'hdllo', false],
    ['h\\*llo', 'h*llo', true],
    ['h\\*llo', 'hello', false],
    ['[\\]]', ']', true],
    ['[abc', 'b', true],
    ['ab\\', 'ab\\', true],
    ['**x', 'x', true],
    ['', '', true],
    ['', 'a', false],
  ];
  for (const [pattern, key, matches] of cases) {
    assert.equal(globMatches(Buffer.from(pattern), Buffer.from(key)), matches, `${pattern} against ${key}`);
  }
  // Byte by byte, as Redis: `?` is one byte, so a two-byte character takes two.
  assert.equal(globMatches(Buffer.from('??'), Buffer.from('é')), true);
});
