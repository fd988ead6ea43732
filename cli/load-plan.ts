// Turns the file named on the command line into build plans: a plan JSON as it is, a
// recipe through the language's compiler (diagnostics printed, build refused on errors).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Repo } from '../dsl/model';
import { parsePlan, PlanError, type BuildPlan, type Step } from '../dsl/plan';
import type { StepParams } from '../dsl/step-params';
import { planProduct } from '../dsl/planner';
import { EXIT, UserError, type CliIo } from './command';
import { chooseProducts, compileRecipe, RECIPE_EXTENSION } from './recipe-files';

export function loadPlans(file: string, io: CliIo, opts: { product?: string; arches?: string[] } = {}): BuildPlan[] {
  const cwd = io.cwd;
  const full = path.resolve(cwd, file);
  if (!fs.existsSync(full)) throw new UserError(`${file}: no such file`, EXIT.usage);
  if (full.endsWith('.json')) {
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(full, 'utf8'));
    } catch (e) {
      throw new UserError(`${file}: not valid JSON: ${(e as Error).message}`);
    }
    try {
      return [parsePlan(json)];
    } catch (e) {
      if (e instanceof PlanError) throw new UserError(`${file}: ${e.message}`);
      throw e;
    }
  }
  if (!full.endsWith(RECIPE_EXTENSION)) throw new UserError(`${file}: expected a recipe (${RECIPE_EXTENSION}) or a build plan (.json)`, EXIT.usage);
  const c = compileRecipe(file, io);
  return chooseProducts(c, file, opts.product, 'all').map((product) => {
    let plan: BuildPlan;
    try {
      plan = planProduct(c, product, { arches: opts.arches ?? [] });
    } catch (e) {
      throw new UserError((e as Error).message, EXIT.usage);
    }
    return withRecipeDir(plan, path.resolve(cwd, path.dirname(c.decls.products.get(product)?.file ?? file)));
  });
}

/**
 * The plan with its recipe directory, and the recipe's file paths (overlays, scripts,
 * repository keys; relative to that directory in the plan) made absolute, so the worker's
 * activities find them and digest their content into the cache keys.
 */
export function withRecipeDir(plan: BuildPlan, recipeDir: string): BuildPlan {
  const abs = (p: string, what: string): string => {
    const full = path.resolve(recipeDir, p);
    if (full !== recipeDir && !full.startsWith(`${recipeDir}${path.sep}`)) {
      throw new UserError(`${plan.product}: ${what} ${p} leads outside the recipe's directory ${recipeDir}`);
    }
    return full;
  };
  const repos = (rs: Repo[]): Repo[] => rs.map((r) => (r.key ? { ...r, key: abs(r.key, `the key of repository ${r.name}`) } : r));
  const variants = plan.variants.map((v) => ({
    ...v,
    steps: v.steps.map((s): Step => {
      if (s.kind === 'configure') {
        const p = s.params as StepParams<'configure'>;
        return { ...s, params: {
          ...p,
          overlays: p.overlays.map((o) => ({ ...o, src: abs(o.src, 'overlay') })),
          scripts: p.scripts.map((x) => (x.file === undefined ? x : { ...x, file: abs(x.file, 'script') })),
        } };
      }
      if (s.kind === 'resolve') {
        const p = s.params as StepParams<'resolve'>;
        return { ...s, params: { ...p, repos: repos(p.repos), sources: p.sources.map((x) => abs(x, 'source packages')) } };
      }
      if (s.kind === 'prepare-root') {
        const p = s.params as StepParams<'prepare-root'>;
        return { ...s, params: { ...p, repos: repos(p.repos) } };
      }
      return s;
    }),
  }));
  return parsePlan({ ...plan, recipeDir, variants });
}
