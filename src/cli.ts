import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from './logger.js';
import { RedisPool } from './pool.js';
import { CommonAppSettings } from './settings.js';

const USAGE = `Usage: redis-pool <command> [options]

Commands:
  check [--json]   Load the settings (code > environment > .env > defaults), connect, PING,
                   and report the server and any risky settings.
                   Exit status: 0 healthy, 1 unhealthy, 2 invalid settings.

Options:
  -h, --help       Show this help.
  -v, --version    Show the version.
`;

/** What `redis-pool check` found, as printed with `--json`. */
interface CheckReport {
  status: 'healthy' | 'unhealthy' | 'invalid-settings';
  settings?: CommonAppSettings;
  connectMs?: number;
  pingMs?: number;
  server?: { version: string; mode: string; role: string };
  warnings: string[];
  error?: { name: string; code: string | undefined; message: string };
}

/** Where the CLI reads its settings and writes its output: the process's own, or a test's. */
export interface CliIo {
  env: Record<string, string | undefined>;
  /** The directory whose `.env` is read. */
  cwd: string;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Runs `redis-pool check` and returns the report, without printing. */
async function check(io: CliIo): Promise<CheckReport> {
  let settings: CommonAppSettings;
  const warnings: string[] = [];
  try {
    settings = new CommonAppSettings(
      {},
      { env: io.env, envFile: join(io.cwd, '.env'), onWarning: (line) => warnings.push(line) },
    );
  } catch (error) {
    return { status: 'invalid-settings', warnings, error: describeError(error) };
  }
  const pool = new RedisPool({ logger: createLogger('silent') });
  try {
    const started = performance.now();
    const client = await pool.getClient(settings);
    const connectMs = performance.now() - started;
    const pingStarted = performance.now();
    await client.ping();
    const pingMs = performance.now() - pingStarted;
    const info = String(await client.info('server')) + String(await client.info('replication'));
    const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? 'unknown';
    const server = { version: field('redis_version'), mode: field('redis_mode'), role: field('role') };
    warnings.push(...riskyServerSettings(settings, await serverTimeout(client)));
    if (settings.redisPassword && !settings.redisSsl && !isLoopback(settings.redisHost)) {
      warnings.push('A password is sent over plain TCP to a remote host; consider rediss:// (TLS)');
    }
    return { status: 'healthy', settings, connectMs, pingMs, server, warnings };
  } catch (error) {
    return { status: 'unhealthy', settings, warnings, error: describeError(error) };
  } finally {
    await pool.close();
  }
}

async function serverTimeout(client: { configGet(name: string): Promise<unknown> }): Promise<number | undefined> {
  try {
    const config = (await client.configGet('timeout')) as Record<string, unknown>;
    return Number(String(config.timeout));
  } catch {
    // Managed services often disable CONFIG; the check then skips what it cannot see.
    return undefined;
  }
}

function riskyServerSettings(settings: CommonAppSettings, timeoutSeconds: number | undefined): string[] {
  const interval = settings.redisHealthCheckInterval;
  if (timeoutSeconds === undefined || timeoutSeconds === 0 || interval === 0 || timeoutSeconds >= interval) return [];
  return [
    `The server closes connections idle for ${timeoutSeconds} s (its \`timeout\`), sooner than ` +
      `REDIS_HEALTH_CHECK_INTERVAL (${interval} s) keeps them busy: expect reconnects; lower the interval below ${timeoutSeconds} s`,
  ];
}

function isLoopback(host: string | undefined): boolean {
  return host === undefined || host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function describeError(error: unknown): CheckReport['error'] {
  const { name, message, code } = error as { name: string; message: string; code?: string };
  return { name, code, message };
}

const EXIT_STATUS = { healthy: 0, unhealthy: 1, 'invalid-settings': 2 } as const;

function printReport(report: CheckReport, write: (line: string) => void): void {
  if (report.settings) {
    const rows = Object.entries(JSON.parse(JSON.stringify(report.settings)) as Record<string, unknown>).filter(
      ([, value]) => value !== undefined,
    );
    const width = Math.max(...rows.map(([key]) => key.length));
    write('Settings (code > environment > .env > defaults):');
    const shown = (value: unknown) =>
      Array.isArray(value)
        ? value.map((node: { host: string; port: number }) => `${node.host}:${node.port}`).join(',')
        : String(value);
    for (const [key, value] of rows) write(`  ${key.padEnd(width)}  ${shown(value)}`);
  }
  if (report.server) {
    write(`Connected in ${report.connectMs?.toFixed(1)} ms; PING ${report.pingMs?.toFixed(2)} ms`);
    write(`Server: Redis ${report.server.version}, mode ${report.server.mode}, role ${report.server.role}`);
  }
  for (const warning of report.warnings) write(`warning: ${warning}`);
  if (report.error) write(`${report.error.name}: ${report.error.message}`);
  write(`Status: ${report.status}`);
}

/**
 * Runs the `redis-pool` command line with `argv` (the arguments after the program name) and
 * returns its exit status. Invalid flags are reported as usage errors (status 2), never thrown.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    return await run(argv, io);
  } catch (error) {
    // parseArgs rejects unknown flags with a message that names them.
    io.stderr(`redis-pool: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
}

async function run(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', short: 'v', default: false },
    },
  });
  if (values.version) {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    io.stdout(`${manifest.version}\n`);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    io.stdout(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  if (command !== 'check' || rest.length > 0) {
    io.stderr(`redis-pool: unknown command \`${positionals.join(' ')}\`; expected \`check\`.\n\n${USAGE}\n`);
    return 2;
  }
  if (!values.json) io.stderr('Checking Redis…\n');
  const report = await check(io);
  if (values.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  else printReport(report, (line) => io.stdout(`${line}\n`));
  return EXIT_STATUS[report.status];
}
