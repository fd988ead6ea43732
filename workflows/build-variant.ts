// BuildVariant: interprets one variant's step DAG. Ready steps run concurrently (bounded by
// the plan), each as one `runStep` activity with the step's retry policy and timeouts. A
// step that still fails after its retries waits for an operator (updates retry/skip/abort);
// a non-retryable failure fails the variant at once. A step whose result carries the
// license verdict 'review' waits for an operator too (approve/abort): the verdict is cached
// with the step, the approval lives only in this run. A variant that may fall back to
// emulation moves its activities to the emulated queue once no native worker took one in
// time (emulation.ts). The `status` query shows it all.
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
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { BuildPlan, Step, Variant } from '../plan/plan';
import type { CacheProbeHit, NON_RETRYABLE_ERRORS, StepProgress, StepResult } from '../plan/step-contract';
import type { SborkaActivities } from '../activities';
import { abortUpdate, approveUpdate, retryUpdate, skipUpdate, variantProgressSignal, variantStatusQuery } from './api';
import type {
  BuildVariantInput,
  BuildVariantResult,
  OperatorReply,
  OperatorRequest,
  VariantProgress,
} from './contract';
import { countByState, readySteps, variantOutcome } from './dag';
import { EMULATION_PATCH, notStartedInTime, StepQueue } from './emulation';
import { formatDuration } from './format';
import { identityAttributes, stateAttribute } from './search-values';
import type { OperatorWait, StepError, StepState, StepStatus, VariantState, VariantStatus } from './status';

type StepActivities = SborkaActivities;
type Decision = OperatorReply['action'];
type Approval = NonNullable<StepStatus['approval']>;
/** What an operator wait asks: the actions it allows and, for a review, why and where to read. */
type WaitAsk = Pick<OperatorWait, 'actions' | 'reason' | 'report'>;
/** Where an activity goes, and how long it may wait there for a worker. */
type Placement = { taskQueue: string; scheduleToStartTimeout?: number };

/** Marks runs that turn a 'review' verdict into an operator wait; runs before it just went on. */
const REVIEW_PATCH = 'variant-license-review';

// The contract's list, repeated because workflow code may import activities' types only;
// the annotation makes tsc fail if the two ever differ.
const NON_RETRYABLE: typeof NON_RETRYABLE_ERRORS = ['BadInput', 'PolicyViolation', 'UnsupportedStep'];

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
  private readonly waits = new Map<string, OperatorWait>();
  private readonly decisions = new Map<string, Decision>();
  /** Who approved which step's review, recorded by the update until the step settles. */
  private readonly approvals = new Map<string, Approval>();
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
  }

  async execute(): Promise<BuildVariantResult> {
    setHandler(variantStatusQuery, () => this.status());
    for (const [update, action] of [[retryUpdate, 'retry'], [skipUpdate, 'skip'], [abortUpdate, 'abort'], [approveUpdate, 'approve']] as const) {
      setHandler(update, (req) => this.decide(action, req), { validator: (req) => void this.target(action, req) });
    }
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

    const outcome = this.fatal === undefined ? variantOutcome(this.variant.steps, this.stateMap()) : 'failed';
    if (outcome === 'succeeded') {
      this.finish('succeeded');
      return this.result();
    }
    this.fatal ??= 'some steps could not run';
    this.finish('failed');
    throw ApplicationFailure.create({
      message: `variant ${this.variant.id}: ${this.fatal}`,
      type: 'VariantFailed',
      nonRetryable: true,
      details: [this.result()],
    });
  }

  /** Starts ready steps as slots free up until the variant is finished or failed. */
  private async schedule(): Promise<void> {
    const max = this.plan.policy.maxParallelSteps;
    for (;;) {
      if (this.fatal !== undefined) return;
      let running = [...this.steps.values()].filter((s) => s.state === 'running').length;
      for (const step of readySteps(this.variant.steps, this.stateMap())) {
        if (running >= max) break;
        running += 1;
        this.drivers.push(this.drive(step));
      }
      if (variantOutcome(this.variant.steps, this.stateMap()) !== undefined) return;
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
    if (reviewed) return this.review(step, st, reviewed.done, reviewed.values);

    let decision: Decision | 'timeout' | 'stopped';
    try {
      decision = await this.awaitOperator(st, { actions: st.skippable ? ['retry', 'skip', 'abort'] : ['retry', 'abort'] });
    } catch (err) {
      if (isCancellation(err)) return this.settle(st, 'cancelled');
      throw err;
    }
    const message = st.error?.message ?? 'failed';
    switch (decision) {
      case 'retry':
        return this.settle(st, 'pending');
      case 'skip':
        return this.settle(st, 'skipped');
      case 'abort':
        this.fail(`step ${step.id} aborted by the operator after: ${message}`);
        return this.settle(st, 'failed');
      case 'timeout':
        this.fail(`step ${step.id}: no operator decision within ${formatDuration(this.plan.policy.operatorWaitMs)} after: ${message}`);
        return this.settle(st, 'failed');
      case 'stopped':
      case 'approve': // the validator allows approve only on a review wait
        return this.settle(st, 'failed');
    }
  }

  /**
   * The step succeeded with the verdict 'review': it waits until an operator approves (it
   * then counts as done, the approval in its status) or aborts (the variant fails).
   * Dependents stay pending meanwhile, as for any unfinished step.
   */
  private async review(step: Step, st: StepStatus, done: StepState, values: Record<string, unknown>): Promise<void> {
    const names = Array.isArray(values.review) ? values.review.map(String) : [];
    const count = typeof values.reviewCount === 'number' ? values.reviewCount : names.length;
    const listed = names.slice(0, 10).join(', ') + (count > 10 ? ', …' : '');
    const reason = `license review${typeof values.policy === 'string' ? ` under policy ${values.policy}` : ''}: ${count} package(s) need review${listed ? ` (${listed})` : ''}`;
    const report = typeof values.report === 'string' && st.outputDir !== undefined ? `${st.outputDir.replace(/\/+$/, '')}/${values.report}` : undefined;
    let decision: Decision | 'timeout' | 'stopped';
    try {
      decision = await this.awaitOperator(st, { actions: ['approve', 'abort'], reason, ...(report === undefined ? {} : { report }) });
    } catch (err) {
      if (isCancellation(err)) return this.settle(st, 'cancelled');
      throw err;
    }
    switch (decision) {
      case 'approve':
        st.approval = this.approvals.get(st.id);
        this.approvals.delete(st.id);
        return this.settle(st, done);
      case 'abort':
        this.fail(`step ${step.id}: ${reason}; aborted by the operator`);
        return this.settle(st, 'failed');
      case 'timeout':
        this.fail(`step ${step.id}: no operator decision within ${formatDuration(this.plan.policy.operatorWaitMs)} on the ${reason}`);
        return this.settle(st, 'failed');
      case 'stopped':
      case 'retry': // refused by the validator on a review wait
      case 'skip':
        return this.settle(st, 'cancelled');
    }
  }

  /**
   * Starts an activity on the queue in use. While a fallback to emulation is still ahead it
   * may wait there only so long; if no native worker takes it, the variant switches to the
   * emulated queue for good and the activity starts there at once: no attempt of the step
   * is spent and no operator is asked.
   */
  private async onQueue<T>(what: string, start: (placement: Placement) => Promise<T>): Promise<T> {
    const within = this.queue.startWithinMs;
    try {
      return await start({ taskQueue: this.queue.current, ...(within === undefined ? {} : { scheduleToStartTimeout: within }) });
    } catch (err) {
      if (within === undefined || !notStartedInTime(err)) throw err;
      if (this.queue.fallBack(what, now())) {
        this.touch();
        // The state stays 'running', so tell the parent here.
        this.notifyParent();
      }
      return start({ taskQueue: this.queue.current });
    }
  }

  private runActivity(step: Step, activityId: string): Promise<StepResult> {
    // A skipped need produced nothing: the step runs as if it did not need it, so the
    // activity sees needs and inputs that agree and the cache key covers what was used.
    const needs = step.needs.filter((n) => this.steps.get(n)?.state !== 'skipped');
    const inputs: Record<string, string> = {};
    for (const need of needs) {
      const key = this.keys.get(need);
      if (key !== undefined) inputs[need] = key;
    }
    return this.onQueue(`step ${step.id}`, (placement) => {
      const { runStep } = proxyActivities<StepActivities>({
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
      return runStep({
        buildId: this.buildId,
        variantId: this.variant.id,
        toolchain: this.plan.toolchain,
        step: needs.length === step.needs.length ? step : { ...step, needs },
        inputs,
      });
    });
  }

  /**
   * Asks one activity for every step already in the store, so a warm rerun does not
   * schedule them one by one. The hits settle as cached, exactly as runStep's hits would;
   * should the probe fail, each step looks itself up as before.
   */
  private async probeCache(): Promise<void> {
    const probe = (placement: Placement) => {
      const { probeCache } = proxyActivities<StepActivities>({
        activityId: 'cache-probe',
        ...placement,
        startToCloseTimeout: '10m',
        retry: { maximumAttempts: 2, initialInterval: '1s', nonRetryableErrorTypes: [...NON_RETRYABLE] },
        summary: 'cache probe',
      });
      return probeCache({ buildId: this.buildId, variantId: this.variant.id, toolchain: this.plan.toolchain, steps: this.variant.steps });
    };
    let hits: CacheProbeHit[];
    try {
      ({ hits } = await this.activities.run(() => this.onQueue('the cache probe', probe)));
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

  /** Resolves with the operator's decision, 'timeout', or 'stopped' when the variant fails meanwhile. */
  private async awaitOperator(st: StepStatus, ask: WaitAsk): Promise<Decision | 'timeout' | 'stopped'> {
    const waitMs = this.plan.policy.operatorWaitMs;
    st.state = 'waiting';
    this.waits.set(st.id, {
      step: st.id,
      since: now(),
      deadline: new Date(Date.now() + waitMs).toISOString(),
      ...ask,
    });
    this.touch();
    try {
      const answered = await condition(() => this.decisions.has(st.id) || this.fatal !== undefined, waitMs);
      const decision = this.decisions.get(st.id);
      if (decision !== undefined) return decision;
      return answered ? 'stopped' : 'timeout';
    } finally {
      this.decisions.delete(st.id);
      this.waits.delete(st.id);
    }
  }

  /** The waiting step an update is about; throws (rejecting the update) when there is none or it does not allow the action. */
  private target(action: Decision, req: OperatorRequest): StepStatus {
    const waiting = [...this.steps.values()].filter((s) => s.state === 'waiting' && !this.decisions.has(s.id));
    const allows = (s: StepStatus) => this.waits.get(s.id)?.actions.includes(action) ?? false;
    let st: StepStatus | undefined;
    if (req.step !== undefined) {
      st = this.steps.get(req.step);
      if (!st) throw new Error(`variant ${this.variant.id} has no step "${req.step}"`);
      if (!waiting.includes(st)) throw new Error(`step ${st.id} is not waiting for an operator (it is ${st.state})`);
    } else if (waiting.length === 0) {
      throw new Error(`no step of variant ${this.variant.id} is waiting for an operator`);
    } else {
      // A failed step and a license review may wait at once: the action tells them apart.
      const fitting = waiting.filter(allows);
      const candidates = fitting.length > 0 ? fitting : waiting;
      if (candidates.length > 1) throw new Error(`several steps wait for an operator (${candidates.map((s) => s.id).join(', ')}): name one`);
      st = candidates[0];
    }
    if (!st) throw new Error('unreachable');
    const wait = this.waits.get(st.id);
    if (wait?.actions.includes('approve') && !allows(st)) {
      throw new Error(`step ${st.id} waits for a license review (${wait.reason ?? 'review'}): approve or abort it`);
    }
    if (action === 'skip' && !st.skippable) {
      throw new Error(`step ${st.id} is not skippable (the plan does not mark it so): retry or abort it`);
    }
    if (!allows(st)) {
      throw new Error(`step ${st.id} failed and waits for ${wait?.actions.join(', ') ?? 'an operator'}: ${action} applies only to a license review`);
    }
    return st;
  }

  private decide(action: Decision, req: OperatorRequest): OperatorReply {
    const st = this.target(action, req);
    this.decisions.set(st.id, action);
    if (action === 'approve') {
      this.approvals.set(st.id, { ...(req.by === undefined ? {} : { by: req.by }), ...(req.reason === undefined ? {} : { reason: req.reason }), at: now() });
    }
    this.touch();
    return { step: st.id, action };
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
    this.setState(this.waits.size > 0 ? 'waiting' : 'running');
  }

  private finish(state: VariantState): void {
    this.endedAt = now();
    this.setState(state);
  }

  private setState(state: VariantState): void {
    if (state === this.state) return;
    this.state = state;
    upsertSearchAttributes([stateAttribute(state)]);
    this.notifyParent();
  }

  /** Lets a parent BuildProduct show this variant's state without polling it. */
  private notifyParent(): void {
    const parent = workflowInfo().parent;
    if (!parent) return;
    const progress: VariantProgress = {
      variantId: this.variant.id,
      state: this.state,
      steps: countByState(this.variant.steps, this.stateMap()),
      warnings: this.warnings(),
      error: this.fatal,
      // Only once switched: progress of other runs stays as it was.
      ...(this.queue.emulated ? { taskQueue: this.queue.current, emulated: this.queue.emulated } : {}),
    };
    // Best effort: a parent that has already closed needs no news. Not cancellable, so a
    // cancelled variant still reports its end.
    void CancellationScope.nonCancellable(() =>
      getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(variantProgressSignal, progress),
    ).catch(() => undefined);
  }

  private warnings(): string[] {
    const emulated = this.queue.warning();
    const waits = [...this.waits.values()].map((w) =>
      w.actions.includes('approve')
        ? `step ${w.step} waits for an operator's license review (${w.actions.join('/')}) until ${w.deadline}${w.report ? `: ${w.report}` : ''}`
        : `step ${w.step} failed and waits for an operator (${w.actions.join('/')}) until ${w.deadline}`,
    );
    return emulated === undefined ? waits : [emulated, ...waits];
  }

  private stepStatus(id: string): StepStatus {
    const st = this.steps.get(id);
    if (!st) throw new Error(`unknown step ${id}`);
    return st;
  }

  private stateMap(): Map<string, StepState> {
    return new Map([...this.steps].map(([id, s]) => [id, s.state]));
  }

  private status(): VariantStatus {
    return {
      buildId: this.buildId,
      variantId: this.variant.id,
      product: this.plan.product,
      arch: this.variant.arch,
      taskQueue: this.queue.current,
      ...(this.queue.emulated ? { emulated: this.queue.emulated } : {}),
      state: this.state,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      steps: [...this.steps.values()].map((s) => ({ ...s })),
      waiting: [...this.waits.values()],
      warnings: this.warnings(),
      error: this.fatal,
    };
  }

  private result(): BuildVariantResult {
    return {
      buildId: this.buildId,
      variantId: this.variant.id,
      state: this.state,
      steps: [...this.steps.values()].map((s) => ({
        id: s.id,
        state: s.state,
        key: s.key,
        outputDir: s.outputDir,
        cached: s.state === 'cached',
      })),
      artifacts: this.variant.artifacts.map((a) => {
        const dir = this.steps.get(a.step)?.outputDir;
        return { ...a, file: dir === undefined ? undefined : `${dir.replace(/\/+$/, '')}/${a.path}` };
      }),
      error: this.fatal,
      status: this.status(),
    };
  }
}

interface Failure {
  error: StepError;
  logPath?: string;
  heartbeat?: StepProgress;
}

/**
 * What the workflow can learn from a failed activity. Activities may put
 * `{ logPath, progress }` into an ApplicationFailure's first detail; a heartbeat
 * timeout carries the last heartbeat itself.
 */
function describeFailure(err: unknown): Failure {
  if (!(err instanceof ActivityFailure)) {
    return { error: { message: err instanceof Error ? err.message : String(err), nonRetryable: false } };
  }
  const cause = err.cause;
  const exhaustedByRule = err.retryState === 'NON_RETRYABLE_FAILURE';
  if (cause instanceof ApplicationFailure) {
    const type = cause.type ?? undefined;
    const detail = asRecord(cause.details?.[0]);
    return {
      error: {
        message: cause.message,
        type,
        nonRetryable: cause.nonRetryable || exhaustedByRule || (NON_RETRYABLE as readonly string[]).includes(type ?? ''),
      },
      logPath: typeof detail?.logPath === 'string' ? detail.logPath : undefined,
      heartbeat: asProgress(detail?.progress),
    };
  }
  if (cause instanceof TimeoutFailure) {
    return {
      error: { message: `timed out (${cause.timeoutType})`, type: 'Timeout', nonRetryable: false },
      heartbeat: asProgress(Array.isArray(cause.lastHeartbeatDetails) ? cause.lastHeartbeatDetails[0] : cause.lastHeartbeatDetails),
    };
  }
  if (cause instanceof CancelledFailure) {
    return { error: { message: cause.message, type: 'Cancelled', nonRetryable: true } };
  }
  return { error: { message: cause?.message ?? err.message, nonRetryable: exhaustedByRule } };
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}

function asProgress(v: unknown): StepProgress | undefined {
  const r = asRecord(v);
  return r && typeof r.phase === 'string' ? (r as StepProgress) : undefined;
}
