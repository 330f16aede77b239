/**
 * `npm run demo`: the seed's example end to end, as `redis-pool demo` runs it (src/cli/demo.ts; the
 * readable version is examples/basic.ts). With REDIS_URL set it uses that server; otherwise it
 * starts a throwaway redis-server on a free loopback port and stops it afterwards.
 */
import { runCli } from '../src/cli/cli.js';

process.exitCode = await runCli(['demo'], {
  env: process.env,
  cwd: process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
