// A BuildVariant's operator waits: a step that still fails after its retries waits for the
// retry/skip/abort updates, a step whose license verdict is 'review' for approve/abort, each
// until the plan's operatorWaitMs runs out. The update names and payloads are the API
// (api.ts, contract.ts). Workflow code: deterministic.
import { condition, isCancellation, patched, setHandler } from '@temporalio/workflow';
import type { Step } from '../plan/plan';
import { abortUpdate, approveUpdate, retryUpdate, skipUpdate } from './api';
import type { OperatorReply, OperatorRequest } from './contract';
import { formatDuration } from './format';
import type { OperatorWait, StepState, StepStatus } from './status';

type Decision = OperatorReply['action'];
/**
 * Marks runs where an approved review runs its step once more: approving records license
 * decisions, so the rerun's report says who cleared what, and a later build with the same
 * decisions takes that report from the store (a published version then stays the same).
 */
const APPROVE_RERUN_PATCH = 'variant-approve-reruns-review';
type Approval = NonNullable<StepStatus['approval']>;
/** What an operator wait asks: the actions it allows and, for a review, why and where to read. */
type WaitAsk = Pick<OperatorWait, 'actions' | 'reason' | 'report'>;

/** What the waits need of the variant run they belong to. */
export interface WaitHost {
  readonly variantId: string;
  readonly operatorWaitMs: number;
  readonly steps: ReadonlyMap<string, StepStatus>;
  /** Set once the variant has failed: a wait then ends. */
  fatal(): string | undefined;
  /** First failure wins; the other running steps are cancelled. */
  fail(message: string): void;
  settle(st: StepStatus, state: StepState): void;
  /** Something changed: wakes the scheduler, refreshes the variant's state. */
  touch(): void;
}

export class OperatorWaits {
  private readonly open = new Map<string, OperatorWait>();
  private readonly decisions = new Map<string, Decision>();
  /** Who approved which step's review, recorded by the update until the step settles. */
  private readonly approvals = new Map<string, Approval>();

  constructor(private readonly run: WaitHost, private readonly now: () => string) {}

  /** The open waits, by step id. */
  get waits(): ReadonlyMap<string, OperatorWait> {
    return this.open;
  }

  /** Answers the retry, skip, abort and approve updates; an update that fits no wait is rejected by its validator. */
  install(): void {
    for (const [update, action] of [[retryUpdate, 'retry'], [skipUpdate, 'skip'], [abortUpdate, 'abort'], [approveUpdate, 'approve']] as const) {
      setHandler(update, (req) => this.decide(action, req), { validator: (req) => void this.target(action, req) });
    }
  }

  /** The step failed after its retries: pending again on `retry`, skipped, or failed with the variant. */
  async afterFailure(step: Step, st: StepStatus): Promise<void> {
    let decision: Decision | 'timeout' | 'stopped';
    try {
      decision = await this.waitFor(st, { actions: st.skippable ? ['retry', 'skip', 'abort'] : ['retry', 'abort'] });
    } catch (err) {
      if (isCancellation(err)) return this.run.settle(st, 'cancelled');
      throw err;
    }
    const message = st.error?.message ?? 'failed';
    switch (decision) {
      case 'retry':
        return this.run.settle(st, 'pending');
      case 'skip':
        return this.run.settle(st, 'skipped');
      case 'abort':
        this.run.fail(`step ${step.id} aborted by the operator after: ${message}`);
        return this.run.settle(st, 'failed');
      case 'timeout':
        this.run.fail(`step ${step.id}: no operator decision within ${formatDuration(this.run.operatorWaitMs)} after: ${message}`);
        return this.run.settle(st, 'failed');
      case 'stopped':
      case 'approve': // the validator allows approve only on a review wait
        return this.run.settle(st, 'failed');
    }
  }

  /**
   * The step succeeded with the verdict 'review': it waits until an operator approves (it
   * then counts as done, the approval in its status) or aborts (the variant fails).
   * Dependents stay pending meanwhile, as for any unfinished step.
   */
  async review(step: Step, st: StepStatus, done: StepState, values: Record<string, unknown>): Promise<void> {
    const names = Array.isArray(values.review) ? values.review.map(String) : [];
    const count = typeof values.reviewCount === 'number' ? values.reviewCount : names.length;
    const listed = names.slice(0, 10).join(', ') + (count > 10 ? ', …' : '');
    const reason = `license review${typeof values.policy === 'string' ? ` under policy ${values.policy}` : ''}: ${count} package(s) need review${listed ? ` (${listed})` : ''}`;
    const report = typeof values.report === 'string' && st.outputDir !== undefined ? `${st.outputDir.replace(/\/+$/, '')}/${values.report}` : undefined;
    let decision: Decision | 'timeout' | 'stopped';
    try {
      decision = await this.waitFor(st, { actions: ['approve', 'abort'], reason, ...(report === undefined ? {} : { report }) });
    } catch (err) {
      if (isCancellation(err)) return this.run.settle(st, 'cancelled');
      throw err;
    }
    switch (decision) {
      case 'approve':
        st.approval = this.approvals.get(st.id);
        this.approvals.delete(st.id);
        return this.run.settle(st, patched(APPROVE_RERUN_PATCH) ? 'pending' : done);
      case 'abort':
        this.run.fail(`step ${step.id}: ${reason}; aborted by the operator`);
        return this.run.settle(st, 'failed');
      case 'timeout':
        this.run.fail(`step ${step.id}: no operator decision within ${formatDuration(this.run.operatorWaitMs)} on the ${reason}`);
        return this.run.settle(st, 'failed');
      case 'stopped':
      case 'retry': // refused by the validator on a review wait
      case 'skip':
        return this.run.settle(st, 'cancelled');
    }
  }

  /** Resolves with the operator's decision, 'timeout', or 'stopped' when the variant fails meanwhile. */
  private async waitFor(st: StepStatus, ask: WaitAsk): Promise<Decision | 'timeout' | 'stopped'> {
    const waitMs = this.run.operatorWaitMs;
    st.state = 'waiting';
    this.open.set(st.id, {
      step: st.id,
      since: this.now(),
      deadline: new Date(Date.now() + waitMs).toISOString(),
      ...ask,
    });
    this.run.touch();
    try {
      const answered = await condition(() => this.decisions.has(st.id) || this.run.fatal() !== undefined, waitMs);
      const decision = this.decisions.get(st.id);
      if (decision !== undefined) return decision;
      return answered ? 'stopped' : 'timeout';
    } finally {
      this.decisions.delete(st.id);
      this.open.delete(st.id);
    }
  }

  /** The waiting step an update is about; throws (rejecting the update) when there is none or it does not allow the action. */
  private target(action: Decision, req: OperatorRequest): StepStatus {
    const variantId = this.run.variantId;
    const waiting = [...this.run.steps.values()].filter((s) => s.state === 'waiting' && !this.decisions.has(s.id));
    const allows = (s: StepStatus) => this.open.get(s.id)?.actions.includes(action) ?? false;
    let st: StepStatus | undefined;
    if (req.step !== undefined) {
      st = this.run.steps.get(req.step);
      if (!st) throw new Error(`variant ${variantId} has no step "${req.step}"`);
      if (!waiting.includes(st)) throw new Error(`step ${st.id} is not waiting for an operator (it is ${st.state})`);
    } else if (waiting.length === 0) {
      throw new Error(`no step of variant ${variantId} is waiting for an operator`);
    } else {
      // A failed step and a license review may wait at once: the action tells them apart.
      const fitting = waiting.filter(allows);
      const candidates = fitting.length > 0 ? fitting : waiting;
      if (candidates.length > 1) throw new Error(`several steps wait for an operator (${candidates.map((s) => s.id).join(', ')}): name one`);
      st = candidates[0];
    }
    if (!st) throw new Error('unreachable');
    const wait = this.open.get(st.id);
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
      this.approvals.set(st.id, { ...(req.by === undefined ? {} : { by: req.by }), ...(req.reason === undefined ? {} : { reason: req.reason }), at: this.now() });
    }
    this.run.touch();
    return { step: st.id, action };
  }
}
