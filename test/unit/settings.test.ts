import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import { clientOptions } from '../../src/client/options.js';
import { SettingsError, type SettingsIssue } from '../../src/errors.js';
import { CommonAppSettings, loadSettings, type SettingsInput } from '../../src/settings.js';

const PASSWORD = 's3cr3t-pw';
const REQUIRED = { SERVICE_NAME: 'orders', LOG_LEVEL: 'INFO' };

/** Loads settings from exactly this environment: no process.env, no .env file. */
function load(env: Record<string, string>, input: SettingsInput = {}, warnings: string[] = []) {
  return loadSettings(input, {
    env: { ...REQUIRED, ...env },
    envFile: false,
    onWarning: (line) => warnings.push(line),
  });
}

function failure(env: Record<string, string>, input: SettingsInput = {}): SettingsError {
  try {
    load(env, input);
  } catch (error) {
    assert.ok(error instanceof SettingsError, `expected a SettingsError, got ${inspect(error)}`);
    assert.equal(error.code, 'REDIS_POOL_SETTINGS_INVALID');
    return error;
  }
  assert.fail(`expected ${JSON.stringify(env)} to be rejected`);
}

function assertNoSecret(error: Error): void {
  for (const text of [error.message, String(error.stack), inspect(error, { depth: 5 }), JSON.stringify(error)]) {
    assert.ok(!text.includes(PASSWORD), `the password leaked: ${text}`);
  }
}

describe('malformed settings: each is a SettingsError naming the variable', () => {
  const cases: [name: string, env: Record<string, string>, path: string, input?: SettingsInput][] = [
    ['port is not a number', { REDIS_PORT: 'abc' }, 'REDIS_PORT'],
    ['port 0', { REDIS_PORT: '0' }, 'REDIS_PORT'],
    ['port above 65535', { REDIS_PORT: '65536' }, 'REDIS_PORT'],
    ['port with a fraction', { REDIS_PORT: '6379.5' }, 'REDIS_PORT'],
    ['negative port', { REDIS_PORT: '-1' }, 'REDIS_PORT'],
    ['port in hex', { REDIS_PORT: '0x1F' }, 'REDIS_PORT'],
    ['negative db', { REDIS_DB: '-1' }, 'REDIS_DB'],
    ['db as a word', { REDIS_DB: 'one' }, 'REDIS_DB'],
    ['db with a fraction', { REDIS_DB: '1.5' }, 'REDIS_DB'],
    ['ssl not a boolean', { REDIS_SSL: 'maybe' }, 'REDIS_SSL'],
    ['ssl as 2', { REDIS_SSL: '2' }, 'REDIS_SSL'],
    ['decode responses in Spanish', { REDIS_DECODE_RESPONSES: 'si' }, 'REDIS_DECODE_RESPONSES'],
    ['connect timeout 0', { REDIS_SOCKET_CONNECT_TIMEOUT: '0' }, 'REDIS_SOCKET_CONNECT_TIMEOUT'],
    ['negative connect timeout', { REDIS_SOCKET_CONNECT_TIMEOUT: '-5' }, 'REDIS_SOCKET_CONNECT_TIMEOUT'],
    ['connect timeout with a unit', { REDIS_SOCKET_CONNECT_TIMEOUT: '5s' }, 'REDIS_SOCKET_CONNECT_TIMEOUT'],
    ['socket timeout 0', { REDIS_SOCKET_TIMEOUT: '0' }, 'REDIS_SOCKET_TIMEOUT'],
    ['socket timeout NaN', { REDIS_SOCKET_TIMEOUT: 'NaN' }, 'REDIS_SOCKET_TIMEOUT'],
    ['socket timeout Infinity', { REDIS_SOCKET_TIMEOUT: 'Infinity' }, 'REDIS_SOCKET_TIMEOUT'],
    ['max connections 0', { REDIS_MAX_CONNECTIONS: '0' }, 'REDIS_MAX_CONNECTIONS'],
    ['max connections as a word', { REDIS_MAX_CONNECTIONS: 'ten' }, 'REDIS_MAX_CONNECTIONS'],
    ['max connections with a fraction', { REDIS_MAX_CONNECTIONS: '2.5' }, 'REDIS_MAX_CONNECTIONS'],
    ['negative health interval', { REDIS_HEALTH_CHECK_INTERVAL: '-1' }, 'REDIS_HEALTH_CHECK_INTERVAL'],
    ['health interval with a unit', { REDIS_HEALTH_CHECK_INTERVAL: '30s' }, 'REDIS_HEALTH_CHECK_INTERVAL'],
    ['keepalive not a boolean', { REDIS_SOCKET_KEEPALIVE: 'enabled' }, 'REDIS_SOCKET_KEEPALIVE'],
    [
      'negative keepalive delay',
      { REDIS_SOCKET_KEEPALIVE_INITIAL_DELAY: '-3' },
      'REDIS_SOCKET_KEEPALIVE_INITIAL_DELAY',
    ],
    [
      'keepalive delay as a word',
      { REDIS_SOCKET_KEEPALIVE_INITIAL_DELAY: 'soon' },
      'REDIS_SOCKET_KEEPALIVE_INITIAL_DELAY',
    ],
    ['pool timeout 0', { REDIS_POOL_TIMEOUT: '0' }, 'REDIS_POOL_TIMEOUT'],
    ['pool timeout as a word', { REDIS_POOL_TIMEOUT: 'forever' }, 'REDIS_POOL_TIMEOUT'],
    ['reconnect base delay 0', { REDIS_RECONNECT_BASE_DELAY: '0' }, 'REDIS_RECONNECT_BASE_DELAY'],
    ['reconnect max delay as a word', { REDIS_RECONNECT_MAX_DELAY: 'soon' }, 'REDIS_RECONNECT_MAX_DELAY'],
    [
      'reconnect max delay below the base',
      { REDIS_RECONNECT_BASE_DELAY: '2', REDIS_RECONNECT_MAX_DELAY: '1' },
      'REDIS_RECONNECT_MAX_DELAY',
    ],
    ['offline queue neither on nor off', { REDIS_OFFLINE_QUEUE: 'maybe' }, 'REDIS_OFFLINE_QUEUE'],
    ['offline queue size 0', { REDIS_OFFLINE_QUEUE_SIZE: '0' }, 'REDIS_OFFLINE_QUEUE_SIZE'],
    ['offline queue size 1.5', { REDIS_OFFLINE_QUEUE_SIZE: '1.5' }, 'REDIS_OFFLINE_QUEUE_SIZE'],
    ['offline queue timeout negative', { REDIS_OFFLINE_QUEUE_TIMEOUT: '-1' }, 'REDIS_OFFLINE_QUEUE_TIMEOUT'],
    ['sentinels without ports', { REDIS_SENTINELS: 'a,b', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS'],
    ['sentinels with an empty entry', { REDIS_SENTINELS: 'a:1,,b:2', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS'],
    ['sentinels list of commas', { REDIS_SENTINELS: ',', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS'],
    ['sentinel port out of range', { REDIS_SENTINELS: 'a:70000', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS'],
    ['sentinels without a master name', { REDIS_SENTINELS: 'a:26379' }, 'REDIS_SENTINEL_MASTER'],
    ['sentinel master without sentinels', { REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINEL_MASTER'],
    ['sentinel password without sentinels', { REDIS_SENTINEL_PASSWORD: PASSWORD }, 'REDIS_SENTINEL_PASSWORD'],
    [
      'a host with sentinels',
      { REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_MASTER: 'm', REDIS_HOST: 'b' },
      'REDIS_HOST',
    ],
    [
      'a unix socket with sentinels',
      { REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_MASTER: 'm', REDIS_URL: 'unix:///tmp/r.sock' },
      'REDIS_URL',
    ],
    ['cluster nodes malformed', { REDIS_CLUSTER_NODES: 'a:1;b:2' }, 'REDIS_CLUSTER_NODES'],
    ['cluster nodes empty entries', { REDIS_CLUSTER_NODES: ' , ' }, 'REDIS_CLUSTER_NODES'],
    [
      'cluster and sentinel modes at once',
      { REDIS_CLUSTER_NODES: 'a:6379', REDIS_SENTINELS: 'b:26379', REDIS_SENTINEL_MASTER: 'm' },
      'REDIS_CLUSTER_NODES',
    ],
    ['cluster with a database in the url', { REDIS_CLUSTER_NODES: 'a:6379', REDIS_URL: 'redis://x/2' }, 'REDIS_URL'],
    ['cluster with REDIS_DB', { REDIS_CLUSTER_NODES: 'a:6379', REDIS_DB: '1' }, 'REDIS_DB'],
    ['cluster with a port', { REDIS_CLUSTER_NODES: 'a:6379', REDIS_PORT: '6380' }, 'REDIS_PORT'],
    ['unknown log level', { LOG_LEVEL: 'VERBOSE' }, 'LOG_LEVEL'],
    ['numeric log level', { LOG_LEVEL: '5' }, 'LOG_LEVEL'],
    ['service name with a space', { SERVICE_NAME: 'my service' }, 'SERVICE_NAME'],
    ['service name missing', { SERVICE_NAME: '' }, 'SERVICE_NAME'],
    ['log level missing', { LOG_LEVEL: '' }, 'LOG_LEVEL'],
    ['url that is not a URL', { REDIS_URL: 'not a url' }, 'REDIS_URL'],
    ['url with an http scheme', { REDIS_URL: 'http://localhost:6379' }, 'REDIS_URL'],
    ['url whose path is not a db', { REDIS_URL: 'redis://localhost:6379/abc' }, 'REDIS_URL'],
    ['url with a query', { REDIS_URL: 'redis://localhost:6379/0?timeout=5' }, 'REDIS_URL'],
    ['unix url without a path', { REDIS_URL: 'unix://' }, 'REDIS_URL'],
    ['unix url with a bad db', { REDIS_URL: 'unix:///tmp/redis.sock?db=x' }, 'REDIS_URL'],
    ['url with port 0', { REDIS_URL: 'redis://localhost:0' }, 'REDIS_URL'],
    ['url with a password and a bad port', { REDIS_URL: `redis://:${PASSWORD}@localhost:99999` }, 'REDIS_URL'],
    ['url with an unescaped @ in the password', { REDIS_URL: `redis://u:${PASSWORD}@x@:bad` }, 'REDIS_URL'],
    ['port contradicts the url', { REDIS_URL: 'redis://localhost:6379/0', REDIS_PORT: '6380' }, 'REDIS_PORT'],
    ['host contradicts the url', { REDIS_URL: 'redis://a.example:6379', REDIS_HOST: 'b.example' }, 'REDIS_HOST'],
    ['db contradicts the url', { REDIS_URL: 'redis://localhost/1', REDIS_DB: '2' }, 'REDIS_DB'],
    [
      'password contradicts the url',
      { REDIS_URL: 'redis://:other-pw@localhost', REDIS_PASSWORD: PASSWORD },
      'REDIS_PASSWORD',
    ],
    ['username contradicts the url', { REDIS_URL: 'redis://alice@localhost', REDIS_USERNAME: 'bob' }, 'REDIS_USERNAME'],
    ['ssl on with a redis:// url', { REDIS_URL: 'redis://localhost', REDIS_SSL: 'true' }, 'REDIS_SSL'],
    ['ssl off with a rediss:// url', { REDIS_URL: 'rediss://localhost', REDIS_SSL: 'false' }, 'REDIS_SSL'],
    ['host with a unix url', { REDIS_URL: 'unix:///tmp/redis.sock', REDIS_HOST: 'localhost' }, 'REDIS_HOST'],
    ['CA file without TLS', { REDIS_SSL_CA_CERTS: '/etc/hostname' }, 'REDIS_SSL_CA_CERTS'],
    [
      'CA file that does not exist',
      { REDIS_SSL: 'true', REDIS_SSL_CA_CERTS: '/nonexistent/ca.pem' },
      'REDIS_SSL_CA_CERTS',
    ],
    [
      'client certificate without its key',
      { REDIS_SSL: 'true', REDIS_SSL_CERTFILE: '/etc/hostname' },
      'REDIS_SSL_KEYFILE',
    ],
    ['port of the wrong type in code', {}, 'REDIS_PORT', { redisPort: true as unknown as number }],
    ['service name of the wrong type in code', {}, 'SERVICE_NAME', { serviceName: 42 as unknown as string }],
    ['misspelled option in code', {}, 'redisPrt', { redisPrt: 1 } as SettingsInput],
  ];

  // Values that were accepted silently, or ended in a bare URIError, before they were refused.
  const tooLong = '3000000';
  cases.push(
    ['connect timeout past the timer limit', { REDIS_SOCKET_CONNECT_TIMEOUT: tooLong }, 'REDIS_SOCKET_CONNECT_TIMEOUT'],
    ['socket timeout 1e9', { REDIS_SOCKET_TIMEOUT: '1e9' }, 'REDIS_SOCKET_TIMEOUT'],
    ['socket timeout past the timer limit', { REDIS_SOCKET_TIMEOUT: '2147484' }, 'REDIS_SOCKET_TIMEOUT'],
    ['pool timeout past the timer limit', { REDIS_POOL_TIMEOUT: tooLong }, 'REDIS_POOL_TIMEOUT'],
    ['health interval past the timer limit', { REDIS_HEALTH_CHECK_INTERVAL: '1e7' }, 'REDIS_HEALTH_CHECK_INTERVAL'],
    [
      'keepalive delay past the limit',
      { REDIS_SOCKET_KEEPALIVE_INITIAL_DELAY: tooLong },
      'REDIS_SOCKET_KEEPALIVE_INITIAL_DELAY',
    ],
    [
      'reconnect base delay past the limit',
      { REDIS_RECONNECT_BASE_DELAY: tooLong, REDIS_RECONNECT_MAX_DELAY: tooLong },
      'REDIS_RECONNECT_BASE_DELAY',
    ],
    ['reconnect max delay past the limit', { REDIS_RECONNECT_MAX_DELAY: tooLong }, 'REDIS_RECONNECT_MAX_DELAY'],
    ['offline queue timeout past the limit', { REDIS_OFFLINE_QUEUE_TIMEOUT: tooLong }, 'REDIS_OFFLINE_QUEUE_TIMEOUT'],
    ['socket timeout below a millisecond', { REDIS_SOCKET_TIMEOUT: '0.0001' }, 'REDIS_SOCKET_TIMEOUT'],
    ['pool timeout of a nanosecond', { REDIS_POOL_TIMEOUT: '1e-9' }, 'REDIS_POOL_TIMEOUT'],
    ['idle timeout below a millisecond', { REDIS_IDLE_TIMEOUT: '0.0005' }, 'REDIS_IDLE_TIMEOUT'],
    ['negative max lifetime', { REDIS_MAX_LIFETIME: '-1' }, 'REDIS_MAX_LIFETIME'],
    ['leak threshold as a word', { REDIS_LEAK_DETECTION_THRESHOLD: 'never' }, 'REDIS_LEAK_DETECTION_THRESHOLD'],
    ['min idle as a word', { REDIS_MIN_IDLE_CONNECTIONS: 'some' }, 'REDIS_MIN_IDLE_CONNECTIONS'],
    ['min idle that leaves no room', { REDIS_MIN_IDLE_CONNECTIONS: '10' }, 'REDIS_MIN_IDLE_CONNECTIONS'],
    ['protocol 4', { REDIS_PROTOCOL: '4' }, 'REDIS_PROTOCOL'],
    ['protocol 1', { REDIS_PROTOCOL: '1' }, 'REDIS_PROTOCOL'],
    ['protocol as a word', { REDIS_PROTOCOL: 'resp3' }, 'REDIS_PROTOCOL'],
    ['protocol 2.5', { REDIS_PROTOCOL: '2.5' }, 'REDIS_PROTOCOL'],
    ['host with a port', { REDIS_HOST: 'localhost:6380' }, 'REDIS_HOST'],
    ['host with an empty port', { REDIS_HOST: 'localhost:' }, 'REDIS_HOST'],
    ['host that is a URL', { REDIS_HOST: 'redis://cache' }, 'REDIS_HOST'],
    ['host with a space inside', { REDIS_HOST: 'my cache' }, 'REDIS_HOST'],
    ['host with a leading space', { REDIS_HOST: ' cache' }, 'REDIS_HOST'],
    ['host ending in CR', { REDIS_HOST: 'cache\r' }, 'REDIS_HOST'],
    ['host with a line break', { REDIS_HOST: 'cache\nother' }, 'REDIS_HOST'],
    ['host with a path', { REDIS_HOST: 'cache/0' }, 'REDIS_HOST'],
    ['host with user info', { REDIS_HOST: 'app@cache' }, 'REDIS_HOST'],
    ['host with a query', { REDIS_HOST: 'cache?x=1' }, 'REDIS_HOST'],
    ['host of a lone hyphen', { REDIS_HOST: '-' }, 'REDIS_HOST'],
    ['host in unclosed brackets', { REDIS_HOST: '[::1' }, 'REDIS_HOST'],
    ['host in brackets that is not IPv6', { REDIS_HOST: '[cache]' }, 'REDIS_HOST'],
    ['host that is a bad IPv6', { REDIS_HOST: '::g' }, 'REDIS_HOST'],
    ['host of the wrong type in code', {}, 'REDIS_HOST', { redisHost: 6379 as unknown as string }],
    [
      'master name ending in CR',
      { REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_MASTER: 'mymaster\r' },
      'REDIS_SENTINEL_MASTER',
    ],
    [
      'master name with a space',
      { REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_MASTER: 'my master' },
      'REDIS_SENTINEL_MASTER',
    ],
    [
      'master name with a tab',
      { REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_MASTER: 'my\tmaster' },
      'REDIS_SENTINEL_MASTER',
    ],
    ['service name ending in CR', { SERVICE_NAME: 'orders\r' }, 'SERVICE_NAME'],
    ['url with an unknown parameter', { REDIS_URL: 'redis://localhost?client_name=app' }, 'REDIS_URL'],
    ['url with a bad ?max_connections', { REDIS_URL: 'redis://localhost?max_connections=2.5' }, 'REDIS_URL'],
    [
      'url whose ?max_connections contradicts REDIS_MAX_CONNECTIONS',
      { REDIS_URL: 'redis://localhost?max_connections=3', REDIS_MAX_CONNECTIONS: '4' },
      'REDIS_MAX_CONNECTIONS',
    ],
    [
      'url whose password is decoded twice by redis-py',
      { REDIS_URL: 'redis://localhost?password=a%2541' },
      'REDIS_URL',
    ],
    ['url whose database path is not a whole number', { REDIS_URL: 'redis://localhost/1.0' }, 'REDIS_URL'],
    ['url with a leading space', { REDIS_URL: ' redis://localhost' }, 'REDIS_URL'],
    ['max connections empty', { REDIS_MAX_CONNECTIONS: '' }, 'REDIS_MAX_CONNECTIONS'],
    ['decode responses with a space', { REDIS_DECODE_RESPONSES: ' true' }, 'REDIS_DECODE_RESPONSES'],
    ['url empty', { REDIS_URL: '' }, 'REDIS_URL'],
    ['CA path with a line break', { REDIS_SSL: 'true', REDIS_SSL_CA_CERTS: '/tmp/ca.pem\n' }, 'REDIS_SSL_CA_CERTS'],
    ['unix url whose first segment is a host', { REDIS_URL: 'unix://run/redis.sock' }, 'REDIS_URL'],
    ['unix url with a host', { REDIS_URL: 'unix://cache/tmp/redis.sock' }, 'REDIS_URL'],
    ['unix url with a relative path', { REDIS_URL: 'unix:redis.sock' }, 'REDIS_URL'],
    ['unix url of the root', { REDIS_URL: 'unix:///' }, 'REDIS_URL'],
    ['unix url with an unknown parameter', { REDIS_URL: 'unix:///tmp/r.sock?timeout=1' }, 'REDIS_URL'],
    ['unix url with two passwords', { REDIS_URL: `unix://:a@/tmp/r.sock?password=${PASSWORD}` }, 'REDIS_URL'],
    ['url with a line break inside', { REDIS_URL: 'redis://local\nhost:6379' }, 'REDIS_URL'],
    ['url with a tab inside', { REDIS_URL: 'redis://local\thost:6379' }, 'REDIS_URL'],
    ['url ending in CR', { REDIS_URL: `redis://:${PASSWORD}@localhost:6379\r` }, 'REDIS_URL'],
    ['url with a fragment', { REDIS_URL: `redis://localhost:6379/0#${PASSWORD}` }, 'REDIS_URL'],
    ['url with an unescaped # in the password', { REDIS_URL: `redis://:${PASSWORD}#x@localhost` }, 'REDIS_URL'],
    ['url with ?db twice', { REDIS_URL: 'redis://localhost?db=1&db=2' }, 'REDIS_URL'],
    ['url whose path and ?db disagree', { REDIS_URL: 'redis://localhost/1?db=2' }, 'REDIS_URL'],
    ['url with a bad ?db', { REDIS_URL: 'redis://localhost?db=x' }, 'REDIS_URL'],
    ['url whose two passwords disagree', { REDIS_URL: `redis://:other@localhost?password=${PASSWORD}` }, 'REDIS_URL'],
    ['url whose two user names disagree', { REDIS_URL: 'redis://alice@localhost?username=bob' }, 'REDIS_URL'],
    ['url with a port past 65535', { REDIS_URL: 'redis://localhost:65536' }, 'REDIS_URL'],
    ['url with a word for a port', { REDIS_URL: 'redis://localhost:port' }, 'REDIS_URL'],
    ['url with a space in the host', { REDIS_URL: 'redis://my cache:6379' }, 'REDIS_URL'],
    ['url with an escaped space in the host', { REDIS_URL: 'redis://my%20cache:6379' }, 'REDIS_URL'],
    ['url with a bad IPv6 host', { REDIS_URL: 'redis://[::g]:6379' }, 'REDIS_URL'],
    ['url of the wrong type in code', {}, 'REDIS_URL', { redisUrl: 6379 as unknown as string }],
    ['url that is only a password', { REDIS_URL: PASSWORD }, 'REDIS_URL'],
    ['sentinel entry [:]:1', { REDIS_SENTINELS: '[:]:1', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS'],
    [
      'sentinel entry with an unclosed bracket',
      { REDIS_SENTINELS: '[::1:26379', REDIS_SENTINEL_MASTER: 'm' },
      'REDIS_SENTINELS',
    ],
    [
      'sentinel IPv6 entry without brackets',
      { REDIS_SENTINELS: '::1:26379', REDIS_SENTINEL_MASTER: 'm' },
      'REDIS_SENTINELS',
    ],
    [
      'sentinel entry with a bracketed name',
      { REDIS_SENTINELS: '[zz]:26379', REDIS_SENTINEL_MASTER: 'm' },
      'REDIS_SENTINELS',
    ],
    ['sentinel entry with two ports', { REDIS_SENTINELS: 'a:1:2', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS'],
    ['sentinel entry with port 0', { REDIS_SENTINELS: 'a:0', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS'],
    ['sentinel entries without a comma', { REDIS_SENTINELS: 'a:1 b:2', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS'],
    ['sentinel entry that is a URL', { REDIS_SENTINELS: 'redis://a:1', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS'],
    ['sentinel entry with a CR', { REDIS_SENTINELS: 'a:1\r', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS'],
    [
      'sentinel entry with a bad host name',
      { REDIS_SENTINELS: 'a_b-:1', REDIS_SENTINEL_MASTER: 'm' },
      'REDIS_SENTINELS',
    ],
    ['cluster entry [:]:1', { REDIS_CLUSTER_NODES: '[:]:1' }, 'REDIS_CLUSTER_NODES'],
    ['cluster entry without brackets around IPv6', { REDIS_CLUSTER_NODES: '::1:7000' }, 'REDIS_CLUSTER_NODES'],
    ['cluster entry with port past 65535', { REDIS_CLUSTER_NODES: 'a:70000' }, 'REDIS_CLUSTER_NODES'],
    ['cluster entry with user info', { REDIS_CLUSTER_NODES: 'app@a:7000' }, 'REDIS_CLUSTER_NODES'],
    ['cluster entry with a trailing comma', { REDIS_CLUSTER_NODES: 'a:7000,' }, 'REDIS_CLUSTER_NODES'],
    ['cluster with a unix url', { REDIS_CLUSTER_NODES: 'a:7000', REDIS_URL: 'unix:///tmp/r.sock' }, 'REDIS_URL'],
    ['cluster with a host', { REDIS_CLUSTER_NODES: 'a:7000', REDIS_HOST: 'b' }, 'REDIS_HOST'],
    [
      'sentinels with a port',
      { REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_MASTER: 'm', REDIS_PORT: '1' },
      'REDIS_PORT',
    ],
    ['sentinel user without sentinels', { REDIS_SENTINEL_USERNAME: 'u' }, 'REDIS_SENTINEL_USERNAME'],
    ['port with a space inside', { REDIS_PORT: '63 79' }, 'REDIS_PORT'],
    ['db past the safe integers', { REDIS_DB: '1e20' }, 'REDIS_DB'],
    ['ssl as an empty-looking word', { REDIS_SSL: 'none' }, 'REDIS_SSL'],
    ['log level with a line break', { LOG_LEVEL: 'INFO\nDEBUG' }, 'LOG_LEVEL'],
    ['key file without a certificate', { REDIS_SSL: 'true', REDIS_SSL_KEYFILE: '/etc/hostname' }, 'REDIS_SSL_CERTFILE'],
    ['key file without TLS', { REDIS_SSL_KEYFILE: '/etc/hostname' }, 'REDIS_SSL_KEYFILE'],
    ['cache as a word', { REDIS_CLIENT_SIDE_CACHE: 'sometimes' }, 'REDIS_CLIENT_SIDE_CACHE'],
    ['cache size 0', { REDIS_CLIENT_SIDE_CACHE_MAX_ENTRIES: '0' }, 'REDIS_CLIENT_SIDE_CACHE_MAX_ENTRIES'],
    ['cache size as a word', { REDIS_CLIENT_SIDE_CACHE_MAX_ENTRIES: 'lots' }, 'REDIS_CLIENT_SIDE_CACHE_MAX_ENTRIES'],
    ['cache ttl below zero', { REDIS_CLIENT_SIDE_CACHE_TTL: '-1' }, 'REDIS_CLIENT_SIDE_CACHE_TTL'],
    ['cache ttl as a word', { REDIS_CLIENT_SIDE_CACHE_TTL: 'forever' }, 'REDIS_CLIENT_SIDE_CACHE_TTL'],
    ['read-from of another client', { REDIS_READ_FROM: 'slave' }, 'REDIS_READ_FROM'],
    ['read-from empty', { REDIS_READ_FROM: '' }, 'REDIS_READ_FROM'],
    ['read-from replica with one server', { REDIS_READ_FROM: 'replica' }, 'REDIS_READ_FROM'],
  );
  for (const [name, variable, env] of [
    ['two spellings of REDIS_URL', 'REDIS_URL', { redis_url: 'redis://a', REDIS_URL: 'redis://b' }],
    ['two spellings of REDIS_HOST', 'REDIS_HOST', { Redis_Host: 'a', REDIS_HOST: 'b' }],
    ['two spellings of REDIS_PASSWORD', 'REDIS_PASSWORD', { redis_password: 'other', REDIS_PASSWORD: PASSWORD }],
    ['two spellings of SERVICE_NAME', 'SERVICE_NAME', { service_name: 'a', SERVICE_NAME: 'b' }],
    ['a lower-case name with a bad value', 'REDIS_PORT', { redis_port: 'abc' }],
    ['a mixed-case name with a bad value', 'REDIS_SOCKET_TIMEOUT', { Redis_Socket_Timeout: '1e9' }],
  ] as const) {
    cases.push([name, env, variable]);
  }

  test('there are at least 150 of them', () => {
    console.log(`${cases.length} malformed inputs, each expecting a SettingsError that names the variable`);
    assert.ok(cases.length >= 150, `only ${cases.length} cases`);
  });

  for (const [name, env, path, input] of cases) {
    test(name, () => {
      const error = failure({ REDIS_PASSWORD: PASSWORD, ...env }, input);
      const issue = error.issues.find((candidate) => candidate.path === path);
      assert.ok(issue, `no issue at ${path} in ${inspect(error.issues)}`);
      assert.ok(issue.message.includes(path), `the message does not name ${path}: ${issue.message}`);
      assert.ok(error.message.includes(`→ at ${path}`));
      assertNoSecret(error);
    });
  }
});

test('one SettingsError lists every issue, each with what was expected and what was received', () => {
  const error = failure({ REDIS_PORT: 'abc', REDIS_DB: '-1', LOG_LEVEL: 'loud', REDIS_SOCKET_TIMEOUT: '0' });
  assert.deepEqual(error.issues.map((issue) => issue.path).sort(), [
    'LOG_LEVEL',
    'REDIS_DB',
    'REDIS_PORT',
    'REDIS_SOCKET_TIMEOUT',
  ]);
  const port = error.issues.find((issue) => issue.path === 'REDIS_PORT') as SettingsIssue;
  assert.equal(port.code, 'invalid_value');
  assert.equal(
    port.message,
    'Expected `REDIS_PORT` to be an integer from 1 to 65535, got `abc` (string, from the environment)',
  );
  assert.match(error.message, /^Invalid Redis settings \(4 issues\):\n✖ /);
});

test('client-side caching needs RESP3, and says why; replica reads need a mode with replicas', () => {
  const [cache] = failure({ REDIS_CLIENT_SIDE_CACHE: 'true', REDIS_PROTOCOL: '2' }).issues;
  assert.equal(cache?.path, 'REDIS_CLIENT_SIDE_CACHE');
  assert.match(
    cache?.message ?? '',
    /needs `REDIS_PROTOCOL=3`: the server sends its invalidations as RESP3 push messages/,
  );
  const on = load({ REDIS_CLIENT_SIDE_CACHE: 'yes', REDIS_CLIENT_SIDE_CACHE_TTL: '2.5' });
  assert.equal(on.redisClientSideCache, true);
  assert.equal(on.redisClientSideCacheMaxEntries, 10000);
  assert.equal(on.redisClientSideCacheTtl, 2.5);
  assert.equal(load({}).redisClientSideCache, false);
  assert.equal(load({}).redisReadFrom, 'primary');
  const [replica] = failure({ REDIS_READ_FROM: 'replica' }).issues;
  assert.match(
    replica?.message ?? '',
    /needs replicas the pool can find: set `REDIS_SENTINELS` or `REDIS_CLUSTER_NODES`/,
  );
  for (const value of ['replica-preferred', 'Any', ' primary ']) {
    assert.equal(load({ REDIS_READ_FROM: value }).redisReadFrom, value.trim().toLowerCase());
  }
  const cluster = { REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_READ_FROM: 'replica' };
  assert.equal(load(cluster).redisReadFrom, 'replica');
});

test('a contradiction names both variables', () => {
  const error = failure({ REDIS_URL: 'redis://localhost:6379/0', REDIS_PORT: '6380' });
  const [issue] = error.issues;
  assert.equal(issue?.code, 'conflict');
  assert.match(issue?.message ?? '', /`REDIS_PORT` \(6380\) contradicts the port in `REDIS_URL` \(6379\)/);
});

describe('precedence: code > environment > .env > defaults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redis-pool-settings-'));
  const envFile = join(dir, '.env');
  writeFileSync(
    envFile,
    'SERVICE_NAME=from-dotenv\nLOG_LEVEL=DEBUG\nREDIS_PORT=7000\nREDIS_DB=3\nREDIS_SOCKET_TIMEOUT=7\n',
  );

  test('each source wins over the ones below it', () => {
    const settings = loadSettings(
      { redisDb: 5 },
      { env: { REDIS_PORT: '7100', REDIS_DB: '4' }, envFile, onWarning: assert.fail },
    );
    assert.equal(settings.redisDb, 5, 'code wins');
    assert.equal(settings.redisPort, 7100, 'the environment beats .env');
    assert.equal(settings.redisSocketTimeout, 7, '.env beats the default');
    assert.equal(settings.serviceName, 'from-dotenv');
    assert.equal(settings.redisMaxConnections, 10, 'default');
    assert.equal(settings.logLevel, 'debug');
  });

  test('an empty value is a value, as the Python services read it: none for a host or a password, never the .env one', () => {
    const settings = loadSettings({}, { env: { REDIS_HOST: '', REDIS_PASSWORD: '' }, envFile, onWarning: assert.fail });
    assert.equal(settings.redisHost, 'localhost', 'an empty REDIS_HOST is no host: the default');
    assert.equal(settings.redisPassword, undefined);
    assert.equal(settings.redisPort, 7000, 'the variables not set in the environment still come from .env');
    assert.throws(
      () => loadSettings({}, { env: { REDIS_PORT: '' }, envFile }),
      (error: unknown) => error instanceof SettingsError && error.issues[0]?.path === 'REDIS_PORT',
      'an empty number is refused, as pydantic refuses it, rather than taken from .env',
    );
  });

  test('a missing .env file is not an error', () => {
    const settings = loadSettings({}, { env: REQUIRED, envFile: join(dir, 'absent.env') });
    assert.equal(settings.redisUrl, 'redis://localhost:6379/0');
  });
});

describe('REDIS_URL versus the individual fields', () => {
  test('the defaults make redis://localhost:6379/0', () => {
    const settings = load({});
    assert.equal(settings.redisUrl, 'redis://localhost:6379/0');
    assert.equal(settings.redisHost, 'localhost');
    assert.equal(settings.redisPort, 6379);
    assert.equal(settings.redisDb, 0);
    assert.equal(settings.redisSsl, false);
  });

  test('without REDIS_URL the fields build the address', () => {
    const settings = load({ REDIS_HOST: 'cache.internal', REDIS_PORT: '6380', REDIS_DB: '2', REDIS_SSL: 'yes' });
    assert.equal(settings.redisUrl, 'rediss://cache.internal:6380/2');
  });

  test('fields fill the parts the URL leaves out, the password above all', () => {
    const settings = load({
      REDIS_URL: 'redis://app@cache.internal',
      REDIS_PASSWORD: PASSWORD,
      REDIS_PORT: '6390',
      REDIS_DB: '4',
    });
    assert.equal(settings.redisUrl, 'redis://app@cache.internal:6390/4');
    assert.equal(settings.redisPassword?.reveal(), PASSWORD);
    assert.equal(settings.redisUsername, 'app');
  });

  test('a field equal to the URL part is accepted', () => {
    const settings = load({ REDIS_URL: 'rediss://h:6379/1', REDIS_PORT: '6379', REDIS_DB: '1', REDIS_SSL: 'on' });
    assert.equal(settings.redisUrl, 'rediss://h:6379/1');
  });

  test('the URL password moves into a Secret and out of redisUrl', () => {
    const settings = load({ REDIS_URL: `redis://user:${encodeURIComponent('p@ss:wörd')}@h:1/0` });
    assert.equal(settings.redisUrl, 'redis://user@h:1/0');
    assert.equal(settings.redisPassword?.reveal(), 'p@ss:wörd');
  });

  test('unix sockets, with the db in the query', () => {
    const settings = load({ REDIS_URL: 'unix:///run/redis/redis.sock?db=3' });
    assert.equal(settings.redisSocketPath, '/run/redis/redis.sock');
    assert.equal(settings.redisDb, 3);
    assert.equal(settings.redisHost, undefined);
    assert.equal(settings.redisUrl, 'unix:///run/redis/redis.sock?db=3');
  });

  test('IPv6 hosts keep their brackets in the URL only', () => {
    const settings = load({ REDIS_URL: 'redis://[::1]:6379' });
    assert.equal(settings.redisHost, '::1');
    assert.equal(settings.redisUrl, 'redis://[::1]:6379/0');
  });
});

test('sentinel mode: the list, the URL that names it, credentials from REDIS_URL, and the sentinel password kept secret', () => {
  const settings = load({
    REDIS_URL: `redis://app:${PASSWORD}@ignored-host/3`,
    REDIS_SENTINELS: ' 10.0.0.1:26379, [::1]:26380 ',
    REDIS_SENTINEL_MASTER: 'orders',
    REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
  });
  assert.deepEqual(settings.redisSentinels, [
    { host: '10.0.0.1', port: 26379 },
    { host: '::1', port: 26380 },
  ]);
  assert.equal(settings.redisUrl, 'redis+sentinel://app@10.0.0.1:26379,[::1]:26380/orders/3');
  assert.equal(settings.redisUsername, 'app');
  assert.equal(settings.redisPassword?.reveal(), PASSWORD);
  assert.equal(settings.redisDb, 3);
  assert.equal(settings.redisSentinelPassword?.reveal(), 'sentinel-secret');
  for (const shown of [JSON.stringify(settings), inspect(settings)]) assert.doesNotMatch(shown, /sentinel-secret/);
});

test("values are parsed with the Python services' units and words", () => {
  const settings = load({
    LOG_LEVEL: 'warning',
    REDIS_DECODE_RESPONSES: 'off',
    REDIS_SOCKET_KEEPALIVE: 'no',
    REDIS_SOCKET_TIMEOUT: '0.5',
    REDIS_HEALTH_CHECK_INTERVAL: '0',
    REDIS_RECONNECT_BASE_DELAY: '0.1',
    REDIS_RECONNECT_MAX_DELAY: '2',
    REDIS_OFFLINE_QUEUE: 'off',
    REDIS_OFFLINE_QUEUE_SIZE: '50',
    REDIS_OFFLINE_QUEUE_TIMEOUT: '0.25',
  });
  assert.equal(settings.logLevel, 'warn');
  assert.equal(settings.redisDecodeResponses, false);
  assert.equal(settings.redisSocketKeepalive, false);
  assert.equal(settings.redisSocketTimeout, 0.5);
  assert.equal(settings.redisHealthCheckInterval, 0);
  assert.equal(settings.redisReconnectBaseDelay, 0.1);
  assert.equal(settings.redisReconnectMaxDelay, 2);
  assert.equal(settings.redisOfflineQueue, false);
  assert.equal(settings.redisOfflineQueueSize, 50);
  assert.equal(settings.redisOfflineQueueTimeout, 0.25);
  assert.equal(load({ LOG_LEVEL: 'CRITICAL' }).logLevel, 'fatal');
});

test('keepalive settings reach the socket options, in milliseconds', () => {
  const on = clientOptions(load({ REDIS_SOCKET_KEEPALIVE_INITIAL_DELAY: '12' }), 'shared').socket as Record<
    string,
    unknown
  >;
  assert.equal(on.keepAlive, true);
  assert.equal(on.keepAliveInitialDelay, 12_000);
  const off = clientOptions(load({ REDIS_SOCKET_KEEPALIVE: 'false' }), 'shared').socket as Record<string, unknown>;
  assert.equal(off.keepAlive, false);
});

describe('unknown REDIS_* variables', () => {
  test('warn with the closest known name', () => {
    const warnings: string[] = [];
    const settings = load(
      { REDIS_PROT: '6380', REDIS_SOCKET_TIMEOUTS: '3', REDIS_SERVER_BIN: '/usr/bin/redis-server' },
      {},
      warnings,
    );
    assert.deepEqual(warnings, [
      'Unknown setting REDIS_PROT is ignored; did you mean REDIS_PORT?',
      'Unknown setting REDIS_SOCKET_TIMEOUTS is ignored; did you mean REDIS_SOCKET_TIMEOUT?',
    ]);
    assert.deepEqual(settings.warnings, warnings);
    assert.equal(settings.redisPort, 6379);
  });

  test('keepalive interval and count say why Node cannot honour them', () => {
    const warnings: string[] = [];
    load({ REDIS_SOCKET_KEEPALIVE_INTERVAL: '5', REDIS_SOCKET_KEEPALIVE_COUNT: '3' }, {}, warnings);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0] ?? '', /REDIS_SOCKET_KEEPALIVE_INTERVAL is ignored: Node\.js cannot set TCP_KEEPINTVL/);
    assert.match(warnings[1] ?? '', /REDIS_SOCKET_KEEPALIVE_COUNT is ignored: Node\.js cannot set TCP_KEEPCNT/);
  });

  test('a name far from every setting gets no suggestion', () => {
    const warnings: string[] = [];
    load({ REDIS_COMPLETELY_DIFFERENT: 'x' }, {}, warnings);
    assert.deepEqual(warnings, ['Unknown setting REDIS_COMPLETELY_DIFFERENT is ignored']);
  });
});

describe('passwords never show', () => {
  const settings = load({ REDIS_URL: `redis://admin:${PASSWORD}@cache:6379/0` });

  test('in JSON.stringify, util.inspect, String() or a spread copy', () => {
    for (const text of [
      JSON.stringify(settings),
      inspect(settings, { depth: 5 }),
      `${settings.redisPassword}`,
      JSON.stringify({ ...settings }),
      inspect({ ...settings }),
    ]) {
      assert.ok(!text.includes(PASSWORD), text);
    }
    assert.match(JSON.stringify(settings), /"redisPassword":"\*\*\*"/);
  });

  test('in settings errors about the URL: redacted when it parses, not shown past its scheme when not', () => {
    // This pinned `redis://admin:***@cache:notaport/0` before: a URL that does not parse cannot be
    // split safely (an unescaped @ or / in the password moves every boundary), so now it is not shown.
    const unparsable = failure({ REDIS_URL: `redis://admin:${PASSWORD}@cache:notaport/0` });
    assert.match(unparsable.message, /got `redis:\/\/\*\*\*` \(string, from the environment\)/);
    assertNoSecret(unparsable);
    const badDb = failure({ REDIS_URL: `redis://admin:${PASSWORD}@cache:6379/abc` });
    assert.match(badDb.message, /got `redis:\/\/admin:\*\*\*@cache:6379\/abc`/);
    assertNoSecret(badDb);
  });
});

test('settings compare by value, naming the variables that differ', () => {
  const a = load({ REDIS_URL: `redis://:${PASSWORD}@h:1/0` });
  const b = load({ REDIS_URL: 'redis://:other@h:1/0', REDIS_SOCKET_TIMEOUT: '9' });
  assert.deepEqual(a.differences(load({ REDIS_URL: `redis://:${PASSWORD}@h:1/0` })), []);
  assert.deepEqual(a.differences(b), ['REDIS_PASSWORD', 'REDIS_SOCKET_TIMEOUT']);
});

test('new CommonAppSettings() is the same as loadSettings()', () => {
  const settings = new CommonAppSettings({ serviceName: 'svc', logLevel: 'INFO' }, { env: {}, envFile: false });
  assert.ok(Object.isFrozen(settings));
  assert.equal(settings.serviceName, 'svc');
});

describe('variable names are read case-insensitively, as the Python services read them', () => {
  test('lower- and mixed-case names set the same settings, and warn about typos alike', () => {
    const warnings: string[] = [];
    const settings = loadSettings(
      {},
      {
        env: { service_name: 'orders', Log_Level: 'debug', redis_url: 'redis://cache:6380/2', redis_prot: '1' },
        envFile: false,
        onWarning: (line) => warnings.push(line),
      },
    );
    assert.equal(settings.serviceName, 'orders');
    assert.equal(settings.logLevel, 'debug');
    assert.equal(settings.redisUrl, 'redis://cache:6380/2');
    assert.deepEqual(warnings, ['Unknown setting redis_prot is ignored; did you mean REDIS_PORT?']);
  });

  test('two spellings with the same value are one setting; the environment still beats .env', () => {
    const dir = mkdtempSync(join(tmpdir(), 'redis-pool-case-'));
    writeFileSync(join(dir, '.env'), 'redis_port=7000\nREDIS_DB=3\n');
    const settings = loadSettings(
      {},
      {
        env: { ...REQUIRED, REDIS_HOST: 'cache', redis_host: 'cache', Redis_Port: '7100' },
        envFile: join(dir, '.env'),
      },
    );
    assert.equal(settings.redisHost, 'cache');
    assert.equal(settings.redisPort, 7100);
    assert.equal(settings.redisDb, 3);
  });
});

describe('REDIS_URL query parameters, as redis-py reads them', () => {
  test('?password=, ?username= and ?db= fill the password, user and database', () => {
    const settings = load({
      REDIS_URL: `redis://cache:6379?username=app&password=${encodeURIComponent('p&ss=w')}&db=4`,
    });
    assert.equal(settings.redisUsername, 'app');
    assert.equal(settings.redisPassword?.reveal(), 'p&ss=w');
    assert.equal(settings.redisDb, 4);
    assert.equal(settings.redisUrl, 'redis://app@cache:6379/4');
  });

  test('a part stated twice is accepted when both agree, on unix:// URLs too', () => {
    const settings = load({ REDIS_URL: `unix://:${PASSWORD}@/run/redis.sock?db=2&password=${PASSWORD}` });
    assert.equal(settings.redisPassword?.reveal(), PASSWORD);
    assert.equal(settings.redisSocketPath, '/run/redis.sock');
    assert.equal(settings.redisUrl, 'unix:///run/redis.sock?db=2');
    assert.equal(load({ REDIS_URL: 'redis://cache/5?db=5' }).redisDb, 5);
  });
});

describe('hosts', () => {
  test('names, IPv4 and IPv6 addresses, with or without brackets', () => {
    for (const [given, host] of [
      ['cache.internal', 'cache.internal'],
      ['10.1.2.3', '10.1.2.3'],
      ['::1', '::1'],
      ['[::1]', '::1'],
      ['redis_1', 'redis_1'],
    ]) {
      assert.equal(load({ REDIS_HOST: given as string }).redisHost, host);
    }
    assert.equal(load({ REDIS_HOST: '::1' }).redisUrl, 'redis://[::1]:6379/0');
  });

  test('TLS to an IP address sends no SNI name (Node warns with DEP0123 when given one); to a name it does', () => {
    const byAddress = clientOptions(load({ REDIS_URL: 'rediss://127.0.0.1:6380' }), 'shared').socket as {
      servername?: string;
    };
    assert.equal(byAddress.servername, undefined);
    const byName = clientOptions(load({ REDIS_URL: 'rediss://cache.internal:6380' }), 'shared').socket as {
      servername?: string;
    };
    assert.equal(byName.servername, 'cache.internal');
  });
});

describe('TLS files are read and checked when the settings load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redis-pool-pem-'));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  for (const name of ['one', 'two']) {
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
    );
  }
  openssl('ec', '-in', 'one.key', '-out', 'encrypted.key', '-aes256', '-passout', 'pass:secret');
  writeFileSync(file('not-pem.txt'), 'just some text\n');
  const tls = (files: Record<string, string>) => ({ REDIS_SSL: 'true', ...files });

  test('a CA bundle and a matching client certificate and key are accepted', () => {
    const settings = load(
      tls({
        REDIS_SSL_CA_CERTS: file('one.crt'),
        REDIS_SSL_CERTFILE: file('two.crt'),
        REDIS_SSL_KEYFILE: file('two.key'),
      }),
    );
    assert.equal(settings.redisSslKeyfile, file('two.key'));
  });

  for (const [name, files, path] of [
    ['a CA file that is not PEM', { REDIS_SSL_CA_CERTS: file('not-pem.txt') }, 'REDIS_SSL_CA_CERTS'],
    ['a CA file that is a key', { REDIS_SSL_CA_CERTS: file('one.key') }, 'REDIS_SSL_CA_CERTS'],
    [
      'a certificate file that is not PEM',
      { REDIS_SSL_CERTFILE: file('not-pem.txt'), REDIS_SSL_KEYFILE: file('one.key') },
      'REDIS_SSL_CERTFILE',
    ],
    [
      'a key file that is not PEM',
      { REDIS_SSL_CERTFILE: file('one.crt'), REDIS_SSL_KEYFILE: file('not-pem.txt') },
      'REDIS_SSL_KEYFILE',
    ],
    [
      'an encrypted key',
      { REDIS_SSL_CERTFILE: file('one.crt'), REDIS_SSL_KEYFILE: file('encrypted.key') },
      'REDIS_SSL_KEYFILE',
    ],
    [
      'a key that does not match its certificate',
      { REDIS_SSL_CERTFILE: file('one.crt'), REDIS_SSL_KEYFILE: file('two.key') },
      'REDIS_SSL_KEYFILE',
    ],
  ] as const) {
    test(name, () => {
      const error = failure(tls(files));
      const issue = error.issues.find((candidate) => candidate.path === path);
      assert.ok(issue, `no issue at ${path} in ${inspect(error.issues)}`);
      assert.ok(issue.message.includes(path));
    });
  }
});
