/**
 * One slice of the opening bench, in a process of its own, since the self-check runs once per
 * process. argv: the server's URL and the mode. Modes: `open`: the first getClient() of the
 * process, self-check included; `open-checked`: the self-check first, untimed, then the first
 * getClient(); `check` and `check-cluster`: the self-check alone, of clients and of the cluster
 * client. Prints the milliseconds as JSON.
 */
import { RedisPool } from '../src/index.js';
import { checkNodeRedis, probeNodeRedis } from '../src/node-redis/self-check.js';
import { benchSettings, silent } from './lib.js';

const [url = '', mode = 'open'] = process.argv.slice(2);
if (mode === 'open-checked') await checkNodeRedis(false, silent);
const pool = new RedisPool({ logger: silent });
const start = performance.now();
if (mode === 'check') await probeNodeRedis('client');
else if (mode === 'check-cluster') await probeNodeRedis('cluster');
else await pool.getClient(benchSettings(url));
const ms = performance.now() - start;
pool.destroy();
console.log(JSON.stringify({ ms }));
