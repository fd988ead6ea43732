// Finding builds for a caller: the tenancy check every build route goes through. A build
// the caller may not see is answered exactly like one that does not exist (404), so its
// existence never leaks. Lists are filtered in the visibility query itself.
import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription, type WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { Arch, Name } from '../../plan/schemas';
import { BUILD_PRODUCT } from '../builds';
import { SA_ARCH, SA_OWNER, SA_PRODUCT, SA_STATE } from '../../workflows/search-attributes';
import { notFound, type Principal } from './http';
import { canSee, Role, visibilityClause } from './roles';

/** Build ids as sborka makes them (`<product>-<stamp>-<hex>`, `<product>-nightly-<time>`) or as given with --id. */
export const BuildId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:+-]{0,250}$/, 'not a build id');

export interface VisibleBuild {
  handle: WorkflowHandle;
  description: WorkflowExecutionDescription;
  owner: string;
}

export function noSuchBuild(buildId: string) {
  return notFound(`no build "${buildId}"`);
}

export async function visibleBuild(client: Client, principal: Principal, buildId: string): Promise<VisibleBuild> {
  const handle = client.workflow.getHandle(buildId);
  let description: WorkflowExecutionDescription;
  try {
    description = await handle.describe();
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) throw noSuchBuild(buildId);
    throw e;
  }
  // Only BuildProduct runs are builds; a variant's or any other workflow's id is not one.
  if (description.type !== BUILD_PRODUCT) throw noSuchBuild(buildId);
  const owner = String(description.typedSearchAttributes.get(SA_OWNER) ?? '');
  if (!canSee(principal.role, owner)) throw noSuchBuild(buildId);
  return { handle, description, owner };
}

export const BuildState = z.enum(['running', 'waiting', 'pending', 'succeeded', 'failed', 'cancelled', 'terminated', 'timed_out']);

export const BuildListQuery = z.object({
  product: Name.optional(),
  owner: Role.optional().describe('community, maintainer:<team> or partner:<name>'),
  arch: Arch.optional(),
  state: BuildState.optional(),
  since: z.iso.datetime({ offset: true }).optional().describe('started at or after (ISO 8601)'),
  until: z.iso.datetime({ offset: true }).optional().describe('started before (ISO 8601)'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
export type BuildListQuery = z.infer<typeof BuildListQuery>;

export const BuildListItem = z.object({
  buildId: z.string(),
  runId: z.string(),
  product: z.string(),
  owner: z.string(),
  arches: z.array(z.string()),
  state: z.string(),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  durationMs: z.number().optional(),
  nightly: z.boolean().describe('started by a schedule'),
});
export type BuildListItem = z.infer<typeof BuildListItem>;

/** running/completed runs carry the workflow's own state; others ended as Temporal says. */
export function stateOf(status: string, sa: unknown): string {
  return ['RUNNING', 'COMPLETED'].includes(status) ? String(sa ?? 'running') : status.toLowerCase();
}

function quote(v: string): string {
  // Every value was checked by a schema that admits no quote; this is a second fence.
  if (/['"\\]/.test(v)) throw new Error(`refusing to quote ${JSON.stringify(v)}`);
  return `'${v}'`;
}

/** Newest first; only what `role` may see. */
export async function listVisibleBuilds(client: Client, role: Role, q: BuildListQuery, workflowType = BUILD_PRODUCT): Promise<BuildListItem[]> {
  const clauses = [`WorkflowType = ${quote(workflowType)}`];
  const visible = visibilityClause(role);
  if (visible) clauses.push(visible);
  if (q.product) clauses.push(`SborkaProduct = ${quote(q.product)}`);
  if (q.owner) clauses.push(`SborkaOwner = ${quote(q.owner)}`);
  if (q.arch) clauses.push(`SborkaArch = ${quote(q.arch)}`);
  if (q.state) {
    if (['running', 'waiting', 'pending', 'succeeded', 'failed'].includes(q.state)) clauses.push(`SborkaState = ${quote(q.state)}`);
    if (['cancelled', 'terminated', 'timed_out'].includes(q.state)) {
      const status = { cancelled: 'Canceled', terminated: 'Terminated', timed_out: 'TimedOut' }[q.state as 'cancelled'];
      clauses.push(q.state === 'cancelled' ? `(ExecutionStatus = 'Canceled' OR SborkaState = 'cancelled')` : `ExecutionStatus = ${quote(status)}`);
    }
  }
  if (q.since) clauses.push(`StartTime >= ${quote(new Date(q.since).toISOString())}`);
  if (q.until) clauses.push(`StartTime < ${quote(new Date(q.until).toISOString())}`);
  const out: BuildListItem[] = [];
  for await (const wf of client.workflow.list({ query: clauses.join(' AND '), pageSize: Math.min(q.limit, 100) })) {
    const state = stateOf(wf.status.name, wf.typedSearchAttributes.get(SA_STATE));
    // The SborkaState of a failed run that Temporal still reports as running is kept as is.
    if (q.state && q.state !== state && !(q.state === 'cancelled' && state === 'cancelled')) continue;
    out.push({
      buildId: wf.workflowId,
      runId: wf.runId,
      product: String(wf.typedSearchAttributes.get(SA_PRODUCT) ?? ''),
      owner: String(wf.typedSearchAttributes.get(SA_OWNER) ?? ''),
      arches: (wf.typedSearchAttributes.get(SA_ARCH) as string[] | undefined) ?? [],
      state,
      startedAt: wf.startTime.toISOString(),
      ...(wf.closeTime ? { endedAt: wf.closeTime.toISOString(), durationMs: wf.closeTime.getTime() - wf.startTime.getTime() } : {}),
      nightly: /-nightly-/.test(wf.workflowId),
    });
    if (out.length >= q.limit) break;
  }
  return out;
}
