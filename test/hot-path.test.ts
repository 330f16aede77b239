// The write path under a mixed load: every command of a 10,000-command pipeline, with string and
// Buffer arguments from 0 B to 1 MB, gets its own reply, byte for byte, in standalone and cluster
// mode (the pool coalesces each batch of writes; see coalesceWrites in src/node-redis/node-redis.ts).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { RESP_TYPES } from 'redis';
import { RedisPool } from '../src/index.js';
import { type Cluster, startCluster } from '../src/testing/index.js';
import { serverForFile, settingsFor, silent } from './helpers.js';

const COMMANDS = 10_000;
const SIZES = [0, 1, 2, 13, 100, 1000, 16_383, 16_384, 16_385, 65_536, 300_000];
const MB = 1024 * 1024;

/** The i-th value: every other one a Buffer of random bytes, the rest strings with multi-byte characters; 1 MB now and then. */
function nthValue(i: number): string | Buffer {
  const size = i % 400 <= 1 ? MB : (SIZES[i % SIZES.length] as number);
  if (i % 2 === 1) return randomBytes(size);
  const text = `${i}:é€😀${'abc\r\n'.repeat(size)}`;
  return text.slice(0, Math.max(0, size));
}

const bytes = (value: string | Buffer) => (typeof value === 'string' ? Buffer.from(value) : value);

type Client = Awaited<ReturnType<RedisPool<true>['getClient']>>;

/**
 * Sends 10,000 commands at once, in groups of four on one key: SET, ECHO of the same value, GET,
 * STRLEN. Every reply is checked against its own command.
 */
async function pipelineOf10000(client: Client, prefix: string): Promise<void> {
  const reader = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  const values = Array.from({ length: COMMANDS / 4 }, (_, i) => nthValue(i));
  const replies: Promise<unknown>[] = [];
  values.forEach((value, i) => {
    const key = `${prefix}:{${i}}`;
    replies.push(client.set(key, value), reader.echo(value), reader.get(key), client.strLen(key));
  });
  assert.equal(replies.length, COMMANDS);
  const settled = await Promise.all(replies);
  values.forEach((value, i) => {
    const [set, echo, get, length] = settled.slice(i * 4, i * 4 + 4);
    const expected = bytes(value);
    assert.equal(set, 'OK', `SET ${i}`);
    assert.ok(Buffer.isBuffer(echo) && echo.equals(expected), `ECHO ${i} (${expected.length} B)`);
    assert.ok(Buffer.isBuffer(get) && get.equals(expected), `GET ${i} (${expected.length} B)`);
    assert.equal(length, expected.length, `STRLEN ${i}`);
  });
}

describe('a pipeline of 10,000 commands, strings and Buffers of 0 B to 1 MB', () => {
  const file = serverForFile();

  test('standalone: every reply matches its command', async () => {
    const pool = new RedisPool<true>({ logger: silent });
    try {
      await pipelineOf10000(await pool.getClient(settingsFor(file.server.url)), 'standalone');
    } finally {
      await pool.close();
    }
  });

  describe('cluster mode', () => {
    let cluster: Cluster;
    before(async () => {
      cluster = await startCluster({ masters: 3 });
    });
    after(async () => {
      await cluster.stop();
    });

    test('cluster: every reply matches its command', async () => {
      const pool = new RedisPool<true>({ logger: silent });
      try {
        const client = await pool.getClient(
          settingsFor('redis://127.0.0.1/0', { redisClusterNodes: cluster.nodeAddresses }),
        );
        await pipelineOf10000(client, 'cluster');
      } finally {
        await pool.close();
      }
    });
  });
});
