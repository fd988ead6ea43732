// Builds: start (a stored recipe or a plan), list, status with every step, live status
// over SSE, cancel, resume, and the operator's retry / skip / abort / approve.
import { WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
// Arch and Name from plan/schemas: plan/plan re-exports them beside same-named types, which swc drops.
import { Arch, Name } from '../../../plan/schemas';
import { BuildPlan, parsePlan, PlanError, type BuildPlan as Plan } from '../../../plan/plan';
import { SA_PRODUCT } from '../../../workflows/search-attributes';
import { ownerLabel } from '../../../workflows/search-values';
import { OperatorReply } from '../../../workflows/contract';
import { ProductStatus, VariantStatus } from '../../../workflows/status';
import { buildView, cancelBuild, operatorAction, resumeBuild, startBuild, type BuildView } from '../../builds';
import { approveReview } from '../approve';
import { BuildId, BuildListItem, BuildListQuery, listVisibleBuilds, visibleBuild, type VisibleBuild } from '../build-access';
import type { ApiDeps } from '../deps';
import { badRequest, conflict, forbidden, route, type Issue, type Principal } from '../http';
import { planWithRecipeDir, trustedFields } from '../../../plan/recipe-dir';
import { planFromRecipe, RecipeName, tenantOf, type RecipeStore } from '../recipes';
import { ACTIONS, canAct, canSubmit, mayOwn, partnerOf, type Action } from '../roles';
import { openSse } from '../sse';

/**
 * Step kinds a partner's hand-written plan may not hold: they run host programs or read
 * host directories outside any build root. Partners build through recipes; the
 * distribution's people may post any plan.
 */
export const PARTNER_FORBIDDEN_KINDS = new Set(['exec', 'archive']);

const StartBuild = z
  .object({
    recipe: RecipeName.optional().describe('a stored recipe (admins and maintainers: also a recipe of products/)'),
    product: Name.optional().describe('which product of the recipe; needed when it declares several'),
    arches: z.array(Arch).min(1).optional().describe('only these architectures'),
    plan: BuildPlan.optional().describe('a BuildPlan (JSON), instead of a recipe'),
    id: z.string().regex(/^[a-z0-9][a-z0-9._+-]{0,200}$/).optional().describe('build id (admins and maintainers); generated otherwise'),
  })
  .refine((b) => (b.recipe === undefined) !== (b.plan === undefined), { message: 'give either "recipe" or "plan"', path: ['recipe'] });

const Started = z.object({
  buildId: z.string(),
  runId: z.string(),
  product: z.string(),
  owner: z.string(),
  variants: z.array(z.object({ variantId: z.string(), arch: z.string(), taskQueue: z.string() })),
});

export const BuildDetail = z.object({
  product: ProductStatus,
  variants: z.array(VariantStatus),
  /** What this token may do to the build now (buttons of the dashboard). */
  actions: z.array(z.enum(['cancel', 'resume', 'retry', 'skip', 'abort', 'approve'])),
});

const IdParams = z.object({ id: BuildId });
const OperatorBody = z.object({
  variant: z.string().max(300).optional().describe('needed when several variants wait'),
  step: z.string().max(200).optional(),
  reason: z.string().max(2000).optional().describe('kept in the audit log and the workflow history'),
});

function planIssues(e: PlanError): Issue[] {
  return e.problems.map((p) => {
    const at = p.indexOf(': ');
    return { path: at > 0 ? `body.plan.${p.slice(0, at)}` : 'body.plan', message: at > 0 ? p.slice(at + 2) : p };
  });
}

/**
 * A posted plan, checked for structure and for what the caller may run under which owner.
 * Its paths are confined by the schema (RelativePath); a partner's plan may not name a host
 * directory or ask for the host sandbox, and gets the partner's own recipe directory and
 * VM isolation here, as its recipes do (service/api/recipes.ts).
 */
export function checkPostedPlan(principal: Principal, raw: Plan, recipes: RecipeStore): Plan {
  let plan: Plan;
  try {
    plan = parsePlan(raw);
  } catch (e) {
    if (e instanceof PlanError) throw badRequest('invalid build plan', planIssues(e));
    throw e;
  }
  const owner = ownerLabel(plan.owner);
  if (!canSubmit(principal.role)) throw forbidden('this role cannot start builds');
  if (!mayOwn(principal.role, owner)) throw forbidden(`a plan started by ${principal.role} must be owned by it (plan.owner is ${owner})`);
  if (partnerOf(principal.role)) {
    const bad = plan.variants.flatMap((v, vi) => v.steps.map((s, si) => ({ s, at: `body.plan.variants[${vi}].steps[${si}].kind` }))).filter(({ s }) => PARTNER_FORBIDDEN_KINDS.has(s.kind));
    if (bad.length) throw forbidden(`partners' plans may not hold ${[...PARTNER_FORBIDDEN_KINDS].join(' or ')} steps (${bad.map((b) => b.at).join(', ')}): submit a recipe instead`);
    const trusted = trustedFields(plan);
    if (trusted.length) {
      throw badRequest('a partner\'s plan may not name host directories or the host sandbox', trusted.map((at) => ({
        path: `body.plan.${at}`, message: at.endsWith('isolation') ? 'partners\' code runs in a VM: leave isolation out or say "vm"' : 'set by the service: leave it out (paths are relative to your recipe directory)',
      })));
    }
    return planWithRecipeDir(plan, recipes.tenantDir(tenantOf(principal.role)));
  }
  return plan;
}

/** Actions that make sense for the build now and that the role allows. */
export function allowedActions(principal: Principal, vb: VisibleBuild, view: BuildView): Action[] {
  const running = vb.description.status.name === 'RUNNING';
  const waits = view.variants.flatMap((v) => (v.state === 'waiting' ? v.waiting.map((w) => ({ v, w })) : []));
  const possible: Action[] = [];
  if (running) possible.push('cancel');
  if (!running && view.product.state !== 'succeeded') possible.push('resume');
  if (waits.some(({ w }) => w.actions.includes('retry'))) possible.push('retry');
  if (waits.some(({ w }) => w.actions.includes('skip'))) possible.push('skip');
  if (waits.some(({ w }) => w.actions.includes('abort'))) possible.push('abort');
  if (waits.some(({ v, w }) => v.steps.find((s) => s.id === w.step)?.kind === 'verify-licenses')) possible.push('approve');
  return possible.filter((a) => canAct(principal.role, vb.owner, a));
}

/** startBuild returns the handle client.workflow.start made, which knows its first run. */
function runIdOf(handle: object): string {
  return (handle as { firstExecutionRunId?: string }).firstExecutionRunId ?? '';
}

export function buildRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { client } = deps;

  route(app, {
    method: 'GET', url: '/api/builds', summary: 'builds visible to the token, newest first, filtered by product, owner, arch, state, date', tags: ['builds'],
    query: BuildListQuery,
    response: { description: 'builds', schema: z.object({ builds: z.array(BuildListItem) }) }, names: { response: 'BuildList' },
  }, async ({ principal, query }) => ({ builds: await listVisibleBuilds(client, principal.role, query) }));

  route(app, {
    method: 'POST', url: '/api/builds', summary: 'start a build of a stored recipe or of a plan', tags: ['builds'],
    body: StartBuild, status: 201,
    response: { description: 'started', schema: Started }, names: { body: 'StartBuild', response: 'StartedBuild' },
  }, async ({ principal, body, req }) => {
    if (!canSubmit(principal.role)) throw forbidden('this role cannot start builds');
    if (body.id && partnerOf(principal.role)) throw forbidden('partners cannot choose build ids');
    const plan = body.plan
      ? checkPostedPlan(principal, body.plan, deps.recipes)
      : planFromRecipe(deps.recipes, principal.role, body.recipe!, { product: body.product, arches: body.arches, recordTo: deps.config.storeDir });
    let handle;
    try {
      handle = await startBuild(client, plan, body.id);
    } catch (e) {
      if (e instanceof WorkflowExecutionAlreadyStartedError) throw conflict(`a build "${body.id}" exists already`);
      throw e;
    }
    req.auditTarget = handle.workflowId;
    deps.logger.info({ buildId: handle.workflowId, by: principal.name, role: principal.role }, 'build started');
    return {
      buildId: handle.workflowId,
      runId: runIdOf(handle),
      product: plan.product,
      owner: ownerLabel(plan.owner),
      variants: plan.variants.map((v) => ({ variantId: v.id, arch: v.arch, taskQueue: v.taskQueue })),
    };
  });

  route(app, {
    method: 'GET', url: '/api/builds/:id', summary: 'a build\'s status: every variant and every step, and what the token may do now', tags: ['builds'],
    params: IdParams,
    response: { description: 'the build', schema: BuildDetail }, names: { response: 'BuildDetail' },
  }, async ({ principal, params }) => {
    const vb = await visibleBuild(client, principal, params.id);
    const view = await buildView(client, params.id);
    return { ...view, actions: allowedActions(principal, vb, view) };
  });

  route(app, {
    method: 'GET', url: '/api/builds/:id/events', summary: 'live status (server-sent events): "status" on every change, "end" when the build has closed', tags: ['builds'],
    params: IdParams,
    response: { description: 'text/event-stream of BuildDetail', contentType: 'text/event-stream' },
  }, async ({ principal, params, req, reply }) => {
    let vb = await visibleBuild(client, principal, params.id);
    const sse = openSse(req, reply);
    let last = '';
    let failures = 0;
    while (!sse.closed) {
      try {
        vb = { ...vb, description: await vb.handle.describe() };
        const view = await buildView(client, params.id);
        const detail = { ...view, actions: allowedActions(principal, vb, view) };
        const text = JSON.stringify(detail);
        if (text !== last) sse.send('status', text);
        last = text;
        failures = 0;
        if (vb.description.status.name !== 'RUNNING') {
          sse.send('end', { state: view.product.state });
          break;
        }
      } catch (e) {
        // A run closing between describe and query makes one read fail: try again, give up after a few.
        if (++failures >= 5) {
          sse.send('error', { message: (e as Error).message });
          break;
        }
      }
      await sse.sleep(1000);
    }
    sse.end();
    return reply;
  });

  route(app, {
    method: 'POST', url: '/api/builds/:id/cancel', summary: 'cancel a running build (steps are killed; what finished stays in the store)', tags: ['builds'],
    params: IdParams, body: z.object({ reason: z.string().max(2000).optional() }),
    response: { description: 'cancellation requested', schema: z.object({ buildId: z.string(), action: z.literal('cancel') }) },
  }, async ({ principal, params, req }) => {
    req.auditTarget = params.id;
    const vb = await visibleBuild(client, principal, params.id);
    if (!canAct(principal.role, vb.owner, 'cancel')) throw forbidden('this role cannot cancel this build');
    if (vb.description.status.name !== 'RUNNING') throw conflict(`build "${params.id}" is not running`);
    await cancelBuild(client, params.id);
    return { buildId: params.id, action: 'cancel' as const };
  });

  route(app, {
    method: 'POST', url: '/api/builds/:id/resume',
    summary: 'continue a failed or cancelled build under the same id: only missing or changed steps run (optionally from a fixed recipe or plan)', tags: ['builds'],
    params: IdParams,
    body: z.object({ recipe: RecipeName.optional(), product: Name.optional(), plan: BuildPlan.optional() }), status: 201,
    response: { description: 'resumed', schema: Started }, names: { body: 'ResumeBuild' },
  }, async ({ principal, params, body, req }) => {
    req.auditTarget = params.id;
    const vb = await visibleBuild(client, principal, params.id);
    if (!canAct(principal.role, vb.owner, 'resume')) throw forbidden('this role cannot resume this build');
    if (vb.description.status.name === 'RUNNING') throw conflict(`build "${params.id}" is still running: retry, skip or abort its waiting step, or cancel it first`);
    if (body.recipe && body.plan) throw badRequest('give "recipe" or "plan", not both', [{ path: 'body.plan', message: 'give "recipe" or "plan", not both' }]);
    const plan = body.plan
      ? checkPostedPlan(principal, body.plan, deps.recipes)
      : body.recipe
        ? planFromRecipe(deps.recipes, principal.role, body.recipe, { product: body.product, recordTo: deps.config.storeDir })
        : undefined;
    // A resumed build stays with its owner: a new plan cannot move it to another tenant.
    if (plan && ownerLabel(plan.owner) !== vb.owner) throw forbidden(`the new plan is owned by ${ownerLabel(plan.owner)}, the build by ${vb.owner}`);
    let handle;
    try {
      handle = await resumeBuild(client, params.id, plan);
    } catch (e) {
      throw conflict((e as Error).message);
    }
    const p = plan;
    return {
      buildId: handle.workflowId,
      runId: runIdOf(handle),
      product: p?.product ?? String(vb.description.typedSearchAttributes.get(SA_PRODUCT) ?? ''),
      owner: vb.owner,
      variants: p ? p.variants.map((v) => ({ variantId: v.id, arch: v.arch, taskQueue: v.taskQueue })) : [],
    };
  });

  for (const action of ACTIONS.filter((a) => a !== 'cancel' && a !== 'resume')) {
    route(app, {
      method: 'POST', url: `/api/builds/:id/${action}`,
      summary: {
        retry: 'run the waiting step again with fresh attempts',
        skip: 'give up on a waiting step the plan marks skippable; its dependents run without it',
        abort: 'fail the waiting variant with its step\'s error',
        approve: 'approve the license review a variant waits on (admins and maintainers)',
      }[action as 'retry'],
      tags: ['operator'],
      params: IdParams, body: OperatorBody,
      response: { description: 'the workflow took it', schema: z.object({ variantId: z.string(), step: z.string(), action: z.string() }) }, names: { body: 'OperatorAction', response: 'OperatorReply' },
    }, async ({ principal, params, body, req }) => {
      req.auditTarget = params.id;
      const vb = await visibleBuild(client, principal, params.id);
      if (!canAct(principal.role, vb.owner, action)) throw forbidden(`this role cannot ${action} this build`);
      if (vb.description.status.name !== 'RUNNING') throw conflict(`build "${params.id}" is not running`);
      const reason = `${body.reason ?? action} (by ${principal.name}, ${principal.role})`;
      if (action === 'approve') return approveReview(client, params.id, { ...body, reason }, { db: deps.db, stateDir: deps.config.stateDir, config: deps.config, actor: principal, owner: vb.owner, logger: deps.logger });
      try {
        const reply = await operatorAction(client, params.id, action as 'retry', { ...body, reason });
        return { ...OperatorReply.parse(reply), variantId: reply.variantId };
      } catch (e) {
        if (e instanceof WorkflowUpdateFailedError) throw conflict(`${action} refused: ${e.cause?.message ?? e.message}`);
        if (/waits for an operator|several variants wait/.test((e as Error).message)) throw conflict((e as Error).message);
        throw e;
      }
    });
  }
}
