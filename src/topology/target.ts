import type { CommonAppSettings, NodeAddress } from '../settings.js';

/**
 * Where a topology's connections go: the configured address, or, in sentinel mode, the primary
 * the sentinels name, which moves with each failover. Connections read it when they are made.
 */
export class Target {
  host: string | undefined;
  port: number | undefined;

  constructor(settings: CommonAppSettings, address?: NodeAddress) {
    this.host = address?.host ?? settings.redisHost;
    this.port = address?.port ?? settings.redisPort;
  }

  moveTo(address: NodeAddress): void {
    this.host = address.host;
    this.port = address.port;
  }

  is(address: NodeAddress): boolean {
    return this.host === address.host && this.port === address.port;
  }

  /** Where the next connection goes; `undefined` leaves it to the settings (a unix socket). */
  address(): NodeAddress | undefined {
    return this.host === undefined || this.port === undefined ? undefined : { host: this.host, port: this.port };
  }
}
