// Turns the file named on the command line into build plans: a plan JSON as it is, a
// recipe through the language's compiler (diagnostics printed, build refused on errors).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parsePlan, PlanError, type BuildPlan } from '../plan/plan';
import { planProduct } from '../dsl/planner';
import { planWithRecipeDir, RecipePathError } from '../plan/recipe-dir';
import { recordCompiled } from '../activities/recipe-record';
import { EXIT, UserError, type CliIo } from './command';
import { chooseProducts, compileRecipe, RECIPE_EXTENSION } from './recipe-files';

/** `recordTo`: the store in which the recipe's text is kept for `sborka diff` (activities/recipe-record.ts). */
export function loadPlans(file: string, io: CliIo, opts: { product?: string; arches?: string[]; recordTo?: string } = {}): BuildPlan[] {
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
    const declFile = c.decls.products.get(product)?.file ?? file;
    if (opts.recordTo) {
      try {
        recordCompiled(opts.recordTo, plan.owner, c.files, declFile, c.digest);
      } catch (e) {
        // Only the morning report's recipe diff needs it: the build goes on without.
        io.stderr.write(`warning: the recipe's text was not recorded: ${(e as Error).message}\n`);
      }
    }
    return withRecipeDir(plan, path.resolve(cwd, path.dirname(declFile)));
  });
}

/** See plan/recipe-dir.ts: the steps get the recipe directory; a bad one is the user's error. */
export function withRecipeDir(plan: BuildPlan, recipeDir: string): BuildPlan {
  try {
    return planWithRecipeDir(plan, recipeDir);
  } catch (e) {
    if (e instanceof RecipePathError) throw new UserError(e.message);
    throw e;
  }
}
