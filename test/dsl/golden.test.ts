// Golden plans: every recipe under products/ → plan JSON (with planned cache keys), byte for byte.
// UPDATE_GOLDEN=1 rewrites the files after a deliberate change.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../dsl/compile';
import { parsePlan } from '../../plan/plan';
import { planCacheKeys, planJson, planProduct } from '../../dsl/planner';
import { diskHost, productFiles } from './helpers';

const GOLDEN = join(__dirname, 'golden');

describe('golden plans of products/', () => {
  const files = productFiles();
  it('finds the recipes', () => {
    expect(files.length).toBeGreaterThanOrEqual(9);
  });

  for (const file of files) {
    it(`${file} checks clean and plans as recorded`, () => {
      const c = compile([file], diskHost);
      expect(c.diagnostics).toEqual([]);
      const own = c.buildable.filter((n) => c.decls.products.get(n)?.file === file);
      for (const name of own) {
        const plan = planProduct(c, name);
        const text = `${planJson(plan).trimEnd().slice(0, -1)},\n  "cacheKeys": ${JSON.stringify(planCacheKeys(plan), null, 2).replace(/\n/g, '\n  ')}\n}\n`;
        // The plan is what the engine accepts, and planning twice gives the same bytes.
        expect(parsePlan(JSON.parse(planJson(plan)))).toEqual(plan);
        expect(planJson(planProduct(compile([file], diskHost), name))).toBe(planJson(plan));
        const path = join(GOLDEN, `${name}.plan.json`);
        if (process.env.UPDATE_GOLDEN || !existsSync(path)) {
          if (process.env.CI) throw new Error(`golden file ${path} is missing`);
          mkdirSync(GOLDEN, { recursive: true });
          writeFileSync(path, text);
        }
        expect(text).toBe(readFileSync(path, 'utf8'));
      }
    });
  }
});
