// Client-side operations on builds: start, look at, steer and resume them. Build state
// lives in Temporal only; these functions read it through queries and histories.
import { randomBytes } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { BuildPlan, parsePlan } from '../dsl/plan';
import { abortUpdate, productStatusQuery, retryUpdate, skipUpdate, variantStatusQuery } from '../workflows/api';
import { BuildProductInput, BuildProductResult, type OperatorReply } from '../workflows/contract';
import { SA_PRODUCT, SA_STATE } from '../workflows/search-attributes';
import { identityAttributes, stateAttribute } from '../workflows/search-values';
import { ProductStatus, VariantStatus } from '../workflows/status';
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
  const handle = client.workflow.getHandle(buildId);
  try {
    await handle.describe();
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) throw new BuildNotFound(buildId);
    throw e;
  }
  return handle;
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

/** The product's status and every started variant's full status. */
export async function buildView(client: Client, buildId: string): Promise<BuildView> {
  const handle = await existing(client, buildId);
  const product = ProductStatus.parse(await handle.query(productStatusQuery));
  const variants: VariantStatus[] = [];
  for (const v of product.variants) {
    try {
      variants.push(VariantStatus.parse(await client.workflow.getHandle(v.workflowId).query(variantStatusQuery)));
    } catch (e) {
      // A variant whose queue has no worker has not started yet: the summary says why.
      if (!(e instanceof WorkflowNotFoundError)) throw e;
    }
  }
  return { product, variants };
}

export async function buildResult(client: Client, buildId: string): Promise<BuildProductResult> {
  return BuildProductResult.parse(await (await existing(client, buildId)).result());
}

export type OperatorAction = 'retry' | 'skip' | 'abort';
const UPDATES = { retry: retryUpdate, skip: skipUpdate, abort: abortUpdate } as const;

/**
 * Sends an operator action to the variant that waits. With several waiting variants the
 * caller must name one; the workflow's validator refuses what the step does not allow.
 */
export async function operatorAction(
  client: Client,
  buildId: string,
  action: OperatorAction,
  opts: { variant?: string; step?: string; reason?: string },
): Promise<OperatorReply & { variantId: string }> {
  const { variants } = await buildView(client, buildId);
  const waiting = variants.filter((v) => v.state === 'waiting' && (!opts.variant || v.variantId === opts.variant));
  if (waiting.length === 0) {
    throw new Error(`no variant of build "${buildId}"${opts.variant ? ` named "${opts.variant}"` : ''} waits for an operator`);
  }
  if (waiting.length > 1) {
    throw new Error(`several variants wait (${waiting.map((v) => v.variantId).join(', ')}): name one with --variant`);
  }
  const variant = waiting[0]!;
  const handle = client.workflow.getHandle(variantWorkflowId(buildId, variant.variantId));
  const reply = await handle.executeUpdate(UPDATES[action], { args: [{ step: opts.step, reason: opts.reason }] });
  return { ...reply, variantId: variant.variantId };
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
