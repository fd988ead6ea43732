// The publish step's params as the publishing activity reads them: the DSL's schema (target,
// product, arch, artifact names) plus fields the planner is asked to add (see the report in
// activities/publish/README.md); each is optional so today's plans still run.
import { z } from 'zod';
import { Arch, Name, Owner } from '../dsl/plan-schemas';
import { PublishTarget } from '../dsl/model';

export const ArtifactRef = z.object({
  name: Name,
  step: Name,
  path: z.string().min(1),
  format: z.enum(['iso', 'img', 'qcow2', 'tar', 'squashfs', 'oci', 'file', 'report', 'sbom']),
});
export type ArtifactRef = z.infer<typeof ArtifactRef>;

export const PublishParams = z.object({
  publish: PublishTarget,
  product: z.string(),
  arch: Arch,
  /** Artifact names (today) or full references (step and path) once the planner passes them. */
  artifacts: z.array(z.union([z.string(), ArtifactRef])).min(1),
  variant: z.string().optional(),
  variantOf: z.string().optional(),
  branch: z.string().optional(),
  version: z.string().optional(),
  owner: Owner.optional(),
  recipeDigest: z.string().optional(),
  /** Multi-arch tag for a registry target, when the reference has none. */
  tag: z.string().optional(),
  /** Nightlies kept per product and arch (the recipe's wish; the config's value otherwise). */
  keep: z.number().int().min(1).optional(),
});
export type PublishParams = z.infer<typeof PublishParams>;

/**
 * Where an artifact named in today's plans lives: the planner's naming (dsl/planner.ts):
 * build-<format> steps hold the images, verify-licenses the report and SBOM, resolve the lock.
 */
export function conventionalRef(name: string): { step: string; paths: string[]; format: ArtifactRef['format'] } {
  if (name === 'lock') return { step: 'resolve', paths: ['packages.lock.json', 'lock.json'], format: 'report' };
  if (name === 'license-report') return { step: 'verify-licenses', paths: ['license-report.json'], format: 'report' };
  if (name === 'sbom') return { step: 'verify-licenses', paths: ['sbom.spdx.json'], format: 'sbom' };
  const format = ArtifactRef.shape.format.safeParse(name);
  if (format.success) return { step: `build-${name}`, paths: [], format: format.data };
  throw new Error(`artifact ${JSON.stringify(name)}: no step is known to produce it; the plan must name its step and path`);
}
