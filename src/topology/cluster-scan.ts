/**
 * Cluster-wide `scanIterator()`, and the key-routed scan iterators node-redis's cluster client
 * lacks (`hScanIterator()` …), for the pool's cluster client.
 */
import type { RedisArgument } from 'redis';
import { scopePattern, unscope } from '../client/key-prefix.js';
import type { ClusterClient, ClusterScanOptions, KeyScanOptions, StringClient } from '../client/types.js';
import { ClientUsageError, ConnectError } from '../errors.js';
import { commandOptionsOf } from '../node-redis/node-redis.js';

const SLOTS = 16384;

/** One line of `CLUSTER NODES`: a node, the slots it serves, and the slots moving to or from it. */
export interface ClusterNodesLine {
  id: string;
  /** `host:port`, without the cluster bus port. */
  address: string;
  flags: readonly string[];
  /** Inclusive ranges, as `[first, last]`. */
  slots: readonly (readonly [number, number])[];
  /** Slots that move between nodes: `[slot->-id]` (from this node) and `[slot-<-id]` (to it), as node ids. */
  moves: readonly { slot: number; from: string; to: string }[];
}

/** Parses `CLUSTER NODES`, skipping blank lines. */
export function parseClusterNodes(text: string): ClusterNodesLine[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id = '', endpoint = '', flags = '', , , , , , ...ranges] = line.trim().split(' ');
      const slots: [number, number][] = [];
      const moves: { slot: number; from: string; to: string }[] = [];
      for (const range of ranges) {
        const marker = /^\[(\d+)-([<>])-([0-9a-f]+)\]$/.exec(range);
        if (marker) {
          const [, slot, direction, other] = marker as unknown as [string, string, string, string];
          moves.push(
            direction === '>'
              ? { slot: Number(slot), from: id, to: other }
              : { slot: Number(slot), from: other, to: id },
          );
          continue;
        }
        const [first, last = first] = range.split('-').map(Number) as [number, number?];
        slots.push([first, last]);
      }
      return { id, address: endpoint.split('@')[0]?.split(',')[0] ?? '', flags: flags.split(','), slots, moves };
    });
}

/**
 * The slots' owners through a scan, from the `CLUSTER NODES` of every primary taken before the
 * walk, after each node and at the end. A slot is settled when every view in every snapshot gave
 * it the one owner of the first and no move; any other slot may have had keys move from a node
 * not yet walked to one already walked, so it is read again, from each node it was seen on, in
 * the order they held it: a key that moves between two reads is found at the later one.
 */
export class SlotWatch {
  /** Each slot's owner in the first snapshot (`undefined`: none, or more than one). */
  #first: (string | undefined)[] | undefined;
  /** The nodes each unsettled slot was seen on, sources before destinations. */
  readonly #unsettled = new Map<number, string[]>();
  /** Every node's address, by id, as last seen. */
  readonly #addresses = new Map<string, string>();

  /** Takes one snapshot: the parsed `CLUSTER NODES` of each primary asked. */
  record(views: readonly (readonly ClusterNodesLine[])[]): void {
    const owners: string[][] = Array.from({ length: SLOTS }, () => []);
    const moves: { slot: number; from: string; to: string }[] = [];
    for (const line of views.flat()) {
      this.#addresses.set(line.id, line.address);
      moves.push(...line.moves);
      for (const [first, last] of line.slots) {
        for (let slot = first; slot <= last; slot++) {
          const seen = owners[slot] as string[];
          if (!seen.includes(line.id)) seen.push(line.id);
        }
      }
    }
    const initial = this.#first === undefined;
    if (initial) this.#first = owners.map((seen) => (seen.length === 1 ? seen[0] : undefined));
    const first = this.#first as (string | undefined)[];
    const moving = new Set(moves.map((move) => move.slot));
    for (let slot = 0; slot < SLOTS; slot++) {
      const seen = owners[slot] as string[];
      const settled = seen.length === 1 && seen[0] === first[slot] && !moving.has(slot);
      if (settled && !this.#unsettled.has(slot)) continue;
      let order = this.#unsettled.get(slot);
      if (!order) {
        order = initial || first[slot] === undefined ? [] : [first[slot] as string];
        this.#unsettled.set(slot, order);
      }
      for (const move of moves) if (move.slot === slot) addAll(order, [move.from, move.to]);
      addAll(order, seen);
    }
  }

  /** The primaries of the first snapshot: the nodes to walk, by id. */
  primaries(): string[] {
    return [...new Set((this.#first ?? []).filter((id) => id !== undefined))];
  }

  /** The slots that were not settled, each with the nodes to read it from, in order. */
  unsettled(): ReadonlyMap<number, readonly string[]> {
    return this.#unsettled;
  }

  /** A node's `host:port`, as `CLUSTER NODES` last gave it. */
  addressOf(id: string): string {
    return this.#addresses.get(id) ?? id;
  }
}

function addAll(order: string[], ids: readonly string[]): void {
  for (const id of ids) if (!order.includes(id)) order.push(id);
}

/**
 * Whether `key` matches `pattern` as `SCAN … MATCH` reads it: Redis's glob (`*`, `?`, `[abc]`,
 * `[^a-z]`, `\` escaping the next byte), byte by byte.
 */
export function globMatches(pattern: Uint8Array, key: Uint8Array): boolean {
  let p = 0;
  let k = 0;
  // Where to resume after the last `*`: the pattern just past it, and the key one byte further.
  let starP = -1;
  let starK = 0;
  while (k < key.length) {
    if (pattern[p] === STAR) {
      while (pattern[p] === STAR) p++;
      starP = p;
      starK = k;
      continue;
    }
    const next = p < pattern.length ? matchOne(pattern, p, key[k] as number) : -1;
    if (next >= 0) {
      p = next;
      k++;
    } else if (starP >= 0) {
      p = starP;
      k = ++starK;
    } else {
      return false;
    }
  }
  while (pattern[p] === STAR) p++;
  return p === pattern.length;
}

const [STAR, QUESTION, BACKSLASH, OPEN, CLOSE, CARET, DASH] = [...'*?\\[]^-'].map((c) => c.charCodeAt(0));

/** Matches one byte against the pattern's element at `p`: where the next element starts, or -1. */
function matchOne(pattern: Uint8Array, p: number, byte: number): number {
  const at = pattern[p];
  if (at === QUESTION) return p + 1;
  if (at === BACKSLASH && p + 1 < pattern.length) return pattern[p + 1] === byte ? p + 2 : -1;
  if (at !== OPEN) return at === byte ? p + 1 : -1;
  let i = p + 1;
  const negated = pattern[i] === CARET;
  if (negated) i++;
  let found = false;
  // As in Redis, a class left open runs to the end of the pattern.
  for (; i < pattern.length && pattern[i] !== CLOSE; i++) {
    if (pattern[i] === BACKSLASH && i + 1 < pattern.length) {
      i++;
      if (pattern[i] === byte) found = true;
    } else if (i + 2 < pattern.length && pattern[i + 1] === DASH) {
      const [a, b] = [pattern[i] as number, pattern[i + 2] as number];
      if (byte >= Math.min(a, b) && byte <= Math.max(a, b)) found = true;
      i += 2;
    } else if (pattern[i] === byte) {
      found = true;
    }
  }
  return found !== negated ? Math.min(i + 1, pattern.length) : -1;
}

type Key = string | Buffer;
type NodeClient = StringClient;
/** A node the scan reads: its client, connected when the scan took it, and its `host:port`. */
type ScanNode = { client: NodeClient; address: string };

/**
 * Walks every primary with `SCAN`, then reads again the slots that moved meanwhile (see
 * {@link SlotWatch}). `typed` turns a node's failure into the pool's error.
 */
export class ClusterScan {
  readonly #cluster: ClusterClient;
  readonly #typed: (error: unknown) => unknown;
  /** `REDIS_KEY_PREFIX`: the namespace scanned, whose keys are yielded without it (see key-prefix.ts). */
  readonly #prefix: string | undefined;

  constructor(cluster: ClusterClient, typed: (error: unknown) => unknown, prefix: string | undefined) {
    this.#cluster = cluster;
    this.#typed = typed;
    this.#prefix = prefix;
  }

  /**
   * The keys of the whole cluster, a batch per `SCAN` page. `receiver` is the client (or view)
   * the caller called: its command options (type mapping …) apply, and `TYPE` is checked
   * through it on the slots read again.
   */
  async *keys(receiver: ClusterClient, options: ClusterScanOptions = {}): AsyncGenerator<Key[]> {
    if (options.cursor !== undefined && String(options.cursor) !== '0') {
      throw new ClientUsageError(
        'scanIterator() in cluster mode walks every primary from the start: a `cursor` names a place in one ' +
          "node's keyspace, so only '0' is accepted.",
      );
    }
    const { cursor: _cursor, ...scanOptions } = options;
    const prefix = this.#prefix;
    if (prefix) scanOptions.MATCH = scopePattern(prefix, scanOptions.MATCH) as string;
    const named = (keys: Key[]) => (prefix ? keys.map((key) => unscope(prefix, key)) : keys);
    const watch = new SlotWatch();
    await this.#snapshot(watch);
    for (const id of watch.primaries()) {
      const node = await this.#node(id, watch.addressOf(id));
      const view = this.#viewOf(node.client, receiver);
      let cursor: RedisArgument = '0';
      do {
        const reply = await this.#on(node, () => view.scan(cursor, scanOptions));
        cursor = reply.cursor;
        yield named(reply.keys as Key[]);
      } while (cursor.toString() !== '0');
      await this.#snapshot(watch);
    }
    for (const [slot, ids] of watch.unsettled()) {
      for (const id of ids) {
        const keys = await this.#keysInSlot(await this.#node(id, watch.addressOf(id)), receiver, slot);
        const found = await this.#filter(receiver, keys, scanOptions);
        if (found.length > 0) yield named(found);
      }
    }
  }

  /** Every key of `slot` on one node: `GETKEYSINSLOT` asked for more than it gave, so none is cut off. */
  async #keysInSlot(node: ScanNode, receiver: ClusterClient, slot: number): Promise<Key[]> {
    const view = this.#viewOf(node.client, receiver);
    let size = (await this.#on(node, () => node.client.clusterCountKeysInSlot(slot))) + 64;
    for (;;) {
      const keys = (await this.#on(node, () => view.clusterGetKeysInSlot(slot, size))) as Key[];
      if (keys.length < size) return keys;
      size *= 2;
    }
  }

  /**
   * What `SCAN`'s `MATCH` and `TYPE` would have kept; `TYPE` goes through the cluster client, which
   * follows ASK, as a raw command: the keys are as stored, so `REDIS_KEY_PREFIX` must not be added.
   */
  async #filter(receiver: ClusterClient, keys: Key[], options: ClusterScanOptions): Promise<Key[]> {
    const { MATCH, TYPE } = options;
    const pattern = MATCH === undefined ? undefined : Buffer.from(MATCH);
    const matching = pattern ? keys.filter((key) => globMatches(pattern, Buffer.from(key))) : keys;
    if (TYPE === undefined) return matching;
    const types = await Promise.all(matching.map((key) => receiver.sendCommand(key, true, ['TYPE', key])));
    return matching.filter((_, i) => String(types[i]).toLowerCase() === TYPE.toLowerCase());
  }

  /** Every primary's `CLUSTER NODES`, recorded as one snapshot. */
  async #snapshot(watch: SlotWatch): Promise<void> {
    const views = await Promise.all(
      this.#cluster.masters.map(async (master) => {
        const node = await this.#node(master.id, master.address);
        return parseClusterNodes(String(await this.#on(node, () => node.client.clusterNodes())));
      }),
    );
    watch.record(views);
  }

  /** The node `id`, a primary or a replica, with its client connected. */
  async #node(id: string, address: string): Promise<ScanNode> {
    const cluster = this.#cluster;
    const node =
      [...cluster.masters, ...cluster.replicas].find((known) => known.id === id) ?? cluster.nodeByAddress.get(address);
    const url = `redis://${address}`;
    if (!node) {
      throw new ConnectError(
        url,
        'the cluster client has not discovered this node yet (it learns of new nodes from MOVED replies); ' +
          'scan again',
      );
    }
    let client: NodeClient;
    try {
      client = (await cluster.nodeClient(node)) as unknown as NodeClient;
    } catch (error) {
      throw this.#typed(error);
    }
    return { client, address };
  }

  #viewOf(client: NodeClient, receiver: ClusterClient): NodeClient {
    const options = commandOptionsOf(receiver);
    return options ? client.withCommandOptions(options) : client;
  }

  /** Runs `command` on `node`, failing with the pool's error. */
  async #on<T>(node: ScanNode, command: () => Promise<T>): Promise<T> {
    // A node client that is reconnecting would hold the command until it is back, which for a
    // node that is gone is forever: the scan fails instead, and never skips the node.
    if (!node.client.isReady) throw this.#typed(new Error(`the node ${node.address} is not connected`));
    try {
      return await command();
    } catch (error) {
      throw this.#typed(error);
    }
  }
}

type Page<T> = { cursor: RedisArgument; items: T[] };

/** Pages through a cursor from `start` (or `0`) until it comes back to `0`, as node-redis's iterators do. */
async function* pages<T>(start: RedisArgument | undefined, page: (cursor: RedisArgument) => Promise<Page<T>>) {
  let cursor = start ?? '0';
  do {
    const reply = await page(cursor);
    cursor = reply.cursor;
    yield reply.items;
  } while (cursor.toString() !== '0');
}

type Scans = {
  hScan(
    key: RedisArgument,
    cursor: RedisArgument,
    options?: KeyScanOptions,
  ): Promise<{ cursor: RedisArgument; entries: { value: unknown }[] }>;
  hScanNoValues(
    key: RedisArgument,
    cursor: RedisArgument,
    options?: KeyScanOptions,
  ): Promise<{ cursor: RedisArgument; fields: unknown[] }>;
  sScan(
    key: RedisArgument,
    cursor: RedisArgument,
    options?: KeyScanOptions,
  ): Promise<{ cursor: RedisArgument; members: unknown[] }>;
  zScan(
    key: RedisArgument,
    cursor: RedisArgument,
    options?: KeyScanOptions,
  ): Promise<{ cursor: RedisArgument; members: unknown[] }>;
};

/**
 * Gives the cluster client `scanIterator()` (through `scan`) and node-redis's iterators over one
 * key's hash, set or sorted set, which its single-server client has and its cluster client lacks.
 * The latter page through the cluster client's own `HSCAN`, `SSCAN` and `ZSCAN`, which go to the
 * key's primary.
 */
export function installScanIterators(facade: object, scan: ClusterScan): void {
  Object.assign(facade, {
    scanIterator(this: ClusterClient, options?: ClusterScanOptions) {
      return scan.keys(this, options);
    },
    hScanIterator(this: Scans, key: RedisArgument, options?: KeyScanOptions) {
      return pages(options?.cursor, async (cursor) => {
        const reply = await this.hScan(key, cursor, options);
        return { cursor: reply.cursor, items: reply.entries };
      });
    },
    hScanValuesIterator(this: Scans, key: RedisArgument, options?: KeyScanOptions) {
      return pages(options?.cursor, async (cursor) => {
        const reply = await this.hScan(key, cursor, options);
        return { cursor: reply.cursor, items: reply.entries.map((entry) => entry.value) };
      });
    },
    hScanNoValuesIterator(this: Scans, key: RedisArgument, options?: KeyScanOptions) {
      return pages(options?.cursor, async (cursor) => {
        const reply = await this.hScanNoValues(key, cursor, options);
        return { cursor: reply.cursor, items: reply.fields };
      });
    },
    sScanIterator(this: Scans, key: RedisArgument, options?: KeyScanOptions) {
      return pages(options?.cursor, async (cursor) => {
        const reply = await this.sScan(key, cursor, options);
        return { cursor: reply.cursor, items: reply.members };
      });
    },
    zScanIterator(this: Scans, key: RedisArgument, options?: KeyScanOptions) {
      return pages(options?.cursor, async (cursor) => {
        const reply = await this.zScan(key, cursor, options);
        return { cursor: reply.cursor, items: reply.members };
      });
    },
  });
}
