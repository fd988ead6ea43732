// The activities a worker registers. Built from config and logger so that tests and the
// worker choose where the store and the logs live.
import { createProbeCache, createRunStep, type RunStepDeps } from './run-step';

export function createActivities(deps: RunStepDeps) {
  return { runStep: createRunStep(deps), probeCache: createProbeCache(deps) };
}

export type SborkaActivities = ReturnType<typeof createActivities>;
export { defaultRegistry, KIND_TABLE, type KindOptions } from './kinds/all';
export { KindRegistry, defineKind } from './kinds/registry';
export { StepStore } from './store';
export { gcStore } from './store-gc';
export { readLedger, LedgerEntry } from './ledger';
export type { RunStepDeps } from './run-step';
