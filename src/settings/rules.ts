/**
 * Rules across settings: limits that depend on each other, what sentinel and cluster modes allow,
 * and the TLS files, checked when the settings load rather than at the first connect.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SettingsIssue } from '../errors.js';
import type { Address } from './address.js';
import { envOf, type Parsed, SETTINGS_DEFAULTS } from './schema.js';

/** Minimum idle connections within the cap, and reconnect delays in order. */
export function checkLimits(parsed: Parsed, issues: SettingsIssue[]): void {
  const minIdle = parsed.redisMinIdleConnections ?? SETTINGS_DEFAULTS.redisMinIdleConnections;
  const max = parsed.redisMaxConnections ?? SETTINGS_DEFAULTS.redisMaxConnections;
  if (minIdle > max - 1) {
    issues.push({
      code: 'conflict',
      path: 'REDIS_MIN_IDLE_CONNECTIONS',
      message: `\`REDIS_MIN_IDLE_CONNECTIONS\` (${minIdle}) must leave room for the shared connection: at most \`REDIS_MAX_CONNECTIONS\` − 1 (${max - 1})`,
    });
  }
  const baseDelay = parsed.redisReconnectBaseDelay ?? SETTINGS_DEFAULTS.redisReconnectBaseDelay;
  const maxDelay = parsed.redisReconnectMaxDelay ?? SETTINGS_DEFAULTS.redisReconnectMaxDelay;
  if (maxDelay < baseDelay) {
    issues.push({
      code: 'conflict',
      path: 'REDIS_RECONNECT_MAX_DELAY',
      message: `\`REDIS_RECONNECT_MAX_DELAY\` (${maxDelay} s) must be at least \`REDIS_RECONNECT_BASE_DELAY\` (${baseDelay} s)`,
    });
  }
}

/** What client-side caching and replica reads need: RESP3, and a mode with replicas for `replica`. */
export function checkReads(parsed: Parsed, issues: SettingsIssue[]): void {
  const protocol = parsed.redisProtocol ?? SETTINGS_DEFAULTS.redisProtocol;
  if ((parsed.redisClientSideCache ?? false) && protocol !== 3) {
    issues.push({
      code: 'conflict',
      path: 'REDIS_CLIENT_SIDE_CACHE',
      message:
        '`REDIS_CLIENT_SIDE_CACHE` needs `REDIS_PROTOCOL=3`: the server sends its invalidations as RESP3 push messages on the connection that read the key, which RESP2 cannot carry',
    });
  }
  const readFrom = parsed.redisReadFrom ?? SETTINGS_DEFAULTS.redisReadFrom;
  // One server is its own primary: `replica-preferred` and `any` read from it, `replica` never could.
  if (readFrom === 'replica' && !parsed.redisSentinels && !parsed.redisClusterNodes) {
    issues.push({
      code: 'conflict',
      path: 'REDIS_READ_FROM',
      message: `\`REDIS_READ_FROM=${readFrom}\` needs replicas the pool can find: set \`REDIS_SENTINELS\` or \`REDIS_CLUSTER_NODES\` (one server has none; \`replica-preferred\` reads from it)`,
    });
  }
}

/** Sentinel mode's rules: the master name goes with the sentinels, and the address comes from them. */
export function checkSentinel(parsed: Parsed, unix: boolean, issues: SettingsIssue[]): void {
  const conflict = (path: string, message: string) => issues.push({ code: 'conflict', path, message });
  if (!parsed.redisSentinels) {
    // A malformed list has its own issue; what goes with it is not reported again.
    if (issues.some((issue) => issue.path === 'REDIS_SENTINELS')) return;
    for (const key of ['redisSentinelMaster', 'redisSentinelUsername', 'redisSentinelPassword'] as const) {
      if (parsed[key] !== undefined)
        conflict(envOf(key), `\`${envOf(key)}\` needs \`REDIS_SENTINELS\`, which is empty or not set`);
    }
    return;
  }
  if (parsed.redisSentinelMaster === undefined && !issues.some((issue) => issue.path === 'REDIS_SENTINEL_MASTER')) {
    issues.push({
      code: 'required',
      path: 'REDIS_SENTINEL_MASTER',
      message:
        '`REDIS_SENTINEL_MASTER` is required with `REDIS_SENTINELS`: the name the sentinels monitor the primary under',
    });
  }
  for (const key of ['redisHost', 'redisPort'] as const) {
    if (parsed[key] !== undefined) {
      conflict(
        envOf(key),
        `\`${envOf(key)}\` cannot be used with \`REDIS_SENTINELS\`: the sentinels give the primary's address`,
      );
    }
  }
  if (unix)
    conflict(
      'REDIS_URL',
      'A unix:// `REDIS_URL` cannot be used with `REDIS_SENTINELS`: the sentinels give a TCP address',
    );
}

/** Cluster mode's rules: one mode at a time, the address comes from the cluster, and database 0 only. */
export function checkCluster(parsed: Parsed, address: Address, issues: SettingsIssue[]): void {
  if (!parsed.redisClusterNodes) return;
  const conflict = (path: string, message: string) => issues.push({ code: 'conflict', path, message });
  if (parsed.redisSentinels) {
    conflict(
      'REDIS_CLUSTER_NODES',
      '`REDIS_CLUSTER_NODES` and `REDIS_SENTINELS` select different modes; set one of them',
    );
  }
  for (const key of ['redisHost', 'redisPort'] as const) {
    if (parsed[key] !== undefined) {
      conflict(
        envOf(key),
        `\`${envOf(key)}\` cannot be used with \`REDIS_CLUSTER_NODES\`: the cluster gives its nodes' addresses`,
      );
    }
  }
  if (address.path !== undefined)
    conflict('REDIS_URL', 'A unix:// `REDIS_URL` cannot be used with `REDIS_CLUSTER_NODES`');
  if (address.db !== 0) {
    const where = parsed.redisDb !== undefined ? 'REDIS_DB' : 'REDIS_URL';
    conflict(
      where,
      `Redis Cluster has only database 0, but \`${where}\` asks for ${address.db} (REDIS_CLUSTER_NODES is set)`,
    );
  }
}

/**
 * The TLS files must be readable PEM, and the key must match the certificate: found when the
 * settings load, not at the first connect (when every connection would fail the same way).
 */
export function checkTlsFiles(parsed: Parsed, ssl: boolean, issues: SettingsIssue[]): void {
  const invalid = (env: string, message: string) => issues.push({ code: 'invalid_value', path: env, message });
  const contents: Partial<Record<'redisSslCaCerts' | 'redisSslCertfile' | 'redisSslKeyfile', string>> = {};
  for (const key of ['redisSslCaCerts', 'redisSslCertfile', 'redisSslKeyfile'] as const) {
    const path = parsed[key];
    if (path === undefined) continue;
    const env = envOf(key);
    if (!ssl) {
      issues.push({
        code: 'conflict',
        path: env,
        message: `\`${env}\` needs TLS: use a rediss:// \`REDIS_URL\` or set \`REDIS_SSL=true\``,
      });
      continue;
    }
    try {
      contents[key] = readFileSync(path, 'latin1');
    } catch (error) {
      invalid(
        env,
        `Expected \`${env}\` to be a readable PEM file, got \`${path}\` (${(error as NodeJS.ErrnoException).code})`,
      );
    }
  }
  const certificates = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  const parses = (make: () => unknown) => {
    try {
      return make();
    } catch {
      return undefined;
    }
  };
  const { redisSslCaCerts: ca, redisSslCertfile: cert, redisSslKeyfile: key } = contents;
  if (ca !== undefined) {
    const found = certificates(ca);
    if (found.length === 0 || found.some((pem) => parses(() => new X509Certificate(pem)) === undefined)) {
      invalid(
        'REDIS_SSL_CA_CERTS',
        `Expected \`REDIS_SSL_CA_CERTS\` (\`${parsed.redisSslCaCerts}\`) to hold PEM certificates (-----BEGIN CERTIFICATE-----)`,
      );
    }
  }
  const certificate = cert === undefined ? undefined : parses(() => new X509Certificate(certificates(cert)[0] ?? ''));
  if (cert !== undefined && certificate === undefined) {
    invalid(
      'REDIS_SSL_CERTFILE',
      `Expected \`REDIS_SSL_CERTFILE\` (\`${parsed.redisSslCertfile}\`) to hold a PEM certificate (-----BEGIN CERTIFICATE-----)`,
    );
  }
  const privateKey = key === undefined ? undefined : parses(() => createPrivateKey(key));
  if (key !== undefined && (privateKey === undefined || !key.includes('-----BEGIN'))) {
    invalid(
      'REDIS_SSL_KEYFILE',
      `Expected \`REDIS_SSL_KEYFILE\` (\`${parsed.redisSslKeyfile}\`) to hold an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)`,
    );
  } else if (
    certificate instanceof X509Certificate &&
    privateKey !== undefined &&
    !certificate.checkPrivateKey(privateKey as KeyObject)
  ) {
    issues.push({
      code: 'conflict',
      path: 'REDIS_SSL_KEYFILE',
      message: `\`REDIS_SSL_KEYFILE\` (\`${parsed.redisSslKeyfile}\`) is not the private key of the certificate in \`REDIS_SSL_CERTFILE\` (\`${parsed.redisSslCertfile}\`)`,
    });
  }
  if ((parsed.redisSslCertfile === undefined) !== (parsed.redisSslKeyfile === undefined)) {
    const missing = parsed.redisSslCertfile === undefined ? 'REDIS_SSL_CERTFILE' : 'REDIS_SSL_KEYFILE';
    issues.push({
      code: 'required',
      path: missing,
      message: '`REDIS_SSL_CERTFILE` and `REDIS_SSL_KEYFILE` go together: a client certificate needs its key',
    });
  }
}
