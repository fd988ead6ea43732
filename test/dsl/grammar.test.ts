// The grammar is made from the property table (dsl/parser.ts), and so are the string settings
// a variant gets (compile.ts copies the rows' fields). Every parser of a process skips
// Chevrotain's grammar checks, for its setup time; this test runs them, once, on the same table.
import { ZodOptional, ZodString } from 'zod';
import { RecipeParser, recipeParser } from '../../dsl/parser';
import { BLOCKS, PROPERTIES, STRING_SETTING_FIELDS } from '../../dsl/properties';
import { Settings } from '../../plan/model';
import { parseRecipe } from '../../dsl/parse';
import { tokenizeRecipe } from '../../dsl/tokens';

describe('the grammar made from the property table', () => {
  it('passes Chevrotain\'s grammar checks (ambiguities, left recursion, occurrence indices)', () => {
    expect(() => new RecipeParser({ validate: true })).not.toThrow();
  });

  it('has a body and a statement rule for every block, by the names BLOCKS gives', () => {
    const rules = new Set(Object.keys(recipeParser().getGAstProductions()));
    const wanted = Object.values(BLOCKS).flatMap((b) => b.rules);
    expect(wanted.filter((r) => !rules.has(r))).toEqual([]);
    const own = PROPERTIES.flatMap((p) => (p.rule ? [p.rule] : []));
    expect(own.filter((r) => !rules.has(r))).toEqual([]);
  });

  it('parses the same with and without the checks', () => {
    const text = 'product p {\n  arch x86_64, aarch64\n  test run "true" { exit 0 }\n  packages {\n    a\n    exclude b, "c"\n  }\n}\n';
    const checked = new RecipeParser({ validate: true }).parseFile(tokenizeRecipe(text).tokens);
    const shared = recipeParser().parseFile(tokenizeRecipe(text).tokens);
    expect(checked.errors).toEqual([]);
    expect(JSON.stringify(shared.cst)).toBe(JSON.stringify(checked.cst));
    expect(JSON.stringify(parseRecipe('p.sborka', text).ast.statements)).toContain('"keyword":"exclude"');
  });
});

describe('string settings', () => {
  it('every one-string setting of the plan model has a `settings` row, and each row one field', () => {
    const strings = Object.entries(Settings.shape).filter(([, t]) => t instanceof ZodOptional && t.unwrap() instanceof ZodString).map(([k]) => k);
    expect([...STRING_SETTING_FIELDS].sort()).toEqual(strings.sort());
  });
});
