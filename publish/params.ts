// The publish step's params: the planner's own schema (plan/build-step-params.ts), so the
// planner and the publishing activity can never disagree on a field.
import { z } from 'zod';
import { buildKinds } from '../plan/build-step-params';
import { ArtifactRef } from '../plan/schemas';

export { ArtifactRef };
export type ArtifactRef = z.infer<typeof ArtifactRef>;

export const PublishParams = buildKinds.publish;
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
