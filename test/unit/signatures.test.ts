// Options objects where a call would otherwise be a row of positional arguments, and reasons
// where it would be a row of flags: no function in src/ takes more than four positional
// parameters, or two boolean ones. Read with the TypeScript 5 compiler API (TypeScript 7's is
// not yet stable).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript5';

const src = fileURLToPath(new URL('../../src', import.meta.url));

/** `file:line name (n parameters, b boolean)` for each function-like declaration over the limits in `text`. */
function offenders(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node)) {
      const positional = node.parameters.filter(
        (parameter) => !parameter.dotDotDotToken && parameter.name.getText() !== 'this',
      );
      const booleans = positional.filter(
        (parameter) =>
          parameter.type?.getText() === 'boolean' ||
          parameter.initializer?.kind === ts.SyntaxKind.TrueKeyword ||
          parameter.initializer?.kind === ts.SyntaxKind.FalseKeyword,
      );
      if (positional.length > 4 || booleans.length >= 2) {
        const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
        const name = node.name?.getText() ?? (ts.isConstructorDeclaration(node) ? 'constructor' : '(anonymous)');
        found.push(`${file}:${line} ${name} (${positional.length} parameters, ${booleans.length} boolean)`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test('no function in src/ takes more than four positional parameters, or two boolean ones', () => {
  const files = readdirSync(src, { recursive: true })
    .map(String)
    .filter((file) => file.endsWith('.ts'));
  assert.ok(files.length > 40);
  const found = files.flatMap((file) =>
    offenders(relative(src, join(src, file)), readFileSync(join(src, file), 'utf8')),
  );
  assert.deepEqual(found, []);
});

test('the check finds both', () => {
  const text =
    'function five(a: number, b: number, c: number, d: number, e: number) {}\nconst flags = (x: boolean, y = false) => x;';
  assert.deepEqual(offenders('x.ts', text), [
    'x.ts:1 five (5 parameters, 0 boolean)',
    'x.ts:2 (anonymous) (2 parameters, 2 boolean)',
  ]);
});
