// The `status` query results of BuildVariant and BuildProduct. This is a boundary: the CLI
// and the HTTP API read it, so it is a zod schema and readers parse it; the workflows
// only build values of these types (type-only imports keep zod out of the sandbox).
import { z } from 'zod';
import { StepProgress } from '../plan/step-contract';

export const StepState = z.enum(['pending', 'running', 'cached', 'succeeded', 'failed', 'waiting', 'skipped', 'cancelled']);

export const StepError = z.object({
  message: z.string(),
  /** ApplicationFailure type (BadInput, ExitCode, ...) or the Temporal failure kind (timeout). */
  type: z.string().optional(),
  nonRetryable: z.boolean(),
});

const IsoTime = z.string();

export const StepStatus = z.object({
  id: z.string(),
  kind: z.string(),
  title: z.string().optional(),
  state: StepState,
  /**
   * How many times the workflow has scheduled this step: 1, then +1 per operator `retry`.
   * Temporal's own attempt counter inside one run is on the pending activity (describe),
   * found by `activityId`.
   */
  attempt: z.number().int().min(0),
  /** Activity id of the current or last run: "<step>#<attempt>". */
  activityId: z.string().optional(),
  startedAt: IsoTime.optional(),
  endedAt: IsoTime.optional(),
  durationMs: z.number().min(0).optional(),
  key: z.string().optional(),
  outputDir: z.string().optional(),
  logPath: z.string().optional(),
  /**
   * Last progress known: from a failure's details or a heartbeat timeout inside the
   * workflow; live heartbeats of a running step are merged in by withPendingActivities.
   */
  heartbeat: StepProgress.optional(),
  /** Temporal's attempt of the running activity (1 = first), from describe; absent otherwise. */
  activityAttempt: z.number().int().min(1).optional(),
  error: StepError.optional(),
  skippable: z.boolean(),
  /** An operator's approval of this step's license review: who, why, when. */
  approval: z.object({ by: z.string().optional(), reason: z.string().optional(), at: IsoTime }).optional(),
});

export const VariantState = z.enum(['pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled']);

export const OperatorWait = z.object({
  step: z.string(),
  since: IsoTime,
  deadline: IsoTime,
  /** Updates the operator may send for this step: retry/skip/abort after a failure, approve/abort on a license review. */
  actions: z.array(z.enum(['retry', 'skip', 'abort', 'approve'])),
  /** What the operator is asked to decide (a license review names its packages); absent for a failed step (see its error). */
  reason: z.string().optional(),
  /** The report to read before deciding (a license review's license-report.json). */
  report: z.string().optional(),
});

/** A variant that fell back to emulation: since when, and why (what no native worker took in time). */
export const Emulated = z.object({
  since: IsoTime,
  reason: z.string(),
});

export const VariantStatus = z.object({
  buildId: z.string(),
  variantId: z.string(),
  product: z.string(),
  arch: z.string(),
  /** The queue its steps go to now: the plan's, or its emulated one after a fallback. */
  taskQueue: z.string(),
  emulated: Emulated.optional(),
  state: VariantState,
  startedAt: IsoTime,
  endedAt: IsoTime.optional(),
  steps: z.array(StepStatus),
  waiting: z.array(OperatorWait),
  warnings: z.array(z.string()),
  error: z.string().optional(),
});

export const VariantSummary = z.object({
  variantId: z.string(),
  workflowId: z.string(),
  arch: z.string(),
  flavour: z.string(),
  /** The queue its steps go to now (see VariantStatus). */
  taskQueue: z.string(),
  emulated: Emulated.optional(),
  state: VariantState,
  /** Steps by state, as last reported by the variant itself. */
  steps: z.partialRecord(StepState, z.number().int().min(0)),
  warnings: z.array(z.string()),
  error: z.string().optional(),
});

/** skipped: a scheduled run whose night was not its to build (see activities/nightly.ts). */
export const ProductState = z.enum(['running', 'succeeded', 'failed', 'cancelled', 'skipped']);

export const ProductStatus = z.object({
  buildId: z.string(),
  product: z.string(),
  owner: z.string(),
  state: ProductState,
  startedAt: IsoTime,
  endedAt: IsoTime.optional(),
  variants: z.array(VariantSummary),
  /** Why the build failed before any variant ran (publishing preflight). */
  error: z.string().optional(),
  /** Every variant's warnings, prefixed with its id, plus the product's own. */
  warnings: z.array(z.string()),
});

export type StepState = z.infer<typeof StepState>;
export type StepError = z.infer<typeof StepError>;
export type StepStatus = z.infer<typeof StepStatus>;
export type VariantState = z.infer<typeof VariantState>;
export type OperatorWait = z.infer<typeof OperatorWait>;
export type Emulated = z.infer<typeof Emulated>;
export type VariantStatus = z.infer<typeof VariantStatus>;
export type VariantSummary = z.infer<typeof VariantSummary>;
export type ProductState = z.infer<typeof ProductState>;
export type ProductStatus = z.infer<typeof ProductStatus>;

/** What a client decoded from describe()'s pendingActivities (heartbeat payloads decoded). */
export interface PendingActivity {
  activityId: string;
  attempt: number;
  /** The activity's heartbeat details, as the payload converter decoded them. */
  heartbeatDetails?: unknown;
}

/**
 * The workflow cannot see heartbeats of a running activity; a client that described the
 * workflow adds them (and Temporal's attempt) to the running steps of the status.
 */
export function withPendingActivities(status: VariantStatus, pending: readonly PendingActivity[]): VariantStatus {
  const byId = new Map(pending.map((p) => [p.activityId, p]));
  return {
    ...status,
    steps: status.steps.map((step) => {
      const p = step.state === 'running' && step.activityId !== undefined ? byId.get(step.activityId) : undefined;
      if (!p) return step;
      const details = Array.isArray(p.heartbeatDetails) ? p.heartbeatDetails[0] : p.heartbeatDetails;
      const progress = StepProgress.safeParse(details);
      return { ...step, activityAttempt: p.attempt, heartbeat: progress.success ? progress.data : step.heartbeat };
    }),
  };
}
