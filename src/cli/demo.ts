import { RedisPool } from '../pool/pool.js';
import { redactUrl } from '../secret.js';
import { CommonAppSettings } from '../settings.js';
import { type RedisServer, startRedisServer } from '../testing/redis-server.js';

/**
 * The seed's example end to end (examples/basic.ts, in the seed's own words): on the server
 * `REDIS_URL` names, or on a throwaway `redis-server` when it is unset. Returns the exit status.
 */
export async function runDemo(env: Record<string, string | undefined>, write: (line: string) => void): Promise<number> {
  let server: RedisServer | undefined;
  if (env.REDIS_URL) {
    write(`demo: using REDIS_URL=${redactUrl(env.REDIS_URL)}`);
  } else {
    server = await startRedisServer();
    write(`demo: REDIS_URL is unset, so a throwaway redis-server runs at ${server.url}`);
  }
  const pool = new RedisPool();
  try {
    const appSettings = new CommonAppSettings(
      {
        redisDecodeResponses: true,
        serviceName: 'mi_servicio_ejemplo',
        logLevel: 'INFO',
        redisUrl: env.REDIS_URL ?? server?.url,
      },
      { env },
    );
    const redisClient = await pool.getClient(appSettings);
    write('Cliente Redis obtenido exitosamente.');
    await redisClient.set('mi_clave_async', 'mi_valor_async');
    write(`Valor obtenido de Redis: ${await redisClient.get('mi_clave_async')}`);
    return 0;
  } catch (error) {
    write(`Error durante la operación con Redis: ${error}`);
    return 1;
  } finally {
    await pool.close();
    write('Pool de Redis cerrado.');
    await server?.stop();
    if (server) write('demo: throwaway redis-server stopped');
  }
}
