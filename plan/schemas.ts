// Schemas both the BuildPlan (plan.ts) and the step params use: names, arches, owners,
// schedules, relative paths, artifact references. Kept apart from plan.ts because plan.ts
// imports the step params.
import { z } from 'zod';

/** Names that end up in file names, task queues and workflow ids. */
export const Name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._+-]{0,127}$/, 'must be lower-case letters, digits and . _ + - (starting with a letter or digit)');

export const Arch = z.enum([
  'x86_64', 'i586', 'aarch64', 'armh', 'ppc64le', 'riscv64', 'loongarch64', 'e2kv4', 'e2kv5', 'e2kv6',
]);
export type Arch = z.infer<typeof Arch>;

export const Owner = z.union([
  z.object({ kind: z.literal('community') }),
  z.object({ kind: z.literal('maintainer'), team: Name }),
  z.object({ kind: z.literal('partner'), name: Name }),
]);

export const Schedule = z.object({
  cron: z.string().min(1),
  timezone: z.string().default('UTC'),
});


/** A relative path that stays inside the directory it is joined to. */
export const RelativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a relative path without ".."');

export const ArtifactFormat = z.enum(['iso', 'img', 'qcow2', 'tar', 'squashfs', 'oci', 'file', 'report', 'sbom']);

/** A file a step produced: the same shape as a plan variant's `artifacts` entries (plan.ts). */
export const ArtifactRef = z.object({
  name: Name,
  /** The step whose outputs hold the file. */
  step: Name,
  /** Path inside that step's outputs. */
  path: z.string().min(1),
  format: ArtifactFormat,
});
