/**
 * Runs the self-check, the internals tests (test/node-redis.test.ts) and the protocol tests
 * (test/protocol.test.ts) against node-redis versions installed from the registry, one after
 * another in a copy of this project, and prints a table.
 *
 *   npm run node-redis:versions              every published version in package.json's redis range;
 *                                            exits 1 when any of them fails (CI runs it)
 *   npm run node-redis:versions -- --upcoming  the newest 6.x, the newest of the next major and the
 *                                            `next` tag, to learn early what is coming; reports
 *                                            only, exits 0
 *   npm run node-redis:versions -- 6.2.1 …   the versions named
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import semver from 'semver';

const root = join(import.meta.dirname, '..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { upcoming: { type: 'boolean', default: false } },
});
const range = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: { redis: string } })
  .dependencies.redis;

const npm = (args: string[], cwd: string) =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline'], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });

function versionsToTry(): string[] {
  if (positionals.length > 0) return positionals;
  const published = JSON.parse(execFileSync('npm', ['view', 'redis', 'versions', '--json'], { encoding: 'utf8' }));
  const stable = (published as string[]).filter((version) => semver.prerelease(version) === null);
  if (!values.upcoming) return stable.filter((version) => semver.satisfies(version, range));
  const current = semver.major(semver.minVersion(range) ?? '6.0.0');
  const newest = [current, current + 1].map((major) => semver.maxSatisfying(stable, `${major}.x`));
  const tags = JSON.parse(execFileSync('npm', ['view', 'redis', 'dist-tags', '--json'], { encoding: 'utf8' }));
  const next = (tags as Record<string, string>).next;
  const upcoming = [...newest, next !== undefined && semver.gt(next, newest[0] ?? '0.0.0') ? next : null];
  return [...new Set(upcoming.filter((version): version is string => version !== null))];
}

/** One group of the run: how it went, for the table. */
interface Outcome {
  passed: number;
  failed: number;
  /** The first lines of what failed. */
  detail: string;
}

/** Runs `node args…` in `cwd`; counts node:test's pass and fail lines, or the self-check's own. */
function run(cwd: string, args: string[]): Outcome {
  const result = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 10 * 60_000 });
  const output = `${result.stdout}${result.stderr}`;
  const count = (what: string) => Number(new RegExp(`^ℹ ${what} (\\d+)$`, 'm').exec(output)?.[1] ?? 0);
  const failures = output
    .split('\n')
    .filter((line) => /^\s*✖ /.test(line) || line.startsWith('✖ '))
    .slice(0, 3);
  const passed = count('pass');
  const failed = result.status === 0 ? count('fail') : Math.max(1, count('fail'));
  return { passed, failed, detail: failures.join('\n') || (result.status === 0 ? '' : output.trim().slice(-300)) };
}

const SELF_CHECK = `
  const { probeNodeRedis } = await import('./src/node-redis/self-check.ts');
  const failures = [...(await probeNodeRedis('client')), ...(await probeNodeRedis('cluster'))];
  for (const failure of failures) console.log('✖ ' + failure);
  console.log('ℹ pass 0');
  console.log('ℹ fail ' + failures.length);
  process.exit(0);`;

const versions = versionsToTry();
if (versions.length === 0) {
  console.error(`node-redis:versions: no published redis version satisfies ${range}`);
  process.exit(1);
}
const copy = mkdtempSync(join(tmpdir(), 'redis-pool-versions-'));
const rows: string[][] = [];
let failing = 0;
try {
  for (const part of ['src', 'test', 'package.json', 'package-lock.json', 'tsconfig.json']) {
    cpSync(join(root, part), join(copy, part), { recursive: true });
  }
  console.error(`node-redis:versions: a copy of the project in ${copy}; installing its packages`);
  npm(['ci'], copy);
  versions.forEach((version, i) => {
    const step = (what: string) => console.error(`[${i + 1}/${versions.length}] redis@${version}: ${what}`);
    step('installing');
    npm(['install', '--no-save', `redis@${version}`], copy);
    const installed = JSON.parse(readFileSync(join(copy, 'node_modules/@redis/client/package.json'), 'utf8')).version;
    step('the self-check');
    const check = run(copy, ['--import', 'tsx', '--input-type=module', '-e', SELF_CHECK]);
    step('the internals tests');
    const internals = run(copy, ['--import', 'tsx', '--test', '--test-reporter=spec', 'test/node-redis.test.ts']);
    step('the protocol tests');
    const protocol = run(copy, ['--import', 'tsx', '--test', '--test-reporter=spec', 'test/protocol.test.ts']);
    const outcomes = [check, internals, protocol];
    const ok = outcomes.every((outcome) => outcome.failed === 0);
    if (!ok) failing++;
    const cell = (outcome: Outcome) =>
      outcome.failed > 0 ? `✖ ${outcome.failed} failed` : outcome === check ? '✔' : `✔ ${outcome.passed} passed`;
    const supported = semver.satisfies(version, range) ? 'yes' : 'no';
    const detail = outcomes.map((outcome) => outcome.detail).filter(Boolean)[0] ?? '';
    rows.push([version, installed, supported, ...outcomes.map(cell), ok ? '' : detail.slice(0, 400)]);
    step(ok ? 'passed' : 'FAILED');
  });
} finally {
  rmSync(copy, { recursive: true, force: true });
}

const table = new Table({
  head: ['redis', '@redis/client', `in ${range}`, 'self-check', 'internals tests', 'protocol tests', 'first failure'],
  colWidths: [null, null, null, null, null, null, 60] as number[],
  wordWrap: true,
  style: { head: [], border: [] },
});
table.push(...rows);
console.log(table.toString());
const verdict = values.upcoming ? ' (a report only: --upcoming never fails)' : '';
console.log(`${versions.length - failing} of ${versions.length} node-redis versions passed${verdict}`);
process.exit(values.upcoming ? 0 : failing > 0 ? 1 : 0);
