import { createServer, type Server, type Socket } from 'node:net';
import { endOfValue } from './reply-faults.js';

/** One client connection to a {@link FakeRedis}. */
export interface FakeConnection {
  /** 1 for the first connection the server accepted, 2 for the next, and so on. */
  readonly id: number;
  /** The RESP version the client asked for with `HELLO` (2 until it does). */
  readonly protocol: 2 | 3;
  /** Sends raw bytes to the client: a reply written by hand, possibly malformed. */
  write(data: string | Buffer): void;
  /** Closes the connection. */
  destroy(): void;
}

/**
 * Decides the answer to one command. Return raw RESP bytes to send them as they are (`''` to send
 * nothing: a dropped reply, after which the next commands are answered), `null` for a reply the
 * function writes later through `connection` (as Redis does, the next commands are answered once
 * it has written a whole RESP value), or `undefined` for the server's own answer.
 */
export type FakeReply = (command: string[], connection: FakeConnection) => string | Buffer | null | undefined;

/** Options of {@link startFakeRedis}. */
export interface FakeRedisOptions {
  /** Overrides the answers, command by command (see {@link FakeReply}). */
  reply?: FakeReply;
  /** Whether `HELLO` is known, as on Redis 6 and later; `false` answers it as Redis 5 does. @default true */
  hello?: boolean;
}

/**
 * A RESP server on 127.0.0.1 that answers like a tiny Redis (HELLO, AUTH, CLIENT, SELECT, PING,
 * ECHO, GET, SET, MSET, INCR, DEL, EXISTS, SUBSCRIBE, PSUBSCRIBE, QUIT) and lets a test break any answer: garbage bytes,
 * a dropped or extra reply, a reply of the wrong type, a trickle. For tests of what a broken or
 * hostile server does to a client; tests of behaviour against Redis itself use `startRedisServer`.
 */
export interface FakeRedis {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Every command received, in order, across connections. */
  readonly commands: readonly string[][];
  /** Connections open now. */
  readonly connections: number;
  /** Closes every connection and stops listening. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a fake Redis server on a free loopback port.
 *
 * @example
 * // The reply to GET k0 is garbage; every other command gets the usual answer.
 * const server = await startFakeRedis({
 *   reply: ([name, key]) => (name === 'GET' && key === 'k0' ? 'hello\r\n' : undefined),
 * });
 */
export async function startFakeRedis(options: FakeRedisOptions = {}): Promise<FakeRedis> {
  const data = new Map<string, string>();
  const commands: string[][] = [];
  const sockets = new Set<Socket>();
  let accepted = 0;

  const server: Server = createServer((socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const parser = new CommandParser();
    /** Commands received while a reply is being written later, answered after it. */
    const queued: string[][] = [];
    /** What the function has written of a reply it writes later, until it is a whole RESP value. */
    let later: Buffer | undefined;
    const connection = {
      id: ++accepted,
      protocol: 2 as 2 | 3,
      write: (bytes: string | Buffer) => {
        if (socket.destroyed) return;
        socket.write(bytes);
        if (later === undefined) return;
        later = Buffer.concat([later, Buffer.from(bytes)]);
        if (endOfValue(later, 0) === -1) return;
        later = undefined;
        answer();
      },
      destroy: () => socket.destroy(),
    };
    const answer = () => {
      while (later === undefined && queued.length > 0) {
        const command = queued.shift() as string[];
        const custom = options.reply?.(command, connection);
        const reply = custom === undefined ? builtIn(command, connection, data, options.hello !== false) : custom;
        if (reply === null) later = Buffer.alloc(0);
        else if (!socket.destroyed) socket.write(reply);
      }
    };
    socket.on('data', (chunk) => {
      for (const command of parser.push(chunk)) {
        commands.push(command);
        queued.push(command);
      }
      answer();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  let stopping: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    commands,
    get connections() {
      return sockets.size;
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      });
      return stopping;
    },
  };
}

/** The server's own answers. */
function builtIn(
  [name = '', ...args]: string[],
  connection: { protocol: 2 | 3 },
  data: Map<string, string>,
  hello: boolean,
): string {
  const resp3 = () => connection.protocol === 3;
  const nil = () => (resp3() ? '_\r\n' : '$-1\r\n');
  switch (name.toUpperCase()) {
    case 'HELLO': {
      if (!hello) return `-ERR unknown command 'HELLO', with args beginning with: ${args.join(' ')}\r\n`;
      connection.protocol = args[0] === '3' ? 3 : 2;
      const fields = ['server', 'fake-redis', 'version', '7.0.0', 'proto', String(connection.protocol)];
      const head = resp3() ? `%${fields.length / 2}` : `*${fields.length}`;
      return `${head}\r\n${fields.map(bulk).join('')}`;
    }
    case 'AUTH':
    case 'CLIENT':
    case 'SELECT':
    case 'QUIT':
      return '+OK\r\n';
    case 'PING':
      return args[0] === undefined ? '+PONG\r\n' : bulk(args[0]);
    case 'ECHO':
      return bulk(args[0] ?? '');
    case 'SET':
      data.set(args[0] ?? '', args[1] ?? '');
      return '+OK\r\n';
    case 'MSET':
      for (let i = 0; i + 1 < args.length; i += 2) data.set(args[i] as string, args[i + 1] as string);
      return '+OK\r\n';
    case 'GET': {
      const value = data.get(args[0] ?? '');
      return value === undefined ? nil() : bulk(value);
    }
    case 'INCR': {
      const value = Number(data.get(args[0] ?? '') ?? '0') + 1;
      data.set(args[0] ?? '', String(value));
      return `:${value}\r\n`;
    }
    case 'SUBSCRIBE':
    case 'PSUBSCRIBE':
      // One confirmation per channel: a push in RESP3, an array in RESP2.
      return args
        .map((channel, i) => `${resp3() ? '>' : '*'}3\r\n${bulk(name.toLowerCase())}${bulk(channel)}:${i + 1}\r\n`)
        .join('');
    case 'DEL':
    case 'EXISTS': {
      const found = args.filter((key) => data.has(key)).length;
      if (name.toUpperCase() === 'DEL') for (const key of args) data.delete(key);
      return `:${found}\r\n`;
    }
    default:
      return `-ERR unknown command '${name}'\r\n`;
  }
}

function bulk(value: string): string {
  return `$${Buffer.byteLength(value)}\r\n${value}\r\n`;
}

/** Splits the bytes a client sends into commands: RESP arrays of bulk strings, as every client sends them. */
class CommandParser {
  #buffer = Buffer.alloc(0);

  *push(chunk: Buffer): Generator<string[]> {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const parsed = this.#next();
      if (!parsed) return;
      this.#buffer = this.#buffer.subarray(parsed.end);
      yield parsed.command;
    }
  }

  #next(): { command: string[]; end: number } | undefined {
    const line = (from: number) => {
      const end = this.#buffer.indexOf('\r\n', from);
      return end === -1 ? undefined : { text: this.#buffer.toString('utf8', from, end), next: end + 2 };
    };
    const header = line(0);
    if (!header) return undefined;
    if (!header.text.startsWith('*')) return { command: header.text.split(' '), end: header.next };
    const count = Number(header.text.slice(1));
    const command: string[] = [];
    let at = header.next;
    for (let i = 0; i < count; i++) {
      const size = line(at);
      if (!size) return undefined;
      const length = Number(size.text.slice(1));
      if (this.#buffer.length < size.next + length + 2) return undefined;
      command.push(this.#buffer.toString('utf8', size.next, size.next + length));
      at = size.next + length + 2;
    }
    return { command, end: at };
  }
}
