// Where a step's outputs live in the store: its cache key (kind, params, input keys,
// toolchain, host inputs) and the namespace (shared, or the partner's: store-tenancy.ts).
// runStep and probeCache place a step the same way, so both find the same entry.
import { ApplicationFailure } from '@temporalio/common';
import { stepCacheKey } from '../plan/cache-key';
import type { Config } from '../config/config';
import type { Owner, Step } from '../plan/plan';
import type { StepInput } from '../plan/step-contract';
import { badInput } from './failures';
import type { KindExecutor } from './kinds/registry';
import type { Quarantined } from './ledger';
import type { StepStore } from './store';
import { tenantOf } from './store-tenancy';

export interface Placement {
  /** Undefined for a step that is not cacheable (its entry is keyed by its outputs at commit). */
  key: string | undefined;
  /** The namespace it is looked up in and committed to. */
  scope: StepStore;
}

export async function placeStep(
  executor: KindExecutor,
  step: Step,
  run: { inputs: Record<string, string>; toolchain: StepInput['toolchain']; owner?: Owner },
  store: StepStore,
  config: Config,
): Promise<Placement> {
  // A partner's step that is not cacheable still needs its host inputs: they decide its namespace.
  const host = step.cacheable || run.owner?.kind === 'partner' ? await hostDigest(executor, step, config) : undefined;
  const tenant = await tenantOf(run.owner, step, host, Object.values(run.inputs), store);
  const key = step.cacheable ? stepCacheKey({ kind: step.kind, params: step.params, inputs: run.inputs, toolchain: run.toolchain, host }) : undefined;
  return { key, scope: tenant === undefined ? store : store.forTenant(tenant) };
}

/** A host file that vanished is the recipe's problem, not one a retry fixes. */
async function hostDigest(executor: KindExecutor, step: Step, config: Config): Promise<string | undefined> {
  try {
    return await executor.hostInputs?.(step, config);
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    throw badInput(`step "${step.id}": cannot read its host inputs: ${(err as Error).message}`);
  }
}

export function hitLine(attempt: number, key: string): string {
  return `--- sborka: attempt ${attempt}: cached, store key ${key}`;
}

export function quarantineLine(attempt: number, q: Quarantined): string {
  return `--- sborka: attempt ${attempt}: store entry ${q.key} failed verification (${q.reason}); quarantined to ${q.movedTo}, the step runs again`;
}
