/**
 * The server address: `REDIS_URL` parsed into the parts it states, and the URL-versus-fields rule
 * that fills the parts it leaves out from the fields and refuses a field that contradicts it.
 */
import type { SettingsIssue } from '../errors.js';
import { CONTROL, controlCharacter, Expected, hostOf, integer, type NodeAddress } from './parsers.js';
import { envOf, type Key, type Parsed } from './schema.js';
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
}

/** The parts of the address a URL may state; `undefined` means the URL leaves that part out. */
interface UrlParts {
  unix: boolean;
  host?: string | undefined;
  port?: number | undefined;
  path?: string | undefined;
  db?: number | undefined;
  username?: string | undefined;
  password?: string | undefined;
  ssl: boolean;
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

  const fill = <T>(key: Key, part: string, fromUrl: T | undefined, fromField: T | undefined, secret = false) => {
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
  const password = fill('redisPassword', 'password', parts?.password, parsed.redisPassword, true);
  const ssl = unix ? false : (fill('redisSsl', 'scheme', parts?.ssl, parsed.redisSsl) ?? false);

  const user = username === undefined ? '' : `${encodeURIComponent(username)}@`;
  const url = unix
    ? `unix://${user}${parts?.path}?db=${db}`
    : `${ssl ? 'rediss' : 'redis'}://${user}${host?.includes(':') ? `[${host}]` : host}:${port}/${db}`;
  return { url, host, port, path: parts?.path, db, username, password, ssl };
}

/** Query parameters a Redis URL may carry: redis-py reads these (and more) from the query too. */
const URL_PARAMETERS = new Set(['db', 'username', 'password']);
/** redis-py's other query parameters, with the setting that does the same here. */
const PYTHON_PARAMETERS: Record<string, string> = {
  socket_timeout: 'REDIS_SOCKET_TIMEOUT',
  socket_connect_timeout: 'REDIS_SOCKET_CONNECT_TIMEOUT',
  socket_keepalive: 'REDIS_SOCKET_KEEPALIVE',
  health_check_interval: 'REDIS_HEALTH_CHECK_INTERVAL',
  max_connections: 'REDIS_MAX_CONNECTIONS',
  ssl_ca_certs: 'REDIS_SSL_CA_CERTS',
  ssl_certfile: 'REDIS_SSL_CERTFILE',
  ssl_keyfile: 'REDIS_SSL_KEYFILE',
};

/**
 * The parts `REDIS_URL` states. The query may hold `db`, `username` and `password`, as redis-py
 * reads them; a part stated twice (in the user info or path and in the query) must agree.
 * Messages show the URL redacted (`redactUrl`), or not at all when it cannot be parsed.
 */
function parseRedisUrl(candidate: Candidate, issues: SettingsIssue[]): UrlParts | undefined {
  const raw = String(candidate.value).trim();
  let failed = false;
  const bad = (expected: string) => {
    failed = true;
    issues.push({
      code: 'invalid_value',
      path: 'REDIS_URL',
      message: `Expected \`REDIS_URL\` to be ${expected}, got ${describe(candidate, true, 'REDIS_URL')}`,
    });
    return undefined;
  };
  // The URL parser drops tabs and line breaks without a word, so a URL split over two lines
  // would quietly become another URL.
  if (CONTROL.test(raw)) return bad(`a URL without control characters; it contains ${controlCharacter(raw)}`);
  // redis-py writes credentials on a unix:// URL as unix://user:password@/path, which the URL
  // parser refuses (user info without a host); they are set on the parsed URL instead.
  const unixUser = /^unix:\/\/([^/]*)@(\/.*)$/is.exec(raw);
  let url: URL;
  let userInfo: [string, string];
  try {
    url = new URL(unixUser ? `unix://${unixUser[2]}` : raw);
    const [user = '', pass = ''] = unixUser ? (unixUser[1] as string).split(/:(.*)/s) : [url.username, url.password];
    userInfo = [user, pass];
  } catch {
    // The parser's own error echoes the input, password included, so it is not kept as a cause.
    return bad('a URL like redis://[user[:password]@]host[:port][/db], rediss://… or unix:///path/to/socket');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:' && url.protocol !== 'unix:') {
    return bad('a URL with the scheme redis://, rediss:// or unix://');
  }
  if (url.hash) return bad('a URL without a #fragment (write a # in a password as %23)');
  const decode = (part: string, what: string) => {
    try {
      return part === '' ? undefined : decodeURIComponent(part);
    } catch {
      return bad(`a URL whose ${what} is percent-encoded (a % followed by two hex digits; a % itself is %25)`);
    }
  };
  const query = new Map<string, string>();
  for (const [name, value] of url.searchParams) {
    if (!URL_PARAMETERS.has(name)) {
      const instead = PYTHON_PARAMETERS[name];
      return bad(
        `a URL whose query holds only db, username and password; \`${name}\` is not read here` +
          (instead ? `: set ${instead} instead` : ''),
      );
    }
    if (query.has(name)) return bad(`a URL that states ?${name}= once`);
    query.set(name, value);
  }
  const agreed = (what: string, fromUrl: string | undefined, fromQuery: string | undefined) => {
    if (fromUrl !== undefined && fromQuery !== undefined && fromUrl !== fromQuery) {
      bad(
        `a URL that states its ${what} once, or the same twice (in the ${what === 'database' ? 'path' : 'user info'} and in the query)`,
      );
    }
    return fromUrl ?? fromQuery;
  };
  const username = agreed('user name', decode(userInfo[0], 'user name'), query.get('username'));
  const password = agreed('password', decode(userInfo[1], 'password'), query.get('password'));
  const dbInPath = url.protocol === 'unix:' ? undefined : url.pathname.replace(/^\//, '') || undefined;
  const dbText = agreed('database', dbInPath, query.get('db'));
  const db = dbText === undefined ? undefined : integer(0)(dbText);
  if (db instanceof Expected) return bad('a URL whose database (the path, or ?db=) is an integer >= 0, like /0');
  if (url.protocol === 'unix:') {
    if (url.host) {
      return bad(
        'a unix:// URL without a host: unix:///run/redis.sock (three slashes; in unix://run/redis.sock, run is a host)',
      );
    }
    const path = decode(url.pathname, 'socket path');
    if (!path?.startsWith('/') || path === '/')
      return bad('a unix:// URL with an absolute socket path, like unix:///run/redis.sock');
    return failed ? undefined : { unix: true, path, db, username, password, ssl: false };
  }
  const hostText = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const host = hostText === '' ? undefined : hostOf(hostText);
  if (hostText !== '' && host === undefined) return bad('a URL whose host is a host name or an IP address');
  const port = url.port === '' ? undefined : Number(url.port);
  if (port === 0) return bad('a URL with a port from 1 to 65535');
  return failed ? undefined : { unix: false, host, port, db, username, password, ssl: url.protocol === 'rediss:' };
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
