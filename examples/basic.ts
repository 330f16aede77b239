/**
 * The seed's "Uso Básico", in TypeScript: load the settings, get the client from the pool, SET
 * and GET one key, and close the pool at the end. Run it with `npx tsx examples/basic.ts`;
 * `npm run demo` runs the same steps (src/demo.ts), on a throwaway server when REDIS_URL is unset.
 *
 * As in the seed, the settings are built in code and the environment and `.env` fill in the
 * rest: REDIS_URL (default redis://localhost:6379/0) says which server to use.
 */
import { closeRedisPool, getRedisClient, loadSettings } from '@refactorizado/redis-pool';

async function main(): Promise<void> {
  // Load CommonAppSettings once, at start-up. Values given here win over the environment and .env.
  const appSettings = loadSettings({
    redisDecodeResponses: true,
    serviceName: 'mi_servicio_ejemplo', // required by CommonAppSettings
    logLevel: 'INFO', // required by CommonAppSettings
  });

  try {
    // Get the Redis client from the pool.
    const redisClient = await getRedisClient(appSettings);
    console.log('Cliente Redis obtenido exitosamente.');

    // Use the Redis client.
    await redisClient.set('mi_clave_async', 'mi_valor_async');
    const valor = await redisClient.get('mi_clave_async');
    console.log(`Valor obtenido de Redis: ${valor}`);
  } catch (error) {
    console.log(`Error durante la operación con Redis: ${error}`);
    process.exitCode = 1;
  } finally {
    // Close the pool at the end (usually when the application shuts down). Closing a pool that
    // never opened is safe.
    await closeRedisPool();
    console.log('Pool de Redis cerrado.');
  }
}

await main();
