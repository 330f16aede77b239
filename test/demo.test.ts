import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startRedisServer } from '../src/testing/index.js';
import { admin } from './helpers.js';

const demo = fileURLToPath(new URL('../scripts/demo.ts', import.meta.url));
const SEED_OUTPUT =
  /Cliente Redis obtenido exitosamente\.\nValor obtenido de Redis: mi_valor_async\nPool de Redis cerrado\./;

function runDemo(env: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', demo], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

test('npm run demo runs the seed example against a throwaway server when REDIS_URL is unset', () => {
  const child = runDemo({});
  assert.equal(child.status, 0, child.stderr);
  assert.match(child.stdout, /a throwaway redis-server runs at redis:\/\/127\.0\.0\.1:\d+/);
  assert.match(child.stdout, SEED_OUTPUT);
  assert.match(child.stdout, /throwaway redis-server stopped/);
});

test('npm run demo uses REDIS_URL when it is set', async () => {
  const server = await startRedisServer();
  try {
    const child = runDemo({ REDIS_URL: server.url });
    assert.equal(child.status, 0, child.stderr);
    assert.match(child.stdout, SEED_OUTPUT);
    const observer = await admin(server.url);
    assert.equal(await observer.get('mi_clave_async'), 'mi_valor_async');
    observer.destroy();
  } finally {
    await server.stop();
  }
});

test('the demo fails loudly when the server is unreachable', () => {
  const child = runDemo({ REDIS_URL: 'redis://127.0.0.1:1' });
  assert.equal(child.status, 1);
  assert.match(child.stdout, /Error durante la operación con Redis: ConnectionRefusedError/);
});
