/** One connection of `CLIENT LIST`: the fields `redis-pool clients` shows. */
export interface ClientEntry {
  /** The server it was listed by, `host:port`. */
  node: string;
  id: string;
  addr: string;
  name: string;
  /** Seconds since its last command. */
  idle: number;
  /** Its last command. */
  cmd: string;
}

/** One service's connections of one kind, on one server. */
export interface ClientGroup {
  node: string;
  service: string;
  kind: string;
  connections: number;
  /** The processes holding them, from the connection names. */
  pids: number[];
  /** The shortest and longest idle time of these connections, in seconds. */
  idle: { min: number; max: number };
}

/** `CLIENT LIST` grouped: the pool's naming convention, and the connections that follow none. */
export interface ClientsReport {
  groups: ClientGroup[];
  unnamed: ClientEntry[];
}

/** The pool names each connection `<SERVICE_NAME>:<kind>:<pid>` (CLIENT SETNAME). */
const CONVENTION = /^(.+):(shared|lease|subscriber|duplicate):(\d+)$/;

/** The entries of one server's `CLIENT LIST` reply. */
export function parseClientList(text: string, node: string): ClientEntry[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const fields = new Map(
        line
          .trim()
          .split(' ')
          .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
      );
      return {
        node,
        id: fields.get('id') ?? '',
        addr: fields.get('addr') ?? '',
        name: fields.get('name') ?? '',
        idle: Number(fields.get('idle') ?? 0),
        cmd: fields.get('cmd') ?? '',
      };
    });
}

/** Groups connections by server, service and kind, sorted; `ignore` names a service to leave out. */
export function groupClients(entries: readonly ClientEntry[], ignore?: string): ClientsReport {
  const groups = new Map<string, ClientGroup>();
  const unnamed: ClientEntry[] = [];
  for (const entry of entries) {
    const match = CONVENTION.exec(entry.name);
    if (!match) {
      unnamed.push(entry);
      continue;
    }
    const [, service = '', kind = '', pid = ''] = match;
    if (service === ignore) continue;
    const key = `${entry.node}\n${service}\n${kind}`;
    const group = groups.get(key) ?? {
      node: entry.node,
      service,
      kind,
      connections: 0,
      pids: [],
      idle: { min: entry.idle, max: entry.idle },
    };
    group.connections++;
    if (!group.pids.includes(Number(pid))) group.pids.push(Number(pid));
    group.idle = { min: Math.min(group.idle.min, entry.idle), max: Math.max(group.idle.max, entry.idle) };
    groups.set(key, group);
  }
  const order = (group: ClientGroup) => `${group.node}\n${group.service}\n${KINDS.indexOf(group.kind)}`;
  return { groups: [...groups.values()].sort((a, b) => order(a).localeCompare(order(b))), unnamed };
}

const KINDS = ['shared', 'lease', 'subscriber', 'duplicate'];
