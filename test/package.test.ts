import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
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
    'dist/cli/cli.js',
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

/** The files `npm pack` would ship. */
const shipped = (): string[] =>
  JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts']))[0].files.map(
    (file: { path: string }) => file.path,
  );

test('npm pack ships the build, the docs, the examples and nothing else', () => {
  const files = shipped();
  assert.ok(files.includes('dist/index.js'));
  // The README links to the guides in docs/ and to the examples, so they ship with it.
  for (const file of [
    'README.md',
    'docs/settings.md',
    'examples/basic.ts',
    'CHANGELOG.md',
    'LICENSE',
    'package.json',
  ]) {
    assert.ok(files.includes(file), file);
  }
  const stray = files.filter(
    (file) =>
      !/^(dist\/|docs\/[\w-]+\.md$|examples\/[\w-]+\.ts$|README\.md$|CHANGELOG\.md$|LICENSE$|package\.json$)/.test(
        file,
      ),
  );
  assert.deepEqual(stray, []);
});

test('no shipped page links to a file the package does not ship', () => {
  const files = new Set(shipped());
  const broken: string[] = [];
  for (const page of [...files].filter((file) => file.endsWith('.md'))) {
    const text = readFileSync(join(root, page), 'utf8');
    for (const [, link] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?:|mailto:|#)/.test(link as string)) continue;
      const target = posix.normalize(posix.join(posix.dirname(page), (link as string).split('#')[0] as string));
      if (!files.has(target)) broken.push(`${page} → ${link}`);
    }
  }
  assert.deepEqual(broken, []);
});

test('the README gives the minimum environment before its first snippet', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const before = readme.slice(0, readme.indexOf('```ts'));
  for (const required of ['SERVICE_NAME', 'LOG_LEVEL']) assert.ok(before.includes(required), required);
});
