/**
 * `REDIS_URL` read as the Python services read it: redis-py's `parse_url()`, which runs Python's
 * `urllib.parse.urlparse()`, `parse_qs()` and `unquote()`, ported as far as a Redis URL needs
 * them. Where redis-py's reading is accidental (a database path it cannot read silently becomes
 * 0, query values are decoded twice, a unix:// host is ignored), the URL is refused, saying what
 * redis-py would make of it, rather than read another way: the same environment must mean the
 * same connection. docs/settings.md lists each such rule.
 */

/** The parts a URL states; `undefined` where it leaves one out. */
export interface UrlParts {
  unix: boolean;
  host?: string | undefined;
  port?: number | undefined;
  path?: string | undefined;
  db?: number | undefined;
  username?: string | undefined;
  password?: string | undefined;
  ssl: boolean;
  /** Settings redis-py also reads from the query, by their variable (`REDIS_MAX_CONNECTIONS`). */
  query: Map<string, string>;
}

/** Why a URL is refused: what was expected of it, for "Expected `REDIS_URL` to be …". */
export class UrlRefusal {
  constructor(readonly expected: string) {}
}

/** redis-py's query parameters that the pool reads too, with the variable each stands for. */
export const QUERY_SETTINGS: Record<string, string> = {
  socket_connect_timeout: 'REDIS_SOCKET_CONNECT_TIMEOUT',
  socket_timeout: 'REDIS_SOCKET_TIMEOUT',
  socket_keepalive: 'REDIS_SOCKET_KEEPALIVE',
  max_connections: 'REDIS_MAX_CONNECTIONS',
  health_check_interval: 'REDIS_HEALTH_CHECK_INTERVAL',
};
/** The other parameters redis-py's `parse_url()` knows, with what to set instead. */
const OTHER_PARAMETERS: Record<string, string> = {
  retry_on_timeout: 'the pool retries nothing by itself',
  retry_on_error: 'the pool retries nothing by itself',
  ssl_check_hostname: 'Node checks the host name of every TLS connection',
  ssl_ca_certs: 'set REDIS_SSL_CA_CERTS instead',
  ssl_certfile: 'set REDIS_SSL_CERTFILE instead',
  ssl_keyfile: 'set REDIS_SSL_KEYFILE instead',
  client_name: 'connections are named from SERVICE_NAME',
};

/** Python's `urllib.parse.unquote()`: runs of %XX decoded as UTF-8, with U+FFFD for bad bytes; a lone % stays. */
export function unquote(text: string): string {
  if (!text.includes('%')) return text;
  return text.replace(/(?:%[0-9a-f]{2})+/gi, (run) =>
    new TextDecoder().decode(Uint8Array.from(run.slice(1).split('%'), (hex) => Number.parseInt(hex, 16))),
  );
}

/** Python's `parse_qs()`: each name's values in order; pairs without `=` or with an empty value are dropped. */
function parseQs(query: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const pair of query.split('&')) {
    const at = pair.indexOf('=');
    if (at === -1 || at === pair.length - 1) continue;
    const name = unquote(pair.slice(0, at).replaceAll('+', ' '));
    const value = unquote(pair.slice(at + 1).replaceAll('+', ' '));
    found.set(name, [...(found.get(name) ?? []), value]);
  }
  return found;
}

/** The scheme, the network location, the path and the query, as Python's `urlsplit()` divides them. */
function urlsplit(url: string) {
  let scheme = '';
  let rest = url;
  const colon = url.indexOf(':');
  if (colon > 0 && /^[a-z][a-z0-9+.-]*$/i.test(url.slice(0, colon))) {
    scheme = url.slice(0, colon).toLowerCase();
    rest = url.slice(colon + 1);
  }
  let netloc = '';
  if (rest.startsWith('//')) {
    const end = rest.slice(2).search(/[/?#]/);
    netloc = end === -1 ? rest.slice(2) : rest.slice(2, end + 2);
    rest = end === -1 ? '' : rest.slice(end + 2);
  }
  const question = rest.indexOf('?');
  const path = question === -1 ? rest : rest.slice(0, question);
  const query = question === -1 ? '' : rest.slice(question + 1);
  // The user info is what precedes the last @, the user name what precedes its first :.
  const at = netloc.lastIndexOf('@');
  const userinfo = at === -1 ? undefined : netloc.slice(0, at);
  const hostinfo = netloc.slice(at + 1);
  const colonInUser = userinfo?.indexOf(':') ?? -1;
  const username = userinfo === undefined ? undefined : colonInUser === -1 ? userinfo : userinfo.slice(0, colonInUser);
  const password = userinfo === undefined || colonInUser === -1 ? undefined : userinfo.slice(colonInUser + 1);
  let hostname: string;
  let port: string;
  const open = hostinfo.indexOf('[');
  if (open === -1) {
    const colon = hostinfo.indexOf(':');
    [hostname, port] = colon === -1 ? [hostinfo, ''] : [hostinfo.slice(0, colon), hostinfo.slice(colon + 1)];
  } else {
    const inside = hostinfo.slice(open + 1);
    const close = inside.indexOf(']');
    hostname = close === -1 ? inside : inside.slice(0, close);
    const after = close === -1 ? '' : inside.slice(close + 1);
    port = after.includes(':') ? after.slice(after.indexOf(':') + 1) : '';
  }
  return { scheme, netloc, path, query, username, password, hostname, port };
}

/**
 * The parts of `url`, as redis-py reads them, or why it is refused: a URL redis-py refuses too,
 * or one that redis-py reads accidentally (each such reason names redis-py's reading).
 */
export function readRedisUrl(url: string): UrlParts | UrlRefusal {
  const refuse = (expected: string) => new UrlRefusal(expected);
  if (url !== url.trim() || /\p{Cc}/u.test(url)) {
    // Python strips spaces before the URL but not after, and drops tabs and line breaks anywhere.
    return refuse(
      'a URL without spaces around it or control characters in it (the Python services drop some of them ' +
        'and keep others, so they would read another URL)',
    );
  }
  if (url.includes('#')) {
    // Python ends the host at a #, and drops everything after it: an unescaped # in a password
    // would make `redis://pa#ss@cache` a connection to the host `pa`.
    return refuse(
      'a URL without a # (the Python services drop it and everything after it; write a # in a password as %23)',
    );
  }
  const split = urlsplit(url);
  if (
    (split.netloc.includes('[') && !split.netloc.includes(']')) ||
    (split.netloc.includes(']') && !split.netloc.includes('['))
  ) {
    return refuse('a URL whose IPv6 host is in brackets, [::1], both of them');
  }
  if (split.scheme !== 'redis' && split.scheme !== 'rediss' && split.scheme !== 'unix') {
    return refuse('a URL with the scheme redis://, rediss:// or unix://, like redis://localhost:6379/0');
  }
  const query = parseQs(split.query);
  const parts: UrlParts = { unix: split.scheme === 'unix', ssl: split.scheme === 'rediss', query: new Map() };
  for (const [name, values] of query) {
    const [value = ''] = values;
    if (values.some((other) => other !== value))
      return refuse(`a URL that gives ?${name}= once (it gives it twice, differently)`);
    if (unquote(value) !== value) {
      // redis-py's parse_qs() decodes the value, and parse_url() decodes it again.
      const shown = name === 'password' ? '' : `: they read \`${unquote(value)}\`, not \`${value}\``;
      return refuse(
        `a URL whose ?${name}= is the same decoded once or twice; the Python services (redis-py) decode query ` +
          `values twice${shown}. Percent-encode it once less, or give it elsewhere (the user info, or its own variable)`,
      );
    }
    if (name === 'db' || name === 'username' || name === 'password') continue;
    const variable = QUERY_SETTINGS[name];
    if (variable === undefined) {
      const instead = OTHER_PARAMETERS[name];
      return refuse(
        `a URL whose query holds only db, username, password and ${Object.keys(QUERY_SETTINGS).join(', ')}; ` +
          `\`${name}\` is not read here${instead ? ` (${instead})` : ''}`,
      );
    }
    parts.query.set(variable, value);
  }
  if (split.username) parts.username = unquote(split.username);
  else if (query.has('username')) parts.username = query.get('username')?.[0];
  if (split.password) parts.password = unquote(split.password);
  else if (query.has('password')) parts.password = query.get('password')?.[0];
  for (const [what, fromUserInfo, inQuery] of [
    ['user name', split.username, query.get('username')?.[0]],
    ['password', split.password, query.get('password')?.[0]],
  ] as const) {
    // redis-py takes the user info's and ignores the query's.
    if (fromUserInfo && inQuery !== undefined && unquote(fromUserInfo) !== inQuery) {
      return refuse(`a URL that gives its ${what} once, or the same twice (in the user info and in the query)`);
    }
  }
  const dbText = query.get('db')?.[0];
  const dbInQuery = dbText === undefined ? undefined : pythonInt(dbText);
  if (dbText !== undefined && dbInQuery === undefined) return refuse('a URL whose ?db= is a whole number');
  parts.db = dbInQuery;

  if (parts.unix) {
    if (parts.query.has('REDIS_SOCKET_KEEPALIVE')) {
      return refuse(
        'a unix:// URL without ?socket_keepalive= (a unix socket has no TCP keepalive; redis-py refuses it too)',
      );
    }
    if (split.hostname !== '') {
      return refuse(
        `a unix:// URL without a host: unix:///run/redis.sock (three slashes); the Python services ignore the host \`${split.hostname}\` and read the path \`${unquote(split.path)}\``,
      );
    }
    const path = unquote(split.path);
    if (!path.startsWith('/') || path === '/')
      return refuse('a unix:// URL with an absolute socket path, like unix:///run/redis.sock');
    parts.path = path;
    return parts;
  }
  if (split.port !== '') {
    if (!/^\d+$/.test(split.port) || Number(split.port) > 65535) return refuse('a URL with a port from 1 to 65535');
    // redis-py reads port 0 as no port: 6379.
    if (Number(split.port) === 0)
      return refuse('a URL with a port from 1 to 65535 (the Python services read :0 as 6379)');
    parts.port = Number(split.port);
  }
  if (split.hostname !== '') parts.host = unquote(split.hostname.toLowerCase());
  const dbPath = unquote(split.path);
  if (dbPath !== '' && dbPath !== '/') {
    const db = /^\/\d+$/.test(dbPath) ? Number(dbPath.slice(1)) : undefined;
    if (db === undefined) {
      const theirs = dbInQuery ?? pythonInt(dbPath.replaceAll('/', '')) ?? 0;
      return refuse(
        `a URL whose path is the database as a whole number, like /2; the Python services (redis-py) read \`${dbPath}\` as database ${theirs}`,
      );
    }
    if (dbInQuery !== undefined && db !== dbInQuery) {
      return refuse('a URL that gives its database once, or the same twice (in the path and in ?db=)');
    }
    parts.db = db;
  }
  return parts;
}

/** Python's `int()` of text: digits with single underscores, a sign, white space around; `undefined` otherwise. */
export function pythonInt(text: string): number | undefined {
  const match = /^\s*([+-]?\d(?:_?\d)*)\s*$/.exec(text);
  return match ? Number((match[1] as string).replaceAll('_', '')) : undefined;
}
