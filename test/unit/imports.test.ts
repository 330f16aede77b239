// The layers of src/ import downwards only: no file reaches, through any chain of imports (type
// imports included), back to itself.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../../src', import.meta.url));

/** Each file of src/ and the files of src/ it imports from. */
function importGraph(): Map<string, string[]> {
  const files = readdirSync(src, { recursive: true })
    .map(String)
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(src, file));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const imported = [...text.matchAll(/(?:import|export)\s[^'";]*?from\s+'(\.[^']+)'/g)].map((match) =>
      resolve(dirname(file), (match[1] as string).replace(/\.js$/, '.ts')),
    );
    graph.set(
      file,
      imported.filter((target) => files.includes(target)),
    );
  }
  return graph;
}

/** Every cycle found by a depth-first walk, as `a.ts → b.ts → a.ts`. */
function cycles(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') {
        found.push([...path.slice(path.indexOf(next)), next].map((step) => relative(src, step)).join(' → '));
      } else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

test('no import cycles in src/, type imports included', () => {
  const graph = importGraph();
  assert.ok(graph.size > 40, `${graph.size} files read`);
  assert.deepEqual(cycles(graph), []);
});

test('the check finds a cycle when there is one', () => {
  const graph = new Map([
    [join(src, 'a.ts'), [join(src, 'b.ts')]],
    [join(src, 'b.ts'), [join(src, 'c.ts')]],
    [join(src, 'c.ts'), [join(src, 'a.ts')]],
  ]);
  assert.deepEqual(cycles(graph), ['a.ts → b.ts → c.ts → a.ts']);
});
