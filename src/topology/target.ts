import type { NodeAddress } from '../settings.js';

/**
 * Where a topology's connections go. Each connection reads it when it is made, and a connection
 * made to an address the target no longer names is stale (a failover happened).
 */
export interface Target {
  /** Where the next connection goes; `undefined` leaves it to the settings (a unix socket). */
  address(): NodeAddress | undefined;
  /** Whether connections to `address` still go where they should. */
  is(address: NodeAddress): boolean;
}

const same = (a: NodeAddress | undefined, b: NodeAddress) => a?.host === b.host && a?.port === b.port;

/** One address for good: a single server (the settings' host and port), or one primary of a cluster. */
export class FixedTarget implements Target {
  readonly #address: NodeAddress | undefined;

  constructor(host: string | undefined, port: number | undefined) {
    this.#address = host === undefined || port === undefined ? undefined : { host, port };
  }

  address(): NodeAddress | undefined {
    return this.#address;
  }

  is(address: NodeAddress): boolean {
    return same(this.#address, address);
  }
}

/** The primary the sentinels name: nowhere until they first name one, then wherever each failover moves it. */
export class SentinelTarget implements Target {
  #primary: NodeAddress | undefined;

  moveTo(primary: NodeAddress): void {
    this.#primary = { ...primary };
  }

  address(): NodeAddress | undefined {
    return this.#primary;
  }

  is(address: NodeAddress): boolean {
    return same(this.#primary, address);
  }
}

/** Any of several servers, drawn afresh for each connection by `choose`: any primary of a cluster, for the subscriber. */
export class AnyOfTarget implements Target {
  readonly #choose: () => NodeAddress | undefined;

  constructor(choose: () => NodeAddress | undefined) {
    this.#choose = choose;
  }

  address(): NodeAddress | undefined {
    return this.#choose();
  }

  /** Every one of them will do. */
  is(): boolean {
    return true;
  }
}
