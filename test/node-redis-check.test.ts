// A node-redis whose internals were renamed, as a refactor of node-redis would rename them: the
// name is replaced throughout a copy of node-redis's own files, and the built package, installed
// beside that copy, is opened in a process of its own. Before the self-check, each of these opened
// with a guarantee silently off, or failed with a TypeError that said nothing about versions.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const modules = join(root, 'node_modules');
let work: string;

before(() => {
  work = mkdtempSync(join(tmpdir(), 'redis-pool-renamed-'));
  execFileSync(join(modules, '.bin', 'tsc'), ['-p', 'tsconfig.build.json', '--outDir', join(work, 'dist')], {
    cwd: root,
  });
});

after(() => rmSync(work, { recursive: true, force: true }));

/**
 * The built package in a directory of its own, with node-redis (`redis` and `@redis/client`, where
 * the client lives) copied beside it and `rename` applied to every one of their files; the other
 * packages are links to this project's.
 */
function install(name: string, rename: (source: string) => string): string {
  const project = join(work, name);
  cpSync(join(work, 'dist'), join(project, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(project, 'package.json'));
  for (const copied of ['redis', '@redis/client']) {
    cpSync(join(modules, copied), join(project, 'node_modules', copied), { recursive: true });
    for (const file of readdirSync(join(project, 'node_modules', copied, 'dist'), { recursive: true })) {
      const path = join(project, 'node_modules', copied, 'dist', String(file));
      if (path.endsWith('.js')) writeFileSync(path, rename(readFileSync(path, 'utf8')));
    }
  }
  for (const linked of ['@redis/bloom', '@redis/json', '@redis/search', '@redis/time-series', 'cluster-key-slot']) {
    mkdirSync(join(project, 'node_modules', linked, '..'), { recursive: true });
    symlinkSync(join(modules, linked), join(project, 'node_modules', linked));
  }
  return project;
}

/** What `getRedisClient()` of the package in `project` rejects with, against a port nobody listens on. */
function open(project: string): { name: string; code: string; message: string; failures?: string[] } {
  const program = `
    import { getRedisClient } from './dist/index.js';
    try {
      await getRedisClient({ serviceName: 'renamed', logLevel: 'silent', redisUrl: 'redis://127.0.0.1:1' });
      console.log(JSON.stringify({ name: 'opened' }));
    } catch (error) {
      console.log(JSON.stringify({ name: error.name, code: error.code, message: error.message, failures: error.failures }));
    }
    process.exit(0);`;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', program], {
    cwd: project,
    encoding: 'utf8',
    env: { ...process.env, REDIS_URL: '', SERVICE_NAME: '', LOG_LEVEL: '' },
  });
  return JSON.parse(output);
}

const renamed = (name: string) => (source: string) =>
  source.replace(new RegExp(`\\b${name}\\b`, 'g'), `${name}Renamed`);

describe('a node-redis whose internals were renamed', () => {
  test('unchanged, the copy passes the check, and the pool goes on to connect', () => {
    const outcome = open(install('unchanged', (source) => source));
    assert.equal(outcome.name, 'ConnectionRefusedError', outcome.message);
  });

  test('_getQueue renamed: UnsupportedNodeRedisError naming it, not a TypeError', () => {
    const outcome = open(install('get-queue', renamed('_getQueue')));
    assert.equal(outcome.code, 'REDIS_POOL_NODE_REDIS_UNSUPPORTED', outcome.message);
    assert.ok(
      outcome.failures?.some((failure) => failure.includes('_getQueue is not a function')),
      outcome.message,
    );
    assert.match(outcome.message, /node-redis 6\.\d+\.\d+ does not behave as @refactorizado\/redis-pool relies on/);
    assert.match(outcome.message, /it supports redis \d/);
  });

  test('_executeCommand renamed: the fast path’s hook is not taken, so the pool does not open (blocking commands would stay on the shared connection)', () => {
    const outcome = open(install('execute-command', renamed('_executeCommand')));
    assert.equal(outcome.code, 'REDIS_POOL_NODE_REDIS_UNSUPPORTED', outcome.message);
    // Both probes of the fast path fail: its first command, and its read hook (sentinel mode's replica reads).
    assert.deepEqual(outcome.failures, [
      'installFastPath (its read hook), replicaSafe: a GET was not answered by the read hook',
      'installFastPath: the first typed command did not pass _self._executeCommand(command, parser, options, transform)',
    ]);
  });

  test('the decoder’s onReply renamed: replies bypass the tap, so the pool does not open (the watchdog would call a busy connection hung)', () => {
    const outcome = open(install('on-reply', renamed('onReply')));
    assert.equal(outcome.code, 'REDIS_POOL_NODE_REDIS_UNSUPPORTED', outcome.message);
    assert.ok(
      outcome.failures?.includes(
        'tapDecoder, decoderTap, expectReplies: the decoder’s onReply did not see the replies',
      ),
      outcome.message,
    );
  });
});
