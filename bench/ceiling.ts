/**
 * The Node runtime's ceiling for the bench's workloads: the simplest code that does the same work
 * on this runtime. A pipelined RESP client with no timeouts, no reconnects, no types, no error
 * handling and no checks: commands are joined into one string and written once per turn of the
 * event loop, and replies are matched to callers by their order. Nothing a service could run in
 * production, and not a contender to beat: what every client here is measured against.
 */
import { connect, type Socket } from 'node:net';
import calculateSlot from 'cluster-key-slot';

type Reply = string | number | null | Error | Reply[];
type Settle = (reply: Reply) => void;

/** One connection: `send()` queues a command, written with the others of the same turn. */
export class CeilingConnection {
  readonly #socket: Socket;
  #out = '';
  #scheduled = false;
  /** Callers waiting, in the order their replies come; `#head` is the oldest. */
  readonly #waiting: Settle[] = [];
  #head = 0;
  #in: Buffer = Buffer.alloc(0);

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
  }

  static open(host: string, port: number): Promise<CeilingConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port }, () => resolve(new CeilingConnection(socket)));
      socket.once('error', reject);
    });
  }

  send(args: readonly string[]): Promise<Reply> {
    let command = `*${args.length}\r\n`;
    for (const arg of args) command += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
    this.#out += command;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.#socket.write(this.#out);
        this.#out = '';
      });
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  get(key: string): Promise<Reply> {
    return this.send(['GET', key]);
  }

  set(key: string, value: string): Promise<Reply> {
    return this.send(['SET', key, value]);
  }

  close(): void {
    this.#socket.destroy();
  }

  #read(chunk: Buffer): void {
    const data = this.#in.length === 0 ? chunk : Buffer.concat([this.#in, chunk]);
    let at = 0;
    for (;;) {
      const parsed = parse(data, at);
      if (parsed === undefined) break;
      at = parsed[1];
      (this.#waiting[this.#head++] as Settle)(parsed[0]);
    }
    this.#in = data.subarray(at);
    if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting.splice(0, this.#head);
      this.#head = 0;
    }
  }
}

/** One RESP2 reply at `at`, and where the next begins; undefined while incomplete. */
function parse(data: Buffer, at: number): [Reply, number] | undefined {
  const end = data.indexOf(13, at);
  if (end === -1 || end + 1 >= data.length) return undefined;
  const line = data.toString('latin1', at + 1, end);
  const next = end + 2;
  switch (data[at]) {
    case 43: // +
      return [line, next];
    case 45: // -
      return [new Error(line), next];
    case 58: // :
      return [Number(line), next];
    case 36: {
      // $
      const length = Number(line);
      if (length < 0) return [null, next];
      if (data.length < next + length + 2) return undefined;
      return [data.toString('utf8', next, next + length), next + length + 2];
    }
    default: {
      // *
      const items: Reply[] = [];
      let from = next;
      for (let i = Number(line); i > 0; i--) {
        const item = parse(data, from);
        if (item === undefined) return undefined;
        items.push(item[0]);
        from = item[1];
      }
      return [items, from];
    }
  }
}

/** The ceiling in cluster mode: one connection per primary, each command sent to its key's slot owner. */
export class CeilingCluster {
  readonly #connections: CeilingConnection[];
  readonly #bySlot: Uint8Array;

  private constructor(connections: CeilingConnection[], bySlot: Uint8Array) {
    this.#connections = connections;
    this.#bySlot = bySlot;
  }

  static async open(host: string, port: number): Promise<CeilingCluster> {
    const first = await CeilingConnection.open(host, port);
    const ranges = (await first.send(['CLUSTER', 'SLOTS'])) as [number, number, [string, number]][];
    first.close();
    const addresses = [...new Set(ranges.map(([, , [, nodePort]]) => nodePort))];
    const connections = await Promise.all(addresses.map((nodePort) => CeilingConnection.open(host, nodePort)));
    const bySlot = new Uint8Array(16384);
    for (const [from, to, [, nodePort]] of ranges) bySlot.fill(addresses.indexOf(nodePort), from, to + 1);
    return new CeilingCluster(connections, bySlot);
  }

  #for(key: string): CeilingConnection {
    return this.#connections[this.#bySlot[calculateSlot(key)] as number] as CeilingConnection;
  }

  get(key: string): Promise<Reply> {
    return this.#for(key).get(key);
  }

  set(key: string, value: string): Promise<Reply> {
    return this.#for(key).set(key, value);
  }

  close(): void {
    for (const connection of this.#connections) connection.close();
  }
}

/** The ceiling for leases: `size` connections, each lent to one caller at a time, callers waiting in turn. */
export class CeilingLeases {
  readonly #free: CeilingConnection[];
  readonly #waiting: ((connection: CeilingConnection) => void)[] = [];

  private constructor(connections: CeilingConnection[]) {
    this.#free = connections;
  }

  static async open(host: string, port: number, size: number): Promise<CeilingLeases> {
    const connections = await Promise.all(Array.from({ length: size }, () => CeilingConnection.open(host, port)));
    return new CeilingLeases(connections);
  }

  async withConnection<T>(use: (connection: CeilingConnection) => Promise<T>): Promise<T> {
    const connection =
      this.#free.pop() ?? (await new Promise<CeilingConnection>((resolve) => this.#waiting.push(resolve)));
    try {
      return await use(connection);
    } finally {
      const next = this.#waiting.shift();
      if (next) next(connection);
      else this.#free.push(connection);
    }
  }

  close(): void {
    for (const connection of this.#free) connection.close();
  }
}
