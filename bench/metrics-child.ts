/**
 * One slice of the metrics bench, in a process of its own, since node-redis's OpenTelemetry is
 * process-wide once initialised. argv: the server's URL, the mode, and the callers in flight.
 * Modes: `off`; `pool`: a real MeterProvider with an in-memory reader collecting every 100 ms,
 * and the pool's own instruments (`enableOpenTelemetry()`); `all`: that, and node-redis's
 * metrics (`OpenTelemetry.init`, its default groups and command durations). Prints the
 * shared client's SET+GET rate as JSON.
 */
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { OpenTelemetry } from 'redis';
import { RedisPool } from '../src/index.js';
import { benchSettings, median, rate, silent, VALUE } from './lib.js';

const [url = '', mode = 'off', inFlight = '50'] = process.argv.slice(2);
let provider: MeterProvider | undefined;
if (mode === 'on') {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  provider = new MeterProvider({
    readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 100 })],
  });
  metrics.setGlobalMeterProvider(provider);
  // node-redis's default groups (connection-basic, resiliency) and command durations, its costliest.
  OpenTelemetry.init({
    metrics: { enabled: true, enabledMetricGroups: ['command', 'connection-basic', 'resiliency'] },
  });
}
const pool = new RedisPool<true>({ logger: silent });
if (provider) await pool.enableOpenTelemetry({ meterProvider: provider });
const client = await pool.getClient(benchSettings(url));
const step = async (worker: number) => {
  await client.set(`metrics:${worker}`, VALUE);
  await client.get(`metrics:${worker}`);
};
// A fresh process runs cold: two slices warm it up (and the JIT), then the median of three counts.
for (let slice = 0; slice < 2; slice++) await rate(Number(inFlight), step);
const rates: number[] = [];
for (let slice = 0; slice < 3; slice++) rates.push(await rate(Number(inFlight), step));
console.log(JSON.stringify({ rate: median(rates) }));
await pool.close();
await provider?.shutdown();
