// Inputs and results of the build workflows and the operator's update arguments: what a
// starter (CLI, schedule, HTTP API) sends and reads back. Zod schemas, since they cross
// the process boundary; workflow code imports only their types.
import { z } from 'zod';
import { BuildPlan, Artifact } from '../plan/plan';
import { Emulated, ProductStatus, StepState, VariantState, VariantStatus } from './status';

export const BuildVariantInput = z.object({
  buildId: z.string().min(1),
  plan: BuildPlan,
  variantId: z.string().min(1),
});

export const BuildProductInput = z.object({
  /** Empty: use the run's workflow id (a Schedule names each run itself and cannot fill this in). */
  buildId: z.string(),
  plan: BuildPlan,
});

export const StepOutcome = z.object({
  id: z.string(),
  state: StepState,
  key: z.string().optional(),
  outputDir: z.string().optional(),
  cached: z.boolean(),
});

export const ResolvedArtifact = Artifact.extend({
  /** Absolute path: the artifact's path inside its step's outputDir; absent when that step was skipped. */
  file: z.string().optional(),
});

export const BuildVariantResult = z.object({
  buildId: z.string(),
  variantId: z.string(),
  state: VariantState,
  steps: z.array(StepOutcome),
  artifacts: z.array(ResolvedArtifact),
  error: z.string().optional(),
  /** The final status, so a closed variant is shown without a query (which needs a worker). Absent in runs before it was added. */
  status: VariantStatus.optional(),
});

export const VariantOutcome = z.object({
  variantId: z.string(),
  workflowId: z.string(),
  state: VariantState,
  /** The variant's result; on failure the partial result its failure carried, if any. */
  result: BuildVariantResult.optional(),
  error: z.string().optional(),
});

export const BuildProductResult = z.object({
  buildId: z.string(),
  product: z.string(),
  /** skipped: a scheduled run that built nothing (its night had a build, or an earlier nightly ran). */
  state: z.enum(['succeeded', 'failed', 'skipped']),
  variants: z.array(VariantOutcome),
  /** The final status (see BuildVariantResult.status). */
  status: ProductStatus.optional(),
});

/** Argument of the retry/skip/abort/approve updates; `step` may be left out when one step waits. */
export const OperatorRequest = z.object({
  step: z.string().optional(),
  /** Free text for the record: why. */
  reason: z.string().optional(),
  /** Who sent it: the CLI's $USER, the API token's name; recorded with an approval. */
  by: z.string().optional(),
});

export const OperatorAction = z.enum(['retry', 'skip', 'abort', 'approve']);

export const OperatorReply = z.object({
  step: z.string(),
  action: OperatorAction,
});

/** Sent by a running BuildVariant to its parent BuildProduct whenever its state changes. */
export const VariantProgress = z.object({
  variantId: z.string(),
  state: VariantState,
  steps: z.partialRecord(StepState, z.number().int().min(0)),
  warnings: z.array(z.string()),
  error: z.string().optional(),
  /** Sent once the variant has fallen back to emulation: the queue it uses now, and why. */
  taskQueue: z.string().optional(),
  emulated: Emulated.optional(),
});

export type BuildVariantInput = z.infer<typeof BuildVariantInput>;
export type BuildProductInput = z.infer<typeof BuildProductInput>;
export type StepOutcome = z.infer<typeof StepOutcome>;
export type ResolvedArtifact = z.infer<typeof ResolvedArtifact>;
export type BuildVariantResult = z.infer<typeof BuildVariantResult>;
export type VariantOutcome = z.infer<typeof VariantOutcome>;
export type BuildProductResult = z.infer<typeof BuildProductResult>;
export type OperatorRequest = z.infer<typeof OperatorRequest>;
export type OperatorAction = z.infer<typeof OperatorAction>;
export type OperatorReply = z.infer<typeof OperatorReply>;
export type VariantProgress = z.infer<typeof VariantProgress>;
