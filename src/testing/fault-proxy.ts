import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { type ReplyFault, type ReplyFaultPlan, replyFaulter } from './reply-faults.js';

/** Options of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** The server to forward to: a `redis://host:port` URL or a port on 127.0.0.1. */
  target: string | number;
  /** The port to listen on. @default a free port chosen by the OS */
  port?: number;
}

/** What the proxy does with traffic, set at run time. */
export type FaultMode = 'forward' | 'blackhole' | 'refuse';

/**
 * A TCP proxy on 127.0.0.1 in front of a real server, for fault-injection tests. It starts in
 * `forward` mode; each method switches it at once, for open and new connections alike.
 */
export interface FaultProxy {
  /** `redis://127.0.0.1:<port>`: point the client here instead of at the server. */
  readonly url: string;
  readonly port: number;
  readonly mode: FaultMode;
  /** Client connections open through the proxy. */
  readonly connections: number;
  /** Delays every chunk, both ways, by `ms` (0 for none); order is kept. Applies in `forward` mode. */
  latency(ms: number): void;
  /** Resets every open connection (TCP RST to the client), as a network cut would. New ones are forwarded. */
  cut(): void;
  /** Open and new connections stay up, but nothing is forwarded either way, as behind a dead link. */
  blackhole(): void;
  /** Stops listening, so new connections are refused (ECONNREFUSED); open ones keep working. */
  refuse(): Promise<void>;
  /** Back to normal forwarding without latency, listening again if refused. Blackholed connections are reset. */
  restore(): Promise<void>;
  /**
   * Applies `fault` to the next reply the server sends on any connection, or, with `every`, to
   * about one reply in `every` at random until called again; `undefined` stops. Pushes are never
   * faulted. The server's bytes are cut into whole RESP values first (which the proxy forwards
   * whole in every mode).
   */
  faultReplies(fault: ReplyFault | undefined, options?: { every?: number }): void;
  /** Replies faulted so far. */
  readonly faultedReplies: number;
  /** Resets every connection and stops listening. Idempotent. */
  stop(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

/**
 * Starts a fault-injection proxy in front of `target`.
 *
 * @example
 * const proxy = await startFaultProxy({ target: server.url });
 * const redis = await pool.getClient(settingsFor(proxy.url));
 * proxy.blackhole(); // commands now time out
 * await proxy.restore();
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = parseTarget(options.target);
  const pairs = new Set<Pair>();
  let mode: FaultMode = 'forward';
  let delayMs = 0;
  let plan: ReplyFaultPlan | undefined;
  let faulted = 0;
  const applied = () => {
    faulted++;
    if (plan?.every === undefined) plan = undefined;
  };
  let server: Server | undefined;
  let port = options.port ?? 0;

  /** Forwards `from` to `to`, unless the proxy blackholes; with latency, each chunk waits its turn. */
  const pipe = (from: Socket, to: Socket, through: (chunk: Buffer) => Buffer = (chunk) => chunk) => {
    from.on('data', (received: Buffer) => {
      if (mode === 'blackhole') return;
      const chunk = through(received);
      if (chunk.length === 0) return;
      if (delayMs === 0) to.write(chunk);
      else setTimeout(() => to.destroyed || to.write(chunk), delayMs);
    });
  };

  const accept = (client: Socket) => {
    client.setNoDelay(true);
    const upstream = createConnection({ host: target.host, port: target.port });
    upstream.setNoDelay(true);
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', () => client.resetAndDestroy()).on('close', end);
    pipe(client, upstream);
    pipe(
      upstream,
      client,
      replyFaulter(() => plan, applied),
    );
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const listening = createServer(accept);
      listening.once('error', reject);
      listening.listen(port, '127.0.0.1', () => {
        port = (listening.address() as { port: number }).port;
        server = listening;
        resolve();
      });
    });

  // close() stops accepting at once; its callback would wait for open connections to end.
  const stopListening = () => {
    server?.close();
    server = undefined;
  };

  const resetAll = () => {
    for (const { client, upstream } of [...pairs]) {
      if (!client.destroyed) client.resetAndDestroy();
      upstream.destroy();
    }
  };

  await listen();

  return {
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get mode() {
      return mode;
    },
    get connections() {
      return pairs.size;
    },
    latency(ms) {
      delayMs = ms;
    },
    get faultedReplies() {
      return faulted;
    },
    faultReplies(fault, options = {}) {
      plan = fault === undefined ? undefined : { fault, every: options.every };
    },
    cut: resetAll,
    blackhole() {
      mode = 'blackhole';
    },
    async refuse() {
      mode = 'refuse';
      stopListening();
    },
    async restore() {
      if (mode === 'blackhole') resetAll();
      mode = 'forward';
      delayMs = 0;
      if (!server) await listen();
    },
    async stop() {
      resetAll();
      stopListening();
    },
  };
}

function parseTarget(target: string | number): { host: string; port: number } {
  if (typeof target === 'number') return { host: '127.0.0.1', port: target };
  const url = new URL(target);
  return { host: url.hostname, port: Number(url.port || 6379) };
}
