#!/usr/bin/env node
/** The `redis-pool` executable: the command line of `cli.ts`, on this process's environment and streams. */
import { runCli } from './cli/cli.js';

process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  cwd: process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
