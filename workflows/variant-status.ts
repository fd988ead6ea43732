// What a BuildVariant shows: the `status` query's answer, its result, the progress it
// signals to its parent BuildProduct and the warnings in all three, each made from the
// run's state here alone. Workflow code: deterministic.
import { CancellationScope, getExternalWorkflowHandle, workflowInfo } from '@temporalio/workflow';
import type { BuildPlan, Variant } from '../plan/plan';
import { variantProgressSignal } from './api';
import type { BuildVariantResult, VariantProgress } from './contract';
import { countByState } from './dag';
import type { StepQueue } from './emulation';
import type { OperatorWait, StepState, StepStatus, VariantState, VariantStatus } from './status';

/** The run's state as the status functions read it. */
export interface VariantView {
  buildId: string;
  plan: BuildPlan;
  variant: Variant;
  steps: ReadonlyMap<string, StepStatus>;
  waits: ReadonlyMap<string, OperatorWait>;
  queue: StepQueue;
  state: VariantState;
  startedAt: string;
  endedAt: string | undefined;
  fatal: string | undefined;
}

export function stateMap(steps: ReadonlyMap<string, StepStatus>): Map<string, StepState> {
  return new Map([...steps].map(([id, s]) => [id, s.state]));
}

export function variantWarnings(v: VariantView): string[] {
  const emulated = v.queue.warning();
  const waits = [...v.waits.values()].map((w) =>
    w.actions.includes('approve')
      ? `step ${w.step} waits for an operator's license review (${w.actions.join('/')}) until ${w.deadline}${w.report ? `: ${w.report}` : ''}`
      : `step ${w.step} failed and waits for an operator (${w.actions.join('/')}) until ${w.deadline}`,
  );
  return emulated === undefined ? waits : [emulated, ...waits];
}

/** The `status` query's answer. */
export function variantStatus(v: VariantView): VariantStatus {
  return {
    buildId: v.buildId,
    variantId: v.variant.id,
    product: v.plan.product,
    arch: v.variant.arch,
    taskQueue: v.queue.current,
    ...(v.queue.emulated ? { emulated: v.queue.emulated } : {}),
    state: v.state,
    startedAt: v.startedAt,
    endedAt: v.endedAt,
    steps: [...v.steps.values()].map((s) => ({ ...s })),
    waiting: [...v.waits.values()],
    warnings: variantWarnings(v),
    error: v.fatal,
  };
}

export function variantResult(v: VariantView): BuildVariantResult {
  return {
    buildId: v.buildId,
    variantId: v.variant.id,
    state: v.state,
    steps: [...v.steps.values()].map((s) => ({
      id: s.id,
      state: s.state,
      key: s.key,
      outputDir: s.outputDir,
      cached: s.state === 'cached',
    })),
    artifacts: v.variant.artifacts.map((a) => {
      const dir = v.steps.get(a.step)?.outputDir;
      return { ...a, file: dir === undefined ? undefined : `${dir.replace(/\/+$/, '')}/${a.path}` };
    }),
    error: v.fatal,
    status: variantStatus(v),
  };
}

/** What the parent BuildProduct is signalled on every change. */
export function variantProgress(v: VariantView): VariantProgress {
  return {
    variantId: v.variant.id,
    state: v.state,
    steps: countByState(v.variant.steps, stateMap(v.steps)),
    warnings: variantWarnings(v),
    error: v.fatal,
    // Only once switched: progress of other runs stays as it was.
    ...(v.queue.emulated ? { taskQueue: v.queue.current, emulated: v.queue.emulated } : {}),
  };
}

/** Lets a parent BuildProduct show this variant's state without polling it. */
export function signalParent(v: VariantView): void {
  const parent = workflowInfo().parent;
  if (!parent) return;
  const progress = variantProgress(v);
  // Best effort: a parent that has already closed needs no news. Not cancellable, so a
  // cancelled variant still reports its end.
  void CancellationScope.nonCancellable(() =>
    getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(variantProgressSignal, progress),
  ).catch(() => undefined);
}
