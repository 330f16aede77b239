/**
 * Faults at the level of whole replies, for the fault proxy: the server's byte stream is cut into
 * RESP values, and a fault replaces one of them with what a faulty proxy, server or client could
 * send instead.
 */

/**
 * What a fault does to one reply (never to a push).
 * - `drop`: the reply never comes.
 * - `extra`: a well-formed reply of the same type comes before it.
 * - `duplicate`: it comes twice.
 * - `cut`: a span is cut from inside its value, its length left as it was (a bulk string of 3 bytes
 *   or more; another reply is dropped instead).
 * - `flip`: one bit of it is flipped.
 * - `garbage`: a few random bytes come before it.
 */
export type ReplyFault = 'drop' | 'extra' | 'duplicate' | 'cut' | 'flip' | 'garbage';

const CR = 0x0d;

/** The end of the RESP value that starts at `at` in `bytes`, or -1 while it is not all there. */
export function endOfValue(bytes: Buffer, at: number): number {
  if (at >= bytes.length) return -1;
  const lineEnd = bytes.indexOf(CR, at);
  if (lineEnd === -1 || lineEnd + 1 >= bytes.length) return -1;
  const next = lineEnd + 2;
  const type = String.fromCharCode(bytes[at] as number);
  const count = () => Number(bytes.toString('latin1', at + 1, lineEnd));
  switch (type) {
    case '$':
    case '!':
    case '=': {
      const length = count();
      if (length < 0) return next;
      const end = next + length + 2;
      return end <= bytes.length ? end : -1;
    }
    case '*':
    case '~':
    case '>':
    case '%':
    case '|': {
      const values = type === '%' || type === '|' ? count() * 2 : count();
      let position = next;
      for (let i = 0; i < values && position !== -1; i++) position = endOfValue(bytes, position);
      // An attribute comes before the value it is about.
      return type === '|' && position !== -1 ? endOfValue(bytes, position) : position;
    }
    default:
      return next;
  }
}

/** A well-formed reply of the same type as `reply`, with other content. */
function another(reply: Buffer): Buffer {
  const made: Record<string, string> = {
    $: '$5\r\nextra\r\n',
    ':': ':7\r\n',
    '+': '+EXTRA\r\n',
    '-': '-ERR extra\r\n',
    '*': '*1\r\n$5\r\nextra\r\n',
    '%': '%1\r\n$5\r\nextra\r\n:1\r\n',
    '~': '~1\r\n$5\r\nextra\r\n',
    _: '_\r\n',
    '#': '#t\r\n',
    ',': ',1.5\r\n',
  };
  return Buffer.from(made[String.fromCharCode(reply[0] as number)] ?? reply.toString('latin1'), 'latin1');
}

/** What `fault` makes of `reply`: the bytes to send in its place. */
export function applyFault(fault: ReplyFault, reply: Buffer): Buffer {
  switch (fault) {
    case 'drop':
      return Buffer.alloc(0);
    case 'extra':
      return Buffer.concat([another(reply), reply]);
    case 'duplicate':
      return Buffer.concat([reply, reply]);
    case 'cut': {
      const header = reply.indexOf(CR) + 2;
      const length = reply.length - header - 2;
      if (reply[0] !== 0x24 || length < 3) return Buffer.alloc(0);
      const from = header + 1 + Math.floor(Math.random() * (length - 2));
      const to = Math.min(from + 1 + Math.floor(Math.random() * 8), reply.length - 3);
      return Buffer.concat([reply.subarray(0, from), reply.subarray(to)]);
    }
    case 'flip': {
      const flipped = Buffer.from(reply);
      const at = Math.floor(Math.random() * flipped.length);
      flipped[at] = (flipped[at] as number) ^ (1 << Math.floor(Math.random() * 8));
      return flipped;
    }
    case 'garbage': {
      const bytes = Buffer.from(
        Array.from({ length: 1 + Math.floor(Math.random() * 8) }, () => Math.floor(Math.random() * 256)),
      );
      return Buffer.concat([bytes, reply]);
    }
  }
}

/** Which replies a fault is applied to: the next one, or about one in `every`, at random. */
export interface ReplyFaultPlan {
  fault: ReplyFault;
  every?: number | undefined;
}

/**
 * Cuts one direction of a proxied connection into whole RESP values and applies the plan `plan()`
 * gives at each reply; `applied` counts the faults applied. Returns what to forward for each chunk.
 */
export function replyFaulter(plan: () => ReplyFaultPlan | undefined, applied: () => void): (chunk: Buffer) => Buffer {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    const out: Buffer[] = [];
    let at = 0;
    for (let end = endOfValue(pending, at); end !== -1; end = endOfValue(pending, at)) {
      const reply = pending.subarray(at, end);
      at = end;
      const current = reply[0] === 0x3e ? undefined : plan();
      if (current === undefined || (current.every !== undefined && Math.random() * current.every >= 1)) {
        out.push(reply);
        continue;
      }
      applied();
      out.push(applyFault(current.fault, reply));
    }
    pending = pending.subarray(at);
    return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
  };
}
