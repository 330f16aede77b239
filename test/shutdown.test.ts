import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectionsNamed, serverForFile } from './helpers.js';

const file = serverForFile();
const script = new URL('./fixtures/close-on-signals.ts', import.meta.url).pathname;

/** Starts the fixture, waits for it to be ready, sends SIGTERM, and returns how it ended. */
async function terminate(how: 'exit' | 'natural') {
  const child = spawn(process.execPath, ['--import', 'tsx', script, file.server.url, how], { stdio: 'pipe' });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const exited = once(child, 'exit');
  for (let i = 0; i < 500 && !output.includes('ready'); i++) await sleep(20);
  assert.match(output, /ready 3/, 'shared, subscriber and duplicate connected');
  assert.equal((await connectionsNamed(file.observer, 'signal-child:')).length, 3);
  child.kill('SIGTERM');
  const [code, signal] = await exited;
  return { code, signal, output };
}

test('closeOnSignals(): SIGTERM closes the pool, the service’s own handler still runs, and the process ends by itself', async () => {
  const { code, signal, output } = await terminate('natural');
  assert.deepEqual([code, signal], [0, null], output);
  assert.match(output, /the service’s own SIGTERM handler ran/);
  assert.deepEqual(await connectionsNamed(file.observer, 'signal-child:'), [], 'no connection left at the server');
});

test('closeOnSignals({ exit: true }): the process exits with 128 + 15 once the pool is closed', async () => {
  const { code, output } = await terminate('exit');
  assert.equal(code, 143, output);
  assert.match(output, /the service’s own SIGTERM handler ran/);
  assert.deepEqual(await connectionsNamed(file.observer, 'signal-child:'), []);
});
