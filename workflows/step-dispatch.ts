// How a BuildVariant starts its activities: runStep with the step's own retry policy and
// timeouts, the cache probe, and on which queue (emulation.ts decides when to fall back).
// Workflow code: deterministic; the activities are imported for their types only.
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { BuildPlan, Step } from '../plan/plan';
import type { CacheProbeInput, CacheProbeResult, StepInput, StepResult } from '../plan/step-contract';
import type { SborkaActivities } from '../activities';
import { notStartedInTime, type StepQueue } from './emulation';
import { NON_RETRYABLE } from './step-failure';

/** Where an activity goes, and how long it may wait there for a worker. */
export type Placement = { taskQueue: string; scheduleToStartTimeout?: number };

/**
 * Starts an activity on the queue in use. While a fallback to emulation is still ahead it
 * may wait there only so long; if no native worker takes it, the variant switches to the
 * emulated queue for good (`switched` is told) and the activity starts there at once: no
 * attempt of the step is spent and no operator is asked.
 */
export async function onQueue<T>(queue: StepQueue, what: string, start: (placement: Placement) => Promise<T>, switched: () => void): Promise<T> {
  const within = queue.startWithinMs;
  try {
    return await start({ taskQueue: queue.current, ...(within === undefined ? {} : { scheduleToStartTimeout: within }) });
  } catch (err) {
    if (within === undefined || !notStartedInTime(err)) throw err;
    if (queue.fallBack(what, new Date().toISOString())) switched();
    return start({ taskQueue: queue.current });
  }
}

/**
 * What runStep is sent for a step. A skipped need produced nothing: the step runs as if it
 * did not need it, so the activity sees needs and inputs that agree and the cache key
 * covers what was used.
 */
export function stepInput(
  run: { buildId: string; variantId: string },
  plan: BuildPlan,
  step: Step,
  skipped: (id: string) => boolean,
  keys: ReadonlyMap<string, string>,
): StepInput {
  const needs = step.needs.filter((n) => !skipped(n));
  const inputs: Record<string, string> = {};
  for (const need of needs) {
    const key = keys.get(need);
    if (key !== undefined) inputs[need] = key;
  }
  return {
    buildId: run.buildId,
    variantId: run.variantId,
    toolchain: plan.toolchain,
    step: needs.length === step.needs.length ? step : { ...step, needs },
    inputs,
    owner: plan.owner,
  };
}

/** One attempt series of a step: runStep under the step's retry policy and timeouts. */
export function runStepOn(placement: Placement, activityId: string, input: StepInput): Promise<StepResult> {
  const step: Step = input.step;
  const { runStep } = proxyActivities<SborkaActivities>({
    activityId,
    ...placement,
    startToCloseTimeout: step.timeouts.startToCloseMs,
    heartbeatTimeout: step.timeouts.heartbeatMs,
    retry: {
      maximumAttempts: step.retry.maximumAttempts,
      initialInterval: step.retry.initialIntervalMs,
      backoffCoefficient: step.retry.backoffCoefficient,
      maximumInterval: step.retry.maximumIntervalMs,
      nonRetryableErrorTypes: [...NON_RETRYABLE],
    },
    // Wait for the activity to kill its processes before the step counts as cancelled.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    summary: `${step.kind} ${step.id}`,
  });
  return runStep(input);
}

/** One activity that looks every step of the variant up in the store. */
export function probeCacheOn(placement: Placement, input: CacheProbeInput): Promise<CacheProbeResult> {
  const { probeCache } = proxyActivities<SborkaActivities>({
    activityId: 'cache-probe',
    ...placement,
    startToCloseTimeout: '10m',
    retry: { maximumAttempts: 2, initialInterval: '1s', nonRetryableErrorTypes: [...NON_RETRYABLE] },
    summary: 'cache probe',
  });
  return probeCache(input);
}
