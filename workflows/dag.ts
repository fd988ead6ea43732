// Pure functions over a variant's step DAG and the steps' states: what may start now,
// what can never start, and whether the variant is finished. No Temporal here, so the
// scheduling rules are unit-tested on their own.
import type { StepState } from './status';

export interface DagStep {
  readonly id: string;
  readonly needs: readonly string[];
}

export type StepStates = ReadonlyMap<string, StepState>;

/** States whose dependents may run. */
export const SATISFIED: readonly StepState[] = ['succeeded', 'cached', 'skipped'];
/** States that never turn into a satisfied one. */
export const DEAD: readonly StepState[] = ['failed', 'cancelled'];
/** States in which the step still holds the variant open. */
export const ACTIVE: readonly StepState[] = ['running', 'waiting'];

const stateOf = (states: StepStates, id: string): StepState => states.get(id) ?? 'pending';

/** Pending steps whose needs are all satisfied, in plan order (the order they start in). */
export function readySteps<S extends DagStep>(steps: readonly S[], states: StepStates): S[] {
  return steps.filter(
    (s) => stateOf(states, s.id) === 'pending' && s.needs.every((n) => SATISFIED.includes(stateOf(states, n))),
  );
}

/** Pending steps that can never run: a need, directly or through other steps, is dead. */
export function blockedSteps<S extends DagStep>(steps: readonly S[], states: StepStates): S[] {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const memo = new Map<string, boolean>();
  // Plans are checked for cycles before they get here (parsePlan), so the recursion ends.
  const dead = (id: string): boolean => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const state = stateOf(states, id);
    const result =
      DEAD.includes(state) ||
      (state === 'pending' && (byId.get(id)?.needs ?? []).some((n) => dead(n)));
    memo.set(id, result);
    return result;
  };
  return steps.filter((s) => stateOf(states, s.id) === 'pending' && dead(s.id));
}

/**
 * undefined while anything runs, waits or can still start; then 'succeeded' when every
 * step is satisfied, otherwise 'failed'.
 */
export function variantOutcome(steps: readonly DagStep[], states: StepStates): 'succeeded' | 'failed' | undefined {
  if (steps.some((s) => ACTIVE.includes(stateOf(states, s.id)))) return undefined;
  if (readySteps(steps, states).length > 0) return undefined;
  return steps.every((s) => SATISFIED.includes(stateOf(states, s.id))) ? 'succeeded' : 'failed';
}

/** How many steps are in each state (absent states are left out). */
export function countByState(steps: readonly DagStep[], states: StepStates): Partial<Record<StepState, number>> {
  const counts: Partial<Record<StepState, number>> = {};
  for (const s of steps) {
    const st = stateOf(states, s.id);
    counts[st] = (counts[st] ?? 0) + 1;
  }
  return counts;
}
