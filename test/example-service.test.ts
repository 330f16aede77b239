import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type RedisServer, startRedisServer } from '../src/testing/index.js';
import { admin, connectionsNamed, infoNumber } from './helpers.js';

const example = fileURLToPath(new URL('../examples/service.ts', import.meta.url));
// The example imports the package by name; run from the repository's root, tsx maps that name to
// src/ through tsconfig.json's `paths`, so the test exercises the sources, not a stale dist/.
const root = fileURLToPath(new URL('..', import.meta.url));

/** Starts examples/service.ts against `url` and waits for its `listening on` line. */
async function startService(url: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', example], {
    cwd: root,
    stdio: 'pipe',
    env: {
      ...process.env,
      PORT: '0',
      SERVICE_NAME: 'example-service',
      LOG_LEVEL: 'silent',
      REDIS_URL: url,
    },
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let base: string | undefined;
  for (let i = 0; i < 750 && !base && child.exitCode === null; i++) {
    base = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
    if (!base) await sleep(20);
  }
  assert.ok(base, `the service printed its address:\n${output}`);
  return { child, base, exited, output: () => output };
}

/** GET `path` as JSON, with the status. */
async function getJson(base: string, path: string) {
  const response = await fetch(base + path);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Polls /healthz/ready until it reports `status`, for up to `ms`; returns the last answer. */
async function readyUntil(base: string, status: string, ms: number) {
  const deadline = Date.now() + ms;
  let last = await getJson(base, '/healthz/ready');
  while (last.body.status !== status && Date.now() < deadline) {
    await sleep(100);
    last = await getJson(base, '/healthz/ready');
  }
  return last;
}

/** The samples of a Prometheus text scrape, by name and labels. */
function samples(text: string) {
  const lines = text.split('\n').filter((line) => line && !line.startsWith('#'));
  return new Map(
    lines.map((line) => [line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1))]),
  );
}

type Service = Awaited<ReturnType<typeof startService>>;
type Observer = Awaited<ReturnType<typeof admin>>;

/**
 * Runs `fn` with a redis-server of its own (the tests freeze it), an observer client, and the
 * example started against it; whatever happens, the child is killed and the server stopped.
 */
async function withService(fn: (service: Service, server: RedisServer, observer: Observer) => Promise<void>) {
  const server = await startRedisServer();
  const observer = await admin(server.url);
  let service: Service | undefined;
  try {
    service = await startService(server.url);
    await fn(service, server, observer);
  } finally {
    if (service && service.child.exitCode === null && service.child.signalCode === null) {
      service.child.kill('SIGKILL');
    }
    server.resume();
    observer.destroy();
    await server.stop();
  }
}

/** After SIGTERM, the service must end by itself, with code 0, and leave no connection behind. */
async function exitsCleanly(service: Service, observer: Observer) {
  // A timer of its own, cleared when the child exits: a bare sleep() would hold this process
  // for its full 5 s after the last test.
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the service still runs 5 s after SIGTERM:\n${service.output()}`)), 5000);
  });
  const [code, signal] = await Promise.race([service.exited, stuck]).finally(() => clearTimeout(timer));
  assert.deepEqual([code, signal], [0, null], service.output());
  assert.deepEqual(await connectionsNamed(observer, 'example-service:'), [], 'no connection left at the server');
}

test('examples/service.ts: visits, metrics, readiness through a Redis freeze, and a clean exit on SIGTERM', async () => {
  await withService(async (service, server, observer) => {
    const { base } = service;
    assert.deepEqual(await getJson(base, '/visits'), { status: 200, body: { visits: 1 } });
    assert.deepEqual(await getJson(base, '/visits'), { status: 200, body: { visits: 2 } });
    assert.equal(await observer.get('example:visits'), '2');

    const up = await getJson(base, '/healthz/ready');
    console.log('health, up:', JSON.stringify(up));
    assert.equal(up.status, 200);
    assert.equal(up.body.status, 'up');
    assert.equal(up.body.mode, 'standalone');

    const scrape = await fetch(`${base}/metrics`);
    assert.equal(scrape.status, 200);
    assert.match(scrape.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await scrape.text();
    const excerpt = text
      .split('\n')
      .filter((line) => /^(# (HELP|TYPE) )?db_client_connection_(count|max)\b/.test(line));
    console.log(`metrics excerpt:\n${excerpt.join('\n')}`);
    const scraped = samples(text);
    assert.ok((scraped.get('db_client_connection_count{pool_name="example-service",state="used"}') ?? 0) >= 1, text);
    assert.equal(scraped.get('db_client_connection_max{pool_name="example-service"}'), 10, text);

    // SIGSTOP: the connections stay open but nothing answers, so the probe's 500 ms PING times
    // out, long before the 5 s socket timeout would notice anything.
    server.pause();
    const down = await getJson(base, '/healthz/ready');
    console.log('health, paused:', JSON.stringify(down));
    assert.equal(down.status, 503);
    assert.equal(down.body.status, 'down');
    assert.match(
      String((down.body.details as { error?: string } | undefined)?.error),
      /no PONG within 500 ms/,
      'the probe’s own timeout, not the socket’s',
    );

    server.resume();
    const back = await readyUntil(base, 'up', 5000);
    console.log('health, resumed:', JSON.stringify(back));
    assert.equal(back.status, 200);
    assert.equal(back.body.status, 'up');
    assert.deepEqual(await getJson(base, '/visits'), { status: 200, body: { visits: 3 } });

    service.child.kill('SIGTERM');
    await exitsCleanly(service, observer);
  });
});

// Without `connection: close` on the answers sent after SIGTERM, the keep-alive socket of a
// request that was running kept the process alive until the client dropped it, about 4 s later.
test('examples/service.ts: a request running at SIGTERM still gets its answer, on a socket that then closes', async () => {
  await withService(async (service, _server, observer) => {
    const { base } = service;
    // Hold writes at the server, so that /visits is still waiting for its INCR at SIGTERM.
    await observer.sendCommand(['CLIENT', 'PAUSE', '10000', 'WRITE']);
    // Settled at once, so that a failure below reports itself, not this request's reset socket.
    const running = Promise.allSettled([fetch(`${base}/visits`)]);
    for (let i = 0; i < 250 && (await infoNumber(observer, 'clients', 'blocked_clients')) === 0; i++) await sleep(20);
    assert.equal(await infoNumber(observer, 'clients', 'blocked_clients'), 1, 'the INCR waits at the server');

    service.child.kill('SIGTERM');
    // The readiness probe is not a write, so it answers until the server stops listening; a
    // connection that races the close may be reset instead.
    let failure: string | undefined;
    for (let i = 0; i < 250 && failure !== 'ECONNREFUSED'; i++) {
      failure = await fetch(`${base}/healthz/ready`).then(
        () => undefined,
        (error: Error) => (error.cause as { code?: string } | undefined)?.code,
      );
      if (failure !== 'ECONNREFUSED') await sleep(20);
    }
    assert.equal(failure, 'ECONNREFUSED', 'new connections are refused');

    await observer.sendCommand(['CLIENT', 'UNPAUSE']);
    const [outcome] = await running;
    assert.equal(outcome.status, 'fulfilled', String((outcome as PromiseRejectedResult).reason?.cause));
    const response = outcome.value;
    console.log(
      `answer to the request running at SIGTERM: ${response.status}, connection: ${response.headers.get('connection')}`,
    );
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('connection'), 'close');
    assert.deepEqual(await response.json(), { visits: 1 });
    // SIGTERM was sent once, above: a second one would kill the process, as both closeOnSignals()
    // and the example listen for the first one only.
    await exitsCleanly(service, observer);
  });
});
