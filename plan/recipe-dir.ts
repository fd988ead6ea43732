// A plan's recipe directory: the file paths a recipe names (overlays, scripts, repository
// keys, source packages) are relative to it in the plan and absolute once the plan is
// loaded for a build. Shared by `sborka build` (cli/load-plan.ts) and the HTTP API.
import * as path from 'node:path';
import type { Repo } from './model';
import { parsePlan, type BuildPlan, type Step } from './plan';
import type { StepParams } from './step-params';

/** A recipe path that leads outside the recipe's directory. */
export class RecipePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecipePathError';
  }
}

/**
 * The plan with its recipe directory, and the recipe's file paths (overlays, scripts,
 * repository keys; relative to that directory in the plan) made absolute, so the worker's
 * activities find them and digest their content into the cache keys.
 */
export function planWithRecipeDir(plan: BuildPlan, recipeDir: string): BuildPlan {
  const abs = (p: string, what: string): string => {
    const full = path.resolve(recipeDir, p);
    if (full !== recipeDir && !full.startsWith(`${recipeDir}${path.sep}`)) {
      throw new RecipePathError(`${plan.product}: ${what} ${p} leads outside the recipe's directory ${recipeDir}`);
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
