// The dashboard's matrix: products × architectures, the last build of each cell (by
// default the last nightly) with its state, age, duration and boot test, and a strip of
// the ones before. Read from the variant workflows' search attributes; only the latest
// run of a cell is asked for its steps (closed runs answer from their stored result).
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { variantStatusQuery } from '../../../workflows/api';
import { BuildVariantResult } from '../../../workflows/contract';
import { SA_ARCH, SA_OWNER, SA_PRODUCT, SA_STATE } from '../../../workflows/search-attributes';
import { VariantStatus } from '../../../workflows/status';
import { stateOf } from '../build-access';
import type { ApiDeps } from '../deps';
import { route } from '../http';
import { visibilityClause } from '../roles';

const CellRun = z.object({
  buildId: z.string(),
  variantId: z.string(),
  state: z.string(),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  durationMs: z.number().optional(),
  nightly: z.boolean(),
  bootTest: z.enum(['passed', 'failed', 'skipped', 'running', 'pending', 'none']).optional().describe('the latest run only'),
});
type CellRun = z.infer<typeof CellRun>;

export const Matrix = z.object({
  scope: z.enum(['nightly', 'all']),
  arches: z.array(z.string()),
  products: z.array(z.object({
    product: z.string(),
    owner: z.string(),
    cells: z.record(z.string(), z.object({ latest: CellRun, history: z.array(CellRun) })),
  })),
});

/** Closed runs never change: their statuses are kept (bounded) instead of fetched again. */
const closedStatuses = new Map<string, VariantStatus | null>();

async function variantStatus(client: Client, workflowId: string, runId: string, running: boolean): Promise<VariantStatus | undefined> {
  const key = `${workflowId}/${runId}`;
  if (!running && closedStatuses.has(key)) return closedStatuses.get(key) ?? undefined;
  const handle = client.workflow.getHandle(workflowId, runId);
  let status: VariantStatus | undefined;
  try {
    if (running) status = VariantStatus.parse(await client.withDeadline(Date.now() + 3000, () => handle.query(variantStatusQuery)));
    else {
      let value: unknown;
      try {
        value = await handle.result();
      } catch (e) {
        const cause = e instanceof WorkflowFailedError ? e.cause : undefined;
        value = cause instanceof ApplicationFailure ? cause.details?.[0] : undefined;
      }
      const r = BuildVariantResult.safeParse(value);
      status = r.success ? r.data.status : undefined;
    }
  } catch {
    status = undefined;
  }
  if (!running) {
    if (closedStatuses.size > 5000) closedStatuses.clear();
    closedStatuses.set(key, status ?? null);
  }
  return status;
}

function bootTest(status: VariantStatus | undefined): CellRun['bootTest'] {
  if (!status) return undefined;
  const step = status.steps.find((s) => s.kind === 'test' && s.id.includes('boot'));
  if (!step) return 'none';
  if (step.state === 'succeeded' || step.state === 'cached') return 'passed';
  if (step.state === 'failed' || step.state === 'waiting') return 'failed';
  if (step.state === 'skipped' || step.state === 'cancelled') return 'skipped';
  return step.state === 'running' ? 'running' : 'pending';
}

export function matrixRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { client } = deps;
  route(app, {
    method: 'GET', url: '/api/matrix', summary: 'products × architectures: the last (nightly) build of each with a history strip', tags: ['builds'],
    query: z.object({
      scope: z.enum(['nightly', 'all']).default('nightly').describe('nightly: only builds started by schedules'),
      history: z.coerce.number().int().min(1).max(30).default(10),
    }),
    response: { description: 'the matrix', schema: Matrix }, names: { response: 'Matrix' },
  }, async ({ principal, query }) => {
    const clauses = [`WorkflowType = 'BuildVariant'`];
    const visible = visibilityClause(principal.role);
    if (visible) clauses.push(visible);
    const cells = new Map<string, { product: string; owner: string; arch: string; runs: Array<CellRun & { workflowId: string; runId: string; running: boolean }> }>();
    let seen = 0;
    for await (const wf of client.workflow.list({ query: clauses.join(' AND '), pageSize: 200 })) {
      if (++seen > 2000) break;
      const buildId = wf.parentExecution?.workflowId ?? wf.workflowId;
      const nightly = /-nightly-/.test(buildId);
      if (query.scope === 'nightly' && !nightly) continue;
      const product = String(wf.typedSearchAttributes.get(SA_PRODUCT) ?? '');
      const arch = ((wf.typedSearchAttributes.get(SA_ARCH) as string[] | undefined) ?? [])[0] ?? '?';
      const key = `${product}\0${arch}`;
      const cell = cells.get(key) ?? { product, owner: String(wf.typedSearchAttributes.get(SA_OWNER) ?? ''), arch, runs: [] };
      cells.set(key, cell);
      if (cell.runs.length >= query.history) continue;
      cell.runs.push({
        workflowId: wf.workflowId,
        runId: wf.runId,
        running: wf.status.name === 'RUNNING',
        buildId,
        variantId: buildId === wf.workflowId ? wf.workflowId : wf.workflowId.slice(buildId.length + 1),
        state: stateOf(wf.status.name, wf.typedSearchAttributes.get(SA_STATE)),
        startedAt: wf.startTime.toISOString(),
        ...(wf.closeTime ? { endedAt: wf.closeTime.toISOString(), durationMs: wf.closeTime.getTime() - wf.startTime.getTime() } : {}),
        nightly,
      });
    }
    const arches = [...new Set([...cells.values()].map((c) => c.arch))].sort();
    const products = new Map<string, z.infer<typeof Matrix>['products'][number]>();
    await Promise.all([...cells.values()].map(async (c) => {
      const [first, ...rest] = c.runs;
      if (!first) return;
      const { workflowId: _w, runId: _r, running: _x, ...latest } = first;
      const status = await variantStatus(client, first.workflowId, first.runId, first.running);
      const boot = bootTest(status);
      const p = products.get(c.product) ?? { product: c.product, owner: c.owner, cells: {} };
      products.set(c.product, p);
      p.cells[c.arch] = {
        latest: { ...latest, ...(boot ? { bootTest: boot } : {}) },
        history: [latest, ...rest.map(({ workflowId: _a, runId: _b, running: _c, ...r }) => r)],
      };
    }));
    return { scope: query.scope, arches, products: [...products.values()].sort((a, b) => a.product.localeCompare(b.product)) };
  });
}
