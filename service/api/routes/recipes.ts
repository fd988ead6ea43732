// Recipes: check one with diagnostics; store, read, list and delete a tenant's own.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { ApiError, conflict, forbidden, notFound, route } from '../http';
import { RecipeInfo, RecipeName, RecipeText, tenantOf, validateRecipe, Validation } from '../recipes';
import { canSubmit, Role } from '../roles';

const NameParams = z.object({ name: RecipeName });

export function recipeRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { recipes } = deps;
  /** Admins and maintainers may read a partner's recipes to help; partners only their own. */
  const tenantFor = (role: string, asked?: string): string => {
    if (!asked) return tenantOf(role);
    if (role !== 'admin' && role !== 'maintainer' && asked !== tenantOf(role)) throw notFound(`no tenant "${asked}"`);
    return asked;
  };
  const TenantQuery = z.object({ tenant: z.union([z.literal('maintainers'), Role]).optional().describe('admins and maintainers: whose recipes (partner:<name>)') });

  route(app, {
    method: 'POST', url: '/api/recipes/validate', summary: 'check a recipe (not stored): diagnostics with file, line and column', tags: ['recipes'],
    body: z.object({ name: RecipeName.default('recipe.sborka'), text: RecipeText }),
    response: { description: 'the diagnostics; ok is false when there are errors', schema: Validation }, names: { body: 'ValidateRecipe', response: 'Validation' },
  }, async ({ principal, body }) => validateRecipe(recipes, principal.role, body.name, body.text).validation);

  route(app, {
    method: 'GET', url: '/api/recipes', summary: 'the tenant\'s stored recipes', tags: ['recipes'],
    query: TenantQuery,
    response: { description: 'recipes', schema: z.object({ recipes: z.array(RecipeInfo) }) }, names: { response: 'RecipeList' },
  }, async ({ principal, query }) => ({ recipes: recipes.list(tenantFor(principal.role, query.tenant)) }));

  route(app, {
    method: 'GET', url: '/api/recipes/:name', summary: 'one stored recipe with its text and current diagnostics', tags: ['recipes'],
    params: NameParams, query: TenantQuery,
    response: { description: 'the recipe', schema: RecipeInfo.extend({ text: z.string(), validation: Validation }) }, names: { response: 'Recipe' },
  }, async ({ principal, params, query }) => {
    const tenant = tenantFor(principal.role, query.tenant);
    const text = recipes.read(tenant, params.name);
    if (text === undefined) throw notFound(`no recipe "${params.name}"`);
    const info = recipes.list(tenant).find((r) => r.name === params.name)!;
    const role = tenant === 'maintainers' ? principal.role : tenant;
    return { ...info, text, validation: validateRecipe(recipes, role, params.name).validation };
  });

  route(app, {
    method: 'PUT', url: '/api/recipes/:name', summary: 'store (or replace) a recipe; refused with its diagnostics when it has errors', tags: ['recipes'],
    params: NameParams,
    body: z.object({ text: RecipeText }),
    response: { description: 'stored', schema: RecipeInfo.extend({ validation: Validation }) }, names: { body: 'PutRecipe', response: 'StoredRecipe' },
  }, async ({ principal, params, body, req }) => {
    req.auditTarget = params.name;
    if (!canSubmit(principal.role)) throw forbidden('this role cannot store recipes');
    if (recipes.isDistributionName(params.name)) throw conflict(`"${params.name}" is the name of a distribution recipe in products/: choose another`);
    const { validation } = validateRecipe(recipes, principal.role, params.name, body.text);
    if (!validation.ok) throw new ApiError(422, 'invalid_recipe', `${params.name}: the recipe has errors; it was not stored`, undefined, validation);
    const info = recipes.write(tenantOf(principal.role), params.name, body.text);
    return { ...info, validation };
  });

  route(app, {
    method: 'DELETE', url: '/api/recipes/:name', summary: 'delete a stored recipe (builds made from it are kept)', tags: ['recipes'],
    params: NameParams,
    response: { description: 'deleted', schema: z.object({ deleted: z.string() }) },
  }, async ({ principal, params, req }) => {
    req.auditTarget = params.name;
    if (!canSubmit(principal.role)) throw forbidden('this role cannot delete recipes');
    if (!recipes.remove(tenantOf(principal.role), params.name)) throw notFound(`no recipe "${params.name}"`);
    return { deleted: params.name };
  });
}
