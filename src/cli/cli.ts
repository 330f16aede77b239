import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import type { StringClient } from '../client/types.js';
import { createLogger } from '../logger.js';
import { RedisPool } from '../pool/pool.js';
import { CommonAppSettings, type SettingSource, type SettingsInput } from '../settings.js';
import { type ClientEntry, type ClientsReport, groupClients, parseClientList } from './clients.js';
import { runDemo } from './demo.js';

const USAGE = `Usage: redis-pool <command> [options]

Commands:
  check [--json]   Load the settings (code > environment > .env > defaults), connect, PING,
                   and report the server and any risky settings.
                   Exit status: 0 healthy, 1 unhealthy, 2 invalid settings.
  clients [--json] The server's CLIENT LIST grouped by service and kind (shared, lease,
                   subscriber, duplicate), from the names the pool gives its connections;
                   every node in cluster mode. Exit status: 0, 1 unreachable, 2 invalid settings.
  demo             The seed's example end to end, on REDIS_URL or a throwaway redis-server.

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
    settings = loadCliSettings(io, {}, (line) => warnings.push(line));
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
    const plain = client as StringClient;
    warnings.push(...riskyServerSettings(settings, await serverConfig(plain), await connectedClients(plain)));
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

/** The server settings `check` looks at; empty where CONFIG is refused. */
interface ServerConfig {
  timeout?: number;
  maxclients?: number;
  maxmemory?: number;
  'maxmemory-policy'?: string;
}

async function serverConfig(client: StringClient): Promise<ServerConfig> {
  try {
    const config = (await client.configGet(['timeout', 'maxclients', 'maxmemory', 'maxmemory-policy'])) as Record<
      string,
      string
    >;
    // Strings, or Buffers with REDIS_DECODE_RESPONSES=false.
    const number = (name: string) => (config[name] === undefined ? undefined : Number(String(config[name])));
    return {
      timeout: number('timeout'),
      maxclients: number('maxclients'),
      maxmemory: number('maxmemory'),
      'maxmemory-policy': config['maxmemory-policy'] === undefined ? undefined : String(config['maxmemory-policy']),
    };
  } catch {
    // Managed services often disable CONFIG; the check then skips what it cannot see.
    return {};
  }
}

async function connectedClients(client: StringClient): Promise<number | undefined> {
  const info = String(await client.info('clients'));
  const match = /^connected_clients:(\d+)/m.exec(info);
  return match ? Number(match[1]) : undefined;
}

/** Server settings that will bite a pool with these settings. */
function riskyServerSettings(
  settings: CommonAppSettings,
  config: ServerConfig,
  connected: number | undefined,
): string[] {
  const warnings: string[] = [];
  const interval = settings.redisHealthCheckInterval;
  const { timeout, maxclients, maxmemory } = config;
  if (timeout !== undefined && timeout > 0 && interval > 0 && timeout < interval) {
    warnings.push(
      `The server closes connections idle for ${timeout} s (its \`timeout\`), sooner than ` +
        `REDIS_HEALTH_CHECK_INTERVAL (${interval} s) keeps them busy: expect reconnects; lower the interval below ${timeout} s`,
    );
  }
  const max = settings.redisMaxConnections;
  if (maxclients !== undefined && connected !== undefined && connected + max > 0.9 * maxclients) {
    warnings.push(
      `The server takes at most ${maxclients} clients (its \`maxclients\`); ${connected} are connected, and this service ` +
        `may open up to ${max} (REDIS_MAX_CONNECTIONS): new connections may be refused; raise maxclients or lower REDIS_MAX_CONNECTIONS`,
    );
  }
  const policy = config['maxmemory-policy'];
  if (maxmemory !== undefined && maxmemory > 0 && policy !== undefined && policy !== 'noeviction') {
    warnings.push(
      `The server evicts keys when it reaches maxmemory (${maxmemory} bytes, \`maxmemory-policy\` ${policy}): ` +
        'sessions, rate limits and locks kept there can vanish; use noeviction for such data',
    );
  }
  return warnings;
}

/** The settings from `input`, the environment and the working directory's `.env`. */
function loadCliSettings(io: CliIo, input: SettingsInput, onWarning: (line: string) => void): CommonAppSettings {
  return new CommonAppSettings(input, { env: io.env, envFile: join(io.cwd, '.env'), onWarning });
}

function isLoopback(host: string | undefined): boolean {
  return host === undefined || host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function describeError(error: unknown): CheckReport['error'] {
  const { name, message, code } = error as { name: string; message: string; code?: string };
  return { name, code, message };
}

const EXIT_STATUS = { healthy: 0, unhealthy: 1, 'invalid-settings': 2 } as const;

/** The settings as `check --json` prints them: by variable, each with its value and where it came from. */
function bySetting(settings: CommonAppSettings) {
  return Object.fromEntries(
    settings.sources().map(({ variable, value, ...from }) => [variable, { value: value ?? null, ...from }]),
  );
}

/** Where a value came from, as `check` prints it: `.env line 3`, `environment (as redis_url)`. */
function sourceText({ source, spelling, line }: SettingSource): string {
  return `${source}${line === undefined ? '' : ` line ${line}`}${spelling === undefined ? '' : ` (as ${spelling})`}`;
}

function printReport(report: CheckReport, write: (line: string) => void): void {
  if (report.settings) {
    write('Settings (code > environment > .env > defaults):');
    write(
      table(
        ['variable', 'value', 'from'],
        report.settings.sources().map((entry) => [entry.variable, entry.value ?? '-', sourceText(entry)]),
      ),
    );
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
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
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
  if (!['check', 'clients', 'demo'].includes(command) || rest.length > 0) {
    io.stderr(
      `redis-pool: unknown command \`${positionals.join(' ')}\`; expected \`check\`, \`clients\` or \`demo\`.\n\n${USAGE}\n`,
    );
    return 2;
  }
  if (command === 'demo') return runDemo(io.env, (line) => io.stdout(`${line}\n`));
  if (command === 'clients') return clients(io, values.json);
  if (!values.json) io.stderr('Checking Redis…\n');
  const report = await check(io);
  if (values.json)
    io.stdout(`${JSON.stringify({ ...report, settings: report.settings && bySetting(report.settings) }, null, 2)}\n`);
  else printReport(report, (line) => io.stdout(`${line}\n`));
  return EXIT_STATUS[report.status];
}

/** The service name the CLI's own connections carry, left out of `clients`. */
const CLI_SERVICE = 'redis-pool-cli';

/** `redis-pool clients`: every server's CLIENT LIST, grouped; prints it and returns the exit status. */
async function clients(io: CliIo, json: boolean): Promise<number> {
  let settings: CommonAppSettings;
  try {
    settings = loadCliSettings(io, { serviceName: CLI_SERVICE }, (line) => io.stderr(`warning: ${line}\n`));
  } catch (error) {
    io.stderr(`${describeError(error)?.message}\n`);
    return 2;
  }
  const pool = new RedisPool({ logger: createLogger('silent') });
  let report: ClientsReport;
  try {
    if (!json) io.stderr('Reading CLIENT LIST…\n');
    report = groupClients(await clientLists((await pool.getClient(settings)) as StringClient), CLI_SERVICE);
  } catch (error) {
    const { name, message } = describeError(error) ?? { name: 'Error', message: String(error) };
    io.stderr(`${name}: ${message}\n`);
    return 1;
  } finally {
    await pool.close();
  }
  if (json) {
    io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
  const nodes = new Set([...report.groups, ...report.unnamed].map((entry) => entry.node));
  const node = (value: string) => (nodes.size > 1 ? [value] : []);
  io.stdout(
    `${table(
      [...node('server'), 'service', 'kind', 'connections', 'pids', 'idle s (min–max)'],
      report.groups.map((group) => [
        ...node(group.node),
        group.service,
        group.kind,
        String(group.connections),
        group.pids.join(' '),
        `${group.idle.min}–${group.idle.max}`,
      ]),
    )}\n`,
  );
  if (report.unnamed.length > 0) {
    io.stdout(`\nFollowing no naming convention (<SERVICE_NAME>:<kind>:<pid>):\n`);
    io.stdout(
      `${table(
        [...node('server'), 'name', 'address', 'idle s', 'last command'],
        report.unnamed.map((entry: ClientEntry) => [
          ...node(entry.node),
          entry.name || '(none)',
          entry.addr,
          String(entry.idle),
          entry.cmd,
        ]),
      )}\n`,
    );
  }
  return 0;
}

/** CLIENT LIST of the server, or of every node of a cluster. */
async function clientLists(client: StringClient): Promise<ClientEntry[]> {
  const cluster = client as unknown as Partial<ClusterLike>;
  if (!cluster.masters || !cluster.nodeClient) {
    const socket = client.options?.socket as { host?: string; port?: number; path?: string } | undefined;
    const node = socket?.path ?? `${socket?.host}:${socket?.port}`;
    return parseClientList(String(await client.sendCommand(['CLIENT', 'LIST'])), node);
  }
  const lists = await Promise.all(
    [...cluster.masters, ...(cluster.replicas ?? [])].map(async (node) => {
      const nodeClient = await (cluster as ClusterLike).nodeClient(node);
      return parseClientList(String(await nodeClient.sendCommand(['CLIENT', 'LIST'])), `${node.host}:${node.port}`);
    }),
  );
  return lists.flat();
}

/** The public parts of node-redis's cluster client that `clients` reads. */
interface ClusterLike {
  masters: { host: string; port: number }[];
  replicas: { host: string; port: number }[];
  nodeClient(node: { host: string; port: number }): Promise<{ sendCommand(args: string[]): Promise<unknown> }>;
}

/** An aligned table without borders: `head` (if any) underlined, then the rows. */
function table(head: string[], rows: string[][]): string {
  const blank = {
    top: '',
    'top-mid': '',
    'top-left': '',
    'top-right': '',
    bottom: '',
    'bottom-mid': '',
    'bottom-left': '',
  };
  const plain = new Table({
    head,
    chars: {
      ...blank,
      'bottom-right': '',
      left: '  ',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '  ',
    },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  plain.push(...rows);
  return plain.toString();
}
