// Random token-level mutations of valid recipes: the compiler and the formatter never
// throw, and every diagnostic lies inside its file.
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatRecipe } from '../../dsl/format';
import { tokenizeRecipe } from '../../dsl/tokens';
import { compileText, productFiles, ROOT } from './helpers';

const recipes = productFiles().map((f) => readFileSync(join(ROOT, f), 'utf8'));
const FRAGMENTS = ['{', '}', ',', '->', '"', '"unterminated', '@', '@list', 'product', 'variant x of', 'extends', 'on', 'arch', 'output', 'size', '20G', '15m', '999999999999999999T', '\\u{110000}', '#', '\n', 'exclude', 'import "x.sborka"', 'ü', '\u0000', ';', '=', "'"];

const mutation = fc.record({
  recipe: fc.integer({ min: 0, max: recipes.length - 1 }),
  edits: fc.array(
    fc.record({ op: fc.constantFrom('delete', 'duplicate', 'swap', 'insert'), at: fc.nat(), other: fc.nat(), fragment: fc.constantFrom(...FRAGMENTS) }),
    { minLength: 1, maxLength: 6 },
  ),
});

function mutate(text: string, edits: { op: string; at: number; other: number; fragment: string }[]): string {
  const tokens = tokenizeRecipe(text).tokens.map((t) => t.image);
  for (const e of edits) {
    if (tokens.length === 0) break;
    const i = e.at % tokens.length;
    const j = e.other % tokens.length;
    if (e.op === 'delete') tokens.splice(i, 1);
    else if (e.op === 'duplicate') tokens.splice(i, 0, tokens[i] as string);
    else if (e.op === 'swap') [tokens[i], tokens[j]] = [tokens[j] as string, tokens[i] as string];
    else tokens.splice(i, 0, e.fragment);
  }
  return tokens.join(' ');
}

describe('mutated recipes', () => {
  it('never make the compiler throw, and diagnostics stay inside the file', () => {
    fc.assert(
      fc.property(mutation, ({ recipe, edits }) => {
        const text = mutate(recipes[recipe] as string, edits);
        const files = { 'm.sborka': text, 'x.sborka': 'product x {}\n' };
        const c = compileText(files);
        for (const d of c.diagnostics) {
          expect(d.code).not.toBe('internal');
          expect(d.file).toBe('m.sborka');
          expect(d.offset).toBeGreaterThanOrEqual(0);
          expect(d.offset + d.length).toBeLessThanOrEqual(text.length);
          expect(d.line).toBeGreaterThanOrEqual(1);
          expect(d.line).toBeLessThanOrEqual(text.split('\n').length);
        }
        const f = formatRecipe('m.sborka', text);
        if (f.text !== undefined) expect(formatRecipe('m.sborka', f.text).text).toBe(f.text);
      }),
      { numRuns: 400, seed: 20241126 },
    );
  });

  it('raw character noise never makes it throw either', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        const c = compileText({ 'n.sborka': text });
        for (const d of c.diagnostics) expect(d.offset + d.length).toBeLessThanOrEqual(text.length);
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});
