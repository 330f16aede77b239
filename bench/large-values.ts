/**
 * Large values: N workers loop SET then GET of a 1 MB value (a string, then a Buffer) on keys of
 * their own, on the shared client, beside node-redis and, with `BENCH_BASELINE`, the shared client
 * of another build: what coalescing writes must not make slower.
 */
import { createClient, RESP_TYPES } from 'redis';
import { RedisPool } from '../src/index.js';
import type { RedisServer } from '../src/testing/index.js';
import { BASELINE, baselinePool, benchSettings, interleave, pairedRatio, rate, silent, table, target } from './lib.js';

const IN_FLIGHT = 10;
const MB = 1024 * 1024;
const OURS = 'redis-pool shared client';
const RAW = 'node-redis createClient, timeout off';
const AT_BASELINE = 'redis-pool shared client at BENCH_BASELINE';

interface Client {
  set(key: string, value: string | Buffer): Promise<unknown>;
  get(key: string): Promise<unknown>;
}

export async function largeValuesBench(server: RedisServer): Promise<void> {
  const pool = new RedisPool<true>({ logger: silent });
  const raw = await createClient({ url: server.url, commandOptions: { timeout: 0 } }).connect();
  const baseline = BASELINE ? await baselinePool(server.url) : undefined;
  const clients: { name: string; client: Client; close: () => Promise<unknown> }[] = [
    { name: OURS, client: await pool.getClient(benchSettings(server.url)), close: () => pool.close() },
    { name: RAW, client: raw, close: () => raw.close() },
    ...(baseline ? [{ name: AT_BASELINE, client: baseline.client as Client, close: () => baseline.pool.close() }] : []),
  ];
  console.log('## Large values\n');
  for (const [kind, value] of [
    ['string', 'v'.repeat(MB)],
    ['Buffer', Buffer.alloc(MB, 7)],
  ] as const) {
    const loop = (client: Client) => {
      // Buffer values are read back as Buffers, so neither side decodes a megabyte into a string.
      const reader =
        kind === 'Buffer'
          ? (client as unknown as { withTypeMapping(m: object): Client }).withTypeMapping({
              [RESP_TYPES.BLOB_STRING]: Buffer,
            })
          : client;
      return rate(IN_FLIGHT, async (worker) => {
        await client.set(`large:${worker}`, value);
        await reader.get(`large:${worker}`);
      }).then((loops) => loops * 2);
    };
    for (const { client } of clients) await loop(client); // warm-up, discarded
    const samples = await interleave(`1 MB ${kind}`, clients, ({ client }) => loop(client));
    console.log(`SET+GET of a 1 MB ${kind}, ${IN_FLIGHT} in flight, ops/s:\n`);
    const against: [string, string][] = [['× node-redis timeout off', RAW]];
    if (baseline) against.push(['× baseline', AT_BASELINE]);
    console.log(table(samples, 'ops/s', against));
    console.log();
    if (baseline) {
      const ratio = pairedRatio(samples, OURS, AT_BASELINE);
      console.log(`${target(`1 MB ${kind} values against BENCH_BASELINE`, ratio, '≥ 1×', ratio >= 1)}\n`);
    }
  }
  await Promise.all(clients.map(({ close }) => close()));
}
