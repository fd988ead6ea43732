// The check a scheduled run makes before it builds (activities/nightly.ts): the schedule
// allows overlaps, so a nightly waiting for a person never holds back the next night, and
// this check keeps one build per night and one really running nightly per product.
// Workflow code: deterministic (the check is an activity).
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { NightlyActivities, NightlyVerdict } from '../activities/nightly';
import type { BuildPlan } from '../plan/plan';

const { nightlyCheck } = proxyActivities<NightlyActivities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 5, initialInterval: '2s' },
});

/** Marks runs that ask before building; scheduled runs from before it just built. */
export const NIGHTLY_GATE_PATCH = 'product-nightly-gate';

export function askNightly(plan: BuildPlan): Promise<NightlyVerdict> {
  const info = workflowInfo();
  return nightlyCheck({
    product: plan.product,
    workflowId: info.workflowId,
    runId: info.runId,
    startedAt: info.startTime.toISOString(),
    timezone: plan.schedule?.timezone ?? 'UTC',
  });
}
