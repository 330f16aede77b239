import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  blockingTimeoutMs,
  NEEDS_A_LOOK,
  REPLY_SHAPES,
  STATE_COMMANDS,
  STATE_METHODS,
  stateCommand,
} from '../../src/client/commands.js';

test('every blocking command of the design is recognised, with its own timeout', () => {
  const cases: [args: string[], ms: number | undefined][] = [
    [['BLPOP', 'a', 'b', '1.5'], 1500],
    [['BRPOP', 'a', '2'], 2000],
    [['BLMOVE', 'a', 'b', 'LEFT', 'RIGHT', '3'], 3000],
    [['BRPOPLPUSH', 'a', 'b', '4'], 4000],
    [['BZPOPMIN', 'z', '5'], 5000],
    [['BZPOPMAX', 'z', '0.25'], 250],
    [['BLMPOP', '6', '2', 'a', 'b', 'LEFT'], 6000],
    [['BZMPOP', '7', '1', 'z', 'MIN'], 7000],
    [['XREAD', 'COUNT', '10', 'BLOCK', '800', 'STREAMS', 's', '$'], 800],
    [['XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', '900', 'STREAMS', 's', '>'], 900],
    [['WAIT', '1', '1000'], 1000],
    [['WAITAOF', '1', '0', '1100'], 1100],
    [['blpop', 'a', '0'], Number.POSITIVE_INFINITY],
    [['WAIT', '1', '0'], Number.POSITIVE_INFINITY],
    [['XREAD', 'STREAMS', 'BLOCK', '$'], undefined],
    [['XREAD', 'COUNT', '1', 'STREAMS', 's', '0'], undefined],
    [['GET', 'BLOCK'], undefined],
  ];
  for (const [args, ms] of cases) assert.equal(blockingTimeoutMs(args), ms, args.join(' '));
  for (const [args, ms] of cases) if (ms !== undefined) assert.ok(NEEDS_A_LOOK.has(String(args[0]).toUpperCase()));
  // Names that do not block are remembered as spelled, up to a bound; the answers stay the same.
  for (let i = 0; i < 2000; i++) assert.equal(blockingTimeoutMs([`CMD${i}`, 'k']), undefined);
  for (const [args, ms] of cases) assert.equal(blockingTimeoutMs(args), ms, `again: ${args.join(' ')}`);
  assert.equal(blockingTimeoutMs([Buffer.from('BRPOP'), 'a', '2']), 2000);
});

test('connection-state commands are recognised; CLIENT is a state command only for REPLY and TRACKING', () => {
  for (const name of Object.keys(STATE_COMMANDS).filter((name) => !name.includes(' '))) {
    assert.equal(stateCommand([name.toLowerCase()]), name);
  }
  assert.equal(stateCommand(['CLIENT', 'reply', 'OFF']), 'CLIENT REPLY');
  assert.equal(stateCommand([Buffer.from('client'), Buffer.from('Tracking'), 'ON']), 'CLIENT TRACKING');
  assert.equal(stateCommand(['CLIENT', 'TRACKINGINFO']), undefined);
  assert.equal(stateCommand(['CLIENT', 'GETNAME']), undefined);
  assert.equal(stateCommand(['GET', 'k']), undefined);
  assert.equal(stateCommand(['constructor']), undefined, 'not fooled by Object.prototype');
});

test("node-redis's typed methods for state commands are named after them, in both spellings", () => {
  assert.equal(STATE_METHODS.pSubscribe, 'PSUBSCRIBE');
  assert.equal(STATE_METHODS.PSUBSCRIBE, 'PSUBSCRIBE');
  assert.equal(STATE_METHODS.select, 'SELECT');
  for (const command of Object.values(STATE_METHODS)) assert.ok(command in STATE_COMMANDS, command);
  assert.equal(STATE_METHODS.multi, undefined, 'multi() builds a transaction; it is not refused');
});

test('reply shapes: what the common commands can answer, in both cases; MULTI and EXEC bound a transaction', () => {
  const kinds = (name: string) => [...(REPLY_SHAPES.get(name)?.kinds ?? [])].sort();
  assert.deepEqual(kinds('GET'), ['bulk', 'null']);
  assert.deepEqual(kinds('get'), ['bulk', 'null']);
  assert.deepEqual(kinds('INCR'), ['integer']);
  assert.deepEqual(kinds('SET'), ['bulk', 'null', 'simple']);
  assert.deepEqual(kinds('MGET'), ['aggregate']);
  assert.equal(REPLY_SHAPES.get('MULTI')?.transaction, 'opens');
  assert.equal(REPLY_SHAPES.get('EXEC')?.transaction, 'ends');
  assert.equal(REPLY_SHAPES.get('EVALSHA'), undefined, 'commands whose reply varies are not checked');
});
