/**
 * `.env` read as python-dotenv 1.x reads it for pydantic-settings, so that one file means the same
 * to the Python services and to this pool: its grammar (parser.py) and its `${VAR}` expansion
 * (variables.py, `dotenv_values(interpolate=True)`), ported. No npm library reads it this way
 * (see docs/settings.md, "The same as the Python services"); test/unit/python-parity.test.ts
 * checks this reading against python-dotenv's own, case by case.
 */

/** One `KEY=value` of a `.env`: `value` is `undefined` for a bare `KEY`, which sets nothing. */
export interface DotenvBinding {
  key: string;
  value: string | undefined;
  /** The line the statement starts on, from 1. */
  line: number;
}

/** A `.env` as python-dotenv reads it: its bindings, and the lines it could not read (and skipped). */
export interface DotenvReading {
  bindings: DotenvBinding[];
  skipped: number[];
}

// python-dotenv's regular expressions. Each is matched at a position (sticky), as Python's
// `regex.match(string, pos)` is. Python's `\s` is not JavaScript's: it has the separators
// U+001C–U+001F and U+0085, and not the byte-order mark U+FEFF, so it is spelled out.
const SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
/** Python's `\s` (`S`) and `[^\S\r\n]`, whitespace other than line breaks (`B`). */
const S = `[${SPACE}]`;
const B = `[${SPACE.replace('\\n', '').replace('\\r', '')}]`;
const sticky = (source: string) => new RegExp(source, 'uy');
const NEWLINE = /\r\n|\n|\r/g;
const MULTILINE_WHITESPACE = sticky(`${S}*`);
const WHITESPACE = sticky(`${B}*`);
const EXPORT = sticky(`(?:export${B}+)?`);
const SINGLE_QUOTED_KEY = sticky("'([^']+)'");
const UNQUOTED_KEY = sticky(`([^=#${SPACE}]+)`);
const EQUAL_SIGN = sticky(`(=${B}*)`);
const SINGLE_QUOTED_VALUE = sticky("'((?:\\\\'|[^'])*)'");
const DOUBLE_QUOTED_VALUE = sticky('"((?:\\\\"|[^"])*)"');
const UNQUOTED_VALUE = sticky('([^\\r\\n]*)');
const COMMENT = sticky(`(?:${B}*#[^\\r\\n]*)?`);
const END_OF_LINE = sticky(`${B}*(?:\\r\\n|\\n|\\r|$)`);
const REST_OF_LINE = sticky('[^\\r\\n]*(?:\\r|\\n|\\r\\n)?');
/** An unquoted value ends at whitespace followed by `#`, and loses its trailing whitespace. */
const INLINE_COMMENT = new RegExp(`${S}+#.*`, 'su');
const TRAILING_SPACE = new RegExp(`${S}+$`, 'u');
const DOUBLE_QUOTE_ESCAPES = /\\[\\'"abfnrtv]/gu;
const SINGLE_QUOTE_ESCAPES = /\\[\\']/gu;
const ESCAPED: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

class Unreadable extends Error {}

/** python-dotenv's Reader: a position in the text, and the line it is on. */
class Reader {
  position = 0;
  line = 1;
  constructor(readonly text: string) {}

  get hasNext(): boolean {
    return this.position < this.text.length;
  }

  peek(count: number): string {
    return this.text.slice(this.position, this.position + count);
  }

  /** Matches `regex` here, or throws; moves past the match and returns its groups. */
  read(regex: RegExp): (string | undefined)[] {
    regex.lastIndex = this.position;
    const match = regex.exec(this.text);
    if (match === null) throw new Unreadable();
    this.line += match[0].match(NEWLINE)?.length ?? 0;
    this.position += match[0].length;
    return match.slice(1);
  }
}

const decodeEscapes = (value: string, escapes: RegExp) =>
  value.replace(escapes, (found) => ESCAPED[found[1] as string] ?? (found[1] as string));

function parseValue(reader: Reader): string {
  const char = reader.peek(1);
  if (char === "'") return decodeEscapes(reader.read(SINGLE_QUOTED_VALUE)[0] as string, SINGLE_QUOTE_ESCAPES);
  if (char === '"') return decodeEscapes(reader.read(DOUBLE_QUOTED_VALUE)[0] as string, DOUBLE_QUOTE_ESCAPES);
  if (char === '' || char === '\n' || char === '\r') return '';
  return (reader.read(UNQUOTED_VALUE)[0] as string).replace(INLINE_COMMENT, '').replace(TRAILING_SPACE, '');
}

/**
 * python-dotenv's `parse_binding`: one statement, none (a blank or comment line), or the line of
 * one it cannot read, which it skips to the end of that line.
 */
function parseBinding(reader: Reader): DotenvBinding | undefined | { skipped: number } {
  let line = reader.line;
  try {
    reader.read(MULTILINE_WHITESPACE);
    line = reader.line;
    if (!reader.hasNext) return undefined;
    reader.read(EXPORT);
    if (reader.peek(1) === '#') {
      reader.read(COMMENT);
      reader.read(END_OF_LINE);
      return undefined;
    }
    const key = reader.read(reader.peek(1) === "'" ? SINGLE_QUOTED_KEY : UNQUOTED_KEY)[0] as string;
    reader.read(WHITESPACE);
    let value: string | undefined;
    if (reader.peek(1) === '=') {
      reader.read(EQUAL_SIGN);
      value = parseValue(reader);
    }
    reader.read(COMMENT);
    reader.read(END_OF_LINE);
    return { key, value, line };
  } catch (error) {
    if (!(error instanceof Unreadable)) throw error;
    reader.read(REST_OF_LINE);
    return { skipped: line };
  }
}

/** The statements of `text`, and the lines python-dotenv skips (it warns of each, and so does the pool). */
export function parseDotenv(text: string): DotenvReading {
  const reader = new Reader(text);
  const bindings: DotenvBinding[] = [];
  const skipped: number[] = [];
  while (reader.hasNext) {
    const found = parseBinding(reader);
    if (found === undefined) continue;
    if ('skipped' in found) skipped.push(found.skipped);
    else bindings.push(found);
  }
  return { bindings, skipped };
}

const VARIABLE = /\$\{([^}:]*)(?::-([^}]*))?\}/gu;

/**
 * The values of `bindings` with `${NAME}` and `${NAME:-default}` expanded as python-dotenv does:
 * from the values above in the file, then from `environment`; a name set to an empty value
 * expands to it (the default is for names not set at all), and an unknown name without a default
 * to nothing. `$NAME` without braces is kept as it is. A later binding of a key replaces an
 * earlier one.
 */
export function expandDotenv(
  bindings: readonly DotenvBinding[],
  environment: Record<string, string | undefined>,
): Map<string, { value: string | undefined; line: number }> {
  const values = new Map<string, { value: string | undefined; line: number }>();
  for (const { key, value, line } of bindings) {
    const expanded = value?.replace(VARIABLE, (_, name: string, fallback: string | undefined) => {
      // The file's own values shadow the environment, and a bare KEY above (None) expands to ''.
      if (values.has(name)) return values.get(name)?.value ?? '';
      return Object.hasOwn(environment, name) ? (environment[name] ?? '') : (fallback ?? '');
    });
    values.delete(key);
    values.set(key, { value: expanded, line });
  }
  return values;
}
