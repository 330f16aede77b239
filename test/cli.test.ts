import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { CommonAppSettings, createLogger, RedisPool } from '../src/index.js';
import { type RedisServer, startRedisServer } from '../src/testing/index.js';

const cli = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
const PASSWORD = 'cli-secret-pw';
let server: RedisServer;

before(async () => {
  server = await startRedisServer({ args: ['--requirepass', PASSWORD, '--timeout', '5'] });
});
after(() => server.stop());

/** Runs the CLI with exactly this environment, in `cwd` (by default one without a .env). */
function run(args: string[], env: Record<string, string>, cwd = fileURLToPath(new URL('./fixtures', import.meta.url))) {
  const child = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), cli, ...args], {
    cwd,
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
  assert.match(child.stdout, /REDIS_PASSWORD +\*\*\* +REDIS_URL/);
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
  assert.deepEqual(report.settings.REDIS_PASSWORD, { value: '***', source: 'REDIS_URL' });
  assert.deepEqual(report.settings.REDIS_HEALTH_CHECK_INTERVAL, { value: '2', source: 'environment' });
  assert.equal(report.server.role, 'master');
  assert.deepEqual(report.warnings, []);
  assert.equal(typeof report.pingMs, 'number');
});

test('check says where each value came from: the environment with the spelling found, .env with its line, the default', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redis-pool-cli-'));
  try {
    writeFileSync(
      join(dir, '.env'),
      `# the cache\nREDIS_MAX_CONNECTIONS=7\nredis_url=${server.url.replace('redis://', `redis://:${PASSWORD}@`)}\n`,
    );
    const { REDIS_URL: _, ...env } = base();
    const child = run(['check', '--json'], { ...env, redis_socket_timeout: '3' }, dir);
    assert.equal(child.status, 0, child.stderr);
    const { settings } = JSON.parse(child.stdout);
    assert.deepEqual(settings.REDIS_MAX_CONNECTIONS, { value: '7', source: '.env', line: 2 });
    assert.deepEqual(settings.REDIS_URL, {
      value: `${server.url}/0`,
      source: '.env',
      spelling: 'redis_url',
      line: 3,
    });
    assert.deepEqual(settings.REDIS_SOCKET_TIMEOUT, {
      value: '3',
      source: 'environment',
      spelling: 'redis_socket_timeout',
    });
    assert.deepEqual(settings.REDIS_POOL_TIMEOUT, { value: '5', source: 'default' });
    assert.deepEqual(settings.REDIS_HOST, { value: '127.0.0.1', source: 'REDIS_URL' });
    assert.deepEqual(settings.REDIS_USERNAME, { value: null, source: 'default' });
    const text = run(['check'], { ...env, redis_socket_timeout: '3' }, dir);
    assert.match(text.stdout, /REDIS_MAX_CONNECTIONS +7 +\.env line 2/);
    assert.match(text.stdout, /REDIS_SOCKET_TIMEOUT +3 +environment \(as redis_socket_timeout\)/);
    assert.match(text.stdout, /REDIS_URL +redis:\/\/127\.0\.0\.1:\d+\/0 +\.env line 3 \(as redis_url\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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

test('check warns of a server that evicts keys and of maxclients too close to what the pool may open', async () => {
  const tight = await startRedisServer({
    args: ['--maxclients', '12', '--maxmemory', '10mb', '--maxmemory-policy', 'allkeys-lru'],
  });
  try {
    const child = run(['check'], { SERVICE_NAME: 'cli-test', LOG_LEVEL: 'INFO', REDIS_URL: tight.url });
    assert.equal(child.status, 0, child.stderr);
    assert.match(child.stdout, /warning: The server takes at most 12 clients .* up to 10 \(REDIS_MAX_CONNECTIONS\)/);
    assert.match(child.stdout, /warning: The server evicts keys .* `maxmemory-policy` allkeys-lru/);
  } finally {
    await tight.stop();
  }
});

test('clients: CLIENT LIST grouped by service and kind, and the connections that follow no convention', async () => {
  const open = await startRedisServer();
  const orders = new RedisPool({ logger: createLogger('silent') });
  const billing = new RedisPool({ logger: createLogger('silent') });
  const stranger = createClient({ url: open.url, name: 'hand-made' });
  try {
    const settings = (serviceName: string, more = {}) =>
      new CommonAppSettings(
        { serviceName, logLevel: 'silent', redisUrl: open.url, ...more },
        { env: {}, envFile: false },
      );
    await orders.getClient(settings('orders', { redisMinIdleConnections: 2 }));
    await (await orders.subscriber()).subscribe('news', () => {});
    const duplicate = (await billing.getClient(settings('billing'))).duplicate();
    await duplicate.connect();
    await stranger.connect();
    for (let i = 0; i < 50 && orders.stats().idle < 2; i++) await new Promise((resolve) => setTimeout(resolve, 20));

    const env = { SERVICE_NAME: 'cli-test', LOG_LEVEL: 'INFO', REDIS_URL: open.url };
    const child = run(['clients'], env);
    assert.equal(child.status, 0, child.stderr);
    console.log(child.stdout);
    const rows = child.stdout.split('\n').map((line) => line.trim().split(/\s{2,}/));
    const row = (service: string, kind: string) => rows.find((cells) => cells[0] === service && cells[1] === kind);
    assert.deepEqual(row('orders', 'shared')?.slice(2, 4), ['1', String(process.pid)]);
    assert.deepEqual(row('orders', 'lease')?.slice(2, 4), ['2', String(process.pid)]);
    assert.deepEqual(row('orders', 'subscriber')?.slice(2, 3), ['1']);
    assert.deepEqual(row('billing', 'duplicate')?.slice(2, 3), ['1']);
    assert.match(child.stdout, /Following no naming convention[\s\S]*hand-made/);
    assert.ok(!child.stdout.includes('redis-pool-cli'), 'its own connection is left out');

    const report = JSON.parse(run(['clients', '--json'], env).stdout);
    assert.deepEqual(
      report.groups.map((group: { service: string; kind: string; connections: number }) => [
        group.service,
        group.kind,
        group.connections,
      ]),
      [
        ['billing', 'shared', 1],
        ['billing', 'duplicate', 1],
        ['orders', 'shared', 1],
        ['orders', 'lease', 2],
        ['orders', 'subscriber', 1],
      ],
    );
  } finally {
    stranger.destroy();
    await Promise.all([orders.close(), billing.close()]);
    await open.stop();
  }
});

test('demo: the seed example end to end, as npm run demo runs it', async () => {
  const open = await startRedisServer();
  try {
    const child = run(['demo'], { REDIS_URL: open.url });
    assert.equal(child.status, 0, child.stderr);
    assert.match(
      child.stdout,
      /Cliente Redis obtenido exitosamente\.\nValor obtenido de Redis: mi_valor_async\nPool de Redis cerrado\./,
    );
  } finally {
    await open.stop();
  }
});
