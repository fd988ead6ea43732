// What the BuildVariant workflow sends to the runStep activity and gets back. Only keys,
// paths and small values travel through Temporal: logs and artifacts stay on disk.
import { z } from 'zod';
import { Step, Toolchain } from './plan';
import { Owner } from './schemas';

export const StepOutputs = z.object({
  /** Every file the step produced, relative to its output directory. */
  files: z.array(z.object({ path: z.string(), sha256: z.string().length(64), size: z.number().int().min(0) })),
  /** Small structured results (an image's digest, a verdict, a lock's summary). */
  values: z.record(z.string(), z.unknown()).default({}),
});

export const StepInput = z.object({
  buildId: z.string().min(1),
  variantId: z.string().min(1),
  toolchain: Toolchain,
  step: Step,
  /** Store keys of the steps this one needs, by step id. */
  inputs: z.record(z.string(), z.string().length(64)),
  /** The plan's owner: a partner's own content is stored in its namespace (activities/store-tenancy.ts). */
  owner: Owner.optional(),
});

export const StepResult = z.object({
  /** Content-addressed store key under which the outputs live. */
  key: z.string().length(64),
  /** True when the outputs came from the store and nothing was spawned. */
  cached: z.boolean(),
  outputDir: z.string(),
  outputs: StepOutputs,
  logPath: z.string(),
  durationMs: z.number().min(0),
});

/** The details an activity heartbeats; a retried attempt reads the last one back. */
export const StepProgress = z.object({
  phase: z.string(),
  /** 0..1 when the tool reports it, otherwise absent. */
  fraction: z.number().min(0).max(1).optional(),
  lastLine: z.string().optional(),
  pid: z.number().int().optional(),
});

/**
 * One call before a variant schedules its steps: the keys of as many cacheable steps as
 * can be computed without running anything (each one's needs must be hits themselves),
 * looked up in the store. A warm rerun then takes one activity instead of one per step.
 */
export const CacheProbeInput = z.object({
  buildId: z.string().min(1),
  variantId: z.string().min(1),
  toolchain: Toolchain,
  /** The variant's steps; every need must be among them. */
  steps: z.array(Step),
  owner: Owner.optional(),
});

/** A step found in the store: what runStep returns on a hit, less the file list (kept out of the payload). */
export const CacheProbeHit = z.object({
  stepId: z.string(),
  key: z.string().length(64),
  outputDir: z.string(),
  logPath: z.string(),
  durationMs: z.number().min(0),
});

export const CacheProbeResult = z.object({ hits: z.array(CacheProbeHit) });

export type StepInput = z.infer<typeof StepInput>;
export type CacheProbeInput = z.infer<typeof CacheProbeInput>;
export type CacheProbeHit = z.infer<typeof CacheProbeHit>;
export type CacheProbeResult = z.infer<typeof CacheProbeResult>;
export type StepResult = z.infer<typeof StepResult>;
export type StepOutputs = z.infer<typeof StepOutputs>;
export type StepProgress = z.infer<typeof StepProgress>;

/** Error types the workflow treats as "retrying cannot help". */
export const NON_RETRYABLE_ERRORS = ['BadInput', 'PolicyViolation', 'UnsupportedStep'] as const;
