import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisServerNotFoundError, RedisServerStartError } from './errors.js';

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** The port to listen on. @default a free port chosen by the OS */
  port?: number;
  /**
   * Extra `redis-server` arguments, appended after the defaults (loopback only, no persistence).
   * @example ['--requirepass', 'secret']
   */
  args?: readonly string[];
  /** The `redis-server` binary. @default process.env.REDIS_SERVER_BIN, else `redis-server` on PATH */
  binary?: string;
  /** How long to wait for the server to accept connections, in milliseconds. @default 10000 */
  startTimeoutMs?: number;
  /**
   * Serve TLS only, with these PEM files: the port speaks TLS and `url` is `rediss://`. Clients
   * need not present a certificate.
   */
  tls?: { certFile: string; keyFile: string; caFile: string };
  /**
   * Run as a Redis Sentinel (`redis-server <config> --sentinel`) with these configuration lines,
   * written to a `sentinel.conf` of its own (sentinels rewrite their configuration).
   * @example ['sentinel monitor mymaster 127.0.0.1 6379 2']
   */
  sentinel?: readonly string[];
}

/** A real `redis-server` process on a loopback port, in a temporary directory of its own. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>`, or `rediss://` with the `tls` option. */
  readonly url: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The process id of the running server, `undefined` while stopped. */
  readonly pid: number | undefined;
  /** Shuts the server down (SIGTERM, then SIGKILL after 5 s) and removes its directory. Idempotent. */
  stop(): Promise<void>;
  /** Kills the server at once with SIGKILL, as a crash would; `restart()` brings it back. */
  kill(): Promise<void>;
  /** Starts the server again on the same port (stopping it first if it runs) and waits until it is ready. */
  restart(): Promise<void>;
  /** Freezes the server with SIGSTOP: connections stay open but nothing is answered. */
  pause(): void;
  /** Thaws a paused server with SIGCONT. */
  resume(): void;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Starts a real `redis-server` on 127.0.0.1 and waits until it answers. Persistence is off and
 * the data directory is a fresh temporary one. Servers still running when the process exits are
 * killed, but tests should call `stop()` themselves.
 *
 * @throws {RedisServerNotFoundError} when the binary is missing; the message says how to install it.
 * @throws {RedisServerStartError} when the server exits or does not become ready in time.
 * @example
 * const server = await startRedisServer();
 * try { ... server.url ... } finally { await server.stop(); }
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = findBinary(options.binary ?? process.env.REDIS_SERVER_BIN ?? 'redis-server');
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'redis-pool-'));
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  let port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;
  let paused = false;
  let launches = 0;

  const launch = async (): Promise<void> => {
    // A log per launch, so a restart does not read the previous run's "ready" line.
    const logFile = `redis-${++launches}.log`;
    const { tls } = options;
    const listen = tls
      ? ['--port', '0', '--tls-port', String(port), '--tls-auth-clients', 'no']
      : ['--port', String(port)];
    const certificates = tls
      ? ['--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--tls-ca-cert-file', tls.caFile]
      : [];
    const config = join(dir, 'sentinel.conf');
    if (options.sentinel && launches === 1) writeFileSync(config, `${options.sentinel.join('\n')}\n`);
    const args = [
      ...(options.sentinel ? [config, '--sentinel'] : []),
      ...listen,
      ...certificates,
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--logfile',
      logFile,
      '--daemonize',
      'no',
      ...(options.args ?? []),
      // Last, so readiness can be read from the log whatever the caller passed.
      '--loglevel',
      'notice',
    ];
    mkdirSync(dir, { recursive: true });
    child = spawn(binary, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    child.unref();
    // Configuration errors go to stderr, not to the log file; keep them for the start error.
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderr = (stderr + text).slice(-4000);
    });
    (child.stderr as (NodeJS.ReadableStream & { unref?: () => void }) | null)?.unref?.();
    let spawnError: Error | undefined;
    child.once('error', (error) => {
      spawnError = error;
    });
    running.add(child);
    child.once('exit', function forget(this: ChildProcess) {
      running.delete(this);
    });
    paused = false;
    await waitUntilReady(child, port, timeoutMs, {
      spawnError: () => spawnError,
      output: () => `${stderr}${tail(join(dir, logFile))}`,
    });
  };

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const current = child;
    child = undefined;
    // No pid means the spawn itself failed: there is no process to wait for.
    if (!current?.pid || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise((resolve) => current.once('exit', resolve));
    current.kill(signal);
    if (paused && signal !== 'SIGKILL') current.kill('SIGCONT');
    paused = false;
    const forced = setTimeout(() => current.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(forced);
  };

  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (error) {
      // Another process may take the free port between our probe and the server's bind.
      const portTaken = error instanceof RedisServerStartError && /Address already in use/.test(error.message);
      await halt('SIGKILL');
      if (!portTaken || options.port !== undefined || attempt === 5) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
      port = await freePort();
    }
  }

  return {
    url: `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    get pid() {
      return child?.pid;
    },
    async stop() {
      await halt('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    kill: () => halt('SIGKILL'),
    async restart() {
      await halt('SIGTERM');
      await launch();
    },
    pause() {
      child?.kill('SIGSTOP');
      paused = true;
    },
    resume() {
      child?.kill('SIGCONT');
      paused = false;
    },
  };
}

function findBinary(binary: string): string {
  const candidates = binary.includes('/')
    ? [binary]
    : [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin'].map((dir) => join(dir, binary));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; try the next directory.
    }
  }
  throw new RedisServerNotFoundError(binary);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/** A port that was free a moment ago, found by letting the OS pick one. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Waits for the server's own log to say it is ready. The log, unlike a probe of the port, cannot
 * be answered by some other server that already holds the port.
 */
async function waitUntilReady(
  child: ChildProcess,
  port: number,
  timeoutMs: number,
  { spawnError, output }: { spawnError: () => Error | undefined; output: () => string },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // A sentinel announces its mode and what it monitors instead of "Ready".
    if (/Ready to accept connections|Running mode=sentinel/.test(output())) return;
    const error = spawnError();
    if (error) throw new RedisServerStartError(`redis-server could not be started: ${error.message}`, { cause: error });
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new RedisServerStartError(
        `redis-server exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output()}`,
      );
    }
    await sleep(10);
  }
  throw new RedisServerStartError(`redis-server on port ${port} was not ready after ${timeoutMs} ms:\n${output()}`);
}

function readLog(logFile: string): string {
  try {
    return readFileSync(logFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

function tail(logFile: string): string {
  return readLog(logFile).split('\n').slice(-20).join('\n');
}
