// Params schema of every step kind a plan may hold. The engine's activities dispatch on
// the kind; each toolchain implements the kinds it supports.
import { z } from 'zod';
import { buildKinds } from './build-step-params';
import { RelativePath } from './schemas';

// Lives in plan-schemas.ts now (build-step-params.ts needs it too); still exported from here.
export { RelativePath };

/** Steps of the engine itself ("core"): available on every worker, any toolchain. */
const coreKinds = {
  /** Does nothing; measures the engine's own overhead. */
  noop: z.object({}).strict(),
  /** Runs one program. argv goes to execve as is: no shell ever sees it. */
  exec: z
    .object({
      argv: z.array(z.string()).min(1),
      env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}),
      /** Exit codes that mean "retrying cannot help" (bad input); others are retried. */
      nonRetryableExitCodes: z.array(z.number().int()).default([]),
    })
    .strict(),
  /** Writes SHA256SUMS over every file of the steps it needs. */
  checksum: z.object({ name: RelativePath.default('SHA256SUMS') }).strict(),
  /** A reproducible tar.gz of files under a source directory (sorted, fixed owner and mtime). */
  archive: z
    .object({
      sourceDir: z.string().min(1),
      include: z.array(RelativePath).min(1),
      name: RelativePath,
      /** SOURCE_DATE_EPOCH for every entry's mtime. */
      mtime: z.number().int().min(0).default(0),
    })
    .strict(),
} as const;

export const STEP_PARAMS = { ...coreKinds, ...buildKinds } as const;

export type StepKind = keyof typeof STEP_PARAMS;
export const STEP_KINDS = Object.keys(STEP_PARAMS) as StepKind[];
export type StepParams<K extends StepKind> = z.infer<(typeof STEP_PARAMS)[K]>;
