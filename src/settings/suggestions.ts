/**
 * Settings that are probably typos: unknown options passed in code (an error) and unknown
 * `REDIS_*` variables (a warning), each with the closest known name.
 */
import type { SettingsIssue } from '../errors.js';
import { ENV_NAMES, SCHEMA } from './schema.js';
import type { Variables } from './sources.js';

/** Known names that are not settings of ours but must not be reported as typos. */
const NOT_SETTINGS = new Set(['REDIS_SERVER_BIN']);
/** Names users carry over from Python, which Node cannot honour; each gets its own warning. */
const UNSUPPORTED: Record<string, string> = {
  REDIS_SOCKET_KEEPALIVE_INTERVAL:
    'Node.js cannot set TCP_KEEPINTVL per socket; libuv sends keepalive probes 1 s apart',
  REDIS_SOCKET_KEEPALIVE_COUNT: 'Node.js cannot set TCP_KEEPCNT per socket; libuv gives up after 10 probes',
};

/** An issue for every key of `input` that is not a setting. */
export function unknownOptions(input: object, issues: SettingsIssue[]): void {
  for (const key of Object.keys(input)) {
    if (key in SCHEMA) continue;
    const hint = closest(key, Object.keys(SCHEMA));
    issues.push({
      code: 'unknown_option',
      path: key,
      message: `Unknown setting \`${key}\` passed in code${hint ? `; did you mean \`${hint}\`?` : ''}`,
    });
  }
}

/** A warning for every `REDIS_*` variable of these sources that is not a setting. */
export function unknownVariables(sources: readonly Variables[]): string[] {
  const warnings: string[] = [];
  for (const source of sources) {
    for (const [upper, { name }] of source) {
      if (!upper.startsWith('REDIS_') || ENV_NAMES.includes(upper) || NOT_SETTINGS.has(upper)) continue;
      const reason = UNSUPPORTED[upper];
      const hint = reason ? undefined : closest(upper, ENV_NAMES);
      const line = reason
        ? `${name} is ignored: ${reason}`
        : `Unknown setting ${name} is ignored${hint ? `; did you mean ${hint}?` : ''}`;
      if (!warnings.includes(line)) warnings.push(line);
    }
  }
  return warnings;
}

/** The candidate nearest to `name` by edit distance, if it is close enough to be a likely typo. */
function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(name.toUpperCase(), candidate.toUpperCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}
