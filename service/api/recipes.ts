// Tenants' recipes: stored under <stateDir>/recipes/<tenant>/, compiled with a SourceHost
// that shows the distribution's products/ plus this tenant's own files, as if they sat in
// products/ (so a partner's `import "regular-xfce.sborka"` works as in products/partner-acme).
// Another tenant's files are never visible: each compile sees exactly one tenant directory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { posix } from 'node:path';
import { z } from 'zod';
import { compile, type Compilation, type SourceHost } from '../../dsl/compile';
import { Diagnostic, renderDiagnostics, diagnostic } from '../../dsl/diagnostics';
import { planProduct } from '../../dsl/planner';
import { planWithRecipeDir, RecipePathError } from '../../plan/recipe-dir';
import { recordCompiled } from '../../activities/recipe-record';
import type { BuildPlan } from '../../plan/plan';
import { ownerLabel } from '../../workflows/search-values';
import { badRequest, forbidden, notFound, ApiError } from './http';
import { partnerOf, type Role } from './roles';

/** Flat file names only: a tenant has one directory, with no subdirectories. */
export const RecipeName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,100}\.sborka$/, 'must be a file name like acme-ws.sborka (lower-case letters, digits, . _ -)');

export const MAX_RECIPE_BYTES = 256 * 1024;
export const RecipeText = z.string().max(MAX_RECIPE_BYTES, `a recipe holds at most ${MAX_RECIPE_BYTES} characters`);

export const RecipeProduct = z.object({
  name: z.string(),
  owner: z.string(),
  variantOf: z.string().optional(),
  toolchain: z.string(),
  arches: z.array(z.string()),
});

export const Validation = z.object({
  ok: z.boolean().describe('no errors: the recipe can be stored and built'),
  diagnostics: z.array(Diagnostic),
  /** The diagnostics as the CLI prints them: source line, caret, hint. */
  rendered: z.string(),
  products: z.array(RecipeProduct).describe('buildable products and variants this file declares'),
});
export type Validation = z.infer<typeof Validation>;

export const RecipeInfo = z.object({
  name: z.string(),
  tenant: z.string(),
  size: z.number().int(),
  updatedAt: z.string(),
});
export type RecipeInfo = z.infer<typeof RecipeInfo>;

/** Partners have their own directory; the distribution's people share one. */
export function tenantOf(role: Role): string {
  return partnerOf(role) ? role : 'maintainers';
}

const ENTRY_DIR = 'products';

export class RecipeStore {
  constructor(readonly stateDir: string, readonly productsDir: string) {}

  private dir(tenant: string): string {
    return path.join(path.resolve(this.stateDir), 'recipes', tenant.replace(':', '-'));
  }

  /** The tenant's recipe directory: where the recipe-relative paths of its posted plans lead. */
  tenantDir(tenant: string): string {
    return this.dir(tenant);
  }

  /** Distribution recipes take their names: a stored recipe never shadows one. */
  isDistributionName(name: string): boolean {
    return fs.existsSync(path.join(this.productsDir, name));
  }

  list(tenant: string): RecipeInfo[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir(tenant));
    } catch {
      return [];
    }
    return names
      .filter((n) => RecipeName.safeParse(n).success)
      .sort()
      .map((name) => {
        const st = fs.statSync(path.join(this.dir(tenant), name));
        return { name, tenant, size: st.size, updatedAt: st.mtime.toISOString() };
      });
  }

  read(tenant: string, name: string): string | undefined {
    if (!RecipeName.safeParse(name).success) return undefined;
    try {
      return fs.readFileSync(path.join(this.dir(tenant), name), 'utf8');
    } catch {
      return undefined;
    }
  }

  write(tenant: string, name: string, text: string): RecipeInfo {
    const dir = this.dir(tenant);
    fs.mkdirSync(dir, { recursive: true });
    // Write and rename: a compile running meanwhile reads the old text or the new, never half.
    const tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, path.join(dir, name));
    return this.list(tenant).find((r) => r.name === name)!;
  }

  remove(tenant: string, name: string): boolean {
    try {
      fs.unlinkSync(path.join(this.dir(tenant), name));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * `products/<x>` is the tenant's own <x> if it has one (flat names only), else the
   * distribution's products/<x>; nothing outside products/ and no other tenant is readable.
   * `overlay` is text being checked before it is stored.
   */
  host(tenant: string, overlay?: { name: string; text: string }): SourceHost {
    const productsReal = fs.realpathSync(this.productsDir);
    return {
      read: (p) => {
        const norm = posix.normalize(p);
        if (!norm.startsWith(`${ENTRY_DIR}/`) || !norm.endsWith('.sborka')) return undefined;
        const rel = norm.slice(ENTRY_DIR.length + 1);
        if (!rel.includes('/')) {
          if (overlay && overlay.name === rel) return overlay.text;
          const own = this.read(tenant, rel);
          if (own !== undefined) return own;
        }
        try {
          const real = fs.realpathSync(path.join(productsReal, rel));
          if (!real.startsWith(productsReal + path.sep)) return undefined;
          return fs.readFileSync(real, 'utf8');
        } catch {
          return undefined;
        }
      },
    };
  }

  /**
   * The real directory of a file the compiler read as `products/<x>`, found as host() finds
   * the file: the tenant's own directory for a flat name it has, else under products/.
   */
  realDir(tenant: string, file: string): string {
    const rel = posix.normalize(file).slice(ENTRY_DIR.length + 1);
    if (!rel.includes('/') && this.read(tenant, rel) !== undefined) return this.dir(tenant);
    return path.dirname(fs.realpathSync(path.join(fs.realpathSync(this.productsDir), rel)));
  }

  /** Where the compiler sees a stored recipe. */
  static entry(name: string): string {
    return `${ENTRY_DIR}/${name}`;
  }

  compile(tenant: string, name: string, text?: string): Compilation {
    return compile([RecipeStore.entry(name)], this.host(tenant, text === undefined ? undefined : { name, text }));
  }
}

/** Products and variants declared in the entry file itself (not its imports) that can be built. */
export function declaredProducts(c: Compilation, entry: string): z.infer<typeof RecipeProduct>[] {
  return c.buildable
    .filter((n) => c.decls.products.get(n)?.file === entry)
    .map((n) => {
      const vs = c.variants.get(n) ?? [];
      const first = vs[0]!;
      return {
        name: n,
        owner: ownerLabel(first.owner),
        ...(first.variantOf ? { variantOf: first.variantOf } : {}),
        toolchain: first.toolchain,
        arches: [...new Set(vs.map((v) => v.arch))],
      };
    });
}

/**
 * Compiles and adds the tenancy rule as a diagnostic: everything a partner's file declares
 * must be owned by that partner, so its plans carry the partner's owner.
 */
export function validateRecipe(store: RecipeStore, role: Role, name: string, text?: string): { validation: Validation; compilation: Compilation } {
  const tenant = tenantOf(role);
  const c = store.compile(tenant, name, text);
  const entry = RecipeStore.entry(name);
  const diagnostics = [...c.diagnostics];
  const partner = partnerOf(role);
  if (partner) {
    for (const decl of c.decls.products.values()) {
      if (decl.file !== entry) continue;
      const vs = c.variants.get(decl.name);
      if (!vs?.length) continue;
      const owner = ownerLabel(vs[0]!.owner);
      if (owner !== role) {
        diagnostics.push(diagnostic('owner-not-yours', `\`${decl.name}\` is owned by ${owner}, but this token builds for ${role}`, decl.nameSpan, `add \`owner partner ${partner}\``));
      }
    }
  }
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  return {
    compilation: c,
    validation: {
      ok: errors === 0,
      diagnostics,
      rendered: diagnostics.length ? renderDiagnostics(diagnostics, c.sources) : '',
      products: errors === 0 ? declaredProducts(c, entry) : [],
    },
  };
}

/**
 * The plan of a stored recipe (a partner's) or, for the distribution's people, of a
 * recipe under products/. The owner is checked again here: the file may have changed.
 */
export function planFromRecipe(store: RecipeStore, role: Role, name: string, opts: { product?: string; arches?: string[]; recordTo?: string }): BuildPlan {
  const tenant = tenantOf(role);
  const stored = store.read(tenant, name) !== undefined;
  if (!stored && (partnerOf(role) || !store.isDistributionName(name))) throw notFound(`no recipe "${name}"`);
  const { validation, compilation } = validateRecipe(store, role, name);
  if (!validation.ok) {
    throw new ApiError(422, 'invalid_recipe', `${name}: ${validation.diagnostics.filter((d) => d.severity === 'error').length} error(s); nothing was started`, undefined, validation);
  }
  const products = validation.products.map((p) => p.name);
  let product = opts.product;
  if (product === undefined) {
    if (products.length !== 1) throw badRequest(`${name} declares ${products.length} buildable products: name one`, [{ path: 'body.product', message: `one of: ${products.join(', ') || '(none)'}` }]);
    product = products[0]!;
  } else if (!products.includes(product)) {
    throw badRequest(`\`${product}\` is not a buildable product of ${name}`, [{ path: 'body.product', message: `one of: ${products.join(', ') || '(none)'}` }]);
  }
  let plan: BuildPlan;
  try {
    plan = planProduct(compilation, product, { arches: opts.arches });
  } catch (e) {
    throw badRequest((e as Error).message, [{ path: 'body.arches', message: (e as Error).message }]);
  }
  if (partnerOf(role) && ownerLabel(plan.owner) !== role) throw forbidden(`the plan is owned by ${ownerLabel(plan.owner)}, not ${role}`);
  // As `sborka build` does: the steps get the recipe's directory (the paths stay relative,
  // confined by the schema) and the owner's isolation (a partner's scripts run in a VM).
  const declaredIn = compilation.decls.products.get(product)?.file ?? RecipeStore.entry(name);
  // The recipe's text for the morning report's diff, in the owner's scope (activities/recipe-record.ts).
  // Best effort: without it the build still runs, and its report says the text was not recorded.
  try {
    if (opts.recordTo) recordCompiled(opts.recordTo, plan.owner, compilation.files, declaredIn, compilation.digest);
  } catch {
    /* see above */
  }
  try {
    return planWithRecipeDir(plan, store.realDir(tenant, declaredIn));
  } catch (e) {
    if (e instanceof RecipePathError) throw badRequest(e.message, [{ path: 'body.recipe', message: e.message }]);
    throw e;
  }
}
