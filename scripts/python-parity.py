#!/usr/bin/env python3
"""
Writes test/fixtures/python-parity.json: how the Python services resolve each of several hundred
environments, with the real Python stack: pydantic-settings (a BaseSettings with env_file='.env'
and its default case-insensitive names), python-dotenv (which pydantic-settings reads .env with)
and redis-py's from_url, as the seed's RedisPool calls it.

    python3 scripts/python-parity.py        (npm run parity:fixture)

It needs pydantic-settings and python-dotenv, and redis-py: Debian's python3-redis (apt-get install
python3-redis), whose directory is added to the path when the interpreter lacks it. Each case is
an environment and the text of a .env; the result is the connection redis-py would open, or
"refused" with the reason. The environment of this process is replaced by the case's while each
case is read, since python-dotenv interpolates ${VAR} from it.

The seed reads only REDIS_URL; the individual fields (REDIS_HOST …) are resolved by the pool's
documented rule (docs/settings.md): the URL is the base, a field fills a part it leaves out, and a
field that contradicts it is refused. Cases where Python's own reading is accidental, and the pool
refuses on purpose, are marked with the rule (`deliberate`); the test checks the pool refuses them
by that rule.
"""
import ipaddress
import json
import logging
import re
import os
import sys
import tempfile
from typing import Optional
from urllib.parse import parse_qs, unquote, urlparse

sys.path.append('/usr/lib/python3/dist-packages')
import redis.asyncio  # noqa: E402
from pydantic import ValidationError  # noqa: E402
from pydantic_settings import BaseSettings, SettingsConfigDict  # noqa: E402

logging.getLogger('dotenv.main').setLevel(logging.ERROR)
OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'python-parity.json')


class CommonAppSettings(BaseSettings):
    """The Python services' settings, as far as Redis goes."""

    model_config = SettingsConfigDict(env_file='.env', extra='ignore')

    service_name: str
    log_level: str
    redis_url: str = 'redis://localhost:6379/0'
    redis_host: Optional[str] = None
    redis_port: Optional[int] = None
    redis_db: Optional[int] = None
    redis_username: Optional[str] = None
    redis_password: Optional[str] = None
    redis_ssl: Optional[bool] = None
    redis_decode_responses: bool = True
    redis_socket_connect_timeout: float = 5
    redis_socket_timeout: float = 5
    redis_max_connections: int = 10
    redis_health_check_interval: float = 30


def resolve(settings):
    """The connection redis-py opens for `settings`, as a dict; raises ValueError when refused."""
    url_set = 'redis_url' in settings.model_fields_set
    kwargs = dict(
        decode_responses=settings.redis_decode_responses,
        socket_connect_timeout=settings.redis_socket_connect_timeout,
        max_connections=settings.redis_max_connections,
        health_check_interval=settings.redis_health_check_interval,
    )
    url = settings.redis_url if url_set else 'redis://'
    stated = redis.asyncio.connection.parse_url(url)
    # The fields fill what the URL leaves out; a field that contradicts it is refused.
    unix = stated.get('connection_class') is redis.asyncio.connection.UnixDomainSocketConnection
    for field in ('redis_host', 'redis_port'):
        if unix and getattr(settings, field) not in (None, ''):
            raise ValueError(f'{field.upper()} cannot be used with a unix:// REDIS_URL')
    if unix and settings.redis_ssl:
        raise ValueError('REDIS_SSL cannot be used with a unix:// REDIS_URL')
    for field, key in (
        ('redis_host', 'host'),
        ('redis_port', 'port'),
        ('redis_db', 'db'),
        ('redis_username', 'username'),
        ('redis_password', 'password'),
    ):
        value = getattr(settings, field)
        # An empty host, user name or password is no value to redis-py (it tests them for truth).
        if value is None or value == '':
            continue
        if key in stated and stated[key] != value:
            raise ValueError(f'{field.upper()} contradicts REDIS_URL')
        stated.setdefault(key, value)
    tls = url.startswith('rediss:') if url_set else False
    if settings.redis_ssl is not None:
        if url_set and settings.redis_ssl != tls:
            raise ValueError('REDIS_SSL contradicts the scheme of REDIS_URL')
        tls = settings.redis_ssl
    if tls and not url_set:
        stated['connection_class'] = redis.asyncio.connection.SSLConnection
    kwargs.update(stated)
    pool = redis.asyncio.ConnectionPool(**kwargs)
    connection = pool.make_connection()
    unix = isinstance(connection, redis.asyncio.connection.UnixDomainSocketConnection)
    username, password = connection.username, connection.password
    # What on_connect sends: AUTH only with a user name or a password.
    auth = None
    if username or password:
        auth = [username, password or ''] if username else ['default', password or '']
    return {
        'host': None if unix else connection.host,
        'port': None if unix else connection.port,
        'path': connection.path if unix else None,
        'db': connection.db,
        'auth': auth,
        'ssl': isinstance(connection, redis.asyncio.connection.SSLConnection),
        'decode_responses': connection.encoder.decode_responses,
        'socket_connect_timeout': connection.socket_connect_timeout,
        'max_connections': pool.max_connections,
        'health_check_interval': connection.health_check_interval,
    }


def python_reading(env, dotenv):
    """How the Python services resolve `env` and `dotenv` (the text of .env, or None)."""
    saved = dict(os.environ)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as directory:
        try:
            os.environ.clear()
            os.environ.update(env)
            os.chdir(directory)
            if dotenv is not None:
                with open('.env', 'w', encoding='utf-8', newline='') as file:
                    file.write(dotenv)
            try:
                settings = CommonAppSettings()
                return resolve(settings), settings
            except ValidationError as error:
                first = error.errors()[0]
                return {'refused': f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"}, None
            except (ValueError, TypeError) as error:
                return {'refused': str(error)}, None
        finally:
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(saved)


def finite(value):
    return value == value and value not in (float('inf'), float('-inf'))


HOSTNAME = re.compile(r'^(?=.{1,253}$)[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?\.?$', re.IGNORECASE)
LEVELS = {'trace', 'debug', 'info', 'warn', 'warning', 'error', 'fatal', 'critical', 'silent'}
QUERY_READ = ('db', 'username', 'password', 'socket_connect_timeout', 'max_connections', 'health_check_interval',
              'socket_timeout', 'socket_keepalive')


def is_host(text):
    if text.startswith('[') and text.endswith(']'):
        text = text[1:-1]
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return bool(HOSTNAME.match(text))


def deliberate(env, dotenv, reading, settings):
    """The rules by which the pool refuses a case Python accepts (see docs/settings.md): each that applies."""
    if 'refused' in reading:
        return []
    rules = []
    file_values = dotenv_values_raw(dotenv, env) if dotenv is not None else {}
    for source in (env, file_values):
        seen = {}
        for key, value in source.items():
            if value is None:
                continue
            if key.upper() in seen and seen[key.upper()] != value:
                rules.append('two-spellings')
            seen[key.upper()] = value
    if dotenv is not None and dotenv.startswith('\ufeff'):
        first = next(iter(file_values), '')
        if first[1:].upper() in NAMES:
            rules.append('dotenv-byte-order-mark')
    values = {**{k.upper(): v for k, v in file_values.items() if v is not None}, **{k.upper(): v for k, v in env.items()}}
    if not re.fullmatch(r'[\x21-\x7e]+', values.get('SERVICE_NAME', '')):
        rules.append('service-name')
    if values.get('LOG_LEVEL', '').lower() not in LEVELS:
        rules.append('log-level')
    if values.get('REDIS_HOST') and not is_host(values['REDIS_HOST']):
        rules.append('host-not-a-name')
    url = values.get('REDIS_URL')
    if url is not None:
        if url != url.strip() or any(ord(c) < 32 or ord(c) == 127 for c in url):
            rules.append('url-control-or-space')
        if '#' in url:
            rules.append('url-fragment')
        parsed = urlparse(url)
        if parsed.scheme == 'unix' and parsed.hostname:
            rules.append('unix-host')
        if parsed.scheme == 'unix' and unquote(parsed.path) in ('', '/'):
            rules.append('unix-path')
        query = parse_qs(parsed.query)
        for name, found in query.items():
            if unquote(found[0]) != found[0]:
                rules.append('query-double-decoded')
            if len(set(found)) > 1:
                rules.append('query-parameter-twice')
            if name not in QUERY_READ:
                rules.append('query-parameter-not-read')
        if parsed.username and 'username' in query and unquote(parsed.username) != query['username'][0]:
            rules.append('stated-twice')
        if parsed.password and 'password' in query and unquote(parsed.password) != query['password'][0]:
            rules.append('stated-twice')
        if parsed.scheme in ('redis', 'rediss'):
            text = unquote(parsed.path)
            if text not in ('', '/') and not (text[0] == '/' and text[1:].isdigit() and text[1:].isascii()):
                rules.append('db-path-not-an-integer')
            elif text not in ('', '/') and 'db' in query and int(text[1:]) != int(query['db'][0]):
                rules.append('stated-twice')
            if parsed.hostname and not is_host(unquote(parsed.hostname)):
                rules.append('host-not-a-name')
            if ':' in parsed.netloc.rpartition('@')[2].rpartition(']')[2] and parsed.port == 0:
                rules.append('port-out-of-range')
        # The query's settings win over the service's in redis-py; the pool refuses two values.
        parsers = redis.asyncio.connection.URL_QUERY_ARGUMENT_PARSERS
        for name in ('socket_connect_timeout', 'socket_timeout', 'max_connections', 'health_check_interval'):
            if name in query and f'redis_{name}' in settings.model_fields_set:
                if parsers[name](unquote(query[name][0])) != getattr(settings, f'redis_{name}'):
                    rules.append('stated-twice')
        if 'max_connections' in query and int(query['max_connections'][0]) < 1:
            rules.append('integer-out-of-range')
    for key in ('socket_connect_timeout', 'health_check_interval'):
        if reading[key] is not None and not finite(reading[key]):
            rules.append('seconds-not-finite')
    if settings.redis_port is not None and not 1 <= settings.redis_port <= 65535:
        rules.append('port-out-of-range')
    # redis-py reads max_connections=0 as no limit (2**31); the pool needs a cap.
    if reading['db'] < 0 or not 1 <= settings.redis_max_connections <= 2**53 - 1:
        rules.append('integer-out-of-range')
    if settings.redis_db is not None and not 0 <= settings.redis_db <= 2**53 - 1:
        rules.append('integer-out-of-range')
    # redis-py reads a connect timeout of 0 as none at all (None).
    if reading['socket_connect_timeout'] is None or not 0.001 <= reading['socket_connect_timeout'] <= 2147483.647:
        rules.append('seconds-out-of-range')
    if reading['health_check_interval'] != 0 and not 0.001 <= reading['health_check_interval'] <= 2147483.647:
        rules.append('seconds-out-of-range')
    return rules


def dotenv_pairs(text, env):
    """python-dotenv's reading of `text`, as [key, value] pairs in order, with ${VAR} expanded."""
    return [[key, value] for key, value in dotenv_values_raw(text, env).items()]


def dotenv_values_raw(text, env):
    from dotenv import dotenv_values
    import io
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return dotenv_values(stream=io.StringIO(text))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def dotenv_values_of(text, env):
    from dotenv import dotenv_values
    import io
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return {k.upper(): v for k, v in dotenv_values(stream=io.StringIO(text)).items()}
    finally:
        os.environ.clear()
        os.environ.update(saved)


BASE = {'SERVICE_NAME': 'svc', 'LOG_LEVEL': 'INFO'}
NAMES = {name.upper() for name in CommonAppSettings.model_fields}


def cases():
    """(id, about, env, dotenv) for every case."""
    out = []

    def add(id_, about, env=None, dotenv=None, base=True):
        out.append((id_, about, {**(BASE if base else {}), **(env or {})}, dotenv))

    # A. The .env grammar, each variant carrying REDIS_URL (or a password) the Python way.
    url = 'redis://h1:6380/2'
    grammar = {
        'plain': f'REDIS_URL={url}\n',
        'no-newline-at-end': f'REDIS_URL={url}',
        'crlf': f'A=1\r\nREDIS_URL={url}\r\nB=2\r\n',
        'cr-only': f'A=1\rREDIS_URL={url}\rB=2\r',
        'bom': f'\ufeffREDIS_URL={url}\n',
        'bom-then-comment': f'\ufeff# settings\nREDIS_URL={url}\n',
        'export': f'export REDIS_URL={url}\n',
        'export-two-spaces': f'export  REDIS_URL={url}\n',
        'export-tab': f'export\tREDIS_URL={url}\n',
        'spaces-around-equals': f'REDIS_URL = {url}\n',
        'tab-after-equals': f'REDIS_URL=\t{url}\n',
        'leading-spaces': f'   REDIS_URL={url}\n',
        'single-quoted': f"REDIS_URL='{url}'\n",
        'double-quoted': f'REDIS_URL="{url}"\n',
        'double-quoted-comment-after': f'REDIS_URL="{url}" # the cache\n',
        'single-quoted-comment-after': f"REDIS_URL='{url}' # the cache\n",
        'comment-after-unquoted': f'REDIS_URL={url} # the cache\n',
        'comment-after-tab': f'REDIS_URL={url}\t# the cache\n',
        'hash-without-space': 'REDIS_URL=redis://h1:6380/2#frag\n',
        'comment-lines': f'# comment\n\n#REDIS_URL=redis://wrong\nREDIS_URL={url}\n# end\n',
        'indented-comment': f'   # comment\nREDIS_URL={url}\n',
        'bare-key-above': f'REDIS_URL\nREDIS_URL={url}\n',
        'bare-other-key-above': f'SOMETHING\nREDIS_URL={url}\n',
        'colon-line-above': f'KEY: value\nREDIS_URL={url}\n',
        'section-above': f'[section]\nREDIS_URL={url}\n',
        'semicolon-comment-above': f'; comment\nREDIS_URL={url}\n',
        'free-text-above': f'this is not a setting\nREDIS_URL={url}\n',
        'unterminated-double-quote-above': f'A="open\nREDIS_URL={url}\n',
        'unterminated-single-quote-above': f"A='open\nREDIS_URL={url}\n",
        'bad-line-below': f'REDIS_URL={url}\nnot a setting\n',
        'quoted-key': f"'REDIS_URL'={url}\n",
        'lower-case-key': f'redis_url={url}\n',
        'mixed-case-key': f'Redis_Url={url}\n',
        'duplicate-last-wins': f'REDIS_URL=redis://h0:6379/0\nREDIS_URL={url}\n',
        'empty-then-set': f'REDIS_URL=\nREDIS_URL={url}\n',
        'multiline-double-quoted-other': f'A="one\ntwo"\nREDIS_URL={url}\n',
        'multiline-single-quoted-other': f"A='one\ntwo'\nREDIS_URL={url}\n",
        'trailing-spaces': f'REDIS_URL={url}   \n',
        'blank-lines': f'\n\n\nREDIS_URL={url}\n\n',
        'spaces-only-lines': f'   \n\t\nREDIS_URL={url}\n',
        'equals-in-value': 'REDIS_URL=redis://h1:6380/2\nOTHER=a=b\n',
        'unicode-value-other': f'NAME=señal\nREDIS_URL={url}\n',
        'backslash-continuation-other': f'A=one\\\nREDIS_URL={url}\n',
    }
    for name, text in grammar.items():
        add(f'dotenv-{name}', f'.env grammar: {name}', dotenv=text)

    passwords = {
        'unquoted-hash-inside': 'REDIS_PASSWORD=abc#def\n',
        'unquoted-space-hash': 'REDIS_PASSWORD=abc #def\n',
        'double-quoted-hash': 'REDIS_PASSWORD="abc#def"\n',
        'single-quoted-hash': "REDIS_PASSWORD='abc#def'\n",
        'double-quoted-escapes': 'REDIS_PASSWORD="a\\\\b\\tc\\nd\\"e"\n',
        'double-quoted-backslash': 'REDIS_PASSWORD="a\\\\b"\n',
        'double-quoted-tab-escape': 'REDIS_PASSWORD="a\\tb"\n',
        'double-quoted-newline-escape': 'REDIS_PASSWORD="a\\nb"\n',
        'double-quoted-quote-escape': 'REDIS_PASSWORD="a\\"b"\n',
        'double-quoted-single-quote-escape': 'REDIS_PASSWORD="a\\\'b"\n',
        'double-quoted-unknown-escape': 'REDIS_PASSWORD="a\\qb"\n',
        'double-quoted-unicode-escape': 'REDIS_PASSWORD="a\\u00e9b"\n',
        'single-quoted-escapes': "REDIS_PASSWORD='a\\\\b\\tc\\'d'\n",
        'single-quoted-backslash-n': "REDIS_PASSWORD='a\\nb'\n",
        'unquoted-backslash': 'REDIS_PASSWORD=a\\nb\n',
        'multiline-double-quoted': 'REDIS_PASSWORD="line1\nline2"\n',
        'multiline-single-quoted': "REDIS_PASSWORD='line1\nline2'\n",
        'quotes-inside-unquoted': 'REDIS_PASSWORD=a"b\'c\n',
        'trailing-spaces-unquoted': 'REDIS_PASSWORD=secret   \n',
        'spaces-inside-double-quoted': 'REDIS_PASSWORD="  secret  "\n',
        'empty-double-quoted': 'REDIS_PASSWORD=""\n',
        'empty-single-quoted': "REDIS_PASSWORD=''\n",
        'empty-unquoted': 'REDIS_PASSWORD=\n',
        'dollar-literal': 'REDIS_PASSWORD=pa$$word\n',
        'dollar-brace-unterminated': 'REDIS_PASSWORD=pa${word\n',
        'percent': 'REDIS_PASSWORD=100%sure\n',
        'unicode': 'REDIS_PASSWORD=contraseña\n',
        'equals': 'REDIS_PASSWORD=a=b=c\n',
    }
    for name, text in passwords.items():
        add(f'dotenv-password-{name}', f'.env grammar of a password: {name}', dotenv=text)

    interpolation = [
        ('from-earlier-line', {}, 'PW=s3cret\nREDIS_PASSWORD=${PW}\n'),
        ('from-environment', {'PW': 'fromenv'}, 'REDIS_PASSWORD=${PW}\n'),
        ('earlier-line-beats-environment', {'PW': 'fromenv'}, 'PW=fromfile\nREDIS_PASSWORD=${PW}\n'),
        ('later-line-not-seen', {}, 'REDIS_PASSWORD=${PW}\nPW=late\n'),
        ('later-line-environment', {'PW': 'fromenv'}, 'REDIS_PASSWORD=${PW}\nPW=late\n'),
        ('undefined', {}, 'REDIS_PASSWORD=x${NOPE}y\n'),
        ('default-used', {}, 'REDIS_PASSWORD=${NOPE:-fallback}\n'),
        ('default-not-used', {'PW': 'set'}, 'REDIS_PASSWORD=${PW:-fallback}\n'),
        ('default-empty-variable', {'PW': ''}, 'REDIS_PASSWORD=${PW:-fallback}\n'),
        ('default-with-colon', {}, 'REDIS_URL=${URL:-redis://h2:6381/3}\n'),
        ('in-double-quotes', {'PW': 'q'}, 'REDIS_PASSWORD="a${PW}b"\n'),
        ('in-single-quotes', {'PW': 'q'}, "REDIS_PASSWORD='a${PW}b'\n"),
        ('unbraced-not-expanded', {'PW': 'q'}, 'REDIS_PASSWORD=$PW\n'),
        ('escaped-dollar', {'PW': 'q'}, 'REDIS_PASSWORD=\\${PW}\n'),
        ('two-variables', {'A': 'x', 'B': 'y'}, 'REDIS_PASSWORD=${A}-${B}\n'),
        ('host-in-url', {'HOST': 'h3'}, 'REDIS_URL=redis://${HOST}:6382/4\n'),
        ('url-from-parts', {}, 'HOST=h4\nPORT=6383\nREDIS_URL=redis://${HOST}:${PORT}/5\n'),
        ('nested-default', {}, 'REDIS_PASSWORD=${A:-${B}}\n'),
        ('empty-name', {}, 'REDIS_PASSWORD=${}\n'),
        ('lower-case-reference', {}, 'pw=low\nREDIS_PASSWORD=${pw}\n'),
        ('self-reference', {'REDIS_PASSWORD': 'envpw'}, 'REDIS_PASSWORD=${REDIS_PASSWORD}x\n'),
        ('env-wins-over-dotenv', {'REDIS_URL': 'redis://h5:6384/6'}, 'REDIS_URL=redis://h6:6385/7\n'),
        ('default-with-spaces', {}, 'REDIS_PASSWORD="${NOPE:-a b}"\n'),
        ('dollar-brace-in-url-password', {'PW': 'p'}, 'REDIS_URL=redis://:${PW}@h7:6386/0\n'),
    ]
    for name, env, text in interpolation:
        add(f'dotenv-interpolation-{name}', f'.env interpolation: {name}', env=env, dotenv=text)

    # B and C. Credentials in the URL, and D. the database in its path.
    urls = [
        'redis://h:6379/0', 'redis://h', 'redis://h/', 'redis://h:6380', 'rediss://h:6380/1', 'redis://H.Example.COM/0',
        'redis://10.0.0.1:6379/3', 'redis://[::1]:6379/1', 'redis://[::1]/2', 'redis://localhost',
        'redis://user:pw@h/0', 'redis://user@h/0', 'redis://:pw@h/0', 'redis://user:@h/0', 'redis://:@h/0',
        'redis://us%40er:p%40ss@h/0', 'redis://u:p%3Aw@h/0', 'redis://u:p%2Fw@h/0', 'redis://u:p%25w@h/0',
        'redis://u:p%23w@h/0', 'redis://u:p@ss@h/0', 'redis://u:p:w@h/0', 'redis://u:p+w@h/0',
        'redis://u:p%20w@h/0', 'redis://u:%C3%B1@h/0', 'redis://u:p%zzw@h/0', 'redis://u:p%2@h/0',
        'redis://h/0?password=pw', 'redis://h/0?username=u&password=pw', 'redis://alice@h/0?password=',
        'redis://h/0?username=&password=pw', 'redis://h/0?username=', 'redis://h/0?password=a%2541',
        'redis://h/0?password=a%41', 'redis://h/0?password=a+b', 'redis://h/0?password=a%2Bb', 'redis://h/0?password=a%252Bb',
        'redis://h/0?username=b%2540c&password=x', 'redis://u:pw@h/0?password=pw', 'redis://u:pw@h/0?password=other',
        'redis://u@h/0?username=u', 'redis://u@h/0?username=v', 'redis://h/0?password=pw&password=pw2',
        'redis://h/0?password', 'redis://h/0?&password=pw&', 'redis://h/0?PASSWORD=pw',
        'redis://h/1', 'redis://h/15', 'redis://h/01', 'redis://h/1.0', 'redis://h/1e1', 'redis://h/2.', 'redis://h/3e0',
        'redis://h/-1', 'redis://h/+1', 'redis://h/1_0', 'redis://h/%31', 'redis://h/1/2', 'redis://h//3', 'redis://h/abc',
        'redis://h/ 1', 'redis://h/0x1', 'redis://h/?db=4', 'redis://h/2?db=4', 'redis://h/2?db=2', 'redis://h?db=5',
        'redis://h/?db=x', 'redis://h/?db=1.0', 'redis://h/?db=%35', 'redis://h/99999999999',
        'redis://h:0/0', 'redis://h:65535/0', 'redis://h:65536/0', 'redis://h:abc/0', 'redis://h:/0', 'redis://h:+1/0',
        'redis://:6379/0', 'redis:///0', 'redis://h/0#frag', 'redis://h/0?', 'redis://h/0;x',
        'REDIS://h:6380/1', 'Rediss://h/0', 'http://h:6379/0', 'h:6379', 'redis:h:6379', '', ' redis://h/0', 'redis://h/0 ',
        'redis://h\t/0', 'redis://h/0\n', 'redis://h_1/0', 'redis://h-1.internal:7000/0', 'redis://ünïcode.example/0',
        'redis://[fe80::1%25eth0]:6379/0', 'redis://[::1', 'redis://h/0?socket_connect_timeout=2',
        'redis://pa#ss@localhost/0', 'redis://:pa#ss@localhost/0', 'redis://h/0?password=a#b',
        'redis://h/0?max_connections=3', 'redis://h/0?health_check_interval=7', 'redis://h/0?socket_timeout=4',
        'redis://h/0?socket_keepalive=false', 'redis://h/0?max_connections=x', 'redis://h/0?max_connections=2.5',
        'redis://h/0?client_name=app', 'redis://h/0?ssl_cert_reqs=none', 'redis://h/0?foo=bar',
        'redis://h/0?health_check_interval=1.5', 'redis://h/0?socket_connect_timeout=inf',
        'unix:///run/redis.sock', 'unix:///run/redis.sock?db=3', 'unix://u:p@/run/redis.sock', 'unix://u@/run/redis.sock',
        'unix:///run/redis%20x.sock', 'unix://run/redis.sock', 'unix:/run/redis.sock', 'unix://', 'unix:///',
        'unix:///run/redis.sock?db=x', 'unix:///run/redis.sock?password=p%2541', 'unix:///run/redis.sock?username=u',
    ]
    for i, value in enumerate(urls):
        add(f'url-{i:03d}', f'REDIS_URL={value!r}', env={'REDIS_URL': value})
    for i, value in enumerate(urls[:40]):
        add(f'url-dotenv-{i:03d}', f'REDIS_URL={value!r} in .env', dotenv=f'REDIS_URL="{value}"\n')

    # E and F. Typed values.
    bools = ['true', 'True', 'TRUE', 'false', 'False', '1', '0', 't', 'T', 'f', 'F', 'y', 'Y', 'n', 'N', 'yes', 'no',
             'on', 'off', 'On', 'OFF', ' true', 'true ', '', '2', 'tru', 'enabled', '1.0']
    for i, value in enumerate(bools):
        add(f'bool-decode-{i:02d}', f'REDIS_DECODE_RESPONSES={value!r}', env={'REDIS_DECODE_RESPONSES': value})
    for i, value in enumerate(bools[:16]):
        add(f'bool-ssl-{i:02d}', f'REDIS_SSL={value!r}', env={'REDIS_SSL': value})
    ints = ['20', '1', '0', '-1', '05', '+5', ' 5', '5 ', '\t5', '5_000', '5__000', '_5', '5_', '1e3', '1.0', '1.00',
            '1.5', '5.', '0x10', '', ' ', 'ten', '99999999999999999999', '1_0.0', '-0', ' 1.0 ']
    for i, value in enumerate(ints):
        add(f'int-max-connections-{i:02d}', f'REDIS_MAX_CONNECTIONS={value!r}', env={'REDIS_MAX_CONNECTIONS': value})
    floats = ['2', '2.5', '0.5', ' 3 ', '1e1', '1_0', '1_000.5', 'inf', 'nan', '-1', '0', '', '.5', '5.', 'abc',
              '1__0', '+2', 'Infinity', '1e-3', '0.001', '0.0001']
    for i, value in enumerate(floats):
        add(f'float-connect-timeout-{i:02d}', f'REDIS_SOCKET_CONNECT_TIMEOUT={value!r}',
            env={'REDIS_SOCKET_CONNECT_TIMEOUT': value})
    for i, value in enumerate(floats):
        add(f'float-health-check-{i:02d}', f'REDIS_HEALTH_CHECK_INTERVAL={value!r}',
            env={'REDIS_HEALTH_CHECK_INTERVAL': value})
    for i, value in enumerate(['6380', '0', '65536', ' 6380', '6_380', '6380.0', '', 'abc']):
        add(f'int-port-{i:02d}', f'REDIS_PORT={value!r}', env={'REDIS_PORT': value})
    for i, value in enumerate(['3', '0', '-1', ' 2 ', '1_0', '', 'x']):
        add(f'int-db-{i:02d}', f'REDIS_DB={value!r}', env={'REDIS_DB': value})
    for i, value in enumerate(['5', '5_000', 't', ' true', '']):
        add(f'typed-dotenv-{i:02d}', f'typed values in .env: {value!r}',
            dotenv=f'REDIS_MAX_CONNECTIONS={value}\nREDIS_DECODE_RESPONSES={value}\n')

    # The individual fields, alone and with a URL.
    fields = [
        {'REDIS_HOST': 'h9'}, {'REDIS_HOST': 'h9', 'REDIS_PORT': '6390'}, {'REDIS_HOST': 'h9', 'REDIS_DB': '4'},
        {'REDIS_PASSWORD': 'pw'}, {'REDIS_USERNAME': 'u'}, {'REDIS_USERNAME': 'u', 'REDIS_PASSWORD': 'pw'},
        {'REDIS_URL': 'redis://h/0', 'REDIS_PASSWORD': 'pw'}, {'REDIS_URL': 'redis://u@h/0', 'REDIS_PASSWORD': 'pw'},
        {'REDIS_URL': 'redis://u:pw@h/0', 'REDIS_PASSWORD': 'pw'}, {'REDIS_URL': 'redis://u:pw@h/0', 'REDIS_PASSWORD': 'x'},
        {'REDIS_URL': 'redis://h/0', 'REDIS_HOST': 'h'}, {'REDIS_URL': 'redis://h/0', 'REDIS_HOST': 'other'},
        {'REDIS_URL': 'redis://h', 'REDIS_DB': '3'}, {'REDIS_URL': 'redis://h/2', 'REDIS_DB': '3'},
        {'REDIS_URL': 'redis://h', 'REDIS_PORT': '7000'}, {'REDIS_URL': 'redis://h:7000', 'REDIS_PORT': '7001'},
        {'REDIS_URL': 'rediss://h/0', 'REDIS_SSL': 'true'}, {'REDIS_URL': 'redis://h/0', 'REDIS_SSL': 'true'},
        {'REDIS_SSL': 'true'}, {'REDIS_HOST': 'h9', 'REDIS_SSL': 'yes'},
        {'REDIS_URL': 'redis://h/0?password=pw', 'REDIS_PASSWORD': 'pw'},
        {'REDIS_URL': 'unix:///run/redis.sock', 'REDIS_PASSWORD': 'pw'},
        {'REDIS_URL': 'redis://h/0', 'REDIS_USERNAME': 'u'}, {'REDIS_USERNAME': '', 'REDIS_PASSWORD': 'pw'},
        {'REDIS_PASSWORD': ''}, {'REDIS_HOST': 'h9', 'REDIS_PORT': '6_390'},
    ]
    for i, env in enumerate(fields):
        add(f'fields-{i:02d}', f'fields: {env}', env=env)

    # Names, precedence and required settings.
    precedence = [
        ('env-beats-dotenv', {'REDIS_MAX_CONNECTIONS': '7'}, 'REDIS_MAX_CONNECTIONS=9\n'),
        ('dotenv-fills', {}, 'REDIS_MAX_CONNECTIONS=9\n'),
        ('lower-case-env', {'redis_max_connections': '11'}, None),
        ('mixed-case-env', {'Redis_Max_Connections': '12'}, None),
        ('lower-case-env-beats-dotenv', {'redis_url': 'redis://h10/1'}, 'REDIS_URL=redis://h11/2\n'),
        ('two-spellings-same', {'REDIS_URL': 'redis://h12/1', 'redis_url': 'redis://h12/1'}, None),
        ('two-spellings-differ', {'REDIS_URL': 'redis://h12/1', 'redis_url': 'redis://h13/1'}, None),
        ('two-spellings-in-dotenv', {}, 'REDIS_URL=redis://h14/1\nredis_url=redis://h15/1\n'),
        ('empty-env-does-not-fall-back', {'REDIS_MAX_CONNECTIONS': ''}, 'REDIS_MAX_CONNECTIONS=9\n'),
        ('empty-url', {'REDIS_URL': ''}, None),
        ('empty-url-in-dotenv', {}, 'REDIS_URL=\n'),
        ('bare-url-in-dotenv', {}, 'REDIS_URL\n'),
        ('unknown-variable', {'REDIS_MAX_CONECTIONS': '3'}, None),
        ('service-name-from-dotenv', {}, 'SERVICE_NAME=svc2\n'),
        ('service-name-with-space', {'SERVICE_NAME': 'my svc'}, None),
        ('log-level-lower', {'LOG_LEVEL': 'debug'}, None),
        ('log-level-unknown', {'LOG_LEVEL': 'LOUD'}, None),
        ('env-dotenv-interpolation-of-env', {'MAXC': '13'}, 'REDIS_MAX_CONNECTIONS=${MAXC}\n'),
        ('dotenv-only-everything', {}, 'REDIS_URL=rediss://u:p@h16:6400/3\nREDIS_DECODE_RESPONSES=false\n'
                                       'REDIS_SOCKET_CONNECT_TIMEOUT=2.5\nREDIS_MAX_CONNECTIONS=4\n'
                                       'REDIS_HEALTH_CHECK_INTERVAL=0\n'),
    ]
    for name, env, text in precedence:
        add(f'names-{name}', f'names and precedence: {name}', env=env, dotenv=text)
    add('required-missing', 'no SERVICE_NAME nor LOG_LEVEL', env={}, base=False)
    add('required-from-dotenv', 'SERVICE_NAME and LOG_LEVEL in .env', env={},
        dotenv='SERVICE_NAME=svc\nLOG_LEVEL=INFO\n', base=False)
    add('required-empty', 'SERVICE_NAME empty', env={'SERVICE_NAME': '', 'LOG_LEVEL': 'INFO'}, base=False)
    return out


def main():
    fixture = []
    for id_, about, env, dotenv in cases():
        reading, settings = python_reading(env, dotenv)
        entry = {'id': id_, 'about': about, 'env': env, 'dotenv': dotenv, 'python': reading}
        if dotenv is not None:
            # What python-dotenv itself reads, with ${VAR} expanded: key, value (None for a bare key).
            entry['dotenv_values'] = dotenv_pairs(dotenv, env)
        rules = deliberate(env, dotenv, reading, settings)
        if rules:
            entry['deliberate'] = sorted(set(rules))
        fixture.append(entry)
    ids = [entry['id'] for entry in fixture]
    assert len(ids) == len(set(ids)), 'case ids are not unique'

    def clean(value):
        if isinstance(value, float) and not finite(value):
            return str(value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value

    with open(OUT, 'w', encoding='utf-8') as file:
        json.dump([clean(entry) for entry in fixture], file, indent=1, ensure_ascii=False)
        file.write('\n')
    refused = sum(1 for entry in fixture if 'refused' in entry['python'])
    print(f'{len(fixture)} cases ({refused} refused by Python, '
          f"{sum(1 for entry in fixture if 'deliberate' in entry)} refused on purpose by the pool) in {OUT}")


if __name__ == '__main__':
    main()
