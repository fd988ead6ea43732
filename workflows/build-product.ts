// BuildProduct: one child BuildVariant per variant of the plan, each on its variant's task
// queue; collects every variant's outcome (one failing variant does not stop the others)
// and watches the queues, so a variant whose queue has no worker says so in the status
// instead of looking stuck. A plan that publishes has its targets checked first (publishing
// preflight): a bad target fails the build before any variant starts. While a variant waits
// for an operator the build's SborkaState is 'waiting'. A variant that may fall back to
// emulation runs its BuildVariant here, on the control queue: no native worker may ever
// come to start it, and its steps choose their queue themselves. Patching rules: see the
// header of build-variant.ts.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  ChildWorkflowCancellationType,
  ChildWorkflowFailure,
  condition,
  isCancellation,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Emulation, Variant } from '../plan/plan';
import type { createQueueWatchActivities } from '../activities/queue-watch';
import type { PublishActivities } from '../activities/publish/preflight';
import { productStatusQuery, variantProgressSignal } from './api';
import { BuildVariant } from './build-variant';
import type { BuildProductInput, BuildProductResult, BuildVariantResult, VariantOutcome } from './contract';
import { countByState } from './dag';
import { EMULATION_PATCH } from './emulation';
import { formatDuration } from './format';
import { askNightly, NIGHTLY_GATE_PATCH } from './nightly-gate';
import { identityAttributes, ownerLabel, stateAttribute } from './search-values';
import type { Emulated, ProductState, ProductStatus, VariantState, VariantSummary } from './status';

type QueueWatch = ReturnType<typeof createQueueWatchActivities>;

const { describeQueue } = proxyActivities<QueueWatch>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 3, initialInterval: '1s' },
});

// One attempt: a bad target or credential does not heal by itself, and the build must not wait for it.
const { preflightPublish } = proxyActivities<PublishActivities>({
  startToCloseTimeout: '2m',
  retry: { maximumAttempts: 1 },
});

const FINISHED: readonly VariantState[] = ['succeeded', 'failed', 'cancelled'];

export async function BuildProduct(input: BuildProductInput): Promise<BuildProductResult> {
  const { plan } = input;
  // A Schedule starts runs with an empty build id: the run's own id (`<id>-<time>`) is the
  // build id then. The patch is only reached for such runs, so older histories are unaffected.
  const buildId = input.buildId === '' && patched('product-build-id-from-workflow-id') ? workflowInfo().workflowId : input.buildId;
  const startedAt = new Date().toISOString();
  let endedAt: string | undefined = undefined; // set when the build ends; read by the query
  let state: ProductState = 'running';
  /** SborkaState while running: 'waiting' when any variant waits for an operator. */
  let shownState: 'running' | 'waiting' = 'running';
  let error: string | undefined;
  const summaries = new Map<string, VariantSummary>(
    plan.variants.map((v) => [
      v.id,
      {
        variantId: v.id,
        workflowId: variantWorkflowId(buildId, v.id),
        arch: v.arch,
        flavour: v.flavour,
        taskQueue: v.taskQueue,
        state: 'pending',
        steps: { pending: v.steps.length },
        warnings: [],
      },
    ]),
  );
  /** The queue watcher's warning per task queue, shown on every unfinished variant of it. */
  const queueWarnings = new Map<string, string>();
  const variantOf = (id: string): Variant | undefined => plan.variants.find((v) => v.id === id);
  /** patched() only for variants that may fall back to emulation: nothing changes for the others. */
  const mayFallBack = (v: Variant): v is Variant & { emulation: Emulation } => v.emulation !== undefined && patched(EMULATION_PATCH);
  const summary = (id: string): VariantSummary => {
    const s = summaries.get(id);
    if (!s) throw new Error(`unknown variant ${id}`);
    return s;
  };

  const productStatus = (): ProductStatus => {
    const variants = [...summaries.values()].map((s) => {
      const queueWarning = FINISHED.includes(s.state) ? undefined : queueWarnings.get(s.taskQueue);
      return { ...s, warnings: queueWarning === undefined ? s.warnings : [queueWarning, ...s.warnings] };
    });
    return {
      buildId,
      product: plan.product,
      owner: ownerLabel(plan.owner),
      state,
      startedAt,
      endedAt,
      variants,
      ...(error === undefined ? {} : { error }),
      warnings: variants.flatMap((v) => v.warnings.map((w) => `${v.variantId}: ${w}`)),
    };
  };
  setHandler(productStatusQuery, productStatus);
  setHandler(variantProgressSignal, (p) => {
    const s = summaries.get(p.variantId);
    // A result that already arrived is final; a late signal must not undo it.
    if (!s || FINISHED.includes(s.state)) return;
    Object.assign(s, { state: p.state, steps: p.steps, warnings: p.warnings, error: p.error, ...fallenBack(p) });
    // The variant ran on its queue, so that has a worker: drop the warning now rather than at
    // the next poll. (A variant that may fall back runs here: its news says nothing of its queue.)
    if (!variantOf(p.variantId)?.emulation) queueWarnings.delete(s.taskQueue);
    showWaiting();
  });

  /** Lets `status --state waiting` and the API's ?state=waiting find a build that needs an operator. */
  const showWaiting = (): void => {
    if (state !== 'running') return;
    const wanted = [...summaries.values()].some((s) => s.state === 'waiting') ? 'waiting' : 'running';
    // patched() only on a change: runs from before this never upserted here.
    if (wanted === shownState || !patched('product-waiting-state')) return;
    shownState = wanted;
    upsertSearchAttributes([stateAttribute(wanted)]);
  };

  /**
   * Rejects once the build is cancelled. A child whose start was still in flight when the
   * cancellation came never settles its start or result (seen with large recipe plans: the
   * SDK's TRY_CANCEL request goes out, the child closes as cancelled, the parent's promise
   * stays open), so every wait on a child races this instead.
   */
  const cancelled = new Promise<never>((_, reject) => {
    CancellationScope.current().cancelRequested.catch(reject);
  });
  cancelled.catch(() => undefined); // observed by the races; nobody may be racing when it fires

  // A scheduled run asks first whether its night is its to build (nightly-gate.ts); it stays
  // 'pending' (as the schedule started it) until then.
  if (input.buildId === '' && patched(NIGHTLY_GATE_PATCH)) {
    const { skip, mirror } = await askNightly(plan);
    if (skip !== undefined && mirror !== undefined) {
      // A catch-up of a night that was built, under the same id: the id keeps showing that build.
      const built = mirror as BuildProductResult;
      upsertSearchAttributes([...identityAttributes(plan, plan.variants), stateAttribute(built.state)]);
      return { ...built, ...(built.status ? { status: { ...built.status, warnings: [...built.status.warnings, `a catch-up of this night built nothing: ${skip}`] } } : {}) };
    }
    if (skip !== undefined) {
      endedAt = new Date().toISOString();
      error = `skipped: ${skip}`;
      for (const s of summaries.values()) Object.assign(s, { state: 'cancelled', error: 'not started: the night was skipped' });
      state = 'skipped';
      upsertSearchAttributes([...identityAttributes(plan, plan.variants), stateAttribute(state)]);
      const status = productStatus();
      const variants = status.variants.map((v) => ({ variantId: v.variantId, workflowId: v.workflowId, state: 'cancelled' as const, error: v.error }));
      return { buildId, product: plan.product, state, variants, status };
    }
  }

  upsertSearchAttributes([...identityAttributes(plan, plan.variants), stateAttribute('running')]);

  if (plan.variants.some((v) => v.steps.some((st) => st.kind === 'publish')) && patched('product-publish-preflight')) {
    try {
      await preflightPublish(plan);
    } catch (err) {
      endedAt = new Date().toISOString();
      if (isCancellation(err)) {
        for (const s of summaries.values()) s.state = 'cancelled';
        state = 'cancelled';
        upsertSearchAttributes([stateAttribute(state)]);
        throw err;
      }
      error = activityMessage(err);
      for (const s of summaries.values()) Object.assign(s, { state: 'failed', error: 'not started: the publishing preflight failed' });
      state = 'failed';
      upsertSearchAttributes([stateAttribute(state)]);
      const status = productStatus();
      const result: BuildProductResult = {
        buildId,
        product: plan.product,
        state,
        variants: status.variants.map((v) => ({ variantId: v.variantId, workflowId: v.workflowId, state: 'failed', error: v.error })),
        status,
      };
      throw ApplicationFailure.create({ type: 'PublishPreflightFailed', message: error, nonRetryable: true, details: [result] });
    }
  }

  const runVariant = async (variant: Variant): Promise<VariantOutcome> => {
    const s = summary(variant.id);
    const workflowId = s.workflowId;
    try {
      const child = await race(startChild(BuildVariant, {
        workflowId,
        taskQueue: mayFallBack(variant) ? workflowInfo().taskQueue : variant.taskQueue,
        args: [{ buildId, plan, variantId: variant.id }],
        typedSearchAttributes: [...identityAttributes(plan, [variant]), stateAttribute('pending')],
        // A child on a queue without workers can never confirm its cancellation, so the
        // build does not wait for it: the request goes out, and closing the parent asks
        // the children to cancel as well.
        cancellationType: ChildWorkflowCancellationType.TRY_CANCEL,
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      }));
      const result = await race(child.result());
      Object.assign(s, { state: 'succeeded', steps: stepCounts(result), error: undefined, warnings: [], ...fallenBack(result.status) });
      return { variantId: variant.id, workflowId, state: 'succeeded', result };
    } catch (err) {
      if (isCancellation(err)) {
        Object.assign(s, { state: 'cancelled', warnings: [] });
        return { variantId: variant.id, workflowId, state: 'cancelled', error: 'cancelled' };
      }
      const { message, result } = variantFailure(err);
      Object.assign(s, { state: 'failed', steps: result ? stepCounts(result) : s.steps, error: message, warnings: [], ...fallenBack(result?.status) });
      return { variantId: variant.id, workflowId, state: 'failed', error: message, result };
    } finally {
      showWaiting();
    }
  };
  const race = <T>(p: Promise<T>): Promise<T> => Promise.race([p, cancelled]);

  // Each queue a variant's steps may go to, with the variants that may use it.
  const watched = new Map<string, VariantSummary[]>();
  for (const v of plan.variants) {
    for (const queue of mayFallBack(v) ? [v.taskQueue, v.emulation.taskQueue] : [v.taskQueue]) watched.set(queue, [...(watched.get(queue) ?? []), summary(v.id)]);
  }
  const watchers = [...watched].map(([queue, variants]) => watchQueue(queue, plan.policy.noWorkerWarningMs, variants, queueWarnings));
  const outcomes = await Promise.all(plan.variants.map(runVariant));
  await Promise.all(watchers);

  endedAt = new Date().toISOString();
  if (CancellationScope.current().consideredCancelled) {
    state = 'cancelled';
    upsertSearchAttributes([stateAttribute(state)]);
    throw new CancelledFailure(`build ${buildId} was cancelled`);
  }
  state = outcomes.every((o) => o.state === 'succeeded') ? 'succeeded' : 'failed';
  upsertSearchAttributes([stateAttribute(state)]);
  return { buildId, product: plan.product, state, variants: outcomes, status: productStatus() };
}

export function variantWorkflowId(buildId: string, variantId: string): string {
  return `${buildId}.${variantId}`;
}

/**
 * Polls the queue's last poller access while any of its variants is unfinished: often while
 * one has not started, rarely afterwards (a worker may still go away). Ends with them.
 */
async function watchQueue(
  queue: string,
  thresholdMs: number,
  variants: readonly VariantSummary[],
  warnings: Map<string, string>,
): Promise<void> {
  const since = Date.now();
  const allFinished = () => variants.every((v) => FINISHED.includes(v.state));
  const fastMs = Math.min(Math.max(thresholdMs / 2, 1_000), 60_000);
  const slowMs = Math.max(fastMs, 300_000);
  try {
    while (!allFinished()) {
      const seen = await describeQueue(queue);
      const lastSeen = seen.lastAccessMs ?? since;
      const idleMs = Date.now() - lastSeen;
      if (idleMs >= thresholdMs && !allFinished()) {
        warnings.set(queue, `no worker has polled ${queue} for ${formatDuration(idleMs)}`);
      } else {
        warnings.delete(queue);
      }
      const waitMs = variants.some((v) => v.state === 'pending') ? fastMs : slowMs;
      await condition(allFinished, waitMs);
    }
  } catch (err) {
    // The watch only feeds the status: cancellation ends it, other errors must not fail the build.
    if (!isCancellation(err)) warnings.set(queue, `cannot watch ${queue}: ${err instanceof Error ? err.message : String(err)}`);
    await CancellationScope.nonCancellable(() => condition(allFinished)).catch(() => undefined);
  }
  warnings.delete(queue);
}

/** The queue and the fallback of a variant that has fallen back to emulation (from its progress or final status); nothing otherwise. */
function fallenBack(news: { taskQueue?: string; emulated?: Emulated } | undefined): Partial<Pick<VariantSummary, 'taskQueue' | 'emulated'>> {
  return news?.emulated && news.taskQueue !== undefined ? { taskQueue: news.taskQueue, emulated: news.emulated } : {};
}

/** The final step counts: the last progress signal may predate the last steps' ends. */
function stepCounts(result: BuildVariantResult): VariantSummary['steps'] {
  return countByState(result.steps.map((st) => ({ id: st.id, needs: [] })), new Map(result.steps.map((st) => [st.id, st.state])));
}

/** The activity's own message (its ApplicationFailure), not the wrapper's "Activity task failed". */
function activityMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}

function variantFailure(err: unknown): { message: string; result?: BuildVariantResult } {
  const cause = err instanceof ChildWorkflowFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    const detail = cause.details?.[0] as BuildVariantResult | undefined;
    return { message: cause.message, result: typeof detail === 'object' && detail !== null ? detail : undefined };
  }
  if (cause instanceof Error) return { message: cause.message };
  return { message: String(cause) };
}
