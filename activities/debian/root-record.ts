// What a root step (prepare-root, configure) records in its outputs about how it was made:
// its inputs' store keys and its params. The `reproducible` test reads it to make the root
// again from the lock, in a fresh directory (reproducible.ts). It lives in the step's values,
// not in its cache key: the key already follows the same params and inputs.
import { z } from 'zod';
import type { KindContext } from '../kinds/registry';

export const RootRecord = z.object({
  /** Store key of each input, by step id. */
  inputs: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)),
  /** As the step got them; the kind parses them again when it runs. */
  params: z.record(z.string(), z.unknown()),
  /** The digest of the host files it read (overlays, scripts), when there were any. */
  hostInputs: z.string().optional(),
});
export type RootRecord = z.infer<typeof RootRecord>;

export function rootRecord(ctx: KindContext, hostInputs?: string): RootRecord {
  return {
    inputs: Object.fromEntries(Object.entries(ctx.inputs).map(([step, entry]) => [step, entry.key])),
    params: ctx.step.params as Record<string, unknown>,
    ...(hostInputs !== undefined ? { hostInputs } : {}),
  };
}
