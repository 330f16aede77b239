/**
 * A small HTTP service on the process-wide pool, with node:http only: a readiness probe, a
 * Prometheus scrape, one route that uses Redis, and a graceful shutdown on SIGTERM.
 *
 * The pool's settings come from the environment and `.env` (SERVICE_NAME, LOG_LEVEL, REDIS_URL,
 * …); PORT says where to listen (default 3000, 0 for any free port). prom-client is an optional
 * peer of the pool: `npm install prom-client` first.
 *
 *   SERVICE_NAME=visits LOG_LEVEL=INFO PORT=3000 npx tsx examples/service.ts
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRedisClient, RedisPoolError, redisPool } from '@refactorizado/redis-pool';
import { Registry } from 'prom-client';

// Open the pool before listening: bad settings or an unreachable server stop the service at
// start-up, and the first readiness probe does not find a pool that never opened (`down`).
const redis = await getRedisClient();

// A registry of the service's own. The pool's gauges are read at each scrape, so between
// scrapes they cost nothing.
const registry = new Registry();
await redisPool.registerPrometheus(registry);

function send(res: ServerResponse, status: number, type: string, body: string): void {
  // Once the server is closing, a request that was still running must not leave its socket
  // open for keep-alive: that socket alone would keep the process alive for seconds.
  if (!server.listening) res.setHeader('connection', 'close');
  res.writeHead(status, { 'content-type': type }).end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json', JSON.stringify(body));
}

const server = createServer(async (req, res) => {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  try {
    if (req.method === 'GET' && path === '/healthz/ready') {
      // Readiness, not liveness: while Redis is away the service should leave the load
      // balancer, not be restarted; the pool reconnects by itself. health() never rejects.
      const health = await redisPool.health({ timeoutMs: 500 });
      json(res, health.status === 'down' ? 503 : 200, health);
    } else if (req.method === 'GET' && path === '/metrics') {
      send(res, 200, registry.contentType, await registry.metrics());
    } else if (req.method === 'GET' && path === '/visits') {
      json(res, 200, { visits: await redis.incr('example:visits') });
    } else {
      json(res, 404, { error: 'not found' });
    }
  } catch (error) {
    // The pool's errors (a command timeout, Redis unavailable, the pool closing on SIGTERM)
    // mean "try again later"; anything else is a bug here.
    const unavailable = error instanceof RedisPoolError;
    json(res, unavailable ? 503 : 500, { error: unavailable ? error.code : 'internal error' });
  }
});

// On SIGTERM or SIGINT: stop accepting connections, let the requests still running finish (they
// keep the pool until then), then close the pool. server.close() also closes the idle keep-alive
// sockets (Node >= 19); see send() for the others. With nothing left open, the process exits by
// itself, with code 0.
redisPool.closeOnSignals({
  timeoutMs: 5000,
  beforeClose: () => new Promise((resolve) => server.close(resolve)),
});

server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
