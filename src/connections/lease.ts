/** One lending of a connection: the client its borrower holds, cut off once the lease is released. */
import type { StringClient } from '../client/types.js';

/** Where a lease's client keeps its lease (see `leaseBase()` in leasable-connection.ts). */
export const LEASE = Symbol('lease');

/** One lending of a connection. Its client refuses every call once the lease is released. */
export class Lease<C extends { readonly base: object } = { readonly base: object }> {
  readonly connection: C;
  /** The borrower's client: node-redis's, on this connection alone. */
  readonly client: StringClient;
  released = false;

  constructor(connection: C) {
    this.connection = connection;
    // One object per lease, so a client kept past its lease stays cut off after the
    // connection is lent again.
    this.client = Object.create(connection.base);
    (this.client as unknown as { [LEASE]: Lease<C> })[LEASE] = this;
  }
}
