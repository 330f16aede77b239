// The package as its users get it: `npm pack`, installed from the tarball into fresh projects with
// no optional peer (@opentelemetry/api, prom-client), each of which type-checks (skipLibCheck off)
// and runs a program that uses both entry points against a real server.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixtures = join(root, 'test', 'fixtures', 'consumer');
/** TypeScript 5, for node10 resolution, which TypeScript 7 (the project's) no longer has. */
const TYPESCRIPT_5 = '5.9.3';
let work: string;

const run = (command: string, args: string[], cwd: string) =>
  execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

before(() => {
  work = mkdtempSync(join(tmpdir(), 'redis-pool-consumers-'));
  const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], root));
  writeFileSync(
    join(work, 'package.json'),
    JSON.stringify({
      private: true,
      dependencies: { '@refactorizado/redis-pool': `file:./${packed.filename}` },
      devDependencies: { typescript: TYPESCRIPT_5, '@types/node': '^20.19.0' },
    }),
  );
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], work);
});

after(() => rmSync(work, { recursive: true, force: true }));

/** A fresh project under the shared install, with `files` and a package.json of `type`. */
function project(name: string, type: 'module' | 'commonjs', files: Record<string, string>): string {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ private: true, type }));
  for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
  return dir;
}

/** Runs `entry` in `dir` and checks what the program printed: it reached the server through the pool. */
function runs(dir: string, entry: string): void {
  const printed = JSON.parse(run(process.execPath, [entry], dir));
  assert.deepEqual(printed, { value: 'works', buffer: true, leased: 'PONG' });
}

/** A TypeScript project of `main.ts` with `options`, type-checked by `tsc` and built to `out/`. */
function typescript(name: string, type: 'module' | 'commonjs', options: object, tsc: string): string {
  const dir = project(name, type, {
    'tsconfig.json': JSON.stringify({
      compilerOptions: { strict: true, skipLibCheck: false, types: ['node'], outDir: 'out', ...options },
      include: ['main.ts'],
    }),
  });
  cpSync(join(fixtures, 'main.ts'), join(dir, 'main.ts'));
  try {
    run(tsc, ['-p', '.'], dir);
  } catch (error) {
    assert.fail(`tsc in ${name}: ${(error as { stdout?: string }).stdout}`);
  }
  return dir;
}

const tsc5 = () => join(work, 'node_modules', '.bin', 'tsc');
const tsc7 = join(root, 'node_modules', '.bin', 'tsc');

describe('the packed package in fresh projects', () => {
  test('no optional peer is installed, so the types stand without them', () => {
    for (const peer of ['@opentelemetry/api', 'prom-client']) {
      assert.equal(existsSync(join(work, 'node_modules', peer)), false, `${peer} was installed`);
    }
  });

  test('an ECMAScript module imports both entry points', () => {
    runs(project('esm', 'module', {}), cpFixture('main.mjs', 'esm'));
  });

  test('a CommonJS module require()s both entry points', () => {
    runs(project('cjs', 'commonjs', {}), cpFixture('main.cjs', 'cjs'));
  });

  for (const [version, tsc] of [
    ['5', tsc5],
    ['7', () => tsc7],
  ] as const) {
    test(`TypeScript ${version}, module and moduleResolution nodenext`, () => {
      runs(
        typescript(`nodenext-${version}`, 'module', { module: 'nodenext', moduleResolution: 'nodenext' }, tsc()),
        'out/main.js',
      );
    });

    test(`TypeScript ${version}, moduleResolution bundler`, () => {
      const options = { module: 'esnext', moduleResolution: 'bundler', target: 'es2022' };
      runs(typescript(`bundler-${version}`, 'module', options, tsc()), 'out/main.js');
    });
  }

  test('TypeScript 5, moduleResolution node10 with esModuleInterop (CommonJS output)', () => {
    const options = { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true, target: 'es2022' };
    runs(typescript('node10', 'commonjs', options, tsc5()), 'out/main.js');
  });
});

/** Copies a fixture into the project `name`, returning its file name. */
function cpFixture(file: string, name: string): string {
  cpSync(join(fixtures, file), join(work, name, file));
  return file;
}
