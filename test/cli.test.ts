import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type RedisServer, startRedisServer } from '../src/testing/index.js';

const cli = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
const PASSWORD = 'cli-secret-pw';
let server: RedisServer;

before(async () => {
  server = await startRedisServer({ args: ['--requirepass', PASSWORD, '--timeout', '5'] });
});
after(() => server.stop());

/** Runs the CLI with exactly this environment (and no .env: the working directory has none). */
function run(args: string[], env: Record<string, string>) {
  const child = spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], {
    cwd: fileURLToPath(new URL('./fixtures', import.meta.url)),
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.ok(!`${child.stdout}${child.stderr}`.includes(PASSWORD), 'the password was printed');
  return child;
}

const base = () => ({
  SERVICE_NAME: 'cli-test',
  LOG_LEVEL: 'INFO',
  REDIS_URL: server.url.replace('redis://', `redis://:${PASSWORD}@`),
});

test('check: a healthy server exits 0 and reports it, with risky settings', () => {
  const child = run(['check'], base());
  assert.equal(child.status, 0, child.stderr);
  assert.match(child.stdout, /redisPassword +\*\*\*/);
  assert.match(child.stdout, /Server: Redis \d+\.\d+\.\d+, mode standalone, role master/);
  assert.match(
    child.stdout,
    /warning: The server closes connections idle for 5 s .* REDIS_HEALTH_CHECK_INTERVAL \(30 s\)/,
  );
  assert.match(child.stdout, /Status: healthy$/m);
});

test('check --json prints a machine-readable report', () => {
  const child = run(['check', '--json'], { ...base(), REDIS_HEALTH_CHECK_INTERVAL: '2' });
  assert.equal(child.status, 0, child.stderr);
  const report = JSON.parse(child.stdout);
  assert.equal(report.status, 'healthy');
  assert.equal(report.settings.redisPassword, '***');
  assert.equal(report.server.role, 'master');
  assert.deepEqual(report.warnings, []);
  assert.equal(typeof report.pingMs, 'number');
});

test('check: an unreachable server exits 1 with the typed error', () => {
  const child = run(['check'], { ...base(), REDIS_URL: 'redis://127.0.0.1:1/0' });
  assert.equal(child.status, 1);
  assert.match(child.stdout, /ConnectionRefusedError: .*redis:\/\/127\.0\.0\.1:1\/0/);
  assert.match(child.stdout, /Status: unhealthy/);
});

test('check: invalid settings exit 2 and list every issue', () => {
  const child = run(['check'], { ...base(), REDIS_PORT: 'abc', LOG_LEVEL: 'loud' });
  assert.equal(child.status, 2);
  assert.match(child.stdout, /→ at REDIS_PORT/);
  assert.match(child.stdout, /→ at LOG_LEVEL/);
});

test('unknown commands and flags exit 2 with the usage', () => {
  for (const args of [['frobnicate'], ['check', '--bogus'], []]) {
    const child = run(args, base());
    assert.equal(child.status, 2, args.join(' '));
    assert.match(`${child.stdout}${child.stderr}`, /Usage: redis-pool <command>/);
  }
  const version = run(['--version'], base());
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});
