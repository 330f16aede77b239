import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = (command: string, args: string[]) => execFileSync(command, args, { cwd: root, encoding: 'utf8' });

test('the built package exposes its entry points through package.json exports', () => {
  run('npm', ['run', 'build', '--silent']);
  for (const file of [
    'dist/index.js',
    'dist/index.d.ts',
    'dist/testing/index.js',
    'dist/testing/index.d.ts',
    'dist/cli.js',
    'dist/bin.js',
  ]) {
    assert.ok(existsSync(`${root}/${file}`), `${file} was not built`);
  }
  // Plain Node, no TypeScript loader: the package resolves itself by name, as a user's code would.
  const exported = run(process.execPath, [
    '--input-type=module',
    '-e',
    `const main = await import('@refactorizado/redis-pool');
     const testing = await import('@refactorizado/redis-pool/testing');
     console.log(JSON.stringify({ main: Object.keys(main).sort(), testing: Object.keys(testing) }));`,
  ]);
  const { main, testing } = JSON.parse(exported);
  for (const name of [
    'RedisPool',
    'redisPool',
    'getRedisClient',
    'closeRedisPool',
    'loadSettings',
    'CommonAppSettings',
  ]) {
    assert.ok(main.includes(name), `${name} is not exported`);
  }
  for (const name of [
    'SettingsError',
    'SettingsConflictError',
    'PoolClosedError',
    'ConnectError',
    'CommandTimeoutError',
  ]) {
    assert.ok(main.includes(name), `${name} is not exported`);
  }
  assert.deepEqual(testing, [
    'RedisServerNotFoundError',
    'RedisServerStartError',
    'startCluster',
    'startFakeRedis',
    'startFaultProxy',
    'startRedisServer',
    'startSentinelGroup',
  ]);
  assert.match(run(process.execPath, ['dist/bin.js', '--version']), /^\d+\.\d+\.\d+\n$/);
});

test('npm pack ships the build, the docs and nothing else', () => {
  const [pack] = JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts']));
  const files: string[] = pack.files.map((file: { path: string }) => file.path);
  assert.ok(files.includes('dist/index.js'));
  // The README links to the guides in docs/, so they ship with it.
  for (const file of ['README.md', 'docs/settings.md', 'CHANGELOG.md', 'LICENSE', 'package.json']) {
    assert.ok(files.includes(file), file);
  }
  const stray = files.filter(
    (file) => !/^(dist\/|docs\/[\w-]+\.md$|README\.md$|CHANGELOG\.md$|LICENSE$|package\.json$)/.test(file),
  );
  assert.deepEqual(stray, []);
});
