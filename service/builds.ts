// Client-side operations on builds: start, look at, steer and resume them. Build state
// lives in Temporal only; these functions read it through queries (running workflows) and
// results (closed ones: a query on a closed workflow needs a worker to replay it).
import { randomBytes } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { BuildPlan, parsePlan } from '../plan/plan';
import { abortUpdate, approveUpdate, productStatusQuery, retryUpdate, skipUpdate, variantStatusQuery } from '../workflows/api';
import { BuildProductInput, BuildProductResult, BuildVariantResult, type OperatorAction, type OperatorReply } from '../workflows/contract';
import { countByState } from '../workflows/dag';
import { SA_PRODUCT, SA_STATE } from '../workflows/search-attributes';
import { identityAttributes, ownerLabel, stateAttribute } from '../workflows/search-values';
import { ProductStatus, VariantStatus, withPendingActivities, type PendingActivity, type ProductState, type VariantSummary } from '../workflows/status';
import { CONTROL_QUEUE } from './worker';

export const BUILD_PRODUCT = 'BuildProduct';

/** `<product>-<UTC yyyymmdd-hhmmss>-<4 hex>`: sortable, unique, safe in paths and ids. */
export function newBuildId(product: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${product}-${stamp}-${randomBytes(2).toString('hex')}`;
}

export function variantWorkflowId(buildId: string, variantId: string): string {
  return `${buildId}.${variantId}`;
}

export class BuildNotFound extends Error {
  constructor(buildId: string) {
    super(`no build "${buildId}" (sborka status lists builds)`);
    this.name = 'BuildNotFound';
  }
}

export async function startBuild(client: Client, plan: BuildPlan, buildId = newBuildId(plan.product)): Promise<WorkflowHandle> {
  const input = BuildProductInput.parse({ buildId, plan });
  return client.workflow.start(BUILD_PRODUCT, {
    taskQueue: CONTROL_QUEUE,
    workflowId: buildId,
    args: [input],
    typedSearchAttributes: [...identityAttributes(plan, plan.variants), stateAttribute('running')],
  });
}

async function existing(client: Client, buildId: string): Promise<WorkflowHandle> {
  return (await described(client, buildId)).handle;
}

async function described(client: Client, buildId: string): Promise<{ handle: WorkflowHandle; description: WorkflowExecutionDescription }> {
  const handle = client.workflow.getHandle(buildId);
  try {
    return { handle, description: await handle.describe() };
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) throw new BuildNotFound(buildId);
    throw e;
  }
}

/** The plan a build was started with, read back from its history. */
export async function planOfBuild(client: Client, buildId: string): Promise<BuildPlan> {
  const handle = await existing(client, buildId);
  const history = await handle.fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) throw new Error(`the history of build "${buildId}" holds no input`);
  return parsePlan(defaultPayloadConverter.fromPayload<{ plan: unknown }>(payload).plan);
}

export interface BuildView {
  product: ProductStatus;
  variants: VariantStatus[];
}

/**
 * The product's status and every started variant's full status. Running workflows are
 * queried; closed ones are read from their results (a failed variant's partial result
 * travels in its failure), so a finished build shows without any worker.
 */
export async function buildView(client: Client, buildId: string): Promise<BuildView> {
  const { handle, description } = await described(client, buildId);
  if (description.status.name === 'RUNNING') {
    const product = ProductStatus.parse(await handle.query(productStatusQuery));
    const variants: VariantStatus[] = [];
    for (const v of product.variants) {
      const status = await variantView(client, v.workflowId);
      if (status.kind === 'status') variants.push(status.status);
    }
    return { product, variants };
  }
  return closedBuildView(client, handle, description);
}

/** Running steps' live heartbeats: only describe() sees them, the workflow never does. */
function pendingActivities(description: WorkflowExecutionDescription): PendingActivity[] {
  return (description.raw.pendingActivities ?? []).flatMap((p) => {
    if (!p.activityId) return [];
    const payload = p.heartbeatDetails?.payloads?.[0];
    let heartbeatDetails: unknown;
    try {
      heartbeatDetails = payload ? defaultPayloadConverter.fromPayload(payload) : undefined;
    } catch {
      heartbeatDetails = undefined; // an undecodable heartbeat only costs the live detail
    }
    return [{ activityId: p.activityId, attempt: p.attempt ?? 1, heartbeatDetails }];
  });
}

type VariantView = { kind: 'status'; status: VariantStatus } | { kind: 'absent' } | { kind: 'unreadable'; state: string };

/** Deadline of a query to a closed run whose result holds no status (it needs a worker to answer). */
const CLOSED_QUERY_MS = 5_000;

async function variantView(client: Client, workflowId: string): Promise<VariantView> {
  const handle = client.workflow.getHandle(workflowId);
  let description: WorkflowExecutionDescription;
  try {
    description = await handle.describe();
  } catch (e) {
    // A variant whose queue has no worker may not have started yet: the summary says why.
    if (e instanceof WorkflowNotFoundError) return { kind: 'absent' };
    throw e;
  }
  const state = description.status.name;
  if (state === 'RUNNING') {
    const status = VariantStatus.parse(await handle.query(variantStatusQuery));
    return { kind: 'status', status: withPendingActivities(status, pendingActivities(description)) };
  }
  const final = await finalResult(handle, BuildVariantResult);
  if (final?.status) return { kind: 'status', status: final.status };
  // Runs from before results carried their status, and cancelled or terminated runs (no
  // result at all): only a worker replaying the history can answer.
  try {
    return { kind: 'status', status: VariantStatus.parse(await client.withDeadline(Date.now() + CLOSED_QUERY_MS, () => handle.query(variantStatusQuery))) };
  } catch {
    return { kind: 'unreadable', state: state.toLowerCase() };
  }
}

/** The result of a closed run, or the partial result its ApplicationFailure carried; undefined if neither parses. */
async function finalResult<T>(handle: WorkflowHandle, schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }): Promise<T | undefined> {
  let value: unknown;
  try {
    value = await handle.result();
  } catch (e) {
    const cause = e instanceof WorkflowFailedError ? e.cause : undefined;
    if (!(cause instanceof ApplicationFailure)) return undefined;
    value = cause.details?.[0];
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

async function closedBuildView(client: Client, handle: WorkflowHandle, description: WorkflowExecutionDescription): Promise<BuildView> {
  const buildId = handle.workflowId;
  const final = await finalResult(handle, BuildProductResult);
  const plan = final?.status ? undefined : await planOfBuild(client, buildId);
  // Variant workflow ids: from the final status, else derived from the plan as BuildProduct derives them.
  const variantIds = final?.status
    ? final.status.variants.map((v) => ({ variantId: v.variantId, workflowId: v.workflowId }))
    : plan!.variants.map((v) => ({ variantId: v.id, workflowId: variantWorkflowId(buildId, v.id) }));
  const variants: VariantStatus[] = [];
  const unreadable = new Map<string, string>();
  for (const { variantId, workflowId } of variantIds) {
    const view = await variantView(client, workflowId);
    if (view.kind === 'status') variants.push(view.status);
    else if (view.kind === 'unreadable') unreadable.set(variantId, view.state);
  }
  const unreadableWarnings = [...unreadable].map(
    ([id, state]) => `${id}: ${state}; its step states can be read only while a worker runs (sborka worker)`,
  );
  if (final?.status) {
    return { product: { ...final.status, warnings: [...final.status.warnings, ...unreadableWarnings] }, variants };
  }
  // Cancelled, terminated or from before results carried their status: rebuild the product
  // status from the plan and what each variant says of itself.
  const byId = new Map(variants.map((v) => [v.variantId, v]));
  const closedAs: ProductState = description.status.name === 'CANCELLED' ? 'cancelled' : description.status.name === 'COMPLETED' ? final?.state ?? 'failed' : 'failed';
  const summaries: VariantSummary[] = plan!.variants.map((v) => {
    const status = byId.get(v.id);
    return {
      variantId: v.id,
      workflowId: variantWorkflowId(buildId, v.id),
      arch: v.arch,
      flavour: v.flavour,
      taskQueue: v.taskQueue,
      // Never started (its queue had no worker) or unreadable: it ended with the build.
      state: status?.state ?? (closedAs === 'cancelled' ? 'cancelled' : 'failed'),
      steps: status ? countByState(status.steps.map((s) => ({ id: s.id, needs: [] })), new Map(status.steps.map((s) => [s.id, s.state]))) : { pending: v.steps.length },
      warnings: [],
      error: status?.error,
    };
  });
  return {
    product: {
      buildId,
      product: plan!.product,
      owner: ownerLabel(plan!.owner),
      state: closedAs,
      startedAt: description.startTime.toISOString(),
      endedAt: description.closeTime?.toISOString(),
      variants: summaries,
      warnings: unreadableWarnings,
    },
    variants,
  };
}

/** The build's result; a build that failed as a whole (publishing preflight, cancelled) rejects with its reason. */
export async function buildResult(client: Client, buildId: string): Promise<BuildProductResult> {
  const handle = await existing(client, buildId);
  let value: unknown;
  try {
    value = await handle.result();
  } catch (e) {
    // "Workflow execution failed" says nothing: the reason is the cause's message.
    if (e instanceof WorkflowFailedError && e.cause) throw new Error(e.cause.message, { cause: e });
    throw e;
  }
  return BuildProductResult.parse(value);
}

export type { OperatorAction };
const UPDATES = { retry: retryUpdate, skip: skipUpdate, abort: abortUpdate, approve: approveUpdate } as const;

/**
 * Sends an operator action to the variant that waits. With several waiting variants the
 * caller must name one; the workflow's validator refuses what the step does not allow
 * (approve only a license review; retry/skip only a failed step).
 */
export async function operatorAction(
  client: Client,
  buildId: string,
  action: OperatorAction,
  opts: { variant?: string; step?: string; reason?: string; by?: string },
  /** Runs once the waiting step is known, before the update; what it returns undoes it when the update is refused. */
  before?: (target: { variantId: string; step: string }) => Promise<(() => void) | undefined>,
): Promise<OperatorReply & { variantId: string }> {
  const { variants } = await buildView(client, buildId);
  // approve goes to the variant whose license review waits, even while another one's step failed.
  const fits = (v: VariantStatus) => action !== 'approve' || v.waiting.some((w) => w.actions.includes('approve'));
  const waiting = variants.filter((v) => v.state === 'waiting' && fits(v) && (!opts.variant || v.variantId === opts.variant));
  if (waiting.length === 0) {
    const what = action === 'approve' ? 'waits for a license review to approve' : 'waits for an operator';
    throw new Error(`no variant of build "${buildId}"${opts.variant ? ` named "${opts.variant}"` : ''} ${what}`);
  }
  if (waiting.length > 1) {
    throw new Error(`several variants wait (${waiting.map((v) => v.variantId).join(', ')}): name one with --variant`);
  }
  const variant = waiting[0]!;
  const step = opts.step ?? variant.waiting.find((w) => action !== 'approve' || w.actions.includes('approve'))?.step;
  const undo = before && step !== undefined ? await before({ variantId: variant.variantId, step }) : undefined;
  const handle = client.workflow.getHandle(variantWorkflowId(buildId, variant.variantId));
  try {
    const reply = await handle.executeUpdate(UPDATES[action], { args: [{ step: opts.step, reason: opts.reason, by: opts.by }] });
    return { ...reply, variantId: variant.variantId };
  } catch (e) {
    undo?.();
    throw e;
  }
}

export async function cancelBuild(client: Client, buildId: string): Promise<void> {
  await (await existing(client, buildId)).cancel();
}

/**
 * Starts a build again under the same id: steps whose keys are in the store come back
 * cached at once, so only what failed, changed or never ran is built. A running build is
 * refused; a new plan (the partner's fixed recipe) may replace the old one.
 */
export async function resumeBuild(client: Client, buildId: string, plan?: BuildPlan): Promise<WorkflowHandle> {
  const previous = await existing(client, buildId);
  const { status } = await previous.describe();
  if (status.name === 'RUNNING') {
    throw new Error(`build "${buildId}" is still running: use retry/skip/abort on its waiting step, or cancel it first`);
  }
  const resumedPlan = plan ?? (await planOfBuild(client, buildId));
  try {
    return await startBuild(client, resumedPlan, buildId);
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError) throw new Error(`build "${buildId}" was resumed by someone else just now`);
    throw e;
  }
}

export interface BuildListing {
  buildId: string;
  product: string;
  state: string;
  startTime: Date;
  closeTime?: Date;
}

/** Recent builds, newest first, filtered with a visibility query when given. */
export async function listBuilds(client: Client, query?: string, limit = 20): Promise<BuildListing[]> {
  const filter = [`WorkflowType = '${BUILD_PRODUCT}'`, query].filter(Boolean).join(' AND ');
  const out: BuildListing[] = [];
  for await (const wf of client.workflow.list({ query: filter })) {
    out.push({
      buildId: wf.workflowId,
      product: wf.typedSearchAttributes.get(SA_PRODUCT) ?? '',
      // The workflow's own state (succeeded, failed, waiting) while it runs or when it
      // completed; Temporal's status when it ended otherwise (cancelled, terminated).
      state: ['RUNNING', 'COMPLETED'].includes(wf.status.name)
        ? String(wf.typedSearchAttributes.get(SA_STATE) ?? 'running')
        : wf.status.name.toLowerCase(),
      startTime: wf.startTime,
      closeTime: wf.closeTime,
    });
    if (out.length >= limit) break;
  }
  return out;
}
