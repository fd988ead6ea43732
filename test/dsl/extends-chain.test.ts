// Long `extends` chains: a chain over MAX_EXTENDS_DEPTH is refused once, where it goes over,
// with a positioned error; a chain at the limit resolves. Costs are checked by ratio (the
// same shape at n and 8n, best CPU time of a few runs), as in fuzz.test.ts, never by a clock.
import { compile } from '../../dsl/compile';
import { planProduct } from '../../dsl/planner';
import { MAX_EXTENDS_DEPTH } from '../../dsl/resolve';
import { cpuMs } from './helpers';

const HEAD = '  branch p11\n  profile distro/regular-jeos-systemd\n  arch x86_64\n';

/** `chains` chains of `depth` products, each adding a package; with `allBuild`, every product has an output, else only the leaf. */
function chains(depth: number, count = 1, allBuild = false): string {
  const out: string[] = [];
  for (let c = 0; c < count; c++) {
    for (let i = 0; i < depth; i++) {
      const base = i === 0 ? '' : ` extends c${c}-p${i - 1}`;
      const output = allBuild || i === depth - 1 ? '  output iso\n' : '';
      out.push(`product c${c}-p${i}${base} {\n${i === 0 ? HEAD : ''}  packages {\n    pkg-${i}\n  }\n${output}}\n`);
    }
  }
  return out.join('');
}

function run(text: string): ReturnType<typeof compile> {
  const c = compile(['c.sborka'], { read: (p) => (p === 'c.sborka' ? text : undefined) });
  if (c.errorCount === 0) for (const p of c.buildable) planProduct(c, p);
  return c;
}

/** CPU time at 8n over CPU time at n: near 8 when linear, near 64 when quadratic. */
function ratio(small: string, large: string): number {
  run(small); // warm the JIT
  return +(cpuMs(() => run(large), 3) / Math.max(1, cpuMs(() => run(small), 5))).toFixed(1);
}

describe('extends chains', () => {
  it('refuses a 10,000-long chain once, at the product that goes over the limit', () => {
    const c = run(chains(10_000));
    const errors = c.diagnostics.filter((d) => d.severity === 'error');
    // The first product over the limit is the one at index MAX_EXTENDS_DEPTH; the ones above it are refused silently.
    const over = `c0-p${MAX_EXTENDS_DEPTH - 1}`;
    const text = chains(10_000);
    const line = text.slice(0, text.indexOf(`extends ${over} {`)).split('\n').length;
    expect(errors.map((d) => ({ code: d.code, line: d.line, col: d.col, file: d.file }))).toEqual([
      { code: 'extends-too-deep', line, col: `product c0-p${MAX_EXTENDS_DEPTH} extends `.length + 1, file: 'c.sborka' },
    ]);
    expect(errors[0]?.message).toBe(`\`c0-p${MAX_EXTENDS_DEPTH}\` extends a chain of more than ${MAX_EXTENDS_DEPTH} products`);
  });

  it('refuses a chain declared leaf first just as well (the walk up stops at the limit)', () => {
    const products = chains(MAX_EXTENDS_DEPTH + 1).split(/(?=^product )/m);
    const c = run(products.reverse().join(''));
    const codes = c.diagnostics.map((d) => d.code);
    expect(codes.length).toBeGreaterThan(0);
    expect(new Set(codes)).toEqual(new Set(['extends-too-deep']));
  });

  it('resolves a chain at the limit: the leaf has every package of its chain', () => {
    const c = run(chains(MAX_EXTENDS_DEPTH));
    expect(c.diagnostics).toEqual([]);
    const leaf = c.variants.get(`c0-p${MAX_EXTENDS_DEPTH - 1}`)?.[0];
    expect(leaf?.packages).toEqual(Array.from({ length: MAX_EXTENDS_DEPTH }, (_, i) => `pkg-${i}`));
  });

  it('costs linear time: refusing a 4,000-long chain (8x a 500-long one)', () => {
    const r = ratio(chains(500), chains(4_000));
    expect({ r, superLinear: r >= 45 }).toEqual({ r, superLinear: false });
  });

  it('costs linear time: chains at the limit, every product built (8x as many chains)', () => {
    const r = ratio(chains(MAX_EXTENDS_DEPTH, 2, true), chains(MAX_EXTENDS_DEPTH, 16, true));
    expect({ r, superLinear: r >= 45 }).toEqual({ r, superLinear: false });
  });

  it('costs linear time: one chain up to the limit (8x as deep)', () => {
    const r = ratio(chains(MAX_EXTENDS_DEPTH / 8, 8), chains(MAX_EXTENDS_DEPTH, 8));
    expect({ r, superLinear: r >= 45 }).toEqual({ r, superLinear: false });
  });
});
