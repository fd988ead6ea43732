// docs/language.md is checked like code: every ```sborka example in it is a complete
// recipe that checks clean, is already canonical (fmt changes nothing) and plans into a
// plan the engine accepts; every ```sborka error=CODE example fails with that code.
// ```sborka file=PATH examples are also files the other examples may import.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../dsl/compile';
import { formatRecipe } from '../../dsl/format';
import { parsePlan } from '../../plan/plan';
import { planJson, planProduct } from '../../dsl/planner';
import { KEYWORDS, Name, tokenizeRecipe } from '../../dsl/tokens';
import { ROOT } from './helpers';

const DOC = readFileSync(join(ROOT, 'docs', 'language.md'), 'utf8');

interface Example {
  line: number;
  text: string;
  file?: string;
  error?: string;
}

function examples(markdown: string): Example[] {
  const out: Example[] = [];
  const fence = /^```sborka((?: +[a-z]+=[^\s`]+)*) *\n([\s\S]*?)^```$/gm;
  for (const m of markdown.matchAll(fence)) {
    const attrs = new Map([...(m[1] ?? '').matchAll(/([a-z]+)=(\S+)/g)].map((a) => [a[1] as string, a[2] as string]));
    for (const key of attrs.keys()) if (key !== 'file' && key !== 'error') throw new Error(`unknown example attribute ${key}`);
    out.push({ line: markdown.slice(0, m.index).split('\n').length, text: m[2] ?? '', file: attrs.get('file'), error: attrs.get('error') });
  }
  return out;
}

const all = examples(DOC);
const library = Object.fromEntries(all.filter((e) => e.file).map((e) => [e.file as string, e.text]));
const entry = (e: Example): string => e.file ?? `example-line-${e.line}.sborka`;
const check = (e: Example) => compile([entry(e)], { read: (p) => (p === entry(e) ? e.text : library[p]) });

describe('docs/language.md', () => {
  it('has examples, some of them deliberately failing', () => {
    expect(all.length).toBeGreaterThan(40);
    expect(all.filter((e) => e.error).length).toBeGreaterThan(20);
    // Every fence that looks like a recipe is one the test reads.
    expect(DOC.match(/^```sborka/gm)?.length).toBe(all.length);
  });

  for (const e of all.filter((x) => !x.error)) {
    it(`example at line ${e.line} checks clean, is canonical and plans`, () => {
      const c = check(e);
      expect(c.diagnostics).toEqual([]);
      expect(formatRecipe(entry(e), e.text).text).toBe(e.text);
      for (const name of c.buildable.filter((n) => c.decls.products.get(n)?.file === entry(e))) {
        const plan = planProduct(c, name);
        expect(parsePlan(JSON.parse(planJson(plan)))).toEqual(plan);
      }
    });
  }

  for (const e of all.filter((x) => x.error)) {
    it(`example at line ${e.line} fails with ${e.error}`, () => {
      const c = check(e);
      expect(c.errorCount).toBeGreaterThan(0);
      expect(c.diagnostics.map((d) => d.code)).toContain(e.error);
    });
  }

  it('shows every keyword in a working example', () => {
    const used = new Set<string>();
    for (const e of all.filter((x) => !x.error)) {
      for (const t of tokenizeRecipe(e.text).tokens) if (t.tokenType !== Name && KEYWORDS.has(t.image)) used.add(t.image);
    }
    expect([...KEYWORDS].filter((k) => !used.has(k))).toEqual([]);
  });

  it('lists every error code the checker can report', () => {
    const dsl = join(ROOT, 'dsl');
    const codes = new Set<string>();
    // Recursively: the statements' checks live in dsl/properties/.
    for (const f of readdirSync(dsl, { recursive: true, encoding: 'utf8' }).filter((n) => n.endsWith('.ts'))) {
      const source = readFileSync(join(dsl, f), 'utf8');
      for (const m of source.matchAll(/\b(?:err|error|warn|problem)\(\s*'([a-z]+(?:-[a-z]+)*)'/g)) codes.add(m[1] as string);
    }
    expect(codes.size).toBeGreaterThan(40);
    expect([...codes].filter((code) => !DOC.includes(`\`${code}\``))).toEqual([]);
  });
});
