/**
 * The server address: `REDIS_URL` parsed into the parts it states, and the URL-versus-fields rule
 * that fills the parts it leaves out from the fields and refuses a field that contradicts it.
 */
import type { SettingsIssue } from '../errors.js';
import { Expected, hostOf, type NodeAddress } from './parsers.js';
import { pythonInt, QUERY_SETTINGS, readRedisUrl, type UrlParts, UrlRefusal } from './redis-url.js';
import { envOf, type Key, type Parsed, SCHEMA } from './schema.js';
import { type Candidate, describe } from './sources.js';

/** The address used when neither `REDIS_URL` nor the individual fields say otherwise. */
const DEFAULT_ADDRESS = { host: 'localhost', port: 6379, db: 0 };

/** The resolved address. */
export interface Address {
  url: string;
  host: string | undefined;
  port: number | undefined;
  path: string | undefined;
  db: number;
  username: string | undefined;
  password: string | undefined;
  ssl: boolean;
  /** Settings the URL's query gives (`?max_connections=3`), which no source contradicts. */
  options: Parsed;
  /** The settings whose values the URL states. */
  stated: Set<Key>;
}

/**
 * The URL-versus-fields rule: the URL is the base, a field may fill a part the URL leaves out,
 * and a field that contradicts a part the URL states is an issue naming both variables.
 */
export function resolveAddress(
  parsed: Parsed,
  candidates: Partial<Record<Key, Candidate>>,
  issues: SettingsIssue[],
): Address {
  const urlCandidate = candidates.redisUrl;
  const parts = urlCandidate ? parseRedisUrl(urlCandidate, issues) : undefined;

  const fill = <T>(key: Key, part: string, fromUrl: T | undefined, fromField: T | undefined) => {
    const secret = 'secret' in SCHEMA[key];
    if (fromUrl === undefined || fromField === undefined || fromUrl === fromField) return fromUrl ?? fromField;
    const field = envOf(key);
    const message =
      key === 'redisSsl'
        ? `\`REDIS_SSL\` (${fromField}) contradicts the scheme of \`REDIS_URL\` (${fromUrl ? 'rediss' : 'redis'}://); use rediss:// for TLS and drop REDIS_SSL`
        : secret
          ? `\`${field}\` contradicts the ${part} in \`REDIS_URL\`; state the ${part} in one place only`
          : `\`${field}\` (${fromField}) contradicts the ${part} in \`REDIS_URL\` (${fromUrl}); state the ${part} in one place only`;
    issues.push({ code: 'conflict', path: field, message });
    return fromUrl;
  };

  if (parts?.unix) {
    for (const key of ['redisHost', 'redisPort', 'redisSsl'] as const) {
      if (parsed[key] === undefined || (key === 'redisSsl' && parsed.redisSsl === false)) continue;
      issues.push({
        code: 'conflict',
        path: envOf(key),
        message: `\`${envOf(key)}\` cannot be used with a unix:// \`REDIS_URL\`, which connects to a socket file`,
      });
    }
  }

  const unix = parts?.unix === true;
  const host = unix ? undefined : (fill('redisHost', 'host', parts?.host, parsed.redisHost) ?? DEFAULT_ADDRESS.host);
  const port = unix ? undefined : (fill('redisPort', 'port', parts?.port, parsed.redisPort) ?? DEFAULT_ADDRESS.port);
  const db = fill('redisDb', 'database', parts?.db, parsed.redisDb) ?? DEFAULT_ADDRESS.db;
  const username = fill('redisUsername', 'username', parts?.username, parsed.redisUsername);
  const password = fill('redisPassword', 'password', parts?.password, parsed.redisPassword);
  const ssl = unix ? false : (fill('redisSsl', 'scheme', parts?.ssl, parsed.redisSsl) ?? false);

  const user = username === undefined ? '' : `${encodeURIComponent(username)}@`;
  const url = unix
    ? `unix://${user}${parts?.path}?db=${db}`
    : `${ssl ? 'rediss' : 'redis'}://${user}${host?.includes(':') ? `[${host}]` : host}:${port}/${db}`;
  const options = parts ? queryOptions(parts, parsed, candidates, issues) : {};
  const stated = new Set(Object.keys(options) as Key[]);
  const fromUrl = {
    redisHost: parts?.host,
    redisPort: parts?.port,
    redisDb: parts?.db,
    redisUsername: parts?.username,
  };
  for (const [key, part] of Object.entries(fromUrl)) if (part !== undefined) stated.add(key as Key);
  if (parts?.password !== undefined) stated.add('redisPassword');
  if (parts) stated.add('redisSsl');
  return { url, host, port, path: parts?.path, db, username, password, ssl, options, stated };
}

const wholeNumber = (text: string) =>
  pythonInt(text) ?? new Expected('a whole number (redis-py reads it with int(), and refuses anything else)');
/** redis-py's readers of query values (Python's `int()`, `float()` and its `to_bool()`), by setting. */
const QUERY_READERS: Partial<Record<Key, (text: string) => unknown>> = {
  redisSocketConnectTimeout: (text) => text,
  redisSocketTimeout: (text) => text,
  redisMaxConnections: wholeNumber,
  redisHealthCheckInterval: wholeNumber,
  redisSocketKeepalive: (text) => !['0', 'F', 'FALSE', 'N', 'NO'].includes(text.toUpperCase()),
};

/**
 * The settings the URL's query gives, read as redis-py reads them and checked by each setting's
 * own parser. redis-py lets the query win over what the service passes; here a source that states
 * another value is a conflict, as for every part of the URL.
 */
function queryOptions(
  parts: UrlParts,
  parsed: Parsed,
  candidates: Partial<Record<Key, Candidate>>,
  issues: SettingsIssue[],
): Parsed {
  const options: Record<string, unknown> = {};
  for (const [variable, text] of parts.query) {
    const key = (Object.keys(QUERY_READERS) as Key[]).find((name) => envOf(name) === variable) as Key;
    const name = Object.entries(QUERY_SETTINGS).find(([, to]) => to === variable)?.[0];
    const read = (QUERY_READERS[key] as (text: string) => unknown)(text);
    const value = read instanceof Expected ? read : SCHEMA[key].parse(read);
    if (value instanceof Expected) {
      issues.push({
        code: 'invalid_value',
        path: 'REDIS_URL',
        message: `Expected ?${name}= in \`REDIS_URL\` to be ${value.text} (it stands for \`${variable}\`), got \`${text}\``,
      });
    } else if (candidates[key] !== undefined && parsed[key] !== value) {
      issues.push({
        code: 'conflict',
        path: variable,
        message: `\`${variable}\` (${String(parsed[key])}) contradicts ?${name}= in \`REDIS_URL\` (${text}); state it in one place only`,
      });
    } else {
      options[key] = value;
    }
  }
  return options as Parsed;
}

/** The parts `REDIS_URL` states, as redis-py reads them (`readRedisUrl`); messages show the URL redacted. */
function parseRedisUrl(candidate: Candidate, issues: SettingsIssue[]): UrlParts | undefined {
  const bad = (expected: string) => {
    issues.push({
      code: 'invalid_value',
      path: 'REDIS_URL',
      message: `Expected \`REDIS_URL\` to be ${expected}, got ${describe(candidate, true, 'REDIS_URL')}`,
    });
    return undefined;
  };
  const parts = readRedisUrl(String(candidate.value));
  if (parts instanceof UrlRefusal) return bad(parts.expected);
  if (parts.host !== undefined && hostOf(parts.host) === undefined) {
    return bad(`a URL whose host is a host name or an IP address, not \`${parts.host}\``);
  }
  return parts;
}

/**
 * The URL shown for a pool in sentinel mode, in logs and errors: the sentinels and the master
 * name instead of one address, for example `redis+sentinel://app@10.0.0.1:26379,10.0.0.2:26379/mymaster/0`.
 */
export function sentinelUrl(address: Address, parsed: Parsed): string {
  return `${address.ssl ? 'rediss' : 'redis'}+sentinel://${userAndNodes(address, parsed.redisSentinels ?? [])}/${parsed.redisSentinelMaster}/${address.db}`;
}

/** The URL shown for a pool in cluster mode: `redis+cluster://app@10.0.0.1:6379,10.0.0.2:6379`. */
export function clusterUrl(address: Address, nodes: readonly NodeAddress[]): string {
  return `${address.ssl ? 'rediss' : 'redis'}+cluster://${userAndNodes(address, nodes)}`;
}

function userAndNodes(address: Address, nodes: readonly NodeAddress[]): string {
  const user = address.username === undefined ? '' : `${encodeURIComponent(address.username)}@`;
  return user + nodes.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',');
}
