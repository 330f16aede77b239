/**
 * The self-check of node-redis. Before a pool's first connection, once per process, each behaviour
 * of node-redis that node-redis.ts relies on is tried through node-redis.ts's own functions, on
 * clients connected to a scripted RESP peer in this process (`startFakeRedis` on 127.0.0.1). A
 * node-redis that fails any of them stops the pool from opening with `UnsupportedNodeRedisError`:
 * a guarantee that silently stops holding is worse than an error.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import calculateSlot from 'cluster-key-slot';
import type { RedisClientOptions } from 'redis';
import type { StringClient } from '../client/types.js';
import { beforeDeadline } from '../deadline.js';
import { UnsupportedNodeRedisError } from '../errors.js';
import type { Logger } from '../logger.js';
import { type FakeConnection, type FakeRedis, type FakeReply, startFakeRedis } from '../testing/fake-redis.js';
import {
  ConnectionTimeoutError,
  checkEveryCommand,
  coalesceWrites,
  commandOptionsOf,
  createClient,
  createCluster,
  decoderTap,
  deriveViewsFrom,
  EMPTY_PASSWORD,
  ErrorReply,
  expectReplies,
  flushAll,
  flushWaitingForReply,
  installFastPath,
  killableSocket,
  layerClusterCommands,
  layerCommands,
  MaxCommandRedirectionsError,
  pendingCount,
  RESP_TYPES,
  runMultiOn,
  runPipelineOn,
  sendOn,
  socketKiller,
  TimeoutError,
  tapDecoder,
  typeLostCommands,
  UnmatchedReply,
  WatchError,
} from './node-redis.js';

/** What the pool takes from node-redis's exports (node-redis.ts re-exports them; a missing one is undefined). */
const EXPORTS = {
  createClient,
  createCluster,
  ConnectionTimeoutError,
  ErrorReply,
  MaxCommandRedirectionsError,
  RESP_TYPES,
  TimeoutError,
  WatchError,
};

/** A probe that has not finished by then has met a reply that never reached its command. */
const PROBE_DEADLINE_MS = 2000;

/** A behaviour of node-redis that differs from what the pool relies on. */
class Difference extends Error {}

function expect(holds: boolean, otherwise: string): asserts holds {
  if (!holds) throw new Difference(otherwise);
}

/** Waits, up to `ms`, for `done()` to hold. */
async function until(done: () => boolean, otherwise: string, ms = 500): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    expect(Date.now() < deadline, otherwise);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** What a promise settled with, its rejection included. */
const settled = (promise: Promise<unknown>): Promise<{ value?: unknown; error?: unknown }> =>
  promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );

/**
 * The scripted peer: a fake Redis whose answers each probe may override with `script`, which also
 * speaks MULTI/EXEC and answers `HOLD` never (a reply that has not come yet).
 */
class Peer {
  script: FakeReply | undefined;
  readonly #clients = new Set<{ destroy(): void }>();
  readonly #transactions = new Map<number, number>();
  #server!: FakeRedis;

  async start(): Promise<void> {
    this.#server = await startFakeRedis({ reply: (command, connection) => this.#reply(command, connection) });
  }

  get url(): string {
    return this.#server.url;
  }

  get port(): number {
    return this.#server.port;
  }

  /** How many times `name` (and `arg`, if given) has been received. */
  received(name: string, arg?: string): number {
    return this.#server.commands.filter(([n, a]) => n === name && (arg === undefined || a === arg)).length;
  }

  get commands(): readonly string[][] {
    return this.#server.commands;
  }

  /**
   * A client of the peer, not connected, made as the pool makes its clients (RESP3, no per-command
   * timer, a killable socket, a username with an empty password); with `reconnect`, one that
   * reconnects at once. node-redis builds a client class for each distinct set of options (some
   * 50 ms of CPU), keyed by their JSON, and caches only the last one, so every probe's client has
   * the same JSON (the reconnect strategy is a function either way).
   */
  unconnected({ reconnect = false } = {}): StringClient {
    const client = createClient({
      url: this.url,
      RESP: 3,
      username: 'self-check',
      password: EMPTY_PASSWORD,
      disableOfflineQueue: true,
      commandOptions: { timeout: 0, typeMapping: undefined, abortSignal: undefined, asap: undefined },
      maintNotifications: 'disabled',
      socket: killableSocket({ reconnectStrategy: () => (reconnect ? 1 : false) }),
    } as RedisClientOptions) as unknown as StringClient;
    client.on('error', () => undefined);
    return this.adopt(client);
  }

  /** A client connected to the peer; see `unconnected()`. */
  async client(options: { reconnect?: boolean } = {}): Promise<StringClient> {
    const client = this.unconnected(options);
    await client.connect();
    return client;
  }

  /** Destroyed with the peer. */
  adopt<T extends { destroy(): void }>(client: T): T {
    this.#clients.add(client);
    return client;
  }

  destroyClients(): void {
    for (const client of this.#clients) {
      try {
        client.destroy();
      } catch {
        // A node-redis whose destroy() throws is reported by its own probe.
      }
    }
    this.#clients.clear();
  }

  async stop(): Promise<void> {
    this.destroyClients();
    await this.#server.stop();
  }

  #reply(command: string[], connection: FakeConnection): string | Buffer | null | undefined {
    const scripted = this.script?.(command, connection);
    if (scripted !== undefined) return scripted;
    const [name] = command;
    const queued = this.#transactions.get(connection.id);
    if (name === 'MULTI') return this.#transactions.set(connection.id, 0) && '+OK\r\n';
    if (name === 'EXEC') {
      this.#transactions.delete(connection.id);
      return `*${queued ?? 0}\r\n${'$1\r\nv\r\n'.repeat(queued ?? 0)}`;
    }
    if (queued !== undefined) return this.#transactions.set(connection.id, queued + 1) && '+QUEUED\r\n';
    return name === 'HOLD' ? null : undefined;
  }
}

/** One behaviour node-redis must have, and how to see it. */
interface Probe {
  /** The node-redis.ts functions that rely on it. */
  readonly of: string;
  /** Throws, saying what differs, when node-redis does not behave so. */
  run(peer: Peer): Promise<void>;
}

const CLIENT_PROBES: Probe[] = [
  {
    of: 'destroy()',
    // node-redis 6.2.1 threw "The client is closed" here; the pool destroys such clients (the
    // shared connection's placeholder, a failed first connect).
    async run(peer) {
      const client = peer.unconnected();
      try {
        client.destroy();
      } catch (error) {
        throw new Difference(`a client that never connected threw on destroy(): ${describe(error)}`);
      }
    },
  },
  {
    of: 'layerCommands, sendOn, runMultiOn, runPipelineOn',
    async run(peer) {
      const client = await peer.client();
      const seen: string[] = [];
      layerCommands(client, {
        send(self, args, options, next) {
          seen.push(String(args[0]));
          return next(self, args, options);
        },
        multi(self, commands, rest, next) {
          seen.push(`multi ${commands.map(({ args }) => args[0]).join(' ')}`);
          return next(self, commands, rest);
        },
        pipeline(self, commands, rest, next) {
          seen.push(`pipeline ${commands.map(({ args }) => args[0]).join(' ')}`);
          return next(self, commands, rest);
        },
      });
      await client.set('k', 'v');
      await client.sendCommand(['GET', 'k']);
      await sendOn(client, ['PING']);
      expect(
        String((await client.multi().get('k').exec())[0]) === 'v',
        'a multi() passed the layer, but its reply did not come back',
      );
      await client.multi().get('k').execAsPipeline();
      await runMultiOn(client, [{ args: ['GET', 'k'] }], []);
      await runPipelineOn(client, [{ args: ['GET', 'k'] }], []);
      const expected = ['SET', 'GET', 'PING', 'multi GET', 'pipeline GET', 'multi GET', 'pipeline GET'];
      expect(
        seen.join(', ') === expected.join(', '),
        'commands no longer all end in the instance’s sendCommand, _executeMulti and _executePipeline ' +
          `(_self): the layers saw ${seen.join(', ') || 'nothing'}, not ${expected.join(', ')}`,
      );
    },
  },
  {
    of: 'installFastPath',
    async run(peer) {
      const client = await peer.client();
      const hooked: unknown[] = [];
      installFastPath(client, (args) => {
        hooked.push(args[0]);
        return args[0] === 'ECHO' ? Promise.resolve('answered here') : undefined;
      });
      const echoed = await client.echo('x');
      expect(
        hooked[0] === 'ECHO' && echoed === 'answered here',
        'the first typed command did not pass _self._executeCommand(command, parser, options, transform)',
      );
      peer.script = ([name]) => (name === 'GEOSEARCH' ? '*1\r\n*2\r\n$1\r\nm\r\n$3\r\n1.5\r\n' : undefined);
      const found = await client.geoSearchWith('g', { longitude: 0, latitude: 0 }, { radius: 1, unit: 'km' }, [
        'WITHDIST',
      ]);
      expect(
        found[0]?.member === 'm' && found[0]?.distance === 1.5,
        `a transform through the fast path did not get the parser's redisArgs and preserve: ${JSON.stringify(found)}`,
      );
    },
  },
  {
    of: 'pendingCount, flushWaitingForReply, flushAll',
    async run(peer) {
      const client = await peer.client();
      const waiting = [settled(client.sendCommand(['HOLD'])), settled(client.sendCommand(['HOLD']))];
      expect(pendingCount(client) === 2, `_getQueue().pendingCount is ${pendingCount(client)} with 2 commands sent`);
      await until(() => peer.received('HOLD') === 2, 'the commands never reached the server');
      const flushed = new Error('flushed');
      flushWaitingForReply(client, flushed);
      for (const outcome of await Promise.all(waiting)) {
        expect(
          'error' in outcome && outcome.error === flushed,
          'flushWaitingForReply() did not reject what awaits a reply',
        );
      }
      expect(pendingCount(client) === 0, `_getQueue().pendingCount is ${pendingCount(client)} after the flush`);
      const queued = settled(client.sendCommand(['HOLD']));
      flushAll(client, flushed);
      const outcome = await queued;
      expect('error' in outcome && outcome.error === flushed, 'flushAll() did not reject a command queued to write');
    },
  },
  {
    of: 'coalesceWrites',
    async run(peer) {
      const client = await peer.client();
      const counted = coalesceWrites(client);
      await Promise.all(['a', 'b', 'c'].map((value, i) => client.set(`w${i}`, value)));
      expect(
        counted.writes === 1,
        `a batch of 3 commands made ${counted.writes} writes through _getQueue().commandsToWrite(), not 1`,
      );
      expect((await client.get('w1')) === 'b', 'a coalesced batch did not reach the server intact');
    },
  },
  {
    of: 'killableSocket, socketKiller, typeLostCommands',
    async run(peer) {
      const client = await peer.client({ reconnect: true });
      const killer = socketKiller(client);
      class Typed extends Error {}
      typeLostCommands(client, (error) => new Typed('lost', { cause: error }));
      // Twice: the signal must end the second socket too, and leave no listeners of the first.
      for (let round = 1; round <= 2; round++) {
        await until(() => client.isReady, 'the client did not reconnect after its socket was destroyed');
        const held = settled(client.sendCommand(['HOLD']));
        const before = peer.received('HOLD');
        await until(() => peer.received('HOLD') > before, 'the command never reached the server');
        const reason = new Error('killed');
        killer.kill(reason);
        const outcome = await beforeDeadline<{ error?: unknown } | undefined>(held, 500, () => undefined);
        expect(
          outcome !== undefined,
          'the signal in the socket options did not destroy the socket: they no longer reach net.connect()',
        );
        const error = outcome.error;
        expect(
          error instanceof Typed,
          `a lost socket's commands were not rejected through the queue's flush methods (got ${describe(error)})`,
        );
        expect(
          (error.cause as Error | undefined)?.cause === reason,
          'the error a lost socket rejects with does not carry the reason it was destroyed for',
        );
        expect(killer.listenerCount <= 2, `a socket holds ${killer.listenerCount} abort listeners, not 1 or 2`);
      }
    },
  },
  {
    of: 'tapDecoder, decoderTap, expectReplies',
    async run(peer) {
      peer.script = ([name, key]) => {
        if (name === 'PUSHPING') return '>2\r\n$3\r\nfoo\r\n$3\r\nbar\r\n+PONG\r\n';
        if (name === 'MONITOR') return '+OK\r\n+1.5 [0 127.0.0.1:1] "PING"\r\n';
        if (name === 'GET' && key === 'number') return ':1\r\n';
        if (name === 'GET' && key === 'garbage') return 'nope\r\n';
        return undefined;
      };
      const tapped = async () => {
        const client = await peer.client();
        const seen = { broken: [] as unknown[], errorReplies: 0 };
        tapDecoder(client, {
          broken: (cause) => seen.broken.push(cause),
          errorReply: (error, deliver) => {
            seen.errorReplies++;
            deliver(error);
          },
        });
        expectReplies(client);
        const tap = decoderTap(client);
        return { client, replies: () => tap.replies, seen };
      };
      const { client, replies, seen } = await tapped();
      await client.set('k', 'v');
      expect((await client.get('k')) === 'v' && replies() === 2, 'the decoder’s onReply did not see the replies');
      const refused = await settled(client.sendCommand(['NOPE']));
      expect(
        'error' in refused && refused.error instanceof ErrorReply && seen.errorReplies === 1 && replies() === 3,
        'the decoder’s onErrorReply did not see an error reply',
      );
      expect(
        String(await client.sendCommand(['PUSHPING'])) === 'PONG' && replies() === 5,
        'the decoder’s onPush did not see a push',
      );
      const mismatched = settled(client.get('number'));
      await until(
        () => seen.broken.length > 0,
        'a number sent for GET was not refused: getTypeMapping() is not the waiting command’s type mapping',
      );
      expect(seen.broken[0] instanceof UnmatchedReply, `GET’s number was refused as ${describe(seen.broken[0])}`);
      flushAll(client, new Error('reset'));
      await mismatched;

      const monitoring = await tapped();
      const lines: string[] = [];
      await monitoring.client.monitor((line) => lines.push(line));
      await until(
        () => lines.length === 1 && monitoring.replies() === 2,
        'the reply handler node-redis swaps in for MONITOR was not routed through the tap',
      );

      const garbled = await tapped();
      const garbage = settled(garbled.client.get('garbage'));
      await until(() => garbled.seen.broken.length > 0, 'bytes that are not RESP did not make the decoder throw');
      flushAll(garbled.client, new Error('reset'));
      await garbage;
    },
  },
  {
    of: 'checkEveryCommand, deriveViewsFrom, commandOptionsOf',
    async run(peer) {
      const client = await peer.client();
      expect(
        (commandOptionsOf(client) as { timeout?: unknown } | undefined)?.timeout === 0,
        '_commandOptions does not hold the client’s command options',
      );
      const facade = Object.create(client) as StringClient & Record<string, unknown>;
      let checks = 0;
      checkEveryCommand(facade, client, () => {
        checks++;
      });
      deriveViewsFrom(facade);
      await facade.set('f', 'yes');
      expect(checks > 0, 'a command sent through a facade did not read _self');
      const mapping = { [RESP_TYPES.BLOB_STRING]: Buffer };
      const view = facade.withTypeMapping(mapping);
      expect(
        Object.getPrototypeOf(view) === facade,
        'withTypeMapping() did not make its view through _commandOptionsProxy',
      );
      expect(
        (commandOptionsOf(view) as { typeMapping?: unknown }).typeMapping === mapping &&
          Buffer.isBuffer(await view.get('f')),
        'a view’s command options (_commandOptions) did not reach its commands',
      );
      expect(
        (commandOptionsOf(client.withTypeMapping(mapping)) as { typeMapping?: unknown }).typeMapping === mapping,
        'node-redis’s own views do not keep their options in _commandOptions',
      );
    },
  },
  {
    of: 'EMPTY_PASSWORD',
    async run(peer) {
      // Every probe's client is made with a username and EMPTY_PASSWORD (see Peer.unconnected).
      await peer.client();
      const hello = peer.commands.findLast((command) => command[0] === 'HELLO');
      const at = hello?.indexOf('AUTH') ?? -1;
      expect(
        at > 0 && hello?.[at + 1] === 'self-check' && hello?.[at + 2] === '',
        'a username with an empty Buffer password was not sent as HELLO … AUTH <username> "", so a nopass ACL user ' +
          'would connect as the default user',
      );
    },
  },
];

const CLUSTER_PROBES: Probe[] = [
  {
    of: 'layerClusterCommands',
    async run(peer) {
      let moved = false;
      peer.script = ([name, arg]) => {
        if (name === 'CLUSTER' && arg === 'SLOTS') {
          return `*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:${peer.port}\r\n$4\r\nnode\r\n`;
        }
        if (name === 'SET' && arg === 'moved' && !moved) {
          moved = true;
          return `-MOVED ${calculateSlot('moved')} 127.0.0.1:${peer.port}\r\n`;
        }
        return undefined;
      };
      const cluster = peer.adopt(
        createCluster({
          rootNodes: [{ url: peer.url }],
          RESP: 3,
          defaults: { socket: { reconnectStrategy: false }, maintNotifications: 'disabled' },
        } as Parameters<typeof createCluster>[0]),
      );
      cluster.on('error', () => undefined);
      const executed: unknown[] = [];
      const offered: unknown[] = [];
      layerClusterCommands(
        cluster,
        (_run, parser, _options, next) => {
          executed.push(parser.redisArgs[0]);
          return next();
        },
        (key) => {
          offered.push(key);
          const client = cluster.slots[calculateSlot(key as string)]?.master.client;
          return client?.isReady ? client : undefined;
        },
      );
      await cluster.connect();
      await cluster.sendCommand(undefined, true, ['PING']);
      expect(
        executed.includes('PING'),
        'sendCommand() on the cluster did not pass the instance’s _execute(parser, isReadonly, options, run)',
      );
      expect((await cluster.set('k', 'v')) === 'OK' && executed.includes('SET'), 'a typed SET did not pass _execute');
      expect(
        offered.includes('k'),
        'a typed command did not pass _self._executeWithPolicies(parser, isReadonly, options, makeRun)',
      );
      expect(
        (await cluster.set('moved', 'v')) === 'OK' && peer.received('SET', 'moved') === 2,
        'a MOVED reply to a command run on a node client directly was not followed by node-redis’s _execute',
      );
    },
  },
];

/**
 * Runs `probes` against a fresh peer and resolves with what differs, one sentence each; none when
 * node-redis behaves as the pool relies on. Not cached: `checkNodeRedis()` is what the pool calls.
 */
export async function probeNodeRedis(which: 'client' | 'cluster' = 'client'): Promise<string[]> {
  const missing = Object.entries(EXPORTS)
    .filter(([, value]) => value === undefined)
    .map(([name]) => name);
  if (missing.length > 0) return [`node-redis does not export ${missing.join(', ')}`];
  const failures: string[] = [];
  const peer = new Peer();
  try {
    await peer.start();
  } catch (error) {
    throw new Error(`The node-redis self-check could not listen on 127.0.0.1 in this process: ${describe(error)}`, {
      cause: error,
    });
  }
  try {
    for (const probe of which === 'client' ? CLIENT_PROBES : CLUSTER_PROBES) {
      peer.script = undefined;
      try {
        await beforeDeadline(probe.run(peer), PROBE_DEADLINE_MS, () => {
          throw new Difference(`no result within ${PROBE_DEADLINE_MS / 1000} s: a reply did not reach its command`);
        });
      } catch (error) {
        failures.push(`${probe.of}: ${error instanceof Difference ? error.message : describe(error)}`);
      } finally {
        peer.destroyClients();
      }
    }
  } finally {
    await peer.stop();
  }
  return failures;
}

const checks = new Map<'client' | 'cluster', Promise<void>>();

/**
 * Checks, once per process, that node-redis behaves as the pool relies on: its clients, and in
 * cluster mode its cluster client too. Rejects with `UnsupportedNodeRedisError` when it does not.
 */
export function checkNodeRedis(cluster: boolean, logger: Logger): Promise<void> {
  const client = once('client', logger);
  return cluster ? client.then(() => once('cluster', logger)) : client;
}

function once(which: 'client' | 'cluster', logger: Logger): Promise<void> {
  let check = checks.get(which);
  if (!check) {
    const startedAt = performance.now();
    check = probeNodeRedis(which).then(
      (failures) => {
        if (failures.length > 0) throw new UnsupportedNodeRedisError(nodeRedisVersion(), supportedRange(), failures);
        const ms = Math.round(performance.now() - startedAt);
        logger.debug({ version: nodeRedisVersion(), ms }, `node-redis passed the pool's self-check (${which})`);
      },
      (error: unknown) => {
        // The check could not run at all (no loopback): try again next time.
        checks.delete(which);
        throw error;
      },
    );
    checks.set(which, check);
  }
  return check;
}

const require = createRequire(import.meta.url);

/** The version of the `redis` package the pool loads, and of its `@redis/client` if that differs. */
export function nodeRedisVersion(): string {
  const manifest = require.resolve('redis/package.json');
  const redis = (require(manifest) as { version: string }).version;
  const client = (createRequire(manifest)('@redis/client/package.json') as { version: string }).version;
  return client === redis ? redis : `${redis} (@redis/client ${client})`;
}

/** The `redis` range of the pool's own package.json: the versions it supports. */
export function supportedRange(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    dependencies: { redis: string };
  };
  return manifest.dependencies.redis;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
