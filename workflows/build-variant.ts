// BuildVariant: interprets one variant's step DAG. Ready steps run concurrently (bounded by
// the plan), each as one `runStep` activity with the step's retry policy and timeouts. A
// step that still fails after its retries waits for an operator (updates retry/skip/abort);
// a non-retryable failure fails the variant at once. A step whose result carries the
// license verdict 'review' waits for an operator too (approve/abort): the verdict is cached
// with the step, the approval lives only in this run. A variant that may fall back to
// emulation moves its activities to the emulated queue once no native worker took one in
// time (emulation.ts). The `status` query shows it all. This file is the DAG driver; the
// operator waits are in variant-operator.ts, what the variant shows in variant-status.ts.
//
// Changing this workflow: running builds replay their history against new code, so any
// change in the commands it issues (another activity, different options, a new timer)
// goes behind a patch:
//   if (patched('variant-<what-changed>')) { new behaviour } else { old behaviour }
// and, once no run that started before the change can still be open,
// deprecatePatch('variant-<what-changed>') and drop the old branch. The saved histories
// in test/workflows/histories/ are replayed against this file by the test suite, which
// catches a change made without a patch.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { BuildPlan, Step, Variant } from '../plan/plan';
import type { CacheProbeHit, StepResult } from '../plan/step-contract';
import { variantStatusQuery } from './api';
import type { BuildVariantInput, BuildVariantResult } from './contract';
import { readySteps, variantOutcome } from './dag';
import { EMULATION_PATCH, StepQueue } from './emulation';
import { identityAttributes, stateAttribute } from './search-values';
import type { StepState, StepStatus, VariantState } from './status';
import { onQueue, probeCacheOn, runStepOn, stepInput, type Placement } from './step-dispatch';
import { describeFailure } from './step-failure';
import { OperatorWaits } from './variant-operator';
import { signalParent, stateMap, variantResult, variantStatus, type VariantView } from './variant-status';

/** Marks runs that turn a 'review' verdict into an operator wait; runs before it just went on. */
const REVIEW_PATCH = 'variant-license-review';

export async function BuildVariant(input: BuildVariantInput): Promise<BuildVariantResult> {
  const variant = input.plan.variants.find((v) => v.id === input.variantId);
  if (!variant) {
    throw ApplicationFailure.nonRetryable(`the plan has no variant "${input.variantId}"`, 'BadInput');
  }
  return new VariantRun(input.buildId, input.plan, variant).execute();
}

const now = (): string => new Date().toISOString();

class VariantRun {
  private readonly steps = new Map<string, StepStatus>();
  /** Store keys of the steps that produced outputs (ran or cached): their dependents' inputs. */
  private readonly keys = new Map<string, string>();
  private readonly drivers: Promise<void>[] = [];
  /** Every running activity lives in this scope, so a fatal failure can cancel the rest. */
  private readonly activities = new CancellationScope();
  private readonly startedAt = now();
  private endedAt: string | undefined;
  private state: VariantState = 'pending';
  private fatal: string | undefined;
  /** Set once the workflow is cancelled: steps settle as cancelled, the state stays put. */
  private cancelling = false;
  /** Bumped on every change; the main loop wakes on it. */
  private version = 0;
  /** Where activities go: the variant's queue, or its emulated one after a fallback. */
  private readonly queue: StepQueue;
  private readonly operator: OperatorWaits;

  constructor(
    private readonly buildId: string,
    private readonly plan: BuildPlan,
    private readonly variant: Variant,
  ) {
    // patched() only for variants that may fall back: nothing changes for the others.
    this.queue = new StepQueue(variant.taskQueue, variant.emulation && patched(EMULATION_PATCH) ? variant.emulation : undefined);
    for (const s of variant.steps) {
      this.steps.set(s.id, { id: s.id, kind: s.kind, title: s.title, state: 'pending', attempt: 0, skippable: s.skippable });
    }
    this.operator = new OperatorWaits({
      variantId: variant.id,
      operatorWaitMs: plan.policy.operatorWaitMs,
      steps: this.steps,
      fatal: () => this.fatal,
      fail: (message) => this.fail(message),
      settle: (st, state) => this.settle(st, state),
      touch: () => this.touch(),
    }, now);
  }

  async execute(): Promise<BuildVariantResult> {
    setHandler(variantStatusQuery, () => variantStatus(this.view()));
    this.operator.install();
    upsertSearchAttributes(identityAttributes(this.plan, [this.variant]));
    this.setState('running');

    try {
      // Only plans with a cacheable step can hit; older histories have no marker and skip it.
      if (this.variant.steps.some((s) => s.cacheable) && patched('variant-cache-probe')) await this.probeCache();
      await this.schedule();
      // Drivers finish on their own once the loop stops: activities were cancelled, waits released.
      await Promise.all(this.drivers);
    } catch (err) {
      if (!isCancellation(err)) throw err;
      this.cancelling = true;
      await Promise.allSettled(this.drivers);
      for (const st of this.steps.values()) {
        if (st.state === 'pending' || st.state === 'running' || st.state === 'waiting') st.state = 'cancelled';
      }
      this.finish('cancelled');
      throw err;
    }

    const outcome = this.fatal === undefined ? variantOutcome(this.variant.steps, stateMap(this.steps)) : 'failed';
    if (outcome === 'succeeded') {
      this.finish('succeeded');
      return variantResult(this.view());
    }
    this.fatal ??= 'some steps could not run';
    this.finish('failed');
    throw ApplicationFailure.create({
      message: `variant ${this.variant.id}: ${this.fatal}`,
      type: 'VariantFailed',
      nonRetryable: true,
      details: [variantResult(this.view())],
    });
  }

  /** Starts ready steps as slots free up until the variant is finished or failed. */
  private async schedule(): Promise<void> {
    const max = this.plan.policy.maxParallelSteps;
    for (;;) {
      if (this.fatal !== undefined) return;
      let running = [...this.steps.values()].filter((s) => s.state === 'running').length;
      for (const step of readySteps(this.variant.steps, stateMap(this.steps))) {
        if (running >= max) break;
        running += 1;
        this.drivers.push(this.drive(step));
      }
      if (variantOutcome(this.variant.steps, stateMap(this.steps)) !== undefined) return;
      const seen = this.version;
      await condition(() => this.version !== seen);
    }
  }

  /**
   * Runs one step once (with Temporal's retries) and settles it: done, failed, skipped,
   * cancelled, or back to pending after an operator's `retry`, so the scheduler starts it
   * again when a slot is free.
   */
  private async drive(step: Step): Promise<void> {
    const st = this.stepStatus(step.id);
    st.attempt += 1;
    st.activityId = `${step.id}#${st.attempt}`;
    st.state = 'running';
    st.startedAt = now();
    st.endedAt = undefined;
    st.error = undefined;
    this.touch();
    let reviewed: { done: StepState; values: Record<string, unknown> } | undefined;
    try {
      const result = await this.activities.run(() => this.runActivity(step, st.activityId ?? step.id));
      this.keys.set(step.id, result.key);
      Object.assign(st, {
        endedAt: now(),
        key: result.key,
        outputDir: result.outputDir,
        logPath: result.logPath,
        durationMs: result.durationMs,
      } satisfies Partial<StepStatus>);
      const done: StepState = result.cached ? 'cached' : 'succeeded';
      // patched() only where a review verdict arrives: older runs took it as a success.
      if (result.outputs.values.verdict !== 'review' || !patched(REVIEW_PATCH)) return this.settle(st, done);
      // The rerun of an approved review: what its decisions did not clear stays approved.
      if (st.approval !== undefined) return this.settle(st, done);
      reviewed = { done, values: result.outputs.values };
    } catch (err) {
      st.endedAt = now();
      if (isCancellation(err)) return this.settle(st, 'cancelled');
      const failure = describeFailure(err);
      st.error = failure.error;
      st.logPath = failure.logPath ?? st.logPath;
      st.heartbeat = failure.heartbeat ?? st.heartbeat;
      if (failure.error.nonRetryable) {
        this.fail(`step ${step.id} failed: ${failure.error.message}`);
        return this.settle(st, 'failed');
      }
      if (this.fatal !== undefined) return this.settle(st, 'failed');
    }
    // Outside the try: the review's own outcome is not an activity failure.
    if (reviewed) return this.operator.review(step, st, reviewed.done, reviewed.values);
    return this.operator.afterFailure(step, st);
  }

  private runActivity(step: Step, activityId: string): Promise<StepResult> {
    const skipped = (id: string) => this.steps.get(id)?.state === 'skipped';
    const input = stepInput({ buildId: this.buildId, variantId: this.variant.id }, this.plan, step, skipped, this.keys);
    return onQueue(this.queue, `step ${step.id}`, (placement) => runStepOn(placement, activityId, input), () => this.switchedQueue());
  }

  /** The variant fell back to emulation. */
  private switchedQueue(): void {
    this.touch();
    // The state stays 'running', so tell the parent here.
    signalParent(this.view());
  }

  /**
   * Asks one activity for every step already in the store, so a warm rerun does not
   * schedule them one by one. The hits settle as cached, exactly as runStep's hits would;
   * should the probe fail, each step looks itself up as before.
   */
  private async probeCache(): Promise<void> {
    const input = { buildId: this.buildId, variantId: this.variant.id, toolchain: this.plan.toolchain, steps: this.variant.steps, owner: this.plan.owner };
    const probe = (placement: Placement) => probeCacheOn(placement, input);
    let hits: CacheProbeHit[];
    try {
      ({ hits } = await this.activities.run(() => onQueue(this.queue, 'the cache probe', probe, () => this.switchedQueue())));
    } catch (err) {
      if (isCancellation(err)) throw err;
      return;
    }
    const at = now();
    for (const hit of hits) {
      const st = this.steps.get(hit.stepId);
      if (!st || st.state !== 'pending') continue;
      Object.assign(st, {
        state: 'cached',
        attempt: 1,
        startedAt: at,
        endedAt: at,
        key: hit.key,
        outputDir: hit.outputDir,
        logPath: hit.logPath,
        durationMs: hit.durationMs,
      } satisfies Partial<StepStatus>);
      this.keys.set(hit.stepId, hit.key);
    }
    this.touch();
  }

  private settle(st: StepStatus, state: StepState): void {
    st.state = state;
    this.touch();
  }

  /** First failure wins; the other running steps are cancelled. */
  private fail(message: string): void {
    if (this.fatal !== undefined) return;
    this.fatal = message;
    this.activities.cancel();
  }

  private touch(): void {
    this.version += 1;
    if (this.endedAt !== undefined || this.fatal !== undefined || this.cancelling) return;
    this.setState(this.operator.waits.size > 0 ? 'waiting' : 'running');
  }

  private finish(state: VariantState): void {
    this.endedAt = now();
    this.setState(state);
  }

  private setState(state: VariantState): void {
    if (state === this.state) return;
    this.state = state;
    upsertSearchAttributes([stateAttribute(state)]);
    signalParent(this.view());
  }

  private stepStatus(id: string): StepStatus {
    const st = this.steps.get(id);
    if (!st) throw new Error(`unknown step ${id}`);
    return st;
  }

  private view(): VariantView {
    return {
      buildId: this.buildId, plan: this.plan, variant: this.variant, steps: this.steps, waits: this.operator.waits,
      queue: this.queue, state: this.state, startedAt: this.startedAt, endedAt: this.endedAt, fatal: this.fatal,
    };
  }
}
