import calculateSlot from 'cluster-key-slot';
import type { StringClient } from '../client/types.js';
import { beforeDeadline } from '../deadline.js';
import {
  addWithAbortSignal,
  BasicPooledClientSideCache,
  COMMAND_METADATA,
  cachedGet,
  checkEveryCommand,
  chooseClusterNodes,
  coalesceWrites,
  commandOptionsOf,
  createCluster,
  decoderTap,
  deriveViewsFrom,
  ErrorReply,
  fenceWrites,
  flushAll,
  flushWaitingForReply,
  installFastPath,
  isPubSubActive,
  layerClusterCommands,
  layerCommands,
  onFlush,
  pendingCount,
  RESP_TYPES,
  runMultiOn,
  runPipelineOn,
  sendOn,
  socketKiller,
  tapDecoder,
  typeLostCommands,
} from './node-redis.js';
import { Difference, describe, expect, type Peer, type Probe, settled, until } from './probe-peer.js';
import { checkReply, expectReplies, UnmatchedReply } from './reply-checks.js';
import { answerable, ReplyFences } from './reply-fences.js';

/** A client of `peer` with reply fences, whose fence replies the peer writes only at `release()`. */
async function fenced(peer: Peer) {
  const client = await peer.client();
  const broken: unknown[] = [];
  const fences = new ReplyFences({
    answerable: answerable(client),
    broken: (cause) => broken.push(cause),
    refusal: (error) => error,
  });
  fenceWrites(client, fences);
  onFlush(client, (error) => fences.lost(error));
  tapDecoder(client, {
    gate: fences.gate,
    broken: (cause) => broken.push(cause),
    errorReply: (e, deliver) => deliver(e),
  });
  coalesceWrites(client);
  const tap = decoderTap(client);
  const fence = { release: undefined as (() => void) | undefined };
  peer.script = ([name, token], connection) => {
    if (name !== 'ECHO' || token === undefined) return undefined;
    fence.release = () => connection.write(`$${token.length}\r\n${token}\r\n`);
    return null;
  };
  /** Sends `send()`'s batch; checks that its replies came and were held until its fence came; returns them. */
  const held = async (send: () => Promise<unknown>[], replies: number) => {
    fence.release = undefined;
    const before = tap.replies;
    let done = 0;
    const outcomes = send().map((reply) => settled(reply.finally(() => done++)));
    await until(
      () => fence.release !== undefined,
      'no fence (ECHO <token>) was written after a batch: _getQueue().addCommand(args, { asap }) and a new commandsToWrite() did not take it',
    );
    await until(() => tap.replies >= before + replies, 'the replies of a fenced batch did not come');
    await new Promise((resolve) => setImmediate(resolve));
    return { outcomes, early: () => done > 0 };
  };
  return { client, broken, fence, held };
}

export const CLIENT_PROBES: Probe[] = [
  {
    of: 'installFastPath (its read hook), replicaSafe',
    async run(peer) {
      expect(
        COMMAND_METADATA !== undefined,
        'no command metadata at @redis/client/dist/lib/command-metadata (defaultCommandMetadata, isReplicaSafe)',
      );
      const client = await peer.client();
      const offered: unknown[] = [];
      installFastPath(client, undefined, (args) => {
        offered.push(args[0]);
        return args[0] === 'GET' ? Promise.resolve('from a replica') : undefined;
      });
      expect((await client.get('k')) === 'from a replica', 'a GET was not answered by the read hook');
      await client.set('k', 'v');
      await client.ping();
      expect(
        offered.length === 1 && offered[0] === 'GET',
        `node-redis's command metadata did not tell GET (replica-safe) from SET and PING: offered ${offered.join(', ')}`,
      );
    },
  },
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
    of: 'installFastPath (a cache), cachedGet',
    async run(peer) {
      const cache = new BasicPooledClientSideCache();
      const client = await peer.client({ cache });
      installFastPath(client, undefined);
      await client.set('cached', 'v');
      const before = peer.received('GET', 'cached');
      await client.get('cached');
      await client.get('cached');
      expect(
        peer.received('GET', 'cached') === before + 1,
        "a client with clientSideCache sent GET twice: node-redis's cache lookup is gone from under the fast path",
      );
      expect(
        cachedGet(cache, 'cached') === 'v',
        "cachedGet() did not find node-redis's entry for GET cached: its cache key or entry shape changed",
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
          reply: checkReply,
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
    of: 'fenceWrites, onFlush, isPubSubActive, tapDecoder (its gate)',
    async run(peer) {
      const { client, broken, fence, held } = await fenced(peer);
      const batch = await held(() => [client.set('f', 'a'), client.get('f'), client.sendCommand(['NOPE'])], 3);
      const names = peer.commands.slice(-4).map(([name]) => name);
      expect(
        names.join() === 'SET,GET,NOPE,ECHO',
        `the fence did not follow its batch on the wire: ${names.join(' ')}`,
      );
      expect(
        !batch.early(),
        'a reply reached its command before the fence after it: the decoder’s onReply (and onErrorReply, through it) did not settle it through the gate',
      );
      fence.release?.();
      const [set, get, nope] = await Promise.all(batch.outcomes);
      expect(
        set?.value === 'OK' && get?.value === 'a' && nope?.error instanceof ErrorReply && broken.length === 0,
        'the replies held for a fence did not reach their commands once it came',
      );

      // node-redis resets its reply handler when it flushes: the gate must still hold after that.
      flushWaitingForReply(client, new Error('nothing is waiting'));
      const after = await held(() => [client.get('f')], 1);
      expect(
        !after.early(),
        'after node-redis reset its reply handler, a reply was not held: its own handler is no longer told by its source text',
      );
      const flushed = new Error('flushed');
      flushWaitingForReply(client, flushed);
      const [refused] = await Promise.all(after.outcomes);
      expect(
        refused?.error === flushed,
        'a reply held for a fence was not refused when node-redis flushed its commands',
      );

      const subscriber = await peer.client();
      await subscriber.subscribe('fences', () => undefined);
      expect(isPubSubActive(subscriber), '_getQueue().isPubSubActive is not true on a subscribed client');
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

/** A cluster client of the peer (which says it holds every slot), not yet connected. */
function peerCluster(peer: Peer) {
  const cluster = peer.adopt(
    createCluster({
      rootNodes: [{ url: peer.url }],
      RESP: 3,
      defaults: { socket: { reconnectStrategy: false }, maintNotifications: 'disabled' },
    } as Parameters<typeof createCluster>[0]),
  );
  cluster.on('error', () => undefined);
  return cluster;
}

export const CLUSTER_PROBES: Probe[] = [
  {
    of: 'chooseClusterNodes, layerClusterCommands (a transaction)',
    async run(peer) {
      peer.script = ([name, arg]) =>
        name === 'CLUSTER' && arg === 'SLOTS'
          ? `*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:${peer.port}\r\n$4\r\nnode\r\n`
          : undefined;
      const cluster = peerCluster(peer);
      const chosen: string[] = [];
      chooseClusterNodes(cluster, {
        read: (shard) => {
          chosen.push(`read ${shard.master.port}`);
          return shard.master;
        },
        keyless: (masters) => {
          chosen.push(`keyless ${masters.length}`);
          return masters[0] as never;
        },
      });
      const readonly: boolean[] = [];
      layerClusterCommands(cluster, (_run, _parser, _options, route) => {
        readonly.push(route.readonly());
        return route.next();
      });
      await cluster.connect();
      await cluster.get('k');
      // ECHO's request policy is default-keyless; PING's (all_shards) asks every primary.
      await cluster.sendCommand(undefined, true, ['ECHO', 'x']);
      await cluster.multi().get('k').exec();
      expect(
        chosen.join(', ') === `read ${peer.port}, keyless 1`,
        `_slots.getSlotRandomNode(slot) and _slots.getRandomNode() were not where the cluster chose nodes: ${chosen.join(', ')}`,
      );
      expect(
        readonly.join() === 'true,true,false',
        `a GET, an ECHO and a transaction of GETs were not replica-safe, replica-safe and not: ${readonly.join()}`,
      );
    },
  },
  {
    of: 'addWithAbortSignal',
    async run() {
      const cluster = createCluster({ rootNodes: [], commandOptions: { timeout: 7 } } as Parameters<
        typeof createCluster
      >[0]);
      addWithAbortSignal(cluster);
      const signal = new AbortController().signal;
      const view = (cluster as unknown as { withAbortSignal(signal: AbortSignal): object }).withAbortSignal(signal);
      const options = commandOptionsOf(view) as { abortSignal?: unknown; timeout?: unknown } | undefined;
      expect(
        options?.abortSignal === signal && options.timeout === 7 && Object.getPrototypeOf(view) === cluster,
        'the cluster client’s _commandOptionsProxy(key, value) did not make a view of it with its options and the one added',
      );
    },
  },
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
      const cluster = peerCluster(peer);
      const executed: unknown[] = [];
      const offered: unknown[] = [];
      layerClusterCommands(
        cluster,
        (_run, parser, _options, route) => {
          executed.push(parser.redisArgs[0]);
          return route.next();
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
