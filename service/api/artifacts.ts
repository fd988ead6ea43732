// Artifacts of a build: the plan names them (step + path), the variant's status gives the
// step's store key, and the store entry's manifest gives each file's sha256 and size. Only
// files inside the store are ever served, whatever a status says.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { StepStore } from '../../activities/store';
import type { BuildPlan } from '../../plan/plan';
import type { VariantStatus } from '../../workflows/status';

export const ArtifactInfo = z.object({
  variantId: z.string(),
  name: z.string(),
  format: z.string(),
  step: z.string(),
  path: z.string(),
  available: z.boolean().describe('false while (or because) its step has not produced it'),
  size: z.number().int().optional(),
  sha256: z.string().optional(),
  /** Where to download it with the token; GET …/link gives a short-lived URL for a browser. */
  url: z.string().optional(),
});
export type ArtifactInfo = z.infer<typeof ArtifactInfo>;

export interface ResolvedFile extends ArtifactInfo {
  file?: string;
}

export async function resolveArtifacts(storeDir: string, buildId: string, plan: BuildPlan, variants: VariantStatus[]): Promise<ResolvedFile[]> {
  // A partner's build reads its own namespace, then the shared store (activities/store.ts).
  const store = plan.owner.kind === 'partner' ? new StepStore(storeDir).forTenant(plan.owner.name) : new StepStore(storeDir);
  const storeReal = fs.existsSync(storeDir) ? fs.realpathSync(storeDir) : path.resolve(storeDir);
  const out: ResolvedFile[] = [];
  for (const v of plan.variants) {
    const status = variants.find((s) => s.variantId === v.id);
    for (const a of v.artifacts) {
      const base: ResolvedFile = { variantId: v.id, name: a.name, format: a.format, step: a.step, path: a.path, available: false };
      const step = status?.steps.find((s) => s.id === a.step);
      const usable = step?.key && ['succeeded', 'cached'].includes(step.state);
      const entry = usable ? await store.lookup(step.key!, { touch: false }).catch(() => undefined) : undefined;
      const listed = entry?.manifest.outputs.files.find((f) => f.path === a.path);
      if (!entry || !listed) {
        out.push(base);
        continue;
      }
      const file = path.join(entry.outputsDir, a.path);
      let real: string;
      try {
        real = fs.realpathSync(file);
      } catch {
        out.push(base); // removed by gc since
        continue;
      }
      if (!real.startsWith(storeReal + path.sep)) {
        out.push(base);
        continue;
      }
      out.push({
        ...base,
        available: true,
        size: listed.size,
        sha256: listed.sha256,
        url: `/api/builds/${encodeURIComponent(buildId)}/artifacts/${encodeURIComponent(v.id)}/${encodeURIComponent(a.name)}`,
        file: real,
      });
    }
  }
  return out;
}

export function publicInfo(a: ResolvedFile): ArtifactInfo {
  const { file: _file, ...rest } = a;
  return rest;
}

/** True if `file` is inside `dir` (after resolving links): logs are served only from the log directory. */
export function inside(dir: string, file: string): string | undefined {
  try {
    const root = fs.realpathSync(dir);
    const real = fs.realpathSync(file);
    return real.startsWith(root + path.sep) ? real : undefined;
  } catch {
    return undefined;
  }
}
