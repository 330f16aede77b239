import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupClients, parseClientList } from '../../src/cli/clients.js';

const LIST = [
  'id=3 addr=127.0.0.1:5001 laddr=127.0.0.1:6379 fd=8 name=orders:shared:100 age=9 idle=0 flags=N db=0 cmd=get',
  'id=4 addr=127.0.0.1:5002 laddr=127.0.0.1:6379 fd=9 name=orders:lease:100 age=9 idle=7 flags=N db=0 cmd=ping',
  'id=5 addr=127.0.0.1:5003 laddr=127.0.0.1:6379 fd=10 name=orders:lease:101 age=9 idle=2 flags=N db=0 cmd=watch',
  'id=6 addr=127.0.0.1:5004 laddr=127.0.0.1:6379 fd=11 name=billing:subscriber:7 age=9 idle=30 flags=P db=0 cmd=subscribe',
  'id=7 addr=127.0.0.1:5005 laddr=127.0.0.1:6379 fd=12 name= age=9 idle=4 flags=N db=0 cmd=client|list',
  'id=8 addr=127.0.0.1:5006 laddr=127.0.0.1:6379 fd=13 name=my-app age=9 idle=1 flags=N db=0 cmd=set',
  'id=9 addr=127.0.0.1:5007 laddr=127.0.0.1:6379 fd=14 name=redis-pool-cli:shared:55 age=0 idle=0 flags=N db=0 cmd=client|list',
  '',
].join('\n');

test('CLIENT LIST is grouped by service and kind, with processes and idle times; other names are listed apart', () => {
  const entries = parseClientList(LIST, '127.0.0.1:6379');
  assert.equal(entries.length, 7);
  assert.deepEqual(entries[1], {
    node: '127.0.0.1:6379',
    id: '4',
    addr: '127.0.0.1:5002',
    name: 'orders:lease:100',
    idle: 7,
    cmd: 'ping',
  });
  const report = groupClients(entries, 'redis-pool-cli');
  assert.deepEqual(
    report.groups.map((group) => [group.service, group.kind, group.connections, group.pids, group.idle]),
    [
      ['billing', 'subscriber', 1, [7], { min: 30, max: 30 }],
      ['orders', 'shared', 1, [100], { min: 0, max: 0 }],
      ['orders', 'lease', 2, [100, 101], { min: 2, max: 7 }],
    ],
  );
  assert.deepEqual(
    report.unnamed.map((entry) => entry.name),
    ['', 'my-app'],
  );
});

test('a service name with colons keeps them; groups are per server', () => {
  const entries = [
    ...parseClientList('id=1 addr=a:1 name=team:orders:shared:1 idle=0 cmd=get', 'n1:7000'),
    ...parseClientList('id=2 addr=a:2 name=team:orders:shared:1 idle=3 cmd=get', 'n2:7001'),
  ];
  const report = groupClients(entries);
  assert.deepEqual(
    report.groups.map((group) => [group.node, group.service, group.kind]),
    [
      ['n1:7000', 'team:orders', 'shared'],
      ['n2:7001', 'team:orders', 'shared'],
    ],
  );
});
