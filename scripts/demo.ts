/**
 * `npm run demo`: runs examples/basic.ts end to end. With REDIS_URL set it uses that server;
 * otherwise it starts a throwaway redis-server on a free loopback port and stops it afterwards.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { redactUrl } from '../src/index.js';
import { type RedisServer, startRedisServer } from '../src/testing/index.js';

const example = fileURLToPath(new URL('../examples/basic.ts', import.meta.url));
let server: RedisServer | undefined;
if (process.env.REDIS_URL) {
  console.log(`demo: using REDIS_URL=${redactUrl(process.env.REDIS_URL)}`);
} else {
  server = await startRedisServer();
  console.log(`demo: REDIS_URL is unset, so a throwaway redis-server runs at ${server.url}`);
}
try {
  const child = spawn(process.execPath, ['--import', 'tsx', example], {
    stdio: 'inherit',
    env: { ...process.env, REDIS_URL: process.env.REDIS_URL ?? server?.url },
  });
  const [code] = await once(child, 'exit');
  process.exitCode = code ?? 1;
} finally {
  await server?.stop();
  if (server) console.log('demo: throwaway redis-server stopped');
}
