// The BuildPlan: the only thing the engine accepts. Plain JSON, versioned, produced by the
// planner (dsl/planner.ts) or written by hand for small demo plans.
import { z } from 'zod';
import { canBeEmulated } from './arches';
import { STEP_PARAMS, StepKind } from './step-params';
// Shared with the product model and step params; they live apart to keep imports acyclic.
import { Arch, ArtifactRef, Name, Owner, Schedule } from './schemas';

export { Arch, Name, Owner, Schedule };

export const PLAN_VERSION = 1;

export const Toolchain = z.object({
  name: z.enum(['alt', 'debian', 'core']),
  /** Version of sborka's adapter for the toolchain; part of every cache key. */
  version: z.string().min(1),
});

const Millis = z.number().int().positive();

export const RetryPolicy = z.object({
  maximumAttempts: z.number().int().min(1).max(100).default(3),
  initialIntervalMs: Millis.default(1000),
  backoffCoefficient: z.number().min(1).max(10).default(2),
  maximumIntervalMs: Millis.default(60_000),
});

export const StepTimeouts = z.object({
  /** One attempt of the step, end to end. */
  startToCloseMs: Millis.default(3_600_000),
  /** A running step that has not heartbeated for this long is presumed dead and retried (workers heartbeat every few seconds). */
  heartbeatMs: Millis.default(30_000),
});

const StepCommon = z.object({
  id: Name,
  title: z.string().optional(),
  needs: z.array(Name).default([]),
  retry: RetryPolicy.default(RetryPolicy.parse({})),
  timeouts: StepTimeouts.default(StepTimeouts.parse({})),
  /** An operator may skip this step after it failed (tests, for instance; never a build step). */
  skippable: z.boolean().default(false),
  /** False for steps whose result depends on the outside world at run time (resolve, publish). */
  cacheable: z.boolean().default(true),
});

/** One schema per step kind: the kind picks the params schema (see plan/step-params.ts). */
export const Step = z.discriminatedUnion(
  'kind',
  Object.entries(STEP_PARAMS).map(([kind, params]) =>
    StepCommon.extend({ kind: z.literal(kind as StepKind), params }),
  ) as unknown as [StepUnionMember, ...StepUnionMember[]],
);
type StepUnionMember = z.ZodObject<typeof StepCommon.shape & { kind: z.ZodLiteral<StepKind>; params: z.ZodTypeAny }>;

export const Artifact = ArtifactRef;

const TaskQueue = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/);

/**
 * A variant that may fall back to emulation: each step waits up to `afterMs` for a native
 * worker on the variant's queue; once one does not, this and every later step go to
 * `taskQueue` (build-<arch>-emulated, served by hosts that emulate the arch).
 */
export const Emulation = z.object({
  taskQueue: TaskQueue,
  afterMs: Millis,
});

export const Variant = z.object({
  id: Name,
  product: Name,
  /** Set when this is a partner's or maintainer's variant of a product. */
  variantOf: Name.optional(),
  arch: Arch,
  flavour: Name.default('default'),
  taskQueue: TaskQueue,
  emulation: Emulation.optional(),
  steps: z.array(Step).min(1),
  artifacts: z.array(Artifact).default([]),
});

export const BuildPlan = z.object({
  version: z.literal(PLAN_VERSION),
  product: Name,
  title: z.string().optional(),
  owner: Owner.default({ kind: 'community' }),
  toolchain: Toolchain,
  /** sha256 of the recipe sources the plan came from; empty for hand-written plans. */
  recipeDigest: z.string().default(''),
  /**
   * Absolute directory of the recipe that declared the product, set when a plan is loaded
   * from a recipe; its overlay, script and key paths are then made absolute under it.
   */
  recipeDir: z.string().startsWith('/').optional(),
  schedule: Schedule.optional(),
  policy: z
    .object({
      /** Steps of one variant that may run at once. */
      maxParallelSteps: z.number().int().min(1).max(64).default(4),
      /** How long a failed step waits for an operator before the variant fails. */
      operatorWaitMs: Millis.default(24 * 3_600_000),
      /** A variant whose queue has had no worker for this long says so in its status. */
      noWorkerWarningMs: Millis.default(120_000),
    })
    .default({ maxParallelSteps: 4, operatorWaitMs: 24 * 3_600_000, noWorkerWarningMs: 120_000 }),
  variants: z.array(Variant).min(1),
});

export type BuildPlan = z.infer<typeof BuildPlan>;
export type PlanInput = z.input<typeof BuildPlan>;
export type Variant = z.infer<typeof Variant>;
export type Emulation = z.infer<typeof Emulation>;
export type Step = z.infer<typeof Step>;
export type Artifact = z.infer<typeof Artifact>;
export type RetryPolicy = z.infer<typeof RetryPolicy>;
export type Owner = z.infer<typeof Owner>;
export type { StepKind };

export class PlanError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid build plan:\n  ${problems.join('\n  ')}`);
    this.name = 'PlanError';
  }
}

/**
 * Parses and checks a plan: schema, then the structure zod cannot express (unique ids,
 * known `needs`, no cycles). Throws PlanError naming every bad field.
 */
export function parsePlan(json: unknown): BuildPlan {
  const version = (json as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && version > PLAN_VERSION) {
    throw new PlanError([
      `version: plan version ${version} is newer than this sborka understands (${PLAN_VERSION}); upgrade sborka or re-plan the recipe with this version`,
    ]);
  }
  const parsed = BuildPlan.safeParse(json);
  if (!parsed.success) {
    throw new PlanError(parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`));
  }
  const problems = structuralProblems(parsed.data);
  if (problems.length > 0) throw new PlanError(problems);
  return parsed.data;
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>(
    (acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)),
    '',
  ) || '(plan)';
}

function structuralProblems(plan: BuildPlan): string[] {
  const problems: string[] = [];
  const variantIds = new Set<string>();
  plan.variants.forEach((v, vi) => {
    const at = `variants[${vi}]`;
    if (variantIds.has(v.id)) problems.push(`${at}.id: duplicate variant id "${v.id}"`);
    variantIds.add(v.id);
    const ids = new Map<string, number>();
    v.steps.forEach((s, si) => {
      if (ids.has(s.id)) problems.push(`${at}.steps[${si}].id: duplicate step id "${s.id}"`);
      ids.set(s.id, si);
    });
    v.steps.forEach((s, si) =>
      s.needs.forEach((n, ni) => {
        if (!ids.has(n)) problems.push(`${at}.steps[${si}].needs[${ni}]: unknown step "${n}"`);
        if (n === s.id) problems.push(`${at}.steps[${si}].needs[${ni}]: step "${n}" needs itself`);
      }),
    );
    const cycle = findCycle(v.steps);
    if (cycle) problems.push(`${at}.steps: cycle in needs: ${cycle.join(' -> ')}`);
    v.artifacts.forEach((a, ai) => {
      if (!ids.has(a.step)) problems.push(`${at}.artifacts[${ai}].step: unknown step "${a.step}"`);
    });
    if (v.emulation && !canBeEmulated(v.arch)) problems.push(`${at}.emulation: ${v.arch} cannot be emulated; its steps go only to hosts that build it natively`);
    if (v.emulation?.taskQueue === v.taskQueue) problems.push(`${at}.emulation.taskQueue: must differ from the variant's own queue "${v.taskQueue}", or no native worker would ever come first`);
  });
  return problems;
}

/** Returns one cycle of step ids (first id repeated at the end), or undefined. */
export function findCycle(steps: ReadonlyArray<{ id: string; needs: readonly string[] }>): string[] | undefined {
  const needs = new Map(steps.map((s) => [s.id, s.needs]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done' || !needs.has(id)) return undefined;
    if (state.get(id) === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const n of needs.get(id) ?? []) {
      const c = visit(n);
      if (c) return c;
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const s of steps) {
    const c = visit(s.id);
    if (c) return c;
  }
  return undefined;
}
