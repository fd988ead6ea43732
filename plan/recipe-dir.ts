// A plan's recipe directory: the file paths a recipe names (overlays, scripts, repository
// keys, source packages) stay relative in the plan (RelativePath, by schema); the steps that
// read them carry the directory they are joined to (params.recipeDir), which the worker
// resolves and fences again (activities/recipe-inputs.ts). Shared by `sborka build`
// (cli/load-plan.ts) and the HTTP API (service/api/recipes.ts, routes/builds.ts).
import * as path from 'node:path';
import { parsePlan, type BuildPlan, type Owner, type Step } from './plan';

/** A recipe path that leads outside the recipe's directory. */
export class RecipePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecipePathError';
  }
}

/** Whether the step names recipe files (and so needs recipeDir; others keep their params and keys). */
function readsRecipe(s: Step): boolean {
  const p = s.params as { repos?: Array<{ key?: string }>; sources?: string[]; overlays?: unknown[]; scripts?: Array<{ file?: string }>; profilesTree?: string; output?: { secureBoot?: unknown } };
  return (p.repos ?? []).some((r) => r.key !== undefined) || (p.sources ?? []).length > 0 || (p.overlays ?? []).length > 0
    || (p.scripts ?? []).some((x) => x.file !== undefined) || p.profilesTree !== undefined || typeof p.output?.secureBoot === 'object';
}

/** Partners' code runs in a VM; the distribution's (community, maintainers) may use the host sandbox. */
export function isolationFor(owner: Owner): 'vm' | 'host-sandbox' {
  return owner.kind === 'partner' ? 'vm' : 'host-sandbox';
}

/**
 * The plan with its recipe directory: set on the plan and on every step that reads recipe
 * files, and each step that runs programs in a root told where (isolationFor the owner).
 * The paths themselves stay relative: the schema already keeps them inside the directory.
 */
export function planWithRecipeDir(plan: BuildPlan, recipeDir: string): BuildPlan {
  const dir = path.resolve(recipeDir);
  if (dir !== recipeDir) throw new RecipePathError(`${plan.product}: the recipe directory ${recipeDir} is not an absolute, normalised path`);
  const isolation = isolationFor(plan.owner);
  const variants = plan.variants.map((v) => ({
    ...v,
    steps: v.steps.map((s): Step => {
      const extra = {
        ...(readsRecipe(s) ? { recipeDir: dir } : {}),
        // configure runs programs inside the root (scripts, locale-gen, update-initramfs); a
        // partner's prepare-root only unpacks, so that its packages' maintainer scripts run
        // there too, in the VM (the distribution's keep their params, and their cache keys).
        ...(s.kind === 'configure' || (s.kind === 'prepare-root' && isolation === 'vm') ? { isolation } : {}),
      };
      return Object.keys(extra).length ? ({ ...s, params: { ...(s.params as object), ...extra } } as Step) : s;
    }),
  }));
  return parsePlan({ ...plan, recipeDir: dir, variants });
}

/** Where a plan names host directories or host-sandbox execution: the fields a partner may not set. */
export function trustedFields(plan: BuildPlan): string[] {
  const at: string[] = [];
  if (plan.recipeDir !== undefined) at.push('recipeDir');
  plan.variants.forEach((v, vi) => v.steps.forEach((s, si) => {
    const p = s.params as { recipeDir?: unknown; isolation?: unknown };
    if (p.recipeDir !== undefined) at.push(`variants[${vi}].steps[${si}].params.recipeDir`);
    if (p.isolation !== undefined && p.isolation !== 'vm') at.push(`variants[${vi}].steps[${si}].params.isolation`);
  }));
  return at;
}
