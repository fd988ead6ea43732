// Cache keys of steps: sha256 over the canonical JSON of what determines a step's outputs.
// The planner prints them; the runStep activity recomputes them with the run's real input
// keys, so both agree whenever every input was itself cacheable.
import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level, so equal values hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

export function sha256Hex(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

export interface CacheKeyInput {
  kind: string;
  params: unknown;
  /** Store keys of the steps this one needs, by step id. */
  inputs: Record<string, string>;
  /** The toolchain adapter, e.g. { name: 'debian', version: '1' }. */
  toolchain: { name: string; version: string };
  /** Digest of files read from the host instead of the store (absent for most steps). */
  host?: string;
}

export function stepCacheKey(input: CacheKeyInput): string {
  const { kind, params, inputs, toolchain, host } = input;
  return sha256Hex(canonicalJson(host === undefined ? { kind, params, inputs, toolchain } : { kind, params, inputs, toolchain, host }));
}
